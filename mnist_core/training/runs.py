"""One training run as an object: validated config, a worker process that trains with Keras
(`training_worker`), epoch and batch records a UI thread can read at any time, Stop within one
batch, a NaN guard, and a clear failure when the worker dies.

No TensorFlow in this module: the Streamlit server imports it, and TensorFlow's objects in the
server made every script run pay ~0.5 s of garbage collection (README). A run's worker is a
fresh interpreter, `python -m mnist_core.training.worker` (fork would copy the server's threads
and locks); it loads MNIST from the cache itself, reports through a pipe, and writes the trained
model to a file that *Save as* then names (`registry.save_model_file`).
"""

from __future__ import annotations

import abc
import atexit
import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Callable

import numpy as np

from mnist_core.models import presets
from mnist_core.training.jobs import (MNIST_TRAIN_IMAGES, BatchProgress, EpochRecord, HyperparameterError, Outcome,
                                      TrainingConfig, TrainingJob, validate)

MAX_CONCURRENT_RUNS = 2  # per server: this is a 2-core machine, more runs only slow each other


class TrainingBusyError(RuntimeError):
    """The server's cap on concurrent runs is reached."""


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


_run_slots = threading.BoundedSemaphore(MAX_CONCURRENT_RUNS)
_runs: "OrderedDict[str, TrainingRun]" = OrderedDict()  # recent runs by id, so a reloaded page re-attaches
_runs_lock = threading.Lock()
KEEP_RUNS = 20
_PROJECT_ROOT = Path(__file__).resolve().parents[2]  # on the worker's PYTHONPATH
_run_files: Path | None = None  # this process's folder for trained-but-unsaved models


def find_run(run_id: str | None) -> "WorkerRun | None":
    with _runs_lock:
        return _runs.get(run_id) if run_id else None


def active_runs() -> list["WorkerRun"]:
    with _runs_lock:
        return [run for run in _runs.values() if run.is_active]


def _run_file(run_id: str) -> Path:
    """Where a run's worker writes its model: a temp folder of this process, removed at exit."""
    global _run_files
    with _runs_lock:
        if _run_files is None:
            _run_files = Path(tempfile.mkdtemp(prefix="mnist-runs-"))
            atexit.register(shutil.rmtree, _run_files, ignore_errors=True)
    return _run_files / f"{run_id}.keras"


def _crash_message(exitcode: int | None, what: str, retry: str) -> str:
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        why = (f"it was killed ({name}): the machine may have run out of memory, or the process was ended "
               f"from outside" if -exitcode == signal.SIGKILL else f"it ended on signal {name}")
    else:
        why = f"it exited with code {exitcode} before reporting a result"
    return f"The {what} process stopped unexpectedly: {why}. {retry}"


