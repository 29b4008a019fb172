"""Image helpers for figures and pages: enlarge, thumbnail, strips, as uint8. Not charts."""

from __future__ import annotations

import numpy as np


def enlarge(image: np.ndarray, factor: int = 4) -> np.ndarray:
    """Nearest-neighbour upscaling, so a 28×28 digit shows crisp pixels instead of browser blur."""
    return np.kron(np.asarray(image), np.ones((factor, factor), dtype=np.asarray(image).dtype))



def thumbnail(image: np.ndarray, size: int = 168) -> np.ndarray:
    """Any ink image as a size×size uint8 picture: padded to a square (black), then scaled with
    crisp pixels when small (a 28×28 input) and smoothly when large (the canvas)."""
    from PIL import Image

    pixels = to_uint8(image)
    h, w = pixels.shape
    side = max(h, w)
    square = np.zeros((side, side), np.uint8)
    square[(side - h) // 2:(side - h) // 2 + h, (side - w) // 2:(side - w) // 2 + w] = pixels
    resample = Image.Resampling.NEAREST if side < size else Image.Resampling.BOX
    return np.asarray(Image.fromarray(square).resize((size, size), resample))



def to_uint8(image: np.ndarray) -> np.ndarray:
    """A [0, 1] float image as 0–255 bytes (uint8 input passes through)."""
    image = np.asarray(image)
    return image if image.dtype == np.uint8 else np.clip(np.round(image * 255), 0, 255).astype(np.uint8)



def image_strip(images: np.ndarray, factor: int = 3, gap: int = 2) -> np.ndarray:
    """Digits side by side as one uint8 picture (white ink on black, grey gaps between them)."""
    tiles = [enlarge(to_uint8(image), factor) for image in images]
    h = tiles[0].shape[0]
    spacer = np.full((h, gap), 128, np.uint8)
    return np.hstack([part for tile in tiles for part in (tile, spacer)][:-1])
