"""The audience path of talk mode, without Streamlit: what a phone's Send goes through.

A phone loads one small page (audience/join.html), asks for a person token, draws, and posts its
canvas as JSON. In the server's event loop a request only costs what refusing it costs: its size,
its JSON, the token's signature (HMAC with the talk's key: a token the server did not issue is
refused in microseconds) and the in-memory limits (per token, per client address, for the whole
room). What is left goes to `JudgePool`, worker processes (one per core) that each hold both
models and their unsure rules once: decode the PNG, check the person's limits in the store, judge
with the one verdict (mnist_core.analysis.verdict) and commit the digit before the phone is told.

Nothing counted twice: every Send carries a send id made on the phone. A retry (the connection
dropped, the worker died, the server said "busy") carries the same id and gets the first answer
(`CrowdStore.add_digit` returns the stored digit instead of a second row).
"""

from __future__ import annotations

import base64
import collections
import contextlib
import concurrent.futures
import dataclasses
import hashlib
import hmac
import json
import logging
import math
import multiprocessing
import os
import secrets
import threading
import time
from typing import Callable, Mapping

from mnist_core.data import preprocess
from mnist_core.talk import crowd, inputs

MAX_BODY_BYTES = 64 * 1024  # a 300×300 canvas PNG of strokes is 3–15 KB, as a data URL in JSON < 25 KB
SEND_CANVAS = preprocess.DRAW_CANVAS  # px: the phone sends its drawing at the Draw page's canvas size
_TOKEN_BYTES = 16  # random part of a person token; the signature is as long
STORE_RETRY_SECONDS = 1.0  # the phone's next try while the database does not answer (a restart takes seconds)
LOG = logging.getLogger(__name__)


# ------------------------------------------------------------------ person tokens


