"""One training run as an object: validated config, a background thread, epoch and batch
records a UI thread can read at any time, Stop within one batch, and a NaN guard."""

from __future__ import annotations

import dataclasses
import math
import threading
import time
import uuid
from collections import OrderedDict
from typing import Callable

import keras
import numpy as np

from . import models

MAX_EPOCHS = 200
MAX_LEARNING_RATE = 1.0
MIN_TRAIN_SIZE = 100
MAX_VALIDATION_SPLIT = 0.5
MAX_CONCURRENT_RUNS = 2  # per server: this is a 2-core machine, more runs only slow each other


class HyperparameterError(ValueError):
    """A setting outside what can train; the message says the allowed range."""


class TrainingBusyError(RuntimeError):
    """The server's cap on concurrent runs is reached."""


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    preset: str
    epochs: int | None = None  # None: the preset's default
    batch_size: int | None = None
    learning_rate: float | None = None
    optimizer: str | None = None
    validation_split: float | None = None
    train_size: int | None = None  # None: all 60,000
    augment: bool | None = None
    seed: int = 0

    def resolved(self) -> "TrainingConfig":
        """Every None replaced by the preset's default."""
        p = models.get_preset(self.preset)
        return dataclasses.replace(
            self,
            epochs=p.epochs if self.epochs is None else self.epochs,
            batch_size=p.batch_size if self.batch_size is None else self.batch_size,
            learning_rate=p.learning_rate if self.learning_rate is None else self.learning_rate,
            optimizer=p.optimizer if self.optimizer is None else self.optimizer,
            validation_split=p.validation_split if self.validation_split is None else self.validation_split,
            augment=p.augment if self.augment is None else self.augment,
        )


def validate(config: TrainingConfig, available: int) -> TrainingConfig:
    """The resolved config, or HyperparameterError naming the setting and its allowed range."""
    c = config.resolved()
    train_size = available if c.train_size is None else c.train_size
    if not isinstance(train_size, (int, np.integer)) or not MIN_TRAIN_SIZE <= train_size <= available:
        raise HyperparameterError(
            f"Training-set size must be between {MIN_TRAIN_SIZE} and {available:,} images; got {train_size}.")
    if not isinstance(c.epochs, (int, np.integer)) or not 1 <= c.epochs <= MAX_EPOCHS:
        raise HyperparameterError(f"Epochs must be a whole number from 1 to {MAX_EPOCHS}; got {c.epochs}.")
    if not isinstance(c.validation_split, (int, float)) or not 0 <= c.validation_split <= MAX_VALIDATION_SPLIT:
        raise HyperparameterError(
            f"Validation split must be between 0 and {MAX_VALIDATION_SPLIT}; got {c.validation_split}.")
    fit_size = train_size - int(round(train_size * c.validation_split))
    if not isinstance(c.batch_size, (int, np.integer)) or not 1 <= c.batch_size <= fit_size:
        raise HyperparameterError(
            f"Batch size must be between 1 and the {fit_size:,} images left for training; got {c.batch_size}.")
    lr = c.learning_rate
    if not isinstance(lr, (int, float)) or not math.isfinite(lr) or not 0 < lr <= MAX_LEARNING_RATE:
        raise HyperparameterError(
            f"Learning rate must be above 0 and at most {MAX_LEARNING_RATE:g} "
            f"(0.001 suits Adam, 0.01–0.1 suits SGD); got {lr}.")
    if c.optimizer not in models.OPTIMIZERS:
        raise HyperparameterError(f"Optimiser must be one of {', '.join(models.OPTIMIZERS)}; got {c.optimizer!r}.")
    return dataclasses.replace(c, train_size=int(train_size))


@dataclasses.dataclass(frozen=True)
class EpochRecord:
    epoch: int  # 1-based
    loss: float
    accuracy: float
    val_loss: float | None
    val_accuracy: float | None
    seconds: float
    samples_per_second: float
    partial: bool = False  # the run was stopped during this epoch


@dataclasses.dataclass(frozen=True)
class BatchProgress:
    epoch: int  # 1-based
    batch: int  # batches done in this epoch
    batches: int  # batches per epoch
    samples_per_second: float
    seconds_left: float  # for the whole run, at the current speed


@dataclasses.dataclass(frozen=True)
class RunSnapshot:
    """An immutable copy of a run's state, safe to hand to a UI thread."""
    state: str  # ready | running | evaluating | finished | stopped | failed
    records: tuple[EpochRecord, ...]
    progress: BatchProgress | None
    message: str
    test_accuracy: float | None
    seconds: float


_run_slots = threading.BoundedSemaphore(MAX_CONCURRENT_RUNS)
_runs: "OrderedDict[str, TrainingRun]" = OrderedDict()  # recent runs by id, so a reloaded page re-attaches
_runs_lock = threading.Lock()
KEEP_RUNS = 20


def find_run(run_id: str | None) -> "TrainingRun | None":
    with _runs_lock:
        return _runs.get(run_id) if run_id else None


def active_runs() -> list["TrainingRun"]:
    with _runs_lock:
        return [run for run in _runs.values() if run.is_active]


