"""One verdict on a drawn digit, for every place that judges one: the Draw page, the audience's
phones (in the judging worker processes) and the Talk wall's tiles.

preprocess (the MNIST-faithful steps) → each model's probabilities → its unsure rule (temperature,
then threshold; mnist_core.analysis.calibration) → agree, disagree or unsure. A canvas that holds no digit
(blank, a dot, a flood) gets the Draw page's words in `problem`; a flood is still judged (the Draw
page shows it with a warning), and the audience path refuses to send any problem.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Protocol

import numpy as np

from mnist_core.analysis.calibration import with_temperature
from mnist_core.data import preprocess

KIND_LABEL = {"ann": "ANN", "cnn": "CNN"}


class UnsureRule(Protocol):
    """What a model's unsure rule needs (calibration.Calibration has both, so has UnsureRule below)."""
    temperature: float
    threshold: float


@dataclasses.dataclass(frozen=True)
class Rule:
    """A model's unsure rule on its own, small enough to send to a worker process."""
    temperature: float = 1.0
    threshold: float = 0.0  # 0: never unsure (a model with no measured rule)

    @classmethod
    def of(cls, rule: UnsureRule | None) -> "Rule":
        return cls() if rule is None else cls(float(rule.temperature), float(rule.threshold))


@dataclasses.dataclass(frozen=True)
class Judge:
    """A model that judges: anything with predict_proba, its file's name, and its unsure rule."""
    name: str
    model: object
    rule: UnsureRule | None = None


@dataclasses.dataclass(frozen=True, eq=False)
class Answer:
    """One model's answer: the probabilities as shown (after its temperature) and as the model gave
    them (what the room's store keeps), the digit, how sure, and whether it is unsure."""
    kind: str
    name: str
    probabilities: np.ndarray  # (10,) after the rule's temperature
    raw: np.ndarray  # (10,) as the model gave them
    digit: int
    confidence: float
    unsure: bool

    def right(self, label: int) -> bool:
        return self.digit == int(label)


def answer(kind: str, name: str, raw, rule: UnsureRule | None) -> Answer:
    """One model's answer from its raw probabilities and its rule (also used for stored digits)."""
    raw = np.asarray(raw, np.float64)
    rule = Rule.of(rule)
    shown = with_temperature(raw, rule.temperature) if rule.temperature != 1.0 else raw
    digit = int(np.argmax(shown))
    confidence = float(shown[digit])
    return Answer(kind, name, shown, raw, digit, confidence, confidence < rule.threshold)


@dataclasses.dataclass(frozen=True, eq=False)
class Verdict:
    steps: preprocess.Steps | None  # None: nothing drawn yet
    problem: str | None  # BLANK_MESSAGE, DOT_MESSAGE or FLOOD_MESSAGE; None for a digit
    answers: dict[str, Answer]  # kind → answer; empty when there is no 28×28 input
    heavy_strokes: bool  # strokes thicker than MNIST's once sized like it: the tip to draw bigger

    @property
    def image(self) -> np.ndarray | None:
        """The (28, 28) float32 input the models saw, or None."""
        return None if self.steps is None else self.steps.result

    @property
    def agreement(self) -> tuple[str, str] | None:
        """(tone, sentence) about the ANN and the CNN together, or None unless both answered.
        tone: 'agree', 'disagree', 'one_unsure' or 'both_unsure'."""
        return agreement(self.answers)


def agreement(answers: Mapping[str, Answer]) -> tuple[str, str] | None:
    if "ann" not in answers or "cnn" not in answers:
        return None
    ann, cnn = answers["ann"], answers["cnn"]
    if ann.unsure and cnn.unsure:
        return "both_unsure", (f"Neither model is sure: is it a digit? Best guesses: the ANN **{ann.digit}**, "
                               f"the CNN **{cnn.digit}**.")
    if ann.unsure or cnn.unsure:
        sure, doubtful = (cnn, ann) if ann.unsure else (ann, cnn)
        return "one_unsure", (f"Only the {KIND_LABEL[sure.kind]} is sure: it says **{sure.digit}**. The "
                              f"{KIND_LABEL[doubtful.kind]} is unsure (best guess {doubtful.digit}).")
    if ann.digit == cnn.digit:
        return "agree", f"Both models say **{ann.digit}**."
    return "disagree", f"They disagree: the ANN says **{ann.digit}**, the CNN says **{cnn.digit}**."


def judge(rgba: np.ndarray | None, judges: Mapping[str, Judge]) -> Verdict:
    """The verdict on a canvas (H, W, 4) uint8, white ink on black; None before the first stroke."""
    if rgba is None:
        return Verdict(None, preprocess.BLANK_MESSAGE, {}, False)
    steps = preprocess.preprocess_steps(rgba)
    problem = preprocess.drawing_problem(steps)
    if steps.result is None:
        return Verdict(steps, problem, {}, False)
    answers = {kind: answer(kind, judge.name, judge.model.predict_proba(steps.result[None])[0], judge.rule)
               for kind, judge in judges.items() if judge.model is not None}
    return Verdict(steps, problem, answers, preprocess.heavy_strokes(steps))
