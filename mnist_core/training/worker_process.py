"""A worker process as the server sees it: started as a fresh interpreter
(`python -m mnist_core.training.worker`), sent its job, read from a thread that keeps the latest
records, stopped on request, and reported as failed, with the reason, when it dies. The server's
runs are capped (`MAX_CONCURRENT_RUNS`) and kept by id, so a reloaded page re-attaches to its run.
`runs.TrainingRun` and `runs.ExperimentRun` are the two kinds."""

from __future__ import annotations

import abc
import atexit
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

from mnist_core.training.jobs import Outcome

MAX_CONCURRENT_RUNS = 2  # per server: this is a 2-core machine, more runs only slow each other



class TrainingBusyError(RuntimeError):
    """The server's cap on concurrent runs is reached."""



_run_slots = threading.BoundedSemaphore(MAX_CONCURRENT_RUNS)



_runs: "OrderedDict[str, WorkerRun]" = OrderedDict()  # recent runs by id, so a reloaded page re-attaches



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



def run_file(run_id: str) -> Path:
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
