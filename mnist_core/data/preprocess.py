"""Canvas drawing → the 28×28 image a model expects, made the way MNIST itself was made.

MNIST digits were size-normalised to fit a 20×20 box (aspect ratio kept), anti-aliased, then
placed in 28×28 so their centre of mass sits at the centre (measured on the training set:
(14.0, 14.0), integer shifts). A canvas resized straight to 28×28 is a different distribution
and models do far worse on it; `naive_resize` is that shortcut, kept for comparison.
Each step is its own function so the Draw page can show them.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image

DRAW_CANVAS = 300  # px: the Draw page's canvas; big enough for a projector, fits beside the verdicts on a laptop
PEN_WIDTHS = tuple(range(8, 41, 2))  # px: the Draw page's pen slider (mnist_core.data.handwriting measures each)
DEFAULT_PEN = 22
SIDE = 28
BOX = 20  # MNIST's size-normalisation box
INK_THRESHOLD = 0.1  # ink below this (after anti-aliasing by the canvas) is background
MIN_EXTENT = 0.05  # a drawing whose longest side is under 5% of the canvas is a speck, not a digit
DOT_FILL = 0.6  # a roundish blob filling over 60% of its box is a dot, not a digit


def ink_from_rgba(rgba: np.ndarray) -> np.ndarray:
    """Ink in [0, 1] from an (H, W, 4) uint8 image: light strokes on a dark or transparent background.
    (No guessing of dark-on-light: a canvas flooded with white ink would read as empty paper.)"""
    rgba = np.asarray(rgba)
    if rgba.ndim != 3 or rgba.shape[2] not in (3, 4) or rgba.shape[0] < 2 or rgba.shape[1] < 2:
        raise ValueError(f"expected an (H, W, 4) RGBA image, got shape {rgba.shape}")
    rgb = rgba[..., :3].astype(np.float32) / 255.0
    alpha = rgba[..., 3].astype(np.float32) / 255.0 if rgba.shape[2] == 4 else np.ones(rgba.shape[:2], np.float32)
    luminance = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.clip(luminance * alpha, 0.0, 1.0)


def bounding_box(ink: np.ndarray, threshold: float = INK_THRESHOLD) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right), bottom/right exclusive, of pixels above threshold; None if none."""
    mask = ink > threshold
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def is_digit_like(ink: np.ndarray, box: tuple[int, int, int, int] | None) -> bool:
    """False for an empty canvas, a speck, or a single dot."""
    if box is None:
        return False
    height, width = box[1] - box[0], box[3] - box[2]
    if max(height, width) < MIN_EXTENT * max(ink.shape):
        return False
    roundish = max(height, width) <= 1.5 * min(height, width)
    filled = (ink[box[0]:box[1], box[2]:box[3]] > INK_THRESHOLD).mean()
    return not (roundish and filled > DOT_FILL and max(height, width) < 0.2 * max(ink.shape))


def crop(ink: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    return ink[box[0]:box[1], box[2]:box[3]]


def fit_to_box(image: np.ndarray, box: int = BOX) -> np.ndarray:
    """Scale so the longer side is `box` pixels, keeping the aspect ratio; area-averaging
    (anti-aliasing) on the way down, then stretch intensities so the darkest ink is 1 like MNIST's."""
    h, w = image.shape
    scale = box / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))  # PIL wants (width, height)
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    small = np.asarray(Image.fromarray(image.astype(np.float32), mode="F").resize(size, resample), np.float32)
    peak = small.max()
    return np.clip(small / peak, 0.0, 1.0) if peak > 0 else small


def pad_to_square(image: np.ndarray, side: int = SIDE) -> np.ndarray:
    """Place the image in the middle of a side×side black field."""
    h, w = image.shape
    out = np.zeros((side, side), np.float32)
    top, left = (side - h) // 2, (side - w) // 2
    out[top:top + h, left:left + w] = image
    return out


def center_of_mass(image: np.ndarray) -> tuple[float, float]:
    total = image.sum()
    if total <= 0:
        return (image.shape[0] - 1) / 2, (image.shape[1] - 1) / 2
    idx_r, idx_c = np.arange(image.shape[0]), np.arange(image.shape[1])
    return float(image.sum(axis=1) @ idx_r / total), float(image.sum(axis=0) @ idx_c / total)


def shift_to_center_of_mass(image: np.ndarray, target: float = 14.0) -> np.ndarray:
    """Translate by whole pixels so the centre of mass lands at (target, target), as MNIST did."""
    cy, cx = center_of_mass(image)
    dy, dx = int(round(target - cy)), int(round(target - cx))
    out = np.zeros_like(image)
    h, w = image.shape
    src_r, dst_r = slice(max(0, -dy), min(h, h - dy)), slice(max(0, dy), min(h, h + dy))
    src_c, dst_c = slice(max(0, -dx), min(w, w - dx)), slice(max(0, dx), min(w, w + dx))
    out[dst_r, dst_c] = image[src_r, src_c]
    return out


