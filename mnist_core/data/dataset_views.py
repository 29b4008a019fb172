"""The data behind the Dataset page: which images to show, and per-class statistics."""

from __future__ import annotations

import numpy as np


def filter_indices(labels: np.ndarray, digit: int | None = None, seed: int | None = None) -> np.ndarray:
    """Indices of the images of `digit` (all when None), in dataset order or shuffled by `seed`."""
    indices = np.arange(len(labels)) if digit is None else np.flatnonzero(labels == digit)
    if seed is not None:
        indices = np.random.default_rng(seed).permutation(indices)
    return indices


def index_problem(index: int, count: int, split: str = "train") -> str | None:
    """Why `index` cannot be shown (a message naming the valid range), or None if it can."""
    if 0 <= index < count:
        return None
    return f"There is no image {index:,} in the {split} split: indices run from 0 to {count - 1:,}."


def class_means(images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(10, 28, 28) mean image of each digit, in 0–255."""
    return np.stack([images[labels == d].mean(axis=0, dtype=np.float64) for d in range(10)])


def class_variances(images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(10, 28, 28) per-pixel variance of each digit."""
    return np.stack([images[labels == d].astype(np.float32).var(axis=0) for d in range(10)])
