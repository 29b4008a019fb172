"""What a room's digits add up to: each model's score with a Wilson interval, the confusion
matrices and the digits that fooled both, counted incrementally so the wall's refresh reads only
the digits that arrived since the last one. `RoomStatistics` is the part of `crowd.CrowdStore`
that reads these; it relies on the store's `_transaction` and `_digits`."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from mnist_core.talk.records import Digit

WILSON_Z = 1.959963984540054  # two-sided 95%



@dataclasses.dataclass(frozen=True)
class Score:
    """One model kind's accuracy on a room's visible digits, with a 95% Wilson interval."""

    kind: str
    n: int
    correct: int
    accuracy: float
    low: float
    high: float
    models: tuple[str, ...]  # the model files' names that judged these digits (more than one if switched)



@dataclasses.dataclass(frozen=True, eq=False)
class RoomPredictions:
    """Visible digits of a talk, oldest first; a kind's prediction is -1 where it did not judge."""

    ids: np.ndarray  # (n,) int64
    labels: np.ndarray  # (n,) int64
    predictions: dict[str, np.ndarray]  # kind → (n,) int64



def wilson_interval(correct: int, n: int, z: float = WILSON_Z) -> tuple[float, float]:
    """The Wilson score interval: unlike p ± z·se it stays inside [0, 1] and is honest for the
    small counts of a room (10 of 10 right is not 'certainly 100%')."""
    if n <= 0:
        return 0.0, 1.0
    p = correct / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)



class Tally:
    """A talk's confusion matrix per model kind, the model files that judged, and the digits each
    kind got wrong, over its visible digits up to `last_id`."""

    def __init__(self, hidden: int):
        self.hidden = hidden  # the talk's hidden digits when this was begun
        self.last_id = 0
        self.matrices: dict[str, np.ndarray] = {}
        self.names: dict[str, set[str]] = {}
        self.wrong: dict[int, set[str]] = {}  # digit id → kinds that misread it, oldest first

    def add(self, rows) -> None:
        for digit_id, label, kind, predicted, name in rows:
            if kind not in self.matrices:
                self.matrices[kind] = np.zeros((10, 10), np.int64)
                self.names[kind] = set()
            self.matrices[kind][label, predicted] += 1
            self.names[kind].add(name)
            if predicted != label:
                self.wrong.setdefault(digit_id, set()).add(kind)
            self.last_id = max(self.last_id, digit_id)


class RoomStatistics:
    """Scores, confusion matrices and fooled-both digits of a talk (a part of CrowdStore)."""

    def labels_and_predictions(self, talk_id: int) -> RoomPredictions:
        """Labels and each kind's predicted digit for the talk's visible digits, oldest first."""
        with self._transaction() as conn:
            rows = conn.execute("SELECT id, label FROM digits WHERE talk_id = ? AND hidden = 0 ORDER BY id",
                                (int(talk_id),)).fetchall()
            judged = conn.execute(
                "SELECT v.digit_id, v.kind, v.predicted FROM verdicts v JOIN digits d ON d.id = v.digit_id"
                " WHERE d.talk_id = ? AND d.hidden = 0", (int(talk_id),)).fetchall()
        ids = np.array([r[0] for r in rows], np.int64)
        position = {int(i): n for n, i in enumerate(ids)}
        predictions: dict[str, np.ndarray] = {}
        for digit_id, kind, predicted in judged:
            predictions.setdefault(kind, np.full(len(ids), -1, np.int64))[position[digit_id]] = predicted
        return RoomPredictions(ids, np.array([r[1] for r in rows], np.int64), dict(sorted(predictions.items())))

    def _tally(self, talk_id: int) -> "Tally":
        """The talk's scores so far, brought up to date with only the digits that arrived since the
        last call: the Talk page asks every few seconds, and a hall sends tens of thousands of
        digits (a full count of 23,000 took 40 ms a question, 150 ms a refresh). Counted again
        from the start when a digit was hidden since (the hidden count changed)."""
        talk_id = int(talk_id)
        with self._transaction() as conn:
            hidden = conn.execute("SELECT count(*) FROM digits WHERE talk_id = ? AND hidden = 1", (talk_id,)).fetchone()[0]
            tally = self._tallies.get(talk_id)
            if tally is None or tally.hidden != hidden:
                tally = Tally(hidden)
            rows = conn.execute(
                "SELECT d.id, d.label, v.kind, v.predicted, v.model_name FROM digits d JOIN verdicts v ON v.digit_id = d.id"
                " WHERE d.talk_id = ? AND d.hidden = 0 AND d.id > ? ORDER BY d.id", (talk_id, tally.last_id)).fetchall()
        tally.add(rows)
        self._tallies[talk_id] = tally
        return tally

    def scoreboard(self, talk_id: int) -> dict[str, Score]:
        """Per model kind: how many visible digits it judged, how many right, accuracy, 95% interval."""
        tally = self._tally(talk_id)
        scores = {}
        for kind in sorted(tally.matrices):
            matrix = tally.matrices[kind]
            n, correct = int(matrix.sum()), int(np.trace(matrix))
            low, high = wilson_interval(correct, n)
            scores[kind] = Score(kind, n, correct, correct / n if n else float("nan"), low, high,
                                 tuple(sorted(tally.names[kind])))
        return scores

    def confusion(self, talk_id: int, kind: str) -> np.ndarray:
        """counts[actual, predicted] of one model kind on the talk's visible digits."""
        matrix = self._tally(talk_id).matrices.get(kind)
        return np.zeros((10, 10), np.int64) if matrix is None else matrix.copy()

    def fooled_both(self, talk_id: int, kinds: tuple[str, ...] = ("ann", "cnn"), limit: int | None = None) -> list[Digit]:
        """Visible digits that every one of `kinds` judged and got wrong, newest first."""
        wanted = set(kinds)
        ids = [i for i, wrong in reversed(self._tally(talk_id).wrong.items()) if wanted <= wrong]
        return self.visible(ids[:limit] if limit is not None else ids)