def talk_key(room_secret: bytes, talk_id: int) -> bytes:
    """The key that signs one talk's person tokens: a new talk invalidates every old token."""
    return hmac.new(room_secret, f"talk:{int(talk_id)}".encode(), hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _signature(key: bytes, nonce: str) -> str:
    return _b64(hmac.new(key, nonce.encode(), hashlib.sha256).digest()[:_TOKEN_BYTES])


def issue_token(key: bytes) -> str:
    """A new person token: 22 random characters and their 22-character signature (44 in all, the
    store's token form)."""
    nonce = _b64(secrets.token_bytes(_TOKEN_BYTES))
    return nonce + _signature(key, nonce)


def token_is_valid(key: bytes, token: object) -> bool:
    """Whether `token` was issued with `key` (constant-time compare; anything else is False)."""
    if not isinstance(token, str) or len(token) != 44:
        return False
    return hmac.compare_digest(_signature(key, token[:22]), token[22:])


# ------------------------------------------------------------------ limits


class Buckets:
    """Token buckets by key: `rate` per second, up to `burst` at once. In memory, per server
    process; old keys are forgotten once full again, so a flood of addresses does not grow it."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000):
        self.rate, self.burst, self._clock, self._max_keys = rate, burst, clock, max_keys
        self._levels: collections.OrderedDict[str, tuple[float, float]] = collections.OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str, cost: float = 1.0) -> float:
        """0.0 if `cost` was taken, else the seconds until it could be."""
        now = self._clock()
        with self._lock:
            level, then = self._levels.pop(key, (self.burst, now))
            level = min(self.burst, level + (now - then) * self.rate)
            wait = 0.0 if level >= cost else (cost - level) / self.rate
            if not wait:
                level -= cost
            if level < self.burst:  # a full bucket is the default: no need to remember it
                self._levels[key] = (level, now)
                while len(self._levels) > self._max_keys:
                    self._levels.popitem(last=False)
            return wait


@dataclasses.dataclass(frozen=True)
class Limits:
    """The audience path's limits. A venue's Wi-Fi puts hundreds of phones behind one NAT address,
    so per-address limits are generous; per person the store's limits hold (one digit per
    crowd.MIN_SECONDS_BETWEEN_DIGITS, crowd.MAX_DIGITS_PER_PERSON per talk)."""
    tokens_per_address: tuple[float, float] = (20.0, 1000.0)  # (per second, burst): a hall joining at once
    sends_per_address: tuple[float, float] = (150.0, 300.0)  # 500 phones × a digit per 5 s is 100/s
    sends_per_room: tuple[float, float] = (250.0, 500.0)  # above what two cores judge: a queue, not a crash
    queued_per_worker: int = 64  # Sends waiting for a worker beyond this are told to retry


class Refused(Exception):
    """A request refused with an HTTP status and a message for the phone (and when to retry)."""

    def __init__(self, status: int, code: str, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after

    def body(self) -> dict:
        body = {"status": self.code, "message": self.message}
        if self.retry_after is not None:
            body["retry_after"] = round(self.retry_after, 1)
        return body


@dataclasses.dataclass(frozen=True)
class Send:
    """A Send that passed the cheap checks: what a worker needs."""
    token: str
    send_id: str
    label: int
    png: str  # the canvas as a PNG data URL, not yet decoded


def parse_send(body: bytes) -> Send:
    """The Send's JSON body → Send, or Refused(400) naming what is wrong. Nothing is decoded here
    but the JSON itself (the PNG is checked in a worker)."""
    if len(body) > MAX_BODY_BYTES:
        raise too_large(len(body))
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Refused(400, "bad_request", "The request is not JSON. Reload the page.") from None
    if not isinstance(data, dict):
        raise Refused(400, "bad_request", "The request must be a JSON object. Reload the page.")
    token, send_id, label, png = (data.get(k) for k in ("token", "send_id", "label", "png"))
    if not isinstance(send_id, str) or not inputs.SEND_ID_RE.match(send_id):
        raise Refused(400, "bad_request", "The Send has no valid send_id (8–64 letters and digits). Reload the page.")
    if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label <= 9:
        raise Refused(400, "bad_request", "The label must be a digit from 0 to 9. Pick the digit you drew.")
    if not isinstance(png, str) or not png.startswith("data:image/png;base64,"):
        raise Refused(400, "bad_request", "The drawing must be a PNG data URL. Clear the canvas and draw again.")
    if not isinstance(token, str):
        raise Refused(401, "token", "This page has no person token. Reload the page.")
    return Send(token, send_id, label, png)


def too_large(size: int) -> Refused:
    return Refused(413, "too_large", f"The request is {size:,} bytes; a drawing is under {MAX_BODY_BYTES:,}. "
                                     "Clear the canvas and draw again.")


# ------------------------------------------------------------------ the work, in a worker process

_worker: dict = {}  # in each worker process: the store, the judges


def _init_worker(model_names: Mapping[str, str], database: str) -> None:
    """Once per worker process: one BLAS thread (the processes are the parallelism), the store,
    both models and their unsure rules (the test-set scores come from the disk cache that the
    server and the other workers share)."""
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover - pinned in requirements.txt
        pass
    _worker["database"] = database
    with contextlib.suppress(crowd.CrowdStoreError):  # PostgreSQL restarting: opened again on the next Send
        _worker["store"] = crowd.CrowdStore(database)
    try:
        _worker["judges"], _worker["files"] = load_judges(model_names)
    except Exception as exc:  # noqa: BLE001 (a missing model, MNIST or database: said on every Send, not a dead pool)
        _worker["error"] = f"The server cannot judge digits: {exc}"


def load_judges(model_names: Mapping[str, str]) -> tuple[dict, dict]:
    """(kind → verdict.Judge for the named models, each with its measured unsure rule;
    kind → (name, file SHA-256), what the store records as the digit's judge)."""
    from mnist_core.analysis.measured import measured_model
    from mnist_core.data.mnist import load_mnist_dataset

    dataset = load_mnist_dataset()
    measured = {kind: measured_model(name, dataset) for kind, name in model_names.items()}
    return ({kind: model.judge for kind, model in measured.items()},
            {kind: (model.name, model.file_hash) for kind, model in measured.items()})


def warm() -> int:
    """A no-op job: the caller waits until this worker has loaded everything. Returns its pid."""
    return os.getpid()


def judge_and_store(talk_id: int, send: Send) -> dict:
    """In a worker: a Send's answer as JSON-ready data (see `answer_body`). Refusals come back as
    {'status': code, 'message': …}, never as exceptions: the pool's pipe carries plain data."""
    if "error" in _worker:
        return {"status": "server_error", "message": _worker["error"] + " (The presenter's terminal says more.)"}
    try:
        if "store" not in _worker:
            _worker["store"] = crowd.CrowdStore(_worker["database"])
    except crowd.CrowdStoreError as exc:
        return store_error(exc)
    return judge_and_store_with(_worker["store"], _worker["judges"], _worker["files"], talk_id, send)


def store_error(exc: crowd.CrowdStoreError) -> dict:
    """The answer while the database does not answer: the phone sends the same digit again by
    itself (same send id, so it is never counted twice). The details go to the server's log."""
    LOG.warning("Send not stored: %s", exc)
    return {"status": "store_error", "retry_after": STORE_RETRY_SECONDS,
            "message": "The room's database is not answering; your phone sends the digit again by itself."}


def judge_and_store_with(store: crowd.CrowdStore, judges: Mapping, files: Mapping, talk_id: int, send: Send) -> dict:
    """judge_and_store with what a worker holds passed in (tests run it in-process)."""
    from mnist_core.analysis import verdict

    try:
        first = store.sent_digit(send.token, send.send_id)
        if first is not None:  # a retry: the first answer, nothing stored again
            return answer_body(first.id, first.label, {k: verdict.answer(k, first.model_files[k][0], first.probabilities[k],
                                                                          judges[k].rule if k in judges else None)
                                                       for k in first.probabilities}, heavy=False, retry=True)
        store.check_limits(talk_id, send.token)  # before any decoding or judging
        rgba = inputs.canvas_png_to_rgba(send.png, expected_size=(SEND_CANVAS, SEND_CANVAS))
        judged = verdict.judge(rgba, judges)
        if judged.problem is not None:
            return {"status": "not_a_digit", "message": judged.problem.replace("**", "")}
        digit_id = store.add_digit(
            talk_id=talk_id, person_token=send.token, label=send.label, image28=judged.image,
            canvas_png=inputs.canvas_thumbnail_png(rgba),
            probabilities={kind: a.raw for kind, a in judged.answers.items()},
            model_files={kind: files[kind] for kind in judged.answers}, send_id=send.send_id)
    except crowd.RateLimited as exc:
        return {"status": "rate_limited", "message": str(exc), "retry_after": exc.retry_after}
    except crowd.CrowdInputError as exc:
        return {"status": "bad_drawing", "message": str(exc)}
    except crowd.CrowdStoreError as exc:
        return store_error(exc)
    return answer_body(digit_id, send.label, judged.answers, heavy=judged.heavy_strokes, retry=False)


def answer_body(digit_id: int, label: int, answers: Mapping, heavy: bool, retry: bool) -> dict:
    from mnist_core.analysis import verdict

    tone_line = verdict.agreement(answers)
    return {
        "status": "ok", "digit_id": int(digit_id), "label": int(label), "retry": retry,
        "answers": {kind: {"digit": a.digit, "confidence": round(a.confidence, 4), "unsure": bool(a.unsure),
                           "right": a.digit == int(label)} for kind, a in answers.items()},
        "agreement": None if tone_line is None else {"tone": tone_line[0], "line": tone_line[1].replace("**", "")},
        "tip": preprocess.HEAVY_MESSAGE_FIXED_PEN if heavy else None,
    }


# ------------------------------------------------------------------ the pool, in the server


class JudgePool:
    """Worker processes that judge and store Sends, one per core, rebuilt when one dies.

    Spawned, not forked: the server has threads (Streamlit's, uvicorn's) that a fork would copy
    mid-lock. A worker killed mid-job breaks the whole ProcessPoolExecutor (every job in flight
    fails): the pool is replaced, and the phones whose Send died retry with the same send id.
    """

    def __init__(self, database=None, model_names: Mapping[str, str] | None = None, workers: int | None = None):
        from mnist_core.models.registry import SHIPPED  # here: h5py comes with it, and only talk mode needs it

        self.database = str(database or crowd.default_location())  # the one store every worker writes
        self.model_names = dict(model_names or {kind: kind for kind in SHIPPED})
        self.workers = max(1, workers or os.cpu_count() or 1)
        self._lock = threading.Lock()
        self._executor: concurrent.futures.ProcessPoolExecutor | None = None
        self.queued = 0  # jobs submitted and not yet finished (for back-pressure)
        self.restarts = 0
        self._count_lock = threading.Lock()

    def _pool(self) -> concurrent.futures.ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = concurrent.futures.ProcessPoolExecutor(
                    self.workers, mp_context=multiprocessing.get_context("spawn"),
                    initializer=_init_worker, initargs=(self.model_names, self.database))
            return self._executor

    def submit(self, fn, *args) -> concurrent.futures.Future:
        pool = self._pool()
        try:
            future = pool.submit(fn, *args)
        except concurrent.futures.process.BrokenProcessPool:
            self.replace(pool)
            pool = self._pool()
            future = pool.submit(fn, *args)
        with self._count_lock:
            self.queued += 1
        future.add_done_callback(lambda done: self._done(done, pool))
        return future

    def _done(self, future: concurrent.futures.Future, pool) -> None:
        with self._count_lock:
            self.queued -= 1
        if not future.cancelled() and isinstance(future.exception(), concurrent.futures.process.BrokenProcessPool):
            self.replace(pool)

    def replace(self, broken) -> None:
        """Drop the broken pool `broken` (its surviving workers exit on their own); the next job
        starts a new one. A pool already replaced is left alone: every job of a broken pool fails
        at once, and only the first failure replaces it."""
        with self._lock:
            if self._executor is not None and broken is self._executor:
                old, self._executor = self._executor, None
                self.restarts += 1
                old.shutdown(wait=False, cancel_futures=True)

    def warm_up(self, timeout: float = 600) -> list[int]:
        """Start every worker and wait until each has loaded the models (the first job a worker
        takes would otherwise wait for it). Returns the workers' pids."""
        futures = [self.submit(_slow_warm) for _ in range(self.workers)]
        return sorted({f.result(timeout) for f in futures})

    def pids(self) -> list[int]:
        with self._lock:
            return [] if self._executor is None else sorted(self._executor._processes)

    def shutdown(self) -> None:
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=True, cancel_futures=True)
                self._executor = None


def _slow_warm() -> int:
    time.sleep(0.3)  # long enough that each warm-up job lands on a different worker
    return os.getpid()


def retry_after_seconds(wait: float) -> str:
    return str(max(1, math.ceil(wait)))
