"""A digit drawn again as the Draw page's canvas draws it: a round pen along the digit's path.

The canvas paints a round pen of the chosen width along the path of the finger or mouse. So we
find a digit's pen path (the skeleton of its ink) and typical stroke width, and paint it again so
that the typical stroke is the chosen pen's width, with a one-pixel soft edge as the canvas has.
mnist_core.data.handwriting measures the models on digits drawn so; mnist_core.data.augment trains on them.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image
from scipy import ndimage

from mnist_core.data import preprocess

CANVAS, PEN_WIDTHS, DEFAULT_PEN = preprocess.DRAW_CANVAS, preprocess.PEN_WIDTHS, preprocess.DEFAULT_PEN
DEFAULT_HEIGHT = 0.7  # a digit drawn on the canvas is about this tall, as a share of the canvas
HEIGHTS = (0.5, 0.85)  # of the canvas: how tall people draw a digit (small ones: SMALL_HEIGHTS)
SMALL_HEIGHTS = (0.2, 0.35)
SOFT_EDGE = 1.0  # px of anti-aliasing at a stroke's edge


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
    from skimage.morphology import skeletonize  # imported when first used: the server needs it only for previews

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
