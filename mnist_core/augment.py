"""Training-time augmentation: random changes a new writer's digit may show that MNIST's do not.

Each kind can be switched on or off on its own (the Train page shows what each does):
- shift, rotate, zoom, shear: one affine warp about the image centre;
- elastic: a smooth random displacement field (Simard, Steinkraus & Platt 2003, "Best practices
  for convolutional neural networks applied to visual document analysis"; α 34 and σ 4 on 29×29
  took an MLP from 1.6% to 0.7% test error and a CNN to 0.4%);
- stroke: thinner or thicker strokes (grey-scale erosion or dilation), as pens of other widths draw;
- pen: the digit drawn again as the Draw page's canvas draws: its pen path (the ink's skeleton)
  painted with a round pen of one random width, even ink and a soft edge. MNIST's strokes vary
  in width and pressure; a canvas stroke never does (mnist_core.handwriting measures what that
  costs the models; the shipped recipes leave this kind out, see models.SHIPPED_AUGMENT).

NumPy, SciPy and scikit-image only, so the server can show the effect and the training worker can
run it on batches. `augment(images, kinds, rng, strength)`: strength 0 is the identity, 1 the training
recipe's; the same seed gives the same images.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import numpy as np
from scipy import ndimage

from . import preprocess


@dataclasses.dataclass(frozen=True)
class Kind:
    name: str
    label: str
    help: str


KINDS = (
    Kind("shift", "Shift", "Moves the digit up to 2 px in each direction."),
    Kind("rotate", "Rotate", "Turns the digit up to ±12°."),
    Kind("zoom", "Zoom", "Scales height and width by 0.85–1.15 each, so narrow and wide digits too."),
    Kind("shear", "Shear", "Slants the digit up to ±0.3 (about 17°), as people slant their writing."),
    Kind("elastic", "Elastic", "Bends the strokes by a smooth random field (Simard et al. 2003)."),
    Kind("stroke", "Stroke width", "Thins or thickens the strokes by up to a pixel on each side."),
    Kind("pen", "Canvas pen", "Redraws half the digits as the Draw page's pen would: the same path, one even "
                              "width from the thinnest pen to the thickest, a soft edge."),
)
KIND_NAMES = tuple(k.name for k in KINDS)
LEGACY_KINDS = ("shift", "rotate", "zoom")  # what `augment=True` meant before kinds could be chosen

# The recipe's ranges at strength 1 (see KINDS' help).
MAX_SHIFT = 2.0  # px
MAX_ROTATE = np.deg2rad(12.0)
MAX_ZOOM = 0.15
MAX_SHEAR = 0.3
ELASTIC_ALPHA, ELASTIC_SIGMA = 34.0, 4.0  # Simard et al.'s values, in pixels of a 28×28 image
MAX_STROKE = 1.0  # px, each side of a stroke (a 3×3 dilation or erosion)
PEN_SHARE = 0.5  # of the images, redrawn with a pen (the rest keep MNIST's own strokes)
# px in the 28×28 image: the Draw page's pens (8–40 px) on digits 50–85% of its 300 px canvas tall,
# after the preprocessing fits the digit into 20 px.
MIN_PEN, MAX_PEN = 0.6, 4.2
PEN_UPSCALE = 2  # the pen paints on a grid this much finer (_upscale's), then averages down as the preprocessing does


_CROSS = np.array([[[0, 1, 0], [1, 1, 1], [0, 1, 0]]], bool)  # a round-ish pen tip, one pixel each side


class AugmentError(ValueError):
    """An unknown augmentation kind; the message lists the known ones."""


def kinds_from(value) -> tuple[str, ...]:
    """The kinds a setting names, in KINDS' order. Accepts a list of names, a comma-separated
    string, or a bool as older cards and configs stored it (True: shift, rotate, zoom)."""
    if value is None or value is False:
        return ()
    if value is True:
        return LEGACY_KINDS
    names = [s.strip() for s in value.split(",")] if isinstance(value, str) else list(value)
    names = [n for n in names if n and n != "none"]
    if names == ["all"]:
        return KIND_NAMES
    unknown = sorted(set(names) - set(KIND_NAMES))
    if unknown:
        raise AugmentError(f"Unknown augmentation {', '.join(unknown)}; choose from {', '.join(KIND_NAMES)} "
                           f"(or all, none).")
    return tuple(n for n in KIND_NAMES if n in names)


def describe(kinds: Iterable[str]) -> str:
    """'shift, rotate and elastic' or 'none', for captions and cards."""
    labels = [k.label.lower() for k in KINDS if k.name in set(kinds)]
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
    pen_draws = rng.uniform(0.0, 1.0, size=(n, 2))  # drawn after the others so their draws stay as they were
    out = images
    if "pen" in chosen:
        redraw = pen_draws[:, 0] < PEN_SHARE * min(strength, 1.0)
        out = _pen(out, redraw, MIN_PEN + pen_draws[:, 1] * (MAX_PEN - MIN_PEN))
    if "stroke" in chosen:
        out = _stroke(out, u[:, 6] * MAX_STROKE)
    geometric = chosen & {"shift", "rotate", "zoom", "shear", "elastic"}
    if geometric:
        out = _warp(out, u, noise, chosen, strength)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _stroke(images: np.ndarray, change: np.ndarray) -> np.ndarray:
    """Blend each image toward its 3×3 dilation (change > 0) or erosion (change < 0)."""
    thicker = ndimage.grey_dilation(images, footprint=_CROSS)
    thinner = ndimage.grey_erosion(images, footprint=_CROSS)
    t = change[:, None, None]
    out = np.where(t >= 0, images + t * (thicker - images), images + (-t) * (thinner - images))
    # A thin pen still inks at full strength (and the app's preprocessing stretches the darkest ink to 1).
    before, after = images.max(axis=(1, 2), keepdims=True), out.max(axis=(1, 2), keepdims=True)
    return np.where(after > 0, out * (before / np.maximum(after, 1e-6)), out)


def _pen(images: np.ndarray, redraw: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """The images where `redraw` is set, their strokes' path (the ink's skeleton) painted again
    with a round pen `widths` px wide and a soft edge, as the canvas paints."""
    from skimage.morphology import skeletonize  # imported when used: the server rarely needs it

    out = images.copy()
    chosen = np.flatnonzero(redraw)
    if not chosen.size:
        return out
    k = PEN_UPSCALE
    fine = _upscale(images[chosen])
    # Light ink counts too: MNIST writers pressed unevenly, and a pen path must not break there.
    solid = ndimage.gaussian_filter(fine, (0, 1, 1)) > preprocess.PATH_INK * fine.max(axis=(1, 2), keepdims=True)
    to_path = np.full(fine.shape, np.inf, np.float32)
    for j, ink in enumerate(solid):
        path = skeletonize(ink)
        if path.any():
            to_path[j] = ndimage.distance_transform_edt(~path)
    pen = (widths[chosen] * k)[:, None, None]
    painted = np.clip(pen / 2 - to_path + 0.5, 0.0, 1.0)  # a one-pixel soft edge
    n, h, w = painted.shape
    small = painted.reshape(n, h // k, k, w // k, k).mean(axis=(2, 4))  # area-averaging, as the preprocessing does
    peak = small.max(axis=(1, 2), keepdims=True)
    out[chosen] = np.where(peak > 0, small / np.maximum(peak, 1e-6), images[chosen])  # no path: left as it was
    return out


def _upscale(images: np.ndarray) -> np.ndarray:
    """(n, h, w) → (n, 2h, 2w) by bilinear interpolation at the finer grid's pixel centres."""
    n, h, w = images.shape
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    rows = np.empty((n, 2 * h, w + 2), np.float32)
    rows[:, 0::2] = 0.75 * padded[:, 1:-1] + 0.25 * padded[:, :-2]
    rows[:, 1::2] = 0.75 * padded[:, 1:-1] + 0.25 * padded[:, 2:]
    out = np.empty((n, 2 * h, 2 * w), np.float32)
    out[:, :, 0::2] = 0.75 * rows[:, :, 1:-1] + 0.25 * rows[:, :, :-2]
    out[:, :, 1::2] = 0.75 * rows[:, :, 1:-1] + 0.25 * rows[:, :, 2:]
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
