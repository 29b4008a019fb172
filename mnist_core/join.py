"""The Join page's logic (talk mode, the audience's phones), without Streamlit.

A person is a token in their URL (`?p=TOKEN`), so a reload keeps them in the same talk. They get a
digit to draw (random, so the label is known; they may pick another). On Send, the canvas PNG is
hostile until `crowd.canvas_png_to_rgba` has checked it; a blank, dot or flooded canvas is not a
digit and is not sent (the Draw page's words); otherwise both shipped models judge it with the one
preprocessing, and the digit is stored before the phone is told it arrived.
"""

from __future__ import annotations

import dataclasses
import secrets
from typing import Callable, Mapping

import numpy as np

from mnist_core import crowd, preprocess, registry

KINDS = ("ann", "cnn")  # both shipped models judge every digit the room sends


class NotADigit(Exception):
    """The canvas holds no digit to send (blank, a dot, a flood); the message is the Draw page's."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def person_token(value: object) -> str:
    """The token from the URL if it has a token's form, else a fresh one (the page writes it back)."""
    return value if crowd.is_person_token(value) else crowd.new_person_token()


def new_prompt(previous: int | None = None) -> int:
    """A digit from 0 to 9 to draw, never the one just drawn (a room should fill all ten)."""
    choices = [d for d in range(10) if d != previous]
    return choices[secrets.randbelow(len(choices))]


@dataclasses.dataclass(frozen=True)
class Sent(crowd.Judged):
    """A stored digit and what each model said about it."""

    digit_id: int
    label: int
    probabilities: dict[str, np.ndarray]  # kind → (10,)
    heavy_strokes: bool = False  # thicker than MNIST's strokes: the page suggests drawing bigger


def send(store: crowd.CrowdStore, person: str, label: int, canvas_png, models: Mapping[str, object],
         model_names: Mapping[str, str] | None = None,
         file_hash: Callable[[str], str] = registry.file_hash) -> Sent:
    """Check the canvas PNG, judge it with each model and store it; return only once it is stored.

    `models`: kind → an object with `predict_proba((n, 28, 28)) -> (n, 10)`; `model_names`: kind →
    the model file's name in trained_models/ (default: the kind, i.e. the shipped model).
    Raises NotADigit (blank, dot, flood), crowd.CrowdInputError (a bad component value or digit),
    crowd.RateLimited and crowd.CrowdStoreError; in every case nothing is stored.
    """
    if canvas_png is None:
        raise NotADigit(preprocess.BLANK_MESSAGE)
    rgba = crowd.canvas_png_to_rgba(canvas_png, expected_size=None)
    steps = preprocess.preprocess_steps(rgba)
    problem = preprocess.drawing_problem(steps)
    if problem is not None:
        raise NotADigit(problem)
    image = steps.result
    names = {kind: (model_names or {}).get(kind, kind) for kind in models}
    probabilities = {kind: np.asarray(model.predict_proba(image[None])[0], np.float64)
                     for kind, model in models.items()}
    digit_id = store.add_digit(
        talk_id=store.current_talk(), person_token=person, label=label, image28=image,
        canvas_png=crowd.canvas_thumbnail_png(rgba), probabilities=probabilities,
        model_files={kind: (name, file_hash(name)) for kind, name in names.items()})
    return Sent(digit_id, int(label), probabilities, preprocess.heavy_strokes(steps))
