"""Training-time augmentation: random changes a new writer's digit may show that MNIST's do not.

Each kind can be switched on or off on its own (the Train page shows what each does):
- shift, rotate, zoom, shear: one affine warp about the image centre;
- elastic: a smooth random displacement field (Simard, Steinkraus & Platt 2003, "Best practices
  for convolutional neural networks applied to visual document analysis"; α 34 and σ 4 on 29×29
  took an MLP from 1.6% to 0.7% test error and a CNN to 0.4%);
- stroke: thinner or thicker strokes (grey-scale erosion or dilation), as pens of other widths draw;
- pen: half the digits drawn again on a canvas as the Draw page's pen draws (mnist_core.data.canvas_pen:
  its pen path painted with a round pen of a random Draw-page width) and sent through the app's
  own preprocessing, as the models meet digits on the Draw and Join pages; the other kinds leave
  those digits as drawn. MNIST's strokes were scanned and vary in width and pressure; a canvas
  stroke is drawn and even;
- blur and noise: a share of the digits softened (Gaussian blur) or speckled (Gaussian noise,
  clipped to the ink range), after the others. MNIST's background is exactly 0, so a network with
  batch normalisation learns statistics that a grey or grainy background no longer fits: without
  these the shipped CNN read 50.6% of the test digits under noise σ 0.1, and 96–99% once its
  batch-norm layers used the corrupted batch's own statistics (benchmarks/robustness_diagnosis.py).

NumPy, SciPy, Pillow and scikit-image only, so the server can show the effect and the training worker can
run it on batches. `augment(images, kinds, rng, strength)`: strength 0 is the identity, 1 the training
recipe's; the same seed gives the same images.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import numpy as np
from scipy import ndimage

from mnist_core.data import canvas_pen, preprocess


@dataclasses.dataclass(frozen=True)
class Kind:
    name: str
    label: str
    help: str


AUGMENTATIONS = (
    Kind("shift", "Shift", "Moves the digit up to 2 px in each direction."),
    Kind("rotate", "Rotate", "Turns the digit up to ±12°."),
    Kind("zoom", "Zoom", "Scales height and width by 0.85–1.15 each, so narrow and wide digits too."),
    Kind("shear", "Shear", "Slants the digit up to ±0.3 (about 17°), as people slant their writing."),
    Kind("elastic", "Elastic", "Bends the strokes by a smooth random field (Simard et al. 2003)."),
    Kind("stroke", "Stroke width", "Thins or thickens the strokes by up to a pixel on each side."),
    Kind("pen", "Canvas pen", "Redraws half the digits on a canvas with one of the Draw page's pens (8–40 px) "
                              "and sends them through the app's preprocessing, as a drawn digit goes."),
    Kind("blur", "Blur", "Softens a quarter of the digits by a Gaussian blur of up to 2.5 px, as a shaky camera "
                         "or a low-resolution screen shows them."),
    Kind("noise", "Noise", "Speckles a quarter of the digits with Gaussian noise (σ up to 0.5 of the ink), so a "
                           "grainy background is not read as strokes."),
)
AUGMENTATION_NAMES = tuple(k.name for k in AUGMENTATIONS)
LEGACY_AUGMENTATIONS = ("shift", "rotate", "zoom")  # what `augment=True` meant before kinds could be chosen

# The recipe's ranges at strength 1 (see AUGMENTATIONS' help).
MAX_SHIFT = 2.0  # px
MAX_ROTATE = np.deg2rad(12.0)
MAX_ZOOM = 0.15
MAX_SHEAR = 0.3
ELASTIC_ALPHA, ELASTIC_SIGMA = 34.0, 4.0  # Simard et al.'s values, in pixels of a 28×28 image
MAX_STROKE = 1.0  # px, each side of a stroke (a 3×3 dilation or erosion)
PEN_SHARE = 0.5  # of the images, redrawn with a pen (the rest keep MNIST's own strokes)
BLUR_SHARE, MAX_BLUR = 0.25, 2.5  # of the images; Gaussian σ in px (the Robustness experiment's range)
NOISE_SHARE, MAX_NOISE = 0.25, 0.5  # of the images; Gaussian σ, ink = 1 (the same)
# The pen draws on a canvas this many px wide: the Draw page's 300 px canvas and pens scaled by 84/300,
# which the preprocessing makes look the same (mean pixel difference 0.03) at an eighth of the cost.
PEN_CANVAS = 84


_CROSS = np.array([[[0, 1, 0], [1, 1, 1], [0, 1, 0]]], bool)  # a round-ish pen tip, one pixel each side


class AugmentError(ValueError):
    """An unknown augmentation kind; the message lists the known ones."""


def kinds_from(value) -> tuple[str, ...]:
    """The kinds a setting names, in AUGMENTATIONS' order. Accepts a list of names, a comma-separated
    string, or a bool as older cards and configs stored it (True: shift, rotate, zoom)."""
    if value is None or value is False:
        return ()
    if value is True:
        return LEGACY_AUGMENTATIONS
    names = [s.strip() for s in value.split(",")] if isinstance(value, str) else list(value)
    names = [n for n in names if n and n != "none"]
    if names == ["all"]:
        return AUGMENTATION_NAMES
    unknown = sorted(set(names) - set(AUGMENTATION_NAMES))
    if unknown:
        raise AugmentError(f"Unknown augmentation {', '.join(unknown)}; choose from {', '.join(AUGMENTATION_NAMES)} "
                           f"(or all, none).")
    return tuple(n for n in AUGMENTATION_NAMES if n in names)


def describe(kinds: Iterable[str]) -> str:
    """'shift, rotate and elastic' or 'none', for captions and cards."""
    labels = [k.label.lower() for k in AUGMENTATIONS if k.name in set(kinds)]
    if not labels:
        return "none"
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


def augment(images: np.ndarray, kinds: Iterable[str], rng: np.random.Generator,
            strength: float = 1.0) -> np.ndarray:
    """(n, 28, 28) float32 in [0, 1] → the same shape and range, each image changed at random by
    the kinds named. strength scales every range (0: the images unchanged)."""
    images = np.asarray(images, np.float32)
    chosen = set(kinds_from(kinds))
    if images.ndim != 3:
        raise ValueError(f"expected (n, 28, 28) images, got shape {images.shape}")
    n, h, w = images.shape
    if n == 0 or not chosen or strength <= 0:
        return images.copy()
    # Draw every kind's numbers whether or not it is on, so switching one kind leaves the others'
    # draws (and so the pictures on the Train page) as they were.
    u = rng.uniform(-1.0, 1.0, size=(n, 8)) * strength  # shift y, x; rotate; zoom y, x; shear; stroke; elastic
    noise = rng.uniform(-1.0, 1.0, size=(2, n, h, w))
    pen_draws = rng.uniform(0.0, 1.0, size=(n, 3))  # drawn after the others so their draws stay as they were
    speckle_draws = rng.uniform(0.0, 1.0, size=(n, 4))  # blur: chosen, σ; noise: chosen, σ (after the pen's)
    out = images.copy()
    redraw = np.zeros(n, bool)
    if "pen" in chosen:
        redraw = pen_draws[:, 0] < PEN_SHARE * min(strength, 1.0)
        (thin, thick), (short, tall) = (min(preprocess.PEN_WIDTHS), max(preprocess.PEN_WIDTHS)), canvas_pen.HEIGHTS
        out = _pen(out, redraw, thin + pen_draws[:, 1] * (thick - thin), short + pen_draws[:, 2] * (tall - short))
    # A digit the pen drew reaches the models exactly as the app's preprocessing gives it, as a drawn
    # digit does; the other kinds change MNIST's own digits. (Warping drawn digits too cost every
    # gain the pen brings: docs/handwriting.md.)
    rest = ~redraw
    if "stroke" in chosen and rest.any():
        out[rest] = _stroke(out[rest], u[rest, 6] * MAX_STROKE)
    geometric = chosen & {"shift", "rotate", "zoom", "shear", "elastic"}
    if geometric and rest.any():
        out[rest] = _warp(out[rest], u[rest], noise[:, rest], chosen, strength)
    # Blur and noise too change only MNIST's own digits: a drawn digit arrives as the app's
    # preprocessing gives it, and it is MNIST's digits that the Robustness experiment corrupts.
    if "blur" in chosen:
        blurred = rest & (speckle_draws[:, 0] < BLUR_SHARE * min(strength, 1.0))
        out = _blur(out, blurred, speckle_draws[:, 1] * MAX_BLUR * strength)
    if "noise" in chosen:
        speckled = rest & (speckle_draws[:, 2] < NOISE_SHARE * min(strength, 1.0))
        field = rng.standard_normal((n, h, w)).astype(np.float32)  # for every image: the draws stay put
        out[speckled] += field[speckled] * (speckle_draws[speckled, 3] * MAX_NOISE * strength)[:, None, None]
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _blur(images: np.ndarray, chosen: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Gaussian blur of the chosen images, each with its own σ, cut at 3σ with a black border (as
    the Robustness experiment blurs)."""
    for i in np.flatnonzero(chosen & (sigma > 0.05)):
        images[i] = ndimage.gaussian_filter(images[i], float(sigma[i]), mode="constant", truncate=3.0)
    return images


