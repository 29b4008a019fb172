"""What the write-ups our seed presets come from reported, to draw beside our own runs.

Only two reported figures: seed004-cnn its validation accuracy per epoch (on the 10,000 test images)
and its confusion matrix, seed002-ann its accuracy after 10 epochs. The other seed write-ups
(seed000-ann, seed001-ann, seed000-cnn) printed no figure to compare with.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True, eq=False)
class WriteUp:
    preset: str
    source: str  # what it reported and how, in a line
    curve: dict  # "accuracy" (training) or "test_accuracy" → {epoch as the write-up numbered it: fraction}
    test_accuracy: float
    initial_epoch: int = 0  # Keras's initial_epoch: its epoch numbers run this far ahead of the epochs trained
    confusion: np.ndarray | None = None  # rows actual 0–9, columns predicted 0–9, on the 10,000 test images
    train_accuracy: float | None = None


SEED004_CNN_CONFUSION = np.array([
    [968, 0, 1, 0, 0, 1, 6, 1, 3, 0],
    [0, 1113, 3, 2, 0, 0, 4, 0, 13, 0],
    [13, 0, 941, 12, 15, 0, 10, 16, 24, 1],
    [1, 1, 13, 951, 1, 10, 1, 5, 21, 6],
    [1, 2, 3, 0, 930, 0, 13, 1, 4, 28],
    [10, 1, 1, 24, 3, 813, 18, 1, 15, 6],
    [7, 3, 2, 1, 5, 10, 928, 0, 2, 0],
    [3, 8, 30, 3, 4, 1, 0, 938, 5, 36],
    [6, 2, 2, 15, 6, 7, 6, 9, 902, 19],
    [12, 7, 5, 10, 14, 3, 0, 12, 14, 932],
])

WRITEUPS = {
    "seed004-cnn": WriteUp(
        "seed004-cnn",
        "validation accuracy each epoch, validated on the 10,000 test images; it trained with initial_epoch=1, "
        "so its epochs are 2–10",
        {"test_accuracy": dict(zip(range(2, 11), (0.5802, 0.7990, 0.8677, 0.8904, 0.9078, 0.9185, 0.9288, 0.9350,
                                                  0.9416)))},
        test_accuracy=0.9416, initial_epoch=1, confusion=SEED004_CNN_CONFUSION),
    "seed002-ann": WriteUp(
        "seed002-ann", "94% training accuracy and 93.5% test accuracy after 10 epochs",
        {"accuracy": {10: 0.94}, "test_accuracy": {10: 0.935}}, test_accuracy=0.935, train_accuracy=0.94),
}


def for_preset(preset: str | None) -> WriteUp | None:
    return WRITEUPS.get(preset)


def trained_epochs(writeup: WriteUp, key: str) -> dict:
    """The write-up's curve by epochs of training done, as our curves count them: fit(initial_epoch=1,
    epochs=10) trains nine epochs and numbers them 2–10. Recorded here, the recipe's epochs 1–9 come
    within 3.3 points of the write-up's 2–10 (0.4–24 points apart if matched by number)."""
    return {epoch - writeup.initial_epoch: value for epoch, value in writeup.curve.get(key, {}).items()}


def overlay(writeup: WriteUp) -> dict:
    """What charts.training_curves draws for a write-up: its points by epochs trained, and its own
    epoch numbers for the hovers."""
    return {"label": f"{writeup.preset} write-up", "numbers": {k: list(v) for k, v in writeup.curve.items()},
            "points": {k: trained_epochs(writeup, k) for k in writeup.curve}}
