"""Learn from the room (talk mode): fine-tune copies of the shown models on the room's digits, then
let the copies and the originals judge the half of the room's digits the copies never saw.

The room's visible digits are split in two, label by label: one half is learned, the other is
held out. Each model is copied by a training run that starts from its saved weights
(`TrainingConfig.start_from`) and trains a few epochs, in the training worker like any run, on
the learned half repeated until it is about a quarter of an epoch, mixed with MNIST training
digits so the copy keeps what it knew. Before/after is then measured here with the NumPy
inference path on the held-out half, and on MNIST's 10,000 test digits by the worker. The
original files are never written; a copy is saved only when the presenter names it.

No TensorFlow and no Streamlit in this module.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import uuid

import numpy as np

from mnist_core.models import inference, model_file, presets, registry
from mnist_core.talk import statistics
from mnist_core.training import runs

MIN_DIGITS = 20  # 10 to learn from and 10 to judge: fewer says nothing
MNIST_MIXED = 6_000  # MNIST training digits in each epoch, so the copy keeps what it knew
ROOM_SHARE = 0.25  # of each epoch: the learned half repeated (with augmentation) up to this share
MAX_REPEATS = 50
EPOCHS = 3
LEARNING_RATE_FACTOR = 0.2  # of the preset's rate: small steps from trained weights, not a new start
MAX_BATCH = 128  # a preset's batch of 1,000 would leave a few epochs of ~8,000 images only ~24 steps


class NotEnoughDigits(ValueError):
    """The room has sent too few visible digits to learn from and to judge."""


@dataclasses.dataclass(frozen=True)
class RoomSplit:
    """The room's digits in two halves, each label split evenly (uint8 images, labels)."""

    x_learn: np.ndarray
    y_learn: np.ndarray
    x_held: np.ndarray
    y_held: np.ndarray


def split_room(x: np.ndarray, y: np.ndarray, seed: int = 0) -> RoomSplit:
    """Half of each label's digits to learn from (the odd one too), the rest held out."""
    rng = np.random.default_rng(seed)
    learn, held = [], []
    for label in np.unique(y):
        indices = rng.permutation(np.flatnonzero(y == label))
        cut = math.ceil(len(indices) / 2)
        learn.extend(indices[:cut])
        held.extend(indices[cut:])
    learn, held = np.sort(np.array(learn, int)), np.sort(np.array(held, int))
    return RoomSplit(x[learn], y[learn], x[held], y[held])


def room_repeats(n_learn: int) -> int:
    """How many times the learned half goes into each epoch: about ROOM_SHARE of it."""
    wanted = MNIST_MIXED * ROOM_SHARE / (1 - ROOM_SHARE)
    return int(min(MAX_REPEATS, max(1, math.ceil(wanted / max(n_learn, 1)))))


def training_mix(split: RoomSplit, x_mnist: np.ndarray, y_mnist: np.ndarray, seed: int = 0):
    """(x, y) uint8: MNIST_MIXED MNIST training digits and the learned half repeated, shuffled."""
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(x_mnist), size=min(MNIST_MIXED, len(x_mnist)), replace=False)
    repeats = room_repeats(len(split.y_learn))
    x = np.concatenate([x_mnist[picked], np.tile(split.x_learn, (repeats, 1, 1))])
    y = np.concatenate([y_mnist[picked], np.tile(split.y_learn, repeats)]).astype(np.uint8)
    order = rng.permutation(len(x))
    return x[order], y[order]


def held_out_score(predicted: np.ndarray, split: RoomSplit, kind: str, model: str) -> statistics.Score:
    """A model's accuracy on the held-out half, with its 95% interval."""
    correct = int(np.sum(predicted == split.y_held))
    n = len(split.y_held)
    low, high = statistics.wilson_interval(correct, n)
    return statistics.Score(kind, n, correct, correct / n if n else 0.0, low, high, (model,))


def held_out_verdicts(classifier, split: RoomSplit) -> np.ndarray:
    return classifier.predict(split.x_held.astype(np.float32) / 255.0)


@dataclasses.dataclass(frozen=True)
class Result:
    """One model before and after learning from the room."""

    kind: str
    base: str  # the saved model that was copied
    before: statistics.Score  # on the held-out half
    after: statistics.Score | None  # None until the copy is trained (or when its run failed)
    mnist_before: float | None  # on MNIST's 10,000 test digits (from the saved model's card)
    mnist_after: float | None
    changed: tuple[tuple[int, int, int], ...] = ()  # held-out digits read differently: (index, before, after)