def _stroke(images: np.ndarray, change: np.ndarray) -> np.ndarray:
    """Blend each image toward its 3×3 dilation (change > 0) or erosion (change < 0)."""
    thicker = ndimage.grey_dilation(images, footprint=_CROSS)
    thinner = ndimage.grey_erosion(images, footprint=_CROSS)
    t = change[:, None, None]
    out = np.where(t >= 0, images + t * (thicker - images), images + (-t) * (thinner - images))
    # A thin pen still inks at full strength (and the app's preprocessing stretches the darkest ink to 1).
    before, after = images.max(axis=(1, 2), keepdims=True), out.max(axis=(1, 2), keepdims=True)
    return np.where(after > 0, out * (before / np.maximum(after, 1e-6)), out)


def _pen(images: np.ndarray, redraw: np.ndarray, pens: np.ndarray, heights: np.ndarray) -> np.ndarray:
    """The images where `redraw` is set, drawn again with a Draw-page pen `pens` px wide, `heights`
    of the canvas tall, then preprocessed as the app preprocesses a drawing."""
    out = images.copy()
    scale = PEN_CANVAS / preprocess.DRAW_CANVAS
    for j in np.flatnonzero(redraw):
        if images[j].max() <= 0:
            continue  # nothing to draw
        rgba = canvas_pen.redraw_mnist(images[j], pens[j] * scale, PEN_CANVAS, heights[j] * PEN_CANVAS)
        drawn = preprocess.canvas_to_mnist(rgba)
        if drawn is not None:  # the preprocessing found no digit (a speck): left as it was
            out[j] = drawn
    return out