class WorkerRun(abc.ABC):
    """A job in a worker process (`python -m mnist_core.training.worker`): start, Stop, re-attach by id,
    the server's cap on concurrent jobs, and a clear failure when the worker dies. Subclasses say what
    the job is (`_job`), what its reports mean (`_report`) and what its outcome leaves (`_outcome`)."""

    what = "training"  # in messages: "The training process stopped unexpectedly …"
    retry = ("What it learned is lost; the app and every other session go on. Press Start training to try "
             "again (fewer training images or a smaller network need less memory).")

    def __init__(self):
        self._lock = threading.Lock()
        self._stop_requested = False
        self._control: Connection | None = None
        self._process: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None
        self._state = "ready"
        self._status = ""
        self._message = ""
        self._started = None
        self._seconds = 0.0
        self.id = uuid.uuid4().hex[:10]

    @abc.abstractmethod
    def _job(self):
        """What the worker is sent: a training tuple or an experiments.ExperimentJob."""

    def _report(self, kind: str, payload) -> None:
        """A report other than status, state and done."""

    def _outcome(self, outcome):
        """Keep what a finished, stopped or failed worker's Outcome leaves; the outcome to show."""
        return outcome

    # ------------------------------------------------------------ control

    def start(self) -> "WorkerRun":
        """Start the worker; TrainingBusyError when the server's cap is reached."""
        if not _run_slots.acquire(blocking=False):
            raise TrainingBusyError(
                f"{MAX_CONCURRENT_RUNS} training runs or experiments are already going on this server, its cap "
                f"on a 2-core machine. Wait for one to finish or stop it, then press the button again.")
        try:
            receiver = self._launch()
        except BaseException:
            _run_slots.release()
            self._set(state="failed", message=f"The {self.what} process could not be started.")
            raise
        with _runs_lock:
            _runs[self.id] = self
            while len(_runs) > KEEP_RUNS:
                oldest = next(iter(_runs))
                if _runs[oldest].is_active:
                    break
                _runs.pop(oldest).discard()
        self._reader = threading.Thread(target=self._listen, args=(receiver,), name=f"worker-{self.id}", daemon=True)
        self._reader.start()
        return self

    def _launch(self) -> Connection:
        """Start the worker and send it the job; the connection its reports arrive on."""
        report_read, report_write = os.pipe()
        control_read, control_write = os.pipe()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(_PROJECT_ROOT), os.environ.get("PYTHONPATH")])))
        try:
            self._set(state="running", status="Starting the worker process …", started=time.perf_counter())
            self._process = subprocess.Popen(
                [sys.executable, "-m", "mnist_core.training.worker", str(report_write), str(control_read)],
                pass_fds=(report_write, control_read), stdin=subprocess.DEVNULL, env=env)
        finally:  # only the worker holds these ends now: its death closes the report pipe
            os.close(report_write)
            os.close(control_read)
        self._control = Connection(control_write, readable=False)
        self._control.send(self._job())
        if self._stop_requested:
            self._control.send("stop")
        return Connection(report_read, writable=False)

    def run(self):
        """Start and wait for the end. Never raises for the job's problems: they end in state 'failed'."""
        self.start()
        self.wait()
        return self.snapshot()

    def stop(self) -> None:
        """Ask the job to end after the current batch."""
        self._stop_requested = True
        try:
            if self._control is not None and self.is_active:
                self._control.send("stop")
        except OSError:  # the worker is already gone; the reader thread reports how
            pass

    def wait(self, timeout: float | None = None) -> bool:
        if self._reader is not None:
            self._reader.join(timeout)
        return not self.is_active

    def discard(self) -> None:
        """Forget what the job left behind (a run pushed out by newer ones)."""

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def is_active(self) -> bool:
        return self._state in ("running", "evaluating")

    @property
    def state(self) -> str:
        return self._state

    def _elapsed(self) -> float:
        """Seconds so far (while running) or in all (after); call with the lock held."""
        return self._seconds if not self.is_active or self._started is None else time.perf_counter() - self._started

    def _set(self, **fields) -> None:
        with self._lock:
            for key, value in fields.items():
                setattr(self, f"_{key}", value)

    # ------------------------------------------------------------ what the worker reports

    def _listen(self, receiver) -> None:
        outcome = None
        try:
            while True:
                try:
                    kind, payload = receiver.recv()
                except (EOFError, OSError):  # the worker is gone, finished or not
                    break
                except Exception as exc:  # a garbled message: end the job rather than guess
                    self._process.kill()
                    outcome = Outcome("failed", f"The {self.what} failed: its process sent an unreadable "
                                                f"report ({type(exc).__name__}: {exc}).")
                    break
                if kind == "status":
                    self._set(status=payload)
                elif kind == "state":
                    self._set(state=payload)
                elif kind == "done":
                    outcome = payload
                else:
                    self._report(kind, payload)
        finally:
            receiver.close()
            try:
                self._process.wait(30)
            except subprocess.TimeoutExpired:  # reported "done" but hangs on exit: end it
                self._process.kill()
                self._process.wait()
            self._control.close()
            self._finish(outcome)
            _run_slots.release()

    def _finish(self, outcome) -> None:
        if outcome is None:
            self._set(state="failed", message=_crash_message(self._process.returncode, self.what, self.retry))
        else:
            outcome = self._outcome(outcome)
            self._set(state=outcome.state, message=outcome.message)
        with self._lock:
            self._status = ""
            if self._started is not None:
                self._seconds = time.perf_counter() - self._started


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
        job = TrainingJob(self.config, self._data, self._evaluate_test, str(_run_file(self.id)), self.drawing)
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
            self.model_file = _run_file(self.id)
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
