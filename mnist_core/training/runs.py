"""One training run as an object: validated config, a worker process that trains with Keras
(`training.worker`), epoch and batch records a UI thread can read at any time, Stop within one
batch, a NaN guard, and a clear failure when the worker dies.

No TensorFlow in this module: the Streamlit server imports it, and TensorFlow's objects in the
server made every script run pay ~0.5 s of garbage collection (docs/architecture.md, "Two processes"). A run's worker is a
fresh interpreter, `python -m mnist_core.training.worker` (fork would copy the server's threads
and locks); it loads MNIST from the cache itself, reports through a pipe, and writes the trained
model to a file that *Save as* then names (`registry.save_model_file`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

import numpy as np

from mnist_core.models import presets
from mnist_core.training.jobs import (
    MNIST_TRAIN_IMAGES,
    BatchProgress,
    EpochRecord,
    HyperparameterError,
    TrainingConfig,
    TrainingJob,
    validate,
)
from mnist_core.training.worker_process import WorkerRun, run_file


@dataclasses.dataclass(frozen=True)
class RunSnapshot:
    """An immutable copy of a run's state, safe to hand to a UI thread."""
    state: str  # ready | running | evaluating | finished | stopped | failed
    records: tuple[EpochRecord, ...]
    progress: BatchProgress | None
    message: str
    test_accuracy: float | None
    seconds: float
    status: str = ""  # what the worker is doing before the first batch
    snapshots: tuple = ()  # epoch_snapshots.EpochSnapshot, one per finished epoch


class TrainingRun(WorkerRun):
    """Train one preset in a worker process. `start()` returns at once; `run()` waits for the end.
    `snapshot()` is safe from any thread; `on_epoch`/`on_batch` are called from a reader thread."""

    def __init__(self, config: TrainingConfig, data=None,
                 on_epoch: Callable[[EpochRecord], None] | None = None,
                 on_batch: Callable[[BatchProgress], None] | None = None,
                 evaluate_test: bool = True, drawing: np.ndarray | None = None):
        # data: ((x_train, y_train), (x_test, y_test)) for the worker (pickled to it); None: the
        # worker loads verified MNIST from the cache itself, which is faster than sending 55 MB.
        super().__init__()
        available = MNIST_TRAIN_IMAGES if data is None else len(data[0][0])
        self.config = validate(config, available)
        self.preset = presets.get_preset(self.config.preset)
        self._data = data
        self._on_epoch, self._on_batch = on_epoch, on_batch
        self._evaluate_test = evaluate_test
        self.drawing = None if drawing is None else np.asarray(drawing, np.float32).reshape(28, 28)
        self._records: list[EpochRecord] = []
        self._snapshots: list = []
        self._progress: BatchProgress | None = None
        self.test_accuracy: float | None = None
        self.parameters: int | None = None
        self.versions: dict = {}
        self.model_file: Path | None = None  # the trained model, once the worker wrote it

    def _job(self):
        job = TrainingJob(self.config, self._data, self._evaluate_test, str(run_file(self.id)), self.drawing)
        self._data = None  # the worker has its copy
        return job

    def discard(self) -> None:
        """Forget the trained model file (a run that was never saved, pushed out by newer runs)."""
        if self.model_file is not None:
            self.model_file.unlink(missing_ok=True)
            self.model_file = None

    def snapshot(self) -> RunSnapshot:
        with self._lock:
            return RunSnapshot(self._state, tuple(self._records), self._progress, self._message,
                               self.test_accuracy, self._elapsed(), self._status, tuple(self._snapshots))

    def _report(self, kind: str, payload) -> None:
        if kind == "batch":
            self._set(progress=payload, status="")
            if self._on_batch:
                self._on_batch(payload)
        elif kind == "snapshot":  # sent just before its epoch's record
            with self._lock:
                self._snapshots.append(payload)
        elif kind == "epoch":
            with self._lock:
                self._records.append(payload)
            if self._on_epoch:
                self._on_epoch(payload)

    def _outcome(self, outcome):
        self.test_accuracy, self.parameters = outcome.test_accuracy, outcome.parameters
        self.versions = outcome.versions or {}
        if outcome.model_written:
            self.model_file = run_file(self.id)
        return outcome


def start_race(configs: list[TrainingConfig], data=None, drawing: np.ndarray | None = None) -> list[TrainingRun]:
    """Start a run per config at once, on the same images in the same order: the configs must share
    training-set size, seed and validation split. All or none: if one cannot start (the server's
    cap), those already started are stopped and the error is raised."""
    runs = [TrainingRun(config, data=data, drawing=drawing) for config in configs]  # every config validated first
    shared = {(r.config.train_size, r.config.seed, r.config.validation_split) for r in runs}
    if len(shared) > 1:
        raise HyperparameterError("A race trains on the same images: give every network the same training-set "
                                  "size, seed and validation split.")
    started = []
    try:
        for run in runs:
            started.append(run.start())
    except BaseException:
        for run in started:
            run.stop()
        raise
    return runs


@dataclasses.dataclass(frozen=True)
class ExperimentSnapshot:
    state: str  # ready | running | finished | stopped | failed
    progress: object | None  # experiments.ExperimentProgress
    message: str
    result: object | None  # experiments.ExperimentResult, once finished
    seconds: float
    status: str = ""


class ExperimentRun(WorkerRun):
    """One of the Experiments page's experiments (`experiments.run_experiment`) in a worker process,
    with its progress. The worker writes the result file (by default the experiment's quick or full
    file, which the page reads) only when it finishes: Stop or a failure leave the old file as it was."""

    what = "experiment"
    retry = ("Nothing was recorded; the app and every other session go on. Press Run the quick version live "
             "to try again.")

    def __init__(self, name: str, quick: bool = True, seed: int = 0, setting=None, data=None,
                 result_file: Path | None = None):
        from mnist_core.training import experiments

        super().__init__()
        experiments.setting_for(name, quick)  # an unknown name fails here, not in the worker
        self.name, self.quick, self.seed = name, quick, seed
        self.result_file = Path(result_file or experiments.result_path(name, quick))
        self._setting, self._data = setting, data
        self._progress = None
        self.result = None

    def _job(self):
        from mnist_core.training.experiments import ExperimentJob

        job = ExperimentJob(self.name, self.quick, self.seed, str(self.result_file), self._setting, self._data)
        self._data = None
        return job

    def snapshot(self) -> ExperimentSnapshot:
        with self._lock:
            return ExperimentSnapshot(self._state, self._progress, self._message, self.result, self._elapsed(),
                                      self._status)

    def _report(self, kind: str, payload) -> None:
        if kind == "progress":
            self._set(progress=payload, status="")

    def _outcome(self, outcome):
        from mnist_core.training import experiments

        if outcome.state != "finished":
            return outcome
        try:
            self.result = experiments.load_result(self.result_file)
        except experiments.ExperimentFileError as exc:
            return dataclasses.replace(outcome, state="failed", message=str(exc))
        if self.result is None:
            return dataclasses.replace(outcome, state="failed",
                                       message="The experiment's process ended without writing its result.")
        return outcome


def model_card(run: TrainingRun) -> dict:
    """What a saved model's JSON card records about the run that made it."""
    from mnist_core.data.mnist import data_fingerprint

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
        "parameters": run.parameters,
        "data_sha256": data_fingerprint(),
        "versions": dict(run.versions),
        "history": [dataclasses.asdict(r) for r in snap.records],
    }
