"""MNIST test digits redrawn as canvas images: upscaled to a random size and place on a black
canvas, turned into pen strokes of varying width. Tests and the canvas benchmark use them to
measure preprocessing on digits drawn the way people draw on the Draw page."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

CANVAS = 320


def redraw(digit: np.ndarray, rng: np.random.Generator, canvas: int = CANVAS,
           size: float | None = None, center: tuple[float, float] | None = None,
           pen: int | None = None) -> np.ndarray:
    """An (canvas, canvas, 4) uint8 RGBA image: white strokes on opaque black.
    size: the digit's height in px; center: (row, col) of the digit; pen: stroke-width change
    in px (negative thins, positive thickens). Unset ones are drawn at random."""
    ink = np.asarray(digit, np.float32) / (255.0 if np.asarray(digit).dtype == np.uint8 else 1.0)
    rows, cols = np.flatnonzero(ink.max(axis=1) > 0.1), np.flatnonzero(ink.max(axis=0) > 0.1)
    ink = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    height = size if size is not None else rng.uniform(0.3, 0.85) * canvas
    scale = height / ink.shape[0]
    new_w, new_h = max(1, round(ink.shape[1] * scale)), max(1, round(ink.shape[0] * scale))
    new_w = min(new_w, canvas - 2)
    big = Image.fromarray((ink * 255).astype(np.uint8)).resize((new_w, new_h), Image.Resampling.BILINEAR)
    strokes = big.point(lambda v: 255 if v >= 110 else 0)  # a pen either inks a pixel or not
    change = pen if pen is not None else int(rng.integers(-2, 4)) * max(1, round(scale / 3))
    if change > 0:
        strokes = strokes.filter(ImageFilter.MaxFilter(2 * (change // 2) + 1))
    elif change < 0:
        strokes = strokes.filter(ImageFilter.MinFilter(2 * (-change // 2) + 1))
    strokes = strokes.filter(ImageFilter.GaussianBlur(1.0))  # the canvas anti-aliases its strokes
    if center is None:
        center = (rng.uniform(new_h / 2, canvas - new_h / 2), rng.uniform(new_w / 2, canvas - new_w / 2))
    top = int(np.clip(round(center[0] - new_h / 2), 0, canvas - new_h))
    left = int(np.clip(round(center[1] - new_w / 2), 0, canvas - new_w))
    gray = np.zeros((canvas, canvas), np.uint8)
    gray[top:top + new_h, left:left + new_w] = np.asarray(strokes)
    rgba = np.empty((canvas, canvas, 4), np.uint8)
    rgba[..., :3] = gray[..., None]
    rgba[..., 3] = 255
    return rgba
