"""The room's records as the store hands them out: a talk, a stored digit and what each model said
about it."""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Talk:
    id: int
    title: str
    created: float  # Unix time
    digits: int  # visible
    hidden: int



class Judged:
    """What each model said about a labelled digit; for records with `label` and `probabilities`
    (kind → ten probabilities)."""

    @property
    def predictions(self) -> dict[str, int]:
        return {kind: int(np.argmax(p)) for kind, p in self.probabilities.items()}

    @property
    def confidences(self) -> dict[str, float]:
        return {kind: float(np.max(p)) for kind, p in self.probabilities.items()}

    @property
    def correct(self) -> dict[str, bool]:
        return {kind: pred == self.label for kind, pred in self.predictions.items()}



@dataclasses.dataclass(frozen=True, eq=False)
class Digit(Judged):
    """One stored digit with everything a wall tile needs."""

    id: int
    talk_id: int
    created: float  # Unix time
    person: str
    label: int  # the digit the person was asked to draw (or chose)
    image: np.ndarray  # (28, 28) uint8, the model input
    canvas_png: bytes  # ≤ MAX_STORED_PNG_BYTES
    probabilities: dict[str, np.ndarray]  # kind → (10,) float64
    model_files: dict[str, tuple[str, str]]  # kind → (model name, file SHA-256)
    hidden: bool
