"""Running one experiment with Keras: each network of a matched pair trained and scored as the
experiment's setting says. Only the training worker and the CLI import this module (it needs
TensorFlow); what an experiment is and how its result reads stay in `experiments`."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import time
from typing import Callable

import numpy as np

from mnist_core.models import networks, presets, registry
from mnist_core.models.presets import MODEL_KINDS
from mnist_core.training.experiments import (
    BATCH_SIZE,
    CORRUPTIONS,
    LEARNING_RATE,
    PAIR_BUDGET,
    ExperimentProgress,
    ExperimentResult,
    ExperimentStopped,
    Setting,
    corrupted,
    pixel_permutation,
    setting_for,
    shuffle_pixels,
)


def _work(kind: str, images_seen: int) -> float:
    """A training run's cost for the progress bar: multiply-adds per image (conv layers dominate)."""
    if kind == "ann":
        per_image = presets.matched_parameters("ann", PAIR_BUDGET)
    else:
        f, d = presets.matched_cnn_shape(PAIR_BUDGET)
        per_image = 26 * 26 * 9 * f + 11 * 11 * 9 * f * 2 * f + 50 * f * d
    return images_seen * per_image * 3  # forward and backward



class _Runner:
    """One experiment under way: its progress (a fraction of the planned work, the time left, Stop)
    and the compiled models its training runs share."""

    def __init__(self, total_work: float, report: Callable[[ExperimentProgress], None] | None,
                 should_stop: Callable[[], bool]):
        self.total, self.done, self.report, self.should_stop = total_work, 0.0, report, should_stop
        self.started = time.perf_counter()
        self.compiled: dict = {}  # (kind, budget) → (compiled model, its optimiser's starting state)

    def fresh_model(self, kind: str, budget: int, seed: int):
        """A compiled model with fresh weights (drawn from `seed`) and a fresh optimiser. The first of
        each shape is compiled; later ones reuse it, which saves ~0.7 s of tracing per run."""
        import keras

        keras.utils.set_random_seed(seed)
        new = networks.matched_model(kind, budget)
        if (kind, budget) not in self.compiled:
            new.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss="sparse_categorical_crossentropy")
            new.optimizer.build(new.trainable_variables)
            self.compiled[kind, budget] = (new, [v.numpy() for v in new.optimizer.variables])
            return new
        model, optimizer_start = self.compiled[kind, budget]
        model.set_weights(new.get_weights())
        for variable, start in zip(model.optimizer.variables, optimizer_start):  # step count and moments
            variable.assign(start)
        return model

    def update(self, text: str, work_in_run: float = 0.0) -> None:
        if self.should_stop():
            raise ExperimentStopped
        if self.report:
            fraction = min(1.0, (self.done + work_in_run) / self.total) if self.total else 1.0
            elapsed = time.perf_counter() - self.started
            left = elapsed * (1 - fraction) / fraction if fraction > 0.02 else None
            self.report(ExperimentProgress(fraction, text, left))



