"""Digits drawn as canvas strokes, for measuring how the models read handwriting they never saw.

The Draw page's canvas paints a round pen of the chosen width along the path of the finger or
mouse. So we find a digit's pen path (the skeleton of its ink) and typical stroke width, paint
it again so that the typical stroke is the chosen pen's width (with a one-pixel soft edge, as
the canvas does), and send the result through the app's own preprocessing.

Two sources of digits:
- MNIST's test digits, redrawn at each of the Draw page's pen widths, off-centre and small;
- digits set in handwriting fonts from Debian packages (`FONTS`): writers MNIST never had.
  Nothing here is used in training; `held_out` draws a fixed set from a seed.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from . import preprocess

CANVAS, PEN_WIDTHS, DEFAULT_PEN = preprocess.DRAW_CANVAS, preprocess.PEN_WIDTHS, preprocess.DEFAULT_PEN
DEFAULT_HEIGHT = 0.7  # a digit drawn on the canvas is about this tall, as a share of the canvas
SOFT_EDGE = 1.0  # px of anti-aliasing at a stroke's edge


class FontMissingError(RuntimeError):
    """A handwriting font is not installed; the message names the Debian package."""


@dataclasses.dataclass(frozen=True)
class Font:
    name: str
    path: str
    package: str  # the Debian package that installs it


_OT, _TT = "/usr/share/fonts/opentype", "/usr/share/fonts/truetype"
# Every font's digits were looked at: outline fonts (femkeklaver) and fonts whose 7 or 8 no
# reader would take for one (dkg italic) are left out.
FONTS = (
    Font("Because We Build", f"{_OT}/bwht/BecauseWeBuild-Regular.otf", "fonts-bwht"),
    Font("Because We Connect", f"{_OT}/bwht/BecauseWeConnect-Regular.otf", "fonts-bwht"),
    Font("Because We Create", f"{_OT}/bwht/BecauseWeCreate-Regular.otf", "fonts-bwht"),
    Font("Because We Learn", f"{_OT}/bwht/BecauseWeLearn-Regular.otf", "fonts-bwht"),
    Font("Because We Mentor", f"{_OT}/bwht/BecauseWeMentor-Regular.otf", "fonts-bwht"),
    Font("Because We Organize", f"{_OT}/bwht/BecauseWeOrganize-Regular.otf", "fonts-bwht"),
    Font("Comic Neue", f"{_OT}/comic-neue/ComicNeue-Regular.otf", "fonts-comic-neue"),
    Font("Comic Neue Italic", f"{_OT}/comic-neue/ComicNeue-Italic.otf", "fonts-comic-neue"),
    Font("Dancing Script", f"{_OT}/dancingscript/DancingScript-Regular.otf", "fonts-dancingscript"),
    Font("Breip", f"{_TT}/breip/Breip.ttf", "fonts-breip"),
    Font("Ecolier court", f"{_TT}/ecolier-court/Ecolier-court.ttf", "fonts-ecolier-court"),
    Font("dkg handwriting", f"{_TT}/fifthhorseman/dkg.ttf", "fonts-dkg-handwriting"),
    Font("Humor Sans", f"{_TT}/humor-sans/Humor-Sans.ttf", "fonts-humor-sans"),
    Font("Rufscript", f"{_TT}/rufscript/Rufscript010.ttf", "fonts-rufscript"),
    Font("Delphine", f"{_TT}/sjfonts/Delphine.ttf", "fonts-sjfonts"),
    Font("Steve Hand", f"{_TT}/sjfonts/SteveHand.ttf", "fonts-sjfonts"),
    Font("Yusei Magic", f"{_TT}/yusei-magic/YuseiMagic-Regular.ttf", "fonts-yusei-magic"),
)
PACKAGES = tuple(sorted({f.package for f in FONTS}))


def missing_fonts() -> list[Font]:
    return [f for f in FONTS if not Path(f.path).is_file()]


def check_fonts() -> None:
    """FontMissingError naming the command that installs what is missing."""
    missing = missing_fonts()
    if missing:
        packages = " ".join(sorted({f.package for f in missing}))
        names = ", ".join(f.name for f in missing)
        raise FontMissingError(f"Handwriting fonts missing ({names}). Install them with "
                               f"`sudo apt-get install {packages}` (or `make fonts`).")


# --- the pen ----------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Strokes:
    """A drawing reduced to what repainting it with another pen needs, in a window around its ink."""
    depth: np.ndarray  # signed distance to the ink's edge in px: positive inside the ink
    to_path: np.ndarray  # distance in px to the pen's path (the ink's skeleton)
    width: float  # the drawing's typical stroke width in px
    shape: tuple[int, int]  # the whole canvas
    corner: tuple[int, int]  # where the window starts on it


MAX_REACH = max(preprocess.PEN_WIDTHS) + 4  # px beyond the ink that a repaint can reach


def strokes_of(ink: np.ndarray) -> Strokes:
    """`ink` ((H, W) in [0, 1], strokes light) as a pen's path, stroke depth and typical width."""
    from skimage.morphology import skeletonize  # only measuring needs scikit-image

    ink = np.asarray(ink, np.float32)
    rows, cols = np.flatnonzero(ink.max(axis=1) > 0), np.flatnonzero(ink.max(axis=0) > 0)
    if not len(rows):
        rows = cols = np.array([0])
    top, left = max(rows[0] - MAX_REACH, 0), max(cols[0] - MAX_REACH, 0)  # only near the ink matters
    window = ink[top:rows[-1] + MAX_REACH + 1, left:cols[-1] + MAX_REACH + 1]
    solid = ndimage.gaussian_filter(window, 1.0) > 0.5  # smooth edges: fewer spurs
    path = skeletonize(solid)
    inside = ndimage.distance_transform_edt(solid)
    depth = (inside - ndimage.distance_transform_edt(~solid)).astype(np.float32)
    width = float(2 * np.median(inside[path])) if path.any() else 0.0
    to_path = ndimage.distance_transform_edt(~path).astype(np.float32) if path.any() else np.full(
        window.shape, np.inf, np.float32)
    return Strokes(depth, to_path, width, ink.shape, (top, left))