def _warp(images: np.ndarray, u: np.ndarray, noise: np.ndarray, chosen: set[str], strength: float) -> np.ndarray:
    """One bilinear resampling for every geometric kind: out(p) = in(A·(p − c) + c + t + d(p))."""
    n, h, w = images.shape
    shift = u[:, 0:2] * MAX_SHIFT if "shift" in chosen else np.zeros((n, 2))
    angle = u[:, 2] * MAX_ROTATE if "rotate" in chosen else np.zeros(n)
    zoom_y, zoom_x = (1.0 + u[:, 3] * MAX_ZOOM, 1.0 + u[:, 4] * MAX_ZOOM) if "zoom" in chosen else (np.ones(n),) * 2
    shear = u[:, 5] * MAX_SHEAR if "shear" in chosen else np.zeros(n)
    cos, sin = np.cos(angle), np.sin(angle)
    # Output → input map: rotation, then shear along x, then zoom (inverted: zoom 1.1 shows a bigger digit).
    a = np.empty((n, 2, 2))
    a[:, 0, 0], a[:, 0, 1] = cos, -sin
    a[:, 1, 0], a[:, 1, 1] = sin + shear * cos, cos - shear * sin
    a /= np.stack([zoom_y, zoom_x], 1)[:, :, None]
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float64)
    centre = np.array([(h - 1) / 2, (w - 1) / 2])
    grid = np.stack([rows - centre[0], cols - centre[1]])  # (2, h, w)
    coords = np.einsum("nij,jhw->nihw", a, grid) + (centre - shift)[:, :, None, None]
    if "elastic" in chosen:
        field = ndimage.gaussian_filter(noise, sigma=(0, 0, ELASTIC_SIGMA, ELASTIC_SIGMA), mode="constant")
        amount = ELASTIC_ALPHA * np.abs(u[:, 7])[:, None, None, None]  # from none to full, per image
        coords = coords + amount * np.moveaxis(field, 0, 1)
    return _bilinear(images, coords)


def _bilinear(images: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """images (n, h, w) sampled at coords (n, 2, h, w) (row, col); outside the image is black."""
    n, h, w = images.shape
    padded = np.zeros((n, h + 2, w + 2), np.float32)
    padded[:, 1:-1, 1:-1] = images
    r = np.clip(coords[:, 0] + 1, 0, h + 1)
    c = np.clip(coords[:, 1] + 1, 0, w + 1)
    r0 = np.minimum(np.floor(r).astype(np.int64), h)
    c0 = np.minimum(np.floor(c).astype(np.int64), w)
    fr, fc = (r - r0).astype(np.float32), (c - c0).astype(np.float32)
    flat = padded.reshape(n, -1)
    base = r0 * (w + 2) + c0
    take = lambda offset: np.take_along_axis(flat, (base + offset).reshape(n, -1), 1).reshape(n, h, w)  # noqa: E731
    top = take(0) * (1 - fc) + take(1) * fc
    bottom = take(w + 2) * (1 - fc) + take(w + 3) * fc
    return top * (1 - fr) + bottom * fr