def _fit(kind: str, budget: int, x, y, epochs: int, seed: int, runner: _Runner, text: str,
         x_test=None, y_test=None) -> tuple[object, list[dict]]:
    """Train one matched model; per epoch: cumulative training seconds and (given test data) test accuracy."""
    import keras

    model = runner.fresh_model(kind, budget, seed)
    curve: list[dict] = []
    run_work = _work(kind, len(x) * epochs)
    steps = math.ceil(len(x) / BATCH_SIZE)

    class Report(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch, self.started = epoch, time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            if batch % 20 == 0 or batch == steps - 1:
                try:
                    runner.update(f"{text} · epoch {self.epoch + 1} of {epochs}",
                                   run_work * (self.epoch + (batch + 1) / steps) / epochs)
                except ExperimentStopped:
                    self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            seconds = (curve[-1]["seconds"] if curve else 0.0) + time.perf_counter() - self.started
            point = {"epoch": epoch + 1, "seconds": round(seconds, 2)}
            if x_test is not None:
                point["accuracy"] = accuracy(self.model, x_test, y_test)
            curve.append(point)

    model.fit(x, y, epochs=epochs, batch_size=BATCH_SIZE, shuffle=True, verbose=0, callbacks=[Report()])
    runner.done += run_work
    runner.update(text)  # raises ExperimentStopped if Stop ended the fit early
    return model, curve



def accuracy(model, x, y) -> float:
    probabilities = model.predict(np.asarray(x, np.float32), batch_size=1000, verbose=0)
    return round(float(np.mean(np.argmax(probabilities, axis=1) == y)), 5)



def _balanced_subset(y: np.ndarray, size: int, seed: int) -> np.ndarray:
    """`size` training indices, as even across the ten digits as the size allows, chosen by seed."""
    rng = np.random.default_rng(seed)
    if size >= len(y):
        return rng.permutation(len(y))
    per_class = [rng.permutation(np.flatnonzero(y == digit)) for digit in range(10)]
    counts = [size // 10 + (digit < size % 10) for digit in range(10)]
    return rng.permutation(np.concatenate([idx[:n] for idx, n in zip(per_class, counts)]))



def _shuffled_pixels(s: Setting, seed: int, data, runner) -> tuple[list[dict], dict]:
    (x, y), (xt, yt) = data
    permutation = pixel_permutation(seed)
    rows = []
    for pixels, (train, test) in {"original": (x, xt), "shuffled": (shuffle_pixels(x, permutation),
                                                                   shuffle_pixels(xt, permutation))}.items():
        for kind in MODEL_KINDS:
            model, _ = _fit(kind, PAIR_BUDGET, train, y, s.epochs, seed, runner, f"{kind.upper()} on {pixels} pixels")
            rows.append({"model": kind, "pixels": pixels, "accuracy": accuracy(model, test, yt)})
    return rows, {"permutation_seed": seed}



def _fair_fight(s: Setting, seed: int, data, runner) -> tuple[list[dict], dict]:
    (x, y), (xt, yt) = data
    rows = []
    for budget in s.budgets:
        for kind in MODEL_KINDS:
            _, curve = _fit(kind, budget, x, y, s.epochs, seed, runner,
                            f"{kind.upper()} with ~{budget // 1000}k weights", xt, yt)
            rows += [{"model": kind, "budget": budget, **point} for point in curve]
    return rows, {}



def _repeats_for(size: int, s: Setting) -> int:
    """How often a small set is repeated within an epoch so that every run sees at least
    `min_images_seen` images (repeating beats more epochs: Keras pays ~40 ms per epoch)."""
    return max(1, math.ceil(s.min_images_seen / (size * s.epochs)))



def _few_examples(s: Setting, seed: int, data, runner) -> tuple[list[dict], dict]:
    (x, y), (xt, yt) = data
    rows = []
    for run_seed in (seed + offset for offset in s.seeds):
        for size in s.train_sizes:
            chosen = np.tile(_balanced_subset(y, size, run_seed), _repeats_for(size, s))
            for kind in MODEL_KINDS:
                model, _ = _fit(kind, PAIR_BUDGET, x[chosen], y[chosen], s.epochs, run_seed, runner,
                                f"{kind.upper()} on {size:,} images (seed {run_seed})")
                rows.append({"model": kind, "train_size": size, "seed": run_seed, "accuracy": accuracy(model, xt, yt)})
    return rows, {"images_seen": {str(size): size * _repeats_for(size, s) * s.epochs for size in s.train_sizes}}



def _robustness(s: Setting, seed: int, data, runner) -> tuple[list[dict], dict]:
    from mnist_core.models.inference import load_classifier

    (x, y), (xt, yt) = data
    scorers = {}
    for kind in MODEL_KINDS:
        model, _ = _fit(kind, PAIR_BUDGET, x, y, s.epochs, seed, runner, f"{kind.upper()} (no augmentation)")
        scorers[(kind, "matched")] = lambda images, model=model: model.predict(images, batch_size=1000, verbose=0)
    for kind in MODEL_KINDS:  # the shipped models, trained with every kind of augmentation
        try:
            classifier = load_classifier(kind)
        except Exception:  # noqa: BLE001 (a missing or damaged shipped model: measure the pair alone)
            continue
        scorers[(kind, "shipped")] = classifier.predict_proba
    rows = []
    for name, corruption in CORRUPTIONS.items():
        runner.update(f"Scoring {corruption.label.lower()}")
        for strength in corruption.strengths:
            images = corrupted(xt, name, strength, seed)
            for (kind, which), predict in scorers.items():
                predicted = np.argmax(predict(images), axis=1)
                rows.append({"model": kind, "which": which, "corruption": name, "strength": strength,
                             "accuracy": round(float(np.mean(predicted == yt)), 5)})
    shipped = sorted({kind for kind, which in scorers if which == "shipped"})
    # Which files were measured, so a test can tell when the shipped models changed since.
    return rows, {"shipped": shipped, "shipped_sha256": {kind: registry.file_hash(kind) for kind in shipped}}



_RUNNERS = {"shuffled_pixels": _shuffled_pixels, "fair_fight": _fair_fight,
            "few_examples": _few_examples, "robustness": _robustness}



def planned_work(name: str, s: Setting) -> float:
    """The experiment's training work in the units of `_work`, for its progress bar."""
    per_kind = {
        "shuffled_pixels": 2 * s.train_images * s.epochs,
        "fair_fight": len(s.budgets) * s.train_images * s.epochs,  # the small budget is cheaper: an upper bound
        "few_examples": len(s.seeds) * s.epochs * sum(size * _repeats_for(size, s) for size in s.train_sizes),
        "robustness": s.train_images * s.epochs,
    }[name]
    return sum(_work(kind, per_kind) for kind in MODEL_KINDS)



def run_experiment(name: str, quick: bool = False, seed: int = 0, setting: Setting | None = None, data=None,
                   progress: Callable[[ExperimentProgress], None] | None = None,
                   should_stop: Callable[[], bool] = lambda: False) -> ExperimentResult:
    """Run one experiment (needs Keras). `setting` replaces the quick/full one (tests use small ones);
    `data` replaces MNIST. Raises ExperimentStopped when `should_stop` turns true."""
    import keras
    import tensorflow

    s = setting or setting_for(name, quick)
    if data is None:
        from mnist_core.data.mnist import load_mnist
        data = load_mnist()
    (x, y), (xt, yt) = data
    scaled_data = ((x[: s.train_images].astype(np.float32) / 255.0, y[: s.train_images].astype(np.int64)),
                   (xt[: s.test_images].astype(np.float32) / 255.0, yt[: s.test_images].astype(np.int64)))
    runner = _Runner(planned_work(name, s), progress, should_stop)
    started = time.perf_counter()
    rows, info = _RUNNERS[name](s, seed, scaled_data, runner)
    info = {**info, "setting": dataclasses.asdict(s), "batch_size": BATCH_SIZE, "learning_rate": LEARNING_RATE,
            "optimizer": "adam", "parameters": {f"{kind}_{budget}": presets.matched_parameters(kind, budget)
                                                for budget in s.budgets for kind in MODEL_KINDS}}
    label = "quick" if quick else "full"
    if s != setting_for(name, quick):
        label = "custom"
    return ExperimentResult(name, label, seed, tuple(rows), info, round(time.perf_counter() - started, 1),
                            dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                            {"tensorflow": tensorflow.__version__, "keras": keras.__version__})