def paint(strokes: Strokes, pen: float) -> np.ndarray:
    """The drawing again with a round pen `pen` px wide: (H, W) uint8 ink with a one-pixel soft
    edge, as the canvas paints it. Its typical stroke becomes `pen` wide; parts the writer made
    thicker (a loop pressed shut) stay as much thicker; no part is thinner than the pen."""
    grown = strokes.depth + (pen - strokes.width) / 2  # the ink's edge moved out (or in) to the pen
    along_path = pen / 2 - strokes.to_path  # a pen of that width along the path: nothing breaks
    window = np.clip(np.maximum(grown, along_path) / SOFT_EDGE + 0.5, 0.0, 1.0)
    out = np.zeros(strokes.shape, np.uint8)
    top, left = strokes.corner
    out[top:top + window.shape[0], left:left + window.shape[1]] = np.round(window * 255)
    return out


def place(ink: np.ndarray, height: float, center: tuple[float, float], canvas: int = CANVAS,
          angle: float = 0.0) -> np.ndarray:
    """`ink` (cropped, in [0, 1]) scaled to `height` px, turned `angle` degrees, centred at
    (row, col) on an empty canvas: a (canvas, canvas) float image, clipped at the canvas edge."""
    ink = np.asarray(ink, np.float32)
    rows, cols = np.flatnonzero(ink.max(axis=1) > 0.1), np.flatnonzero(ink.max(axis=0) > 0.1)
    ink = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    scale = height / ink.shape[0]
    size = (max(1, round(ink.shape[1] * scale)), max(1, round(ink.shape[0] * scale)))
    big = Image.fromarray(ink).resize(size, Image.Resampling.BILINEAR)
    if angle:
        big = big.rotate(angle, Image.Resampling.BILINEAR, expand=True)
    big = np.asarray(big)
    out = np.zeros((canvas, canvas), np.float32)
    top, left = round(center[0] - big.shape[0] / 2), round(center[1] - big.shape[1] / 2)
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + big.shape[0], canvas), min(left + big.shape[1], canvas)
    if r1 > r0 and c1 > c0:
        out[r0:r1, c0:c1] = big[r0 - top:r1 - top, c0 - left:c1 - left]
    return out


def as_rgba(ink: np.ndarray) -> np.ndarray:
    """(H, W) uint8 ink → the canvas component's RGBA: white strokes on opaque black."""
    rgba = np.empty(ink.shape + (4,), np.uint8)
    rgba[..., :3] = ink[..., None]
    rgba[..., 3] = 255
    return rgba


def redraw_mnist(digit: np.ndarray, pen: float = DEFAULT_PEN, canvas: int = CANVAS,
                 height: float | None = None, center: tuple[float, float] | None = None) -> np.ndarray:
    """An MNIST digit ((28, 28) uint8 or [0, 1]) drawn again with a round pen of width `pen` on
    a canvas: (canvas, canvas, 4) uint8 RGBA. Default: DEFAULT_HEIGHT of the canvas, centred."""
    digit = np.asarray(digit)
    ink = digit.astype(np.float32) / (255.0 if digit.dtype == np.uint8 else 1.0)
    height = DEFAULT_HEIGHT * canvas if height is None else height
    center = (canvas / 2, canvas / 2) if center is None else center
    return as_rgba(paint(strokes_of(place(ink, height, center, canvas)), pen))


# --- handwriting fonts ------------------------------------------------------------------------