@dataclasses.dataclass(frozen=True)
class Steps:
    """Every intermediate image of the MNIST-faithful pipeline, for showing on the page."""
    ink: np.ndarray
    box: tuple[int, int, int, int] | None
    cropped: np.ndarray | None
    fitted: np.ndarray | None
    padded: np.ndarray | None
    result: np.ndarray | None  # the (28, 28) input, or None when nothing digit-like is drawn

    @property
    def ink_fraction(self) -> float:
        return _covered(self.ink)


def preprocess_steps(rgba: np.ndarray) -> Steps:
    ink = ink_from_rgba(rgba)
    box = bounding_box(ink)
    if not is_digit_like(ink, box):
        return Steps(ink, box, None, None, None, None)
    cropped = crop(ink, box)
    fitted = fit_to_box(cropped)
    padded = pad_to_square(fitted)
    return Steps(ink, box, cropped, fitted, padded, shift_to_center_of_mass(padded))


def canvas_to_mnist(rgba: np.ndarray) -> np.ndarray | None:
    """(H, W, 4) uint8 canvas → (28, 28) float32 in [0, 1], or None if nothing digit-like is drawn."""
    return preprocess_steps(rgba).result


def naive_resize(rgba: np.ndarray) -> np.ndarray | None:
    """The shortcut many demos take: the whole canvas squashed to 28×28. For comparison only."""
    ink = ink_from_rgba(rgba)
    if not is_digit_like(ink, bounding_box(ink)):
        return None
    small = Image.fromarray(ink, mode="F").resize((SIDE, SIDE), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(small, np.float32), 0.0, 1.0)


# What a person is told when a canvas holds no digit to judge (the Draw and Join pages say the same).
BLANK_MESSAGE = "Draw a digit on the black canvas to see the models answer."
DOT_MESSAGE = "That looks like a dot or a speck. Draw a whole digit, as large as you like."
FLOOD_MESSAGE = "The canvas is mostly ink, so no digit shape is left to see. Press **Clear** and draw one digit."
FLOOD_FRACTION = 0.5  # more of the canvas inked than this is a flood, not a digit


# Strokes thicker than this (px of the 28×28 input) are thicker than 99.5% of MNIST's, and the shipped
# models misread canvas digits drawn so 3–4 times as often, 5–7 times past 9 px
# (benchmarks/stroke_width_accuracy.py): a small digit drawn with a wide pen has its loops filled
# in. The digit is still judged; a tip says why.
HEAVY_STROKE = 6.0
HEAVY_MESSAGE = ("Thick strokes for a digit this size: small loops fill in, and both models misread such "
                 "digits three to four times as often. Draw the digit bigger, or pick a thinner pen.")
HEAVY_MESSAGE_FIXED_PEN = ("Tip: draw bigger next time. At this size your strokes are thicker than almost any "
                           "in MNIST, loops fill in, and both models misread such digits three to four times as often.")
PATH_INK = 0.3  # of full ink: lighter pixels are the soft edge, not the pen's path


def stroke_width(image: np.ndarray) -> float:
    """Typical stroke width in px of a (28, 28) input in [0, 1]: its ink over the length of the
    pen's path (the skeleton of the ink). 0.0 for an empty image."""
    from skimage.morphology import skeletonize  # imported when first used: 0.08 s

    image = np.asarray(image, np.float32)
    length = int(skeletonize(image > PATH_INK).sum())
    return float(image.sum() / length) if length else 0.0


def heavy_strokes(steps: Steps | None) -> bool:
    """True when a judged drawing's strokes are thicker than HEAVY_STROKE once sized like MNIST's."""
    return steps is not None and steps.result is not None and stroke_width(steps.result) > HEAVY_STROKE


def drawing_problem(steps: Steps | None) -> str | None:
    """Why a canvas is not a digit worth judging (BLANK_MESSAGE, DOT_MESSAGE or FLOOD_MESSAGE),
    or None when it is one. `steps` is preprocess_steps' output, None before the first stroke."""
    if steps is None or steps.box is None:
        return BLANK_MESSAGE
    if steps.result is None:
        return DOT_MESSAGE
    if steps.ink_fraction > FLOOD_FRACTION:
        return FLOOD_MESSAGE
    return None


def _covered(ink: np.ndarray) -> float:
    return float((ink > INK_THRESHOLD).mean())


def ink_fraction(rgba: np.ndarray) -> float:
    """Share of the canvas covered by ink: a flood of ink gets a gentle note on the page."""
    return _covered(ink_from_rgba(rgba))