class RoomLesson:
    """Fine-tune a copy of each shown model on one talk's digits. `start()` returns at once; the
    runs are runs.TrainingRun objects (progress, Stop, failure) and count against the
    server's cap on concurrent runs."""

    def __init__(self, talk_id: int, room: tuple[np.ndarray, np.ndarray], base_models: dict[str, str],
                 mnist, seed: int = 0):
        """room: the talk's visible (x uint8 (n, 28, 28), y); base_models: kind → saved model name;
        mnist: ((x_train, y_train), (x_test, y_test)) uint8, as data.load_mnist() returns."""
        x, y = room
        if len(y) < MIN_DIGITS:
            raise NotEnoughDigits(
                f"Learning from the room needs at least {MIN_DIGITS} digits (half to learn from, half to "
                f"judge); this talk has {len(y)} visible. Ask the room for a few more and try again.")
        self.id = uuid.uuid4().hex[:10]
        self.talk_id = int(talk_id)
        self.digits = len(y)
        self.split = split_room(x, y, seed)
        self.base_models = dict(base_models)
        self.seed = seed
        (x_train, y_train), test = mnist
        mix = training_mix(self.split, x_train, y_train, seed)
        self.runs = {kind: runs.TrainingRun(self.config(name), data=(mix, test))
                     for kind, name in self.base_models.items()}
        self._before = {kind: held_out_verdicts(inference.load_classifier(name), self.split)
                        for kind, name in self.base_models.items()}
        self._mnist_before = {kind: registry.read_card(name).get("test_accuracy")  # the card as it was copied
                              for kind, name in self.base_models.items()}
        self._after: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def config(self, base: str) -> runs.TrainingConfig:
        preset = presets.get_preset(registry.read_card(base).get("preset") or base)
        return runs.TrainingConfig(
            preset=preset.name, epochs=EPOCHS, learning_rate=preset.learning_rate * LEARNING_RATE_FACTOR,
            batch_size=min(preset.batch_size, MAX_BATCH), validation_split=0.0, seed=self.seed, start_from=base)

    def start(self) -> "RoomLesson":
        """Start every copy's run; TrainingBusyError (and none left running) if the cap is reached."""
        started = []
        try:
            for run in self.runs.values():
                run.start()
                started.append(run)
        except BaseException:
            for run in started:
                run.stop()
            raise
        _remember(self)
        return self

    def stop(self) -> None:
        for run in self.runs.values():
            run.stop()

    @property
    def is_active(self) -> bool:
        return any(run.is_active for run in self.runs.values())

    def result(self, kind: str) -> Result:
        base, before = self.base_models[kind], self._before[kind]
        after = self._after_verdicts(kind)
        changed = () if after is None else tuple(
            (int(i), int(before[i]), int(after[i])) for i in np.flatnonzero(before != after))
        return Result(kind, base, held_out_score(before, self.split, kind, base),
                      None if after is None else held_out_score(after, self.split, kind, f"{base} (room)"),
                      self._mnist_before[kind], self.runs[kind].snapshot().test_accuracy,
                      changed)

    def _after_verdicts(self, kind: str) -> np.ndarray | None:
        """The trained copy's verdicts on the held-out half, once its run has ended with a model."""
        run = self.runs[kind]
        if run.is_active or run.model_file is None:
            return None
        with self._lock:
            if kind not in self._after:
                copy = inference.classifier_from_spec(kind, model_file.read_model_file(run.model_file))
                self._after[kind] = held_out_verdicts(copy, self.split)
            return self._after[kind]

    def card(self, kind: str) -> dict:
        """The saved copy's card: the run's, plus where it started and what it learned from."""
        result = self.result(kind)
        return runs.model_card(self.runs[kind]) | {
            "fine_tuned_from": self.base_models[kind],
            "room": {"talk": self.talk_id, "digits_learned": int(len(self.split.y_learn)),
                     "digits_held_out": int(len(self.split.y_held)),
                     "repeats": room_repeats(len(self.split.y_learn)), "mnist_digits_mixed": MNIST_MIXED,
                     "held_out_accuracy_before": result.before.accuracy,
                     "held_out_accuracy_after": result.after.accuracy if result.after else None},
        }


_latest: dict[int, RoomLesson] = {}  # talk id → its latest lesson, so a reloaded Talk page finds it
_latest_lock = threading.Lock()


def _remember(lesson: RoomLesson) -> None:
    with _latest_lock:
        _latest[lesson.talk_id] = lesson


def latest_lesson(talk_id: int) -> RoomLesson | None:
    with _latest_lock:
        return _latest.get(int(talk_id))