def _augmenter(seed: int):
    """Small shifts, rotations and zooms: MNIST digits vary this much, drawn digits more."""
    return keras.Sequential([
        keras.layers.RandomRotation(0.04, fill_mode="constant", seed=seed),
        keras.layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=seed + 1),
        keras.layers.RandomZoom(0.1, fill_mode="constant", seed=seed + 2),
    ], name="augment")


class TrainingRun:
    """Train one preset. `start()` runs it in a thread; `snapshot()` is safe from any thread."""

    def __init__(self, config: TrainingConfig, data=None,
                 on_epoch: Callable[[EpochRecord], None] | None = None,
                 on_batch: Callable[[BatchProgress], None] | None = None,
                 evaluate_test: bool = True):
        if data is None:
            from .data import load_mnist
            data = load_mnist()
        (self._x_train, self._y_train), (self._x_test, self._y_test) = data
        self.config = validate(config, len(self._x_train))
        self.preset = models.get_preset(self.config.preset)
        self._on_epoch, self._on_batch = on_epoch, on_batch
        self._evaluate_test = evaluate_test
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._state = "ready"
        self._records: list[EpochRecord] = []
        self._progress: BatchProgress | None = None
        self._message = ""
        self._started = None
        self._seconds = 0.0
        self.test_accuracy: float | None = None
        self.model = None
        self.id = uuid.uuid4().hex[:10]

    # ------------------------------------------------------------ control

    def start(self) -> "TrainingRun":
        """Train in a background thread; TrainingBusyError when the server's cap is reached."""
        if not _run_slots.acquire(blocking=False):
            raise TrainingBusyError(
                f"{MAX_CONCURRENT_RUNS} training runs are already going on this server, its cap on a "
                f"2-core machine. Wait for one to finish or stop it, then press Start again.")
        self._set(state="running", started=time.perf_counter())
        with _runs_lock:
            _runs[self.id] = self
            while len(_runs) > KEEP_RUNS:
                oldest = next(iter(_runs))
                if _runs[oldest].is_active:
                    break
                _runs.pop(oldest)

        def target():
            try:
                self.run()
            finally:
                _run_slots.release()

        self._thread = threading.Thread(target=target, name=f"train-{self.config.preset}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the run to end after the current batch; what it learned so far is kept."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.is_active

    @property
    def is_active(self) -> bool:
        return self._state in ("running", "evaluating")

    @property
    def state(self) -> str:
        return self._state

    def snapshot(self) -> RunSnapshot:
        with self._lock:
            seconds = self._seconds if not self.is_active or self._started is None else time.perf_counter() - self._started
            return RunSnapshot(self._state, tuple(self._records), self._progress, self._message,
                               self.test_accuracy, seconds)

    def _set(self, **fields) -> None:
        with self._lock:
            for key, value in fields.items():
                setattr(self, f"_{key}", value)

    # ------------------------------------------------------------ the run

    def run(self) -> RunSnapshot:
        """Train synchronously. Never raises for training problems: they end in state 'failed'."""
        if self._started is None:
            self._set(state="running", started=time.perf_counter())
        try:
            self._fit()
            if self._state == "failed":
                return self.snapshot()
            if self._evaluate_test:
                self._set(state="evaluating")
                self.test_accuracy = self.evaluate_test()
            stopped = self._stop.is_set()
            done = len(self._records)
            self._set(state="stopped" if stopped else "finished",
                      message=f"Stopped by request after {done} epoch(s); the model keeps what it learned."
                      if stopped else f"Finished {done} epoch(s).")
        except Exception as exc:  # reported to the UI instead of killing the thread silently
            self._set(state="failed", message=f"Training failed: {type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                if self._started is not None:
                    self._seconds = time.perf_counter() - self._started
        return self.snapshot()

    def _datasets(self):
        import tensorflow as tf

        c = self.config
        rng = np.random.default_rng(c.seed)
        order = rng.permutation(len(self._x_train))[: c.train_size]
        x = self._x_train[order].astype("float32") / 255.0
        y = self._y_train[order].astype("int64")
        n_val = int(round(len(x) * c.validation_split))
        x_fit, y_fit, x_val, y_val = x[: len(x) - n_val], y[: len(y) - n_val], x[len(x) - n_val:], y[len(y) - n_val:]
        if self.preset.one_hot:
            y_fit, y_val = np.eye(10, dtype="float32")[y_fit], np.eye(10, dtype="float32")[y_val]
        # Shuffle indices, not images: refilling a 60,000-image shuffle buffer costs seconds per epoch.
        x_fit_t, y_fit_t = tf.constant(x_fit), tf.constant(y_fit)
        fit = tf.data.Dataset.range(len(x_fit)).shuffle(len(x_fit), seed=c.seed, reshuffle_each_iteration=True)
        fit = fit.batch(c.batch_size).map(lambda idx: (tf.gather(x_fit_t, idx), tf.gather(y_fit_t, idx)))
        if c.augment:
            augment = _augmenter(c.seed)
            fit = fit.map(lambda xb, yb: (augment(xb[..., None], training=True)[..., 0], yb),
                          num_parallel_calls=tf.data.AUTOTUNE)
        fit = fit.prefetch(tf.data.AUTOTUNE)
        val = tf.data.Dataset.from_tensor_slices((x_val, y_val)).batch(1000) if n_val else None
        return fit, val, len(x_fit)

    def _compile(self, model, steps_per_epoch: int) -> None:
        c, p = self.config, self.preset
        lr = c.learning_rate
        if p.cosine_decay:
            lr = keras.optimizers.schedules.CosineDecay(lr, decay_steps=c.epochs * steps_per_epoch, alpha=0.01)
        if c.optimizer == "sgd":
            optimizer = keras.optimizers.SGD(lr, momentum=p.momentum, nesterov=p.nesterov)
        elif c.optimizer == "rmsprop":
            optimizer = keras.optimizers.RMSprop(lr)
        else:
            optimizer = keras.optimizers.Adam(lr)
        model.compile(optimizer=optimizer, loss=p.loss, metrics=["accuracy"])

    def _fit(self) -> None:
        c = self.config
        keras.utils.set_random_seed(c.seed)
        fit_ds, val_ds, n_fit = self._datasets()
        steps = math.ceil(n_fit / c.batch_size)
        self.model = models.build_model(c.preset)
        self._compile(self.model, steps)
        self.model.fit(fit_ds, epochs=c.epochs, verbose=0, shuffle=False,  # tf.data shuffles
                       callbacks=[_RecordingCallback(self, steps, n_fit, val_ds)])

    def evaluate_test(self) -> float:
        """Accuracy on the 10,000 test images."""
        probabilities = self.model.predict(self._x_test.astype("float32") / 255.0, batch_size=1000, verbose=0)
        return float(np.mean(np.argmax(probabilities, axis=1) == self._y_test))


class _RecordingCallback(keras.callbacks.Callback):
    """Turns Keras events into records, and the run's Stop/NaN checks into stop_training."""

    def __init__(self, run: TrainingRun, steps: int, n_fit: int, val_ds):
        super().__init__()
        self.run, self.steps, self.n_fit, self.val_ds = run, steps, n_fit, val_ds
        self.epoch_start = 0.0
        self.batch_seen = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = time.perf_counter()
        self.batch_seen = 0

    def on_train_batch_end(self, batch, logs=None):
        run = self.run
        self.batch_seen = batch + 1
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss):
            self.model.stop_training = True
            run._set(state="failed", message=(
                f"Training stopped: the loss became {loss} in epoch {len(run._records) + 1}, batch {batch + 1}. "
                f"The learning rate ({run.config.learning_rate:g}) is probably too high for "
                f"{run.config.optimizer}; lower it (try 0.001) and start again."))
            return
        elapsed = time.perf_counter() - self.epoch_start
        samples = min(self.batch_seen * run.config.batch_size, self.n_fit)
        speed = samples / elapsed if elapsed > 0 else 0.0
        epochs_left = run.config.epochs - len(run._records) - 1
        remaining = (self.n_fit - samples + epochs_left * self.n_fit) / speed if speed else 0.0
        progress = BatchProgress(len(run._records) + 1, self.batch_seen, self.steps, speed, remaining)
        run._set(progress=progress)
        if run._on_batch:
            run._on_batch(progress)
        if run._stop.is_set():  # Keras checks this right after the batch: Stop lands within one batch
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        run = self.run
        if run._state == "failed":
            return
        logs = logs or {}
        seconds = time.perf_counter() - self.epoch_start
        partial = self.batch_seen < self.steps
        val_loss = val_accuracy = None
        if self.val_ds is not None and not run._stop.is_set():
            val = self.model.evaluate(self.val_ds, verbose=0, return_dict=True)
            val_loss, val_accuracy = float(val["loss"]), float(val["accuracy"])
        samples = min(self.batch_seen * run.config.batch_size, self.n_fit)
        record = EpochRecord(epoch + 1, float(logs.get("loss", math.nan)), float(logs.get("accuracy", math.nan)),
                             val_loss, val_accuracy, seconds, samples / seconds if seconds > 0 else 0.0, partial)
        with run._lock:
            run._records.append(record)
        if run._on_epoch:
            run._on_epoch(record)


def model_card(run: TrainingRun) -> dict:
    """What a saved model's JSON card records about the run that made it."""
    from .data import data_fingerprint

    snap = run.snapshot()
    last = snap.records[-1] if snap.records else None
    return {
        "preset": run.config.preset,
        "kind": run.preset.kind,
        "description": run.preset.description,
        "hyperparameters": {k: v for k, v in dataclasses.asdict(run.config).items() if k != "preset"},
        "epochs_run": len(snap.records),
        "stopped_early": snap.state == "stopped",
        "train_accuracy": last.accuracy if last else None,
        "val_accuracy": last.val_accuracy if last else None,
        "test_accuracy": snap.test_accuracy,
        "training_seconds": round(sum(r.seconds for r in snap.records), 1),
        "parameters": int(run.model.count_params()) if run.model is not None else None,
        "data_sha256": data_fingerprint(),
        "history": [dataclasses.asdict(r) for r in snap.records],
    }