@lru_cache(maxsize=256)
def glyph(font: Font, digit: int) -> np.ndarray:
    """`digit` set in `font`, cropped: (H, W) float32 ink in [0, 1], about 200 px tall."""
    if not Path(font.path).is_file():
        check_fonts()
    face = ImageFont.truetype(font.path, 200)
    image = Image.new("L", (400, 400), 0)
    ImageDraw.Draw(image).text((100, 50), str(digit), font=face, fill=255)
    ink = np.asarray(image, np.float32) / 255
    rows, cols = np.flatnonzero(ink.max(axis=1) > 0.1), np.flatnonzero(ink.max(axis=0) > 0.1)
    return ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def draw_font_digit(font: Font, digit: int, pen: float = DEFAULT_PEN, canvas: int = CANVAS,
                    height: float | None = None, center: tuple[float, float] | None = None,
                    angle: float = 0.0) -> np.ndarray:
    """`digit` as `font` writes it, drawn with a round pen of width `pen`: (canvas, canvas, 4) RGBA."""
    height = DEFAULT_HEIGHT * canvas if height is None else height
    center = (canvas / 2, canvas / 2) if center is None else center
    return as_rgba(paint(strokes_of(place(glyph(font, digit), height, center, canvas, angle)), pen))


# --- the held-out sets ------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class DigitSet:
    """Preprocessed digits as the models get them, their labels, and how each was drawn."""
    images: np.ndarray  # (N, 28, 28) float32, the app's preprocessing of each canvas
    labels: np.ndarray  # (N,) uint8
    source: np.ndarray  # (N,) str: the font's name, or "MNIST"
    pen: np.ndarray  # (N,) int: pen width in px


def _random_pose(rng: np.random.Generator, canvas: int, small: bool = False, off_centre: bool = False):
    height = rng.uniform(0.2, 0.35) * canvas if small else rng.uniform(0.5, 0.85) * canvas
    if off_centre:  # the digit pressed against a random corner of the canvas
        margin = height / 2 + 4
        center = (rng.choice([margin, canvas - margin]), rng.choice([margin, canvas - margin]))
    else:
        center = (canvas / 2 + rng.uniform(-0.1, 0.1) * canvas, canvas / 2 + rng.uniform(-0.1, 0.1) * canvas)
    return height, center


def _preprocessed(rgba: np.ndarray) -> np.ndarray:
    image = preprocess.canvas_to_mnist(rgba)
    return image if image is not None else np.zeros((28, 28), np.float32)  # counts as wrong, not dropped


def font_digits(seed: int = 0, per_digit: int = 12, fonts=FONTS, pens=PEN_WIDTHS,
                canvas: int = CANVAS) -> DigitSet:
    """Every digit in every font, `per_digit` times at random pens, sizes, places and slants
    (turned up to ±10°), deterministic by `seed`."""
    check_fonts()
    rng = np.random.default_rng(seed)
    images, labels, source, pen_used = [], [], [], []
    for font in fonts:
        for digit in range(10):
            for _ in range(per_digit):
                pen = int(rng.choice(pens))
                height, center = _random_pose(rng, canvas)
                angle = float(rng.uniform(-10, 10))
                rgba = draw_font_digit(font, digit, pen, canvas, height, center, angle)
                images.append(_preprocessed(rgba))
                labels.append(digit)
                source.append(font.name)
                pen_used.append(pen)
    return DigitSet(np.stack(images), np.array(labels, np.uint8), np.array(source), np.array(pen_used))


def mnist_at_pens(digits: np.ndarray, labels: np.ndarray, pens=PEN_WIDTHS, seed: int = 0,
                  canvas: int = CANVAS, small: bool = False, off_centre: bool = False) -> DigitSet:
    """Each MNIST digit drawn once at a random size and place (the same for every pen, so pens
    compare fairly), then painted with each pen in `pens`."""
    rng = np.random.default_rng(seed)
    images, out_labels, pen_used = [], [], []
    for digit, label in zip(digits, labels):
        ink = np.asarray(digit, np.float32) / (255.0 if np.asarray(digit).dtype == np.uint8 else 1.0)
        height, center = _random_pose(rng, canvas, small=small, off_centre=off_centre)
        strokes = strokes_of(place(ink, height, center, canvas))
        for pen in pens:
            images.append(_preprocessed(as_rgba(paint(strokes, pen))))
            out_labels.append(label)
            pen_used.append(pen)
    n = len(images)
    return DigitSet(np.stack(images), np.array(out_labels, np.uint8), np.array(["MNIST"] * n), np.array(pen_used))


if __name__ == "__main__":  # `make fonts` asks which Debian packages to install
    import sys

    if sys.argv[1:] == ["--missing-packages"]:
        print(" ".join(sorted({f.package for f in missing_fonts()})))
    else:
        sys.exit("usage: python -m mnist_core.handwriting --missing-packages")
