"""A hall of phones on talk mode's plain-HTTP audience path (audience/server.py), driven by Locust
used as a library (FastHttpUser, a LocalRunner): loopback only, bounded in phones and time, and it
stops by itself (a hard deadline kills everything it started). It prints figures; it asserts
nothing, but says plainly when a check fails (and exits 1 then).

Scenarios (several may be given; they run one after another on the same server):

  --storm [N]            N phones (default 500) open the page within 10 s (spawn rate N/10): GET
                         /join (Accept-Encoding: gzip, as a browser sends) and POST /api/join/token,
                         what the real page fetches. Before that, the page's HTML is parsed for
                         src=/href=/url(…) references that would make a browser fetch more (the
                         page is meant to be one file). Reports pages served, failures, p50/p95/max
                         of page+token time, bytes per phone as transferred (gzip body + headers).
  --steady [N] --seconds S
                         N phones (default 500), S seconds (default 120, from the first join):
                         each joins as above, then every 5 ± 1 s sends a real MNIST test digit
                         (pre-rendered before the run: 300 distinct PNGs, 300×300 RGBA, white
                         strokes on black) with a fresh send id made on the phone; a Send refused
                         as busy (429 "busy", 503) or without an answer is sent again with the SAME
                         send id, as audience/join.html does (at most 8 attempts; after the JSON
                         retry_after, else Retry-After, else the page's back-off). Reports Sends and
                         acknowledgements, Send→answer p50/p95/max (first attempt to final answer),
                         responses by status, digits/s, the server's CPU (its process and all its
                         children, the judging workers, from /proc) in cores, and a database
                         cross-check (read-only sqlite3 after the run): the talk's new rows of these
                         phones = the acknowledged distinct digit ids, and no send id stored twice.
                         Meanwhile, in a process of its own, the presenter's wall reads are timed
                         once a second (CrowdStore.count, latest(talk, 18), scoreboard: what the
                         Talk page reads per refresh); the goal is p95 ≤ 0.1 s per refresh.
                         A phone whose person reached the store's 30 digits per talk takes a new
                         token (hands the phone on), so a long run keeps its rate.
  --flood                one more client sends --flood-rate requests/s (default 200) for the whole
                         steady run, with forged person tokens (random 44 characters) and
                         valid-looking bodies (a real drawing). Reports how many were accepted (must
                         be 0) and their statuses. With --compare, the steady hall runs alone first
                         (same server, new phones), and the phones' p95 is shown with and without.
  --kill-worker-at T     during steady, T s after it starts, SIGKILL one judging worker (a child of
                         the server whose command line runs multiprocessing's spawn_main; at the
                         first moment within 2 s when a phone's Send is in flight). Reports
                         that every acknowledged digit is in the database exactly once, how many
                         Sends needed a retry, how many gave up, and when new workers appeared.

    .venv/bin/python benchmarks/hall_load.py --storm                          # 500 phones
    .venv/bin/python benchmarks/hall_load.py --steady                         # 500 phones × 120 s
    .venv/bin/python benchmarks/hall_load.py --steady --flood --compare       # alone, then with 200 forged/s
    .venv/bin/python benchmarks/hall_load.py --steady --kill-worker-at 30
    .venv/bin/python benchmarks/hall_load.py --storm 100 --steady 50 --seconds 30 --flood --flood-rate 50 \\
        --kill-worker-at 10                                                   # a short smoke run
    .venv/bin/python benchmarks/hall_load.py --host http://127.0.0.1:8501 --db PATH --steady 50
                                                                              # a running talk server

Without --host it starts its own server (benchmarks/harness.py: `streamlit run streamlit_app.py`
in talk mode on a free loopback port, a fresh key, its own database in a temporary folder) and
always stops it. With --host (loopback only) the digits go into that server's current talk; --db
(its MNIST_CROWD_DB) enables the database checks and the wall timing, --pid its CPU figures
(found from the listening port when it is this user's process). Before any scenario one digit is
sent from a token of its own and answered (a worker has loaded the models), then 2 per worker at
once (every worker has judged one); they stay in the talk and are left out of every figure.

The machine has 2 cores, shared by the server, its two judging workers and this load generator
(one gevent loop): the report gives this process's CPU too, so a saturated client shows.

Client sockets get TCP_NODELAY, as a browser's do. The server's do not (see `_no_delay`): every
response after the first on a kept-alive connection waits ~40 ms for the client's delayed ACK.
The report measures that once at the start (fresh vs kept-alive connection) and it shows in the
token's and the forged Sends' times; phones meet it too, so it is left in the figures.
"""

from __future__ import annotations

import argparse
import sys
import urllib.parse

MAX_PHONES = 1000         # per scenario
MAX_SECONDS = 600         # per steady run
MAX_FLOOD_RATE = 1000.0   # requests/s
EVERY, JITTER = 5.0, 1.0  # s between a phone's Sends: uniform(EVERY - JITTER, EVERY + JITTER)
AFTER_ANSWER = 3.5        # s: never sooner after the last answer (the store's limit is 3 s)
RAMP = 10.0               # s: phones join spread over this (spawn rate N / RAMP)
ATTEMPTS = 8              # like audience/join.html's send()
TIMEOUT = 15.0            # s per request, like the page's fetch timeout
GRACE = 60.0              # s after the steady time for Sends in flight, then they are cut off
WARM_UP_SECONDS = 240.0   # the first digit: the workers load TensorFlow and both models
DIGITS = 300              # distinct pre-rendered drawings
SEED = 20_261_206
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
           "Accept-Encoding": "gzip, deflate, br", "Accept-Language": "en-GB,en;q=0.9",
           "User-Agent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
                         "Chrome/126.0 Mobile Safari/537.36 hall_load"}
FETCH = {"Content-Type": "application/json", "Accept": "*/*", "Accept-Encoding": "gzip, deflate, br",
         "Cache-Control": "no-store", "User-Agent": BROWSER["User-Agent"]}
TOKEN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--storm", type=int, nargs="?", const=500, metavar="N", help="N phones open the page within 10 s (500)")
    p.add_argument("--steady", type=int, nargs="?", const=500, metavar="N", help="N phones send a digit every 5 s (500)")
    p.add_argument("--seconds", type=float, default=120.0, help="steady run length, from the first join (120)")
    p.add_argument("--flood", action="store_true", help="with steady: one client sending forged-token Sends")
    p.add_argument("--flood-rate", type=float, default=200.0, metavar="R", help="forged Sends per second (200)")
    p.add_argument("--compare", action="store_true", help="with --flood: run the steady hall alone first")
    p.add_argument("--kill-worker-at", type=float, metavar="T", help="with steady: SIGKILL one judging worker at T s")
    p.add_argument("--host", metavar="URL", help="a running talk-mode server on loopback (default: start one)")
    p.add_argument("--db", help="with --host: its database file (MNIST_CROWD_DB), for the checks and the wall")
    p.add_argument("--pid", type=int, help="with --host: its process id (default: the process listening on its port)")
    p.add_argument("--digits", type=int, default=DIGITS, help=f"distinct pre-rendered drawings ({DIGITS})")
    p.add_argument("--no-locust-stats", action="store_true", help="leave out Locust's own stats tables")
    args = p.parse_args(argv)
    if (args.flood or args.kill_worker_at is not None) and args.steady is None:
        args.steady = 500
    if args.compare and not args.flood:
        p.error("--compare goes with --flood")
    if args.storm is None and args.steady is None:
        p.error("pick a scenario: --storm [N], --steady [N] (with --flood, --kill-worker-at T)")
    for name in ("storm", "steady"):
        n = getattr(args, name)
        if n is not None and not 1 <= n <= MAX_PHONES:
            p.error(f"--{name}: 1 to {MAX_PHONES} phones")
    if not 5 <= args.seconds <= MAX_SECONDS:
        p.error(f"--seconds: 5 to {MAX_SECONDS}")
    if not 0 < args.flood_rate <= MAX_FLOOD_RATE:
        p.error(f"--flood-rate: above 0, at most {MAX_FLOOD_RATE:.0f}")
    if args.kill_worker_at is not None and not 0 <= args.kill_worker_at < args.seconds:
        p.error("--kill-worker-at: within the steady run (0 ≤ T < --seconds)")
    if not 10 <= args.digits <= 3000:
        p.error("--digits: 10 to 3000")
    if args.host and urllib.parse.urlsplit(args.host).hostname not in ("127.0.0.1", "localhost", "::1"):
        p.error(f"--host must be a loopback address, not {args.host}")
    if (args.db or args.pid) and not args.host:
        p.error("--db and --pid go with --host (a server this script starts has its own)")
    return args


ARGS = parse_args() if __name__ == "__main__" else None  # --help and mistakes before Locust's import

# Locust patches the standard library for gevent on import: only in this process, never in a
# module the app or the tests import (harness.py has no Locust in it).
import gevent  # noqa: E402
import gevent.pool  # noqa: E402
from locust import FastHttpUser, constant, task  # noqa: E402
from locust.env import Environment  # noqa: E402
from locust.exception import StopUser  # noqa: E402

import base64  # noqa: E402
import html.parser  # noqa: E402
import io  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import secrets  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import sqlite3  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.error  # noqa: E402
import urllib.parse  # noqa: E402
import urllib.request  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import geventhttpclient.connectionpool  # noqa: E402


def _no_delay(pool, sock) -> None:
    """TCP_NODELAY on every client socket, as browsers set it (geventhttpclient writes a POST's head
    and body in two sends; with Nagle's algorithm the body could wait for the server's delayed ACK).

    The server side is another matter, measured here and left as it is, since phones meet it too:
    Streamlit pre-binds its listening socket with `socket.socket(family=family)` (proto 0), and
    asyncio on Python 3.11 sets TCP_NODELAY on accepted connections only when `sock.proto ==
    IPPROTO_TCP`; uvicorn writes a response's head and body in two sends, so on a kept-alive
    connection every response after the first waits for the client's delayed ACK, ~40 ms on Linux
    (curl on loopback: 0.5 ms to the first byte, 43 ms to the last)."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


geventhttpclient.connectionpool.ConnectionPool.after_connect = _no_delay

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import ROOT, percentile, spread, table  # noqa: E402

sys.path.insert(0, str(ROOT))
from mnist_core.talk import audience
from mnist_core.talk import crowd
from mnist_core.data import preprocess  # noqa: E402
from mnist_core.data import load_mnist  # noqa: E402
from mnist_core.data.synthetic import redraw  # noqa: E402


def say(*parts) -> None:
    print(*parts, flush=True)


# ── drawings, made before any phone starts ────────────────────────────────────────────────────

@dataclass(frozen=True)
class Drawing:
    label: int
    png: str  # data:image/png;base64,… of a 300×300 RGBA canvas, white strokes on black


def render_drawings(count: int) -> tuple[list[Drawing], int]:
    """`count` distinct MNIST test digits redrawn as pen strokes on the phone's 300 px canvas (fixed
    seed), as PNG data URLs; the few the page itself would refuse as no digit are skipped.
    Returns (drawings, skipped)."""
    (_, _), (x_test, y_test) = load_mnist()
    order = np.random.default_rng(SEED).permutation(len(x_test))
    drawings, skipped = [], 0
    for i in range(len(order)):
        if len(drawings) == count:
            break
        index = int(order[i])
        rgba = redraw(x_test[index], np.random.default_rng([SEED, i]), canvas=audience.SEND_CANVAS)
        assert rgba.shape == (audience.SEND_CANVAS, audience.SEND_CANVAS, 4) and rgba.dtype == np.uint8
        if preprocess.drawing_problem(preprocess.preprocess_steps(rgba)) is not None:
            skipped += 1
            continue
        out = io.BytesIO()
        Image.fromarray(rgba, "RGBA").save(out, format="PNG")
        drawings.append(Drawing(int(y_test[index]), "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()))
    return drawings, skipped


def forged_token(rng: random.Random) -> str:
    return "".join(rng.choice(TOKEN_CHARS) for _ in range(44))


# ── what the phones record ────────────────────────────────────────────────────────────────────

@dataclass
class Join:
    page_s: float | None = None
    token_s: float | None = None
    total_s: float | None = None
    page_status: object = None  # an HTTP status, or "conn" when there was no answer, or "bad page"
    token_status: object = None
    page_wire: int = 0          # bytes received for the page: its body as sent (gzip) + headers
    page_plain: int = 0         # the page's body decoded
    page_encoding: str = ""
    token_wire: int = 0
    token_attempts: int = 0

    @property
    def ok(self) -> bool:
        return self.page_status == 200 and self.token_status == 200


@dataclass
class SendRecord:
    phone: int
    token: str
    send_id: str
    label: int
    started: float                  # perf_counter of the first attempt
    ended: float | None = None
    outcome: str = "in flight"      # "ok", "gave up", "cut off", or the final refusal's status code
    statuses: list = field(default_factory=list)  # per attempt: 200, 429, "503 busy", "conn", …
    digit_id: int | None = None
    retry_answer: bool = False      # the server answered "retry": true (the first attempt had been stored)

    @property
    def seconds(self) -> float | None:
        return None if self.ended is None else self.ended - self.started


@dataclass
class Phase:
    name: str
    kind: str                       # "storm" or "steady"
    phones: int
    seconds: float = 0.0
    drawings: list = field(default_factory=list)
    flood_rate: float = 0.0
    kill_at: float | None = None
    server_pid: int | None = None
    t0: float = 0.0                 # perf_counter at start
    send_until: float = 0.0
    hard_end: float = 0.0
    over: bool = False
    numbers: object = field(default_factory=itertools.count)
    joins: list = field(default_factory=list)
    sends: list = field(default_factory=list)
    tokens: set = field(default_factory=set)
    token_swaps: int = 0
    started: int = 0                # phones that have begun
    done: int = 0                   # phones that have finished (joined, and in steady sent their last)
    flood: Counter = field(default_factory=Counter)     # status → forged Sends
    flood_times: list = field(default_factory=list)
    flood_sent: int = 0
    flood_started: float = 0.0
    flood_ended: float = 0.0
    kill: dict = field(default_factory=dict)
    statuses: Counter = field(default_factory=Counter)  # every phone response: (endpoint, status)


PHASE: Phase | None = None  # the scenario running now (one at a time)


def _status_of(response, data: dict) -> object:
    code = response.status_code
    if not code:
        return "conn"
    return code if code in (200, 401) else f"{code} {data.get('status', '?')}"


def _json(response) -> dict:
    try:
        data = json.loads(response.content or b"{}")
        return data if isinstance(data, dict) else {}
    except (ValueError, TypeError):
        return {}


def _header_bytes(response) -> int:
    """The response's status line and headers as sent (HTTP/1.1): what a phone receives besides the body."""
    try:
        items = list(response.headers.items())
    except AttributeError:
        return 0
    return len("HTTP/1.1 200 OK\r\n") + sum(len(k) + len(str(v)) + 4 for k, v in items) + 2


def _retry_wait(response, data: dict, attempt: int) -> float:
    """As the page: the answer's retry_after, else (our addition) the Retry-After header, else its back-off."""
    if isinstance(data.get("retry_after"), (int, float)) and data["retry_after"] > 0:
        return float(data["retry_after"])
    try:
        return float(response.headers.get("retry-after"))
    except (TypeError, ValueError, AttributeError):
        return min(8.0, 2 ** attempt / 2)


class Phone(FastHttpUser):
    """One person with a phone: opens /join, gets a token, and (steady) sends a digit every 5 s."""
    network_timeout = TIMEOUT
    connection_timeout = TIMEOUT
    max_retries = 0
    concurrency = 2  # a phone's browser: a connection or two to one host
    wait_time = constant(1)

    @task
    def life(self):
        phase = PHASE
        n = next(phase.numbers)
        phase.started += 1
        self.token = None
        rng = random.Random(SEED * 7919 + n)
        join = self.join(phase)
        if phase.kind == "steady" and join.ok:
            self.hall(phase, n, rng)
        phase.done += 1
        for _ in range(int(MAX_SECONDS + GRACE + RAMP) + 60):  # bounded idle: the runner stops us sooner
            if phase.over:
                break
            gevent.sleep(1)
        raise StopUser()

    # -- joining: the page, then a token

    def join(self, phase: Phase) -> Join:
        join = Join()
        t0 = time.perf_counter()
        with self.client.get("/join", headers=BROWSER, name="GET /join", catch_response=True) as r:
            body = r.content or b""
            if r.status_code == 200 and b"/api/join/send" in body:
                join.page_status = 200
                r.success()
            else:
                join.page_status = _status_of(r, {}) if r.status_code != 200 else "bad page"
                r.failure(f"page: {join.page_status}")
            headers = r.headers or {}
            join.page_encoding = headers.get("content-encoding", "") or ""
            join.page_plain = len(body)
            length = headers.get("content-length")
            join.page_wire = (int(length) if length and length.isdigit() else len(body)) + _header_bytes(r)
        phase.statuses[("page", join.page_status)] += 1
        t1 = time.perf_counter()
        join.page_s = t1 - t0
        if join.page_status == 200:
            self.token = self.new_token(phase, join)
        join.token_s = time.perf_counter() - t1
        join.total_s = time.perf_counter() - t0
        phase.joins.append(join)
        return join

    def new_token(self, phase: Phase, join: Join | None = None) -> str | None:
        """POST /api/join/token until it gives one (busy: after its retry_after), at most ATTEMPTS times."""
        for attempt in range(ATTEMPTS):
            with self.client.post("/api/join/token", data="{}", headers=FETCH, name="POST /api/join/token",
                                  catch_response=True) as r:
                data = _json(r)
                status = _status_of(r, data)
                phase.statuses[("token", status)] += 1
                if join is not None:
                    join.token_status, join.token_attempts = status, attempt + 1
                    join.token_wire += len(r.content or b"") + _header_bytes(r)
                token = data.get("token")
                if status == 200 and isinstance(token, str) and len(token) == 44:
                    r.success()
                    phase.tokens.add(token)
                    return token
                r.failure(f"token: {status}")
            if time.perf_counter() > phase.hard_end:
                return None
            gevent.sleep(_retry_wait(r, data, attempt) if r.status_code else min(8.0, 0.5 * 2 ** attempt))
        return None

    # -- the hall: a digit every 5 s

    def hall(self, phase: Phase, n: int, rng: random.Random) -> None:
        drawings = phase.drawings
        next_draw = rng.randrange(len(drawings))
        at = time.perf_counter() + rng.uniform(0, EVERY)  # the first Send: spread over one interval
        acked = 0
        for _ in range(int(MAX_SECONDS / (EVERY - JITTER)) + 2):  # bounded: one Send per interval at most
            if at > phase.send_until or self.token is None:
                break
            gevent.sleep(max(0.0, at - time.perf_counter()))
            drawing = drawings[next_draw % len(drawings)]
            next_draw += 1
            record = self.send(phase, n, drawing)
            if record.outcome == "ok":
                acked += 1
            if acked >= crowd.MAX_DIGITS_PER_PERSON:  # the person hands the phone on: a new person
                self.token, acked = self.new_token(phase), 0
                phase.token_swaps += 1
            at = max(at + rng.uniform(EVERY - JITTER, EVERY + JITTER), time.perf_counter() + AFTER_ANSWER)

    def send(self, phase: Phase, n: int, drawing: Drawing) -> SendRecord:
        """One Send as join.html makes it: a fresh send id; the same id again while busy or unanswered."""
        send_id = secrets.token_hex(16)  # the page's randomId(): 16 random bytes in hex
        record = SendRecord(n, self.token, send_id, drawing.label, time.perf_counter())
        phase.sends.append(record)
        body = {"send_id": send_id, "label": drawing.label, "png": drawing.png}
        for attempt in range(ATTEMPTS):
            if time.perf_counter() > phase.hard_end:
                record.outcome = "cut off"
                return record
            body["token"] = record.token = self.token
            name = "POST /api/join/send" if attempt == 0 else "POST /api/join/send (again)"
            with self.client.post("/api/join/send", data=json.dumps(body), headers=FETCH, name=name,
                                  catch_response=True) as r:
                data = _json(r)
                status = _status_of(r, data)
                record.statuses.append(status)
                phase.statuses[("send", status)] += 1
                if status == 200 and isinstance(data.get("digit_id"), int):
                    r.success()
                    record.outcome, record.digit_id = "ok", data["digit_id"]
                    record.retry_answer = bool(data.get("retry"))
                    record.ended = time.perf_counter()
                    return record
                r.failure(f"send: {status}")
            if status == "conn":  # no answer: the same send id again after the page's back-off
                gevent.sleep(min(8.0, 0.5 * 2 ** attempt))
            elif status == 401:  # a new talk began: a new token, the same Send
                self.token = self.new_token(phase)
                if self.token is None:
                    break
            elif data.get("status") == "busy" or r.status_code >= 500:
                gevent.sleep(_retry_wait(r, data, attempt))
            else:  # not a digit, too fast, too many, a bad request: the person would act
                record.outcome, record.ended = str(status), time.perf_counter()
                return record
        record.outcome, record.ended = "gave up", time.perf_counter()
        return record


class Flooder(FastHttpUser):
    """One client sending forged-token Sends at a fixed rate for the steady run's duration."""
    fixed_count = 1
    network_timeout = TIMEOUT
    connection_timeout = TIMEOUT
    max_retries = 0
    concurrency = 64
    wait_time = constant(1)

    @task
    def flood(self):
        phase = PHASE
        rng = random.Random(SEED + 1)
        pool = gevent.pool.Pool(64)  # in flight at once; a slower server makes the rate drop, not pile up
        drawings = phase.drawings
        start = phase.flood_started = time.perf_counter()
        total = int(phase.flood_rate * max(0.0, phase.send_until - start))
        for i in range(total):  # bounded: rate × duration requests
            if phase.over or time.perf_counter() > phase.send_until:
                break
            gevent.sleep(max(0.0, start + i / phase.flood_rate - time.perf_counter()))
            drawing = drawings[i % len(drawings)]
            body = json.dumps({"send_id": secrets.token_hex(16), "label": drawing.label, "png": drawing.png,
                               "token": forged_token(rng)})
            pool.wait_available(timeout=TIMEOUT)
            pool.spawn(self.one, phase, body)
            phase.flood_sent += 1
        pool.join(timeout=TIMEOUT + 1)
        phase.flood_ended = time.perf_counter()
        for _ in range(int(MAX_SECONDS + GRACE) + 60):
            if phase.over:
                break
            gevent.sleep(1)
        raise StopUser()

    def one(self, phase: Phase, body: str) -> None:
        t0 = time.perf_counter()
        with self.client.post("/api/join/send", data=body, headers=FETCH, name="flood: forged POST /api/join/send",
                              catch_response=True) as r:
            status = _status_of(r, _json(r))
            phase.flood[status] += 1
            phase.flood_times.append(time.perf_counter() - t0)
            if status == 200:
                r.failure("a forged token was accepted")
            else:
                r.success()


# ── the page: one file? ───────────────────────────────────────────────────────────────────────

class _Refs(html.parser.HTMLParser):
    URL_ATTRS = {"src", "href", "srcset", "poster", "data", "action", "formaction", "background", "manifest"}

    def __init__(self):
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.styles: list[str] = []
        self.scripts: list[str] = []
        self._in = None

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in self.URL_ATTRS and value is not None:
                self.refs.append((tag, name, value))
            if name == "style" and value:
                self.styles.append(value)
            if tag == "meta" and name == "http-equiv" and (value or "").lower() == "refresh":
                self.refs.append((tag, "http-equiv=refresh", dict(attrs).get("content", "")))
        self._in = tag if tag in ("style", "script") else None

    def handle_endtag(self, tag):
        self._in = None

    def handle_data(self, data):
        if self._in == "style":
            self.styles.append(data)
        elif self._in == "script":
            self.scripts.append(data)


def page_references(page: str) -> dict:
    """What in the page would make a browser request something more: src/href-like attributes and
    CSS url()/@import (a data: URL, an anchor or javascript: makes no request), and the paths its
    scripts fetch (the token and the Send, not assets)."""
    parser = _Refs()
    parser.feed(page)
    css = "\n".join(parser.styles)
    refs = parser.refs + [("style", "url()", u.strip("'\" ")) for u in re.findall(r"url\(([^)]*)\)", css)]
    refs += [("style", "@import", u) for u in re.findall(r"@import\s+([^;]+);", css)]
    requesting = [r for r in refs if r[2].strip() and not r[2].strip().lower().startswith(("data:", "#", "javascript:", "about:"))]
    fetched = sorted(set(re.findall(r"""(?:fetch|post)\(\s*["'](/[^"']*)["']""", "\n".join(parser.scripts))))
    return {"found": refs, "requesting": requesting, "script_paths": fetched}


# ── plain HTTP from the main greenlet (set-up and warm-up) ────────────────────────────────────

def http(url: str, body: bytes | None = None, headers: dict | None = None, timeout: float = TIMEOUT):
    """(status, headers, body) without raising on an HTTP status; raw body (no decoding)."""
    request = urllib.request.Request(url, data=body, headers=headers or {}, method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def warm_send(url: str, drawing: Drawing, deadline: float) -> tuple[int, dict]:
    """One token and one Send from a person of its own, retried until answered: (talk id, answer)."""
    token = talk_id = None
    send_id = secrets.token_hex(16)
    last = None
    for _ in range(int(WARM_UP_SECONDS) * 4):  # bounded: the deadline ends it sooner
        if time.perf_counter() > deadline:
            break
        try:
            if token is None:
                status, _, body = http(url + "/api/join/token", b"{}", FETCH)
                data = json.loads(body or b"{}")
                if status != 200:
                    last = (status, data)
                    time.sleep(1)
                    continue
                token, talk_id = data["token"], int(data["talk"])
            payload = json.dumps({"token": token, "send_id": send_id, "label": drawing.label, "png": drawing.png}).encode()
            status, _, body = http(url + "/api/join/send", payload, FETCH, timeout=60)
            data = json.loads(body or b"{}")
            if status == 200:
                return talk_id, data
            last = (status, data)
            if status == 401:
                token = None
            elif status not in (429, 503):
                break
        except OSError as exc:
            last = ("conn", str(exc))
        time.sleep(1)
    raise RuntimeError(f"warm-up: no answer to a Send within {WARM_UP_SECONDS:.0f} s (last: {last})")


def warm_up(url: str, drawings: list[Drawing], workers: int) -> tuple[int, float, dict, float]:
    """One Send answered (a worker has loaded the models), then 2 × workers at once, so that every
    worker has judged one before the figures start. These digits stay in the talk, left out of
    every figure (their people are not the phones'). Returns (talk id, s to the first answer,
    that answer, s for the rest)."""
    started = time.perf_counter()
    deadline = started + WARM_UP_SECONDS
    talk_id, answer = warm_send(url, drawings[0], deadline)
    first = time.perf_counter() - started
    rest = [gevent.spawn(warm_send, url, drawings[1 + i], deadline) for i in range(2 * max(1, workers))]
    gevent.joinall(rest, timeout=max(1.0, deadline - time.perf_counter()))
    for g in rest:
        g.get(block=False)  # re-raises a warm-up failure; a greenlet still running raises Timeout
    return talk_id, first, answer, time.perf_counter() - started - first


# ── running one scenario with Locust ──────────────────────────────────────────────────────────

@dataclass
class Run:
    phase: Phase
    wall_s: float
    server_cpu: float | None
    client_cpu: float
    env: Environment
    wall: list = field(default_factory=list)
    db: dict | None = None


def client_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_phase(url: str, phase: Phase, server: harness.Server, db: Path | None, talk_id: int | None) -> Run:
    global PHASE
    PHASE = phase
    classes = [Phone] + ([Flooder] if phase.flood_rate else [])
    env = Environment(user_classes=classes, host=url)
    runner = env.create_local_runner()
    wall_proc, wall_out = None, None
    if phase.kind == "steady" and db is not None and talk_id is not None:
        handle, wall_out = tempfile.mkstemp(prefix="hall-wall-", suffix=".json")
        os.close(handle)
        wall_proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("harness.py")), "wall", str(db),
                                      str(talk_id), str(int(phase.seconds)), wall_out],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cpu0, client0 = harness.cpu_seconds(server.pid), client_cpu_seconds()
    phase.t0 = time.perf_counter()
    span = phase.seconds if phase.kind == "steady" else RAMP
    phase.send_until = phase.t0 + span
    phase.hard_end = phase.send_until + GRACE
    users = phase.phones + (1 if phase.flood_rate else 0)
    runner.start(users, spawn_rate=max(1.0, phase.phones / RAMP))
    killer = gevent.spawn(kill_worker, phase) if phase.kill_at is not None else None
    for _ in range(int((phase.hard_end - phase.t0) * 4) + 8):  # bounded: every 0.25 s until the hard end
        now = time.perf_counter()
        if now > phase.hard_end or (phase.started >= phase.phones and phase.done >= phase.phones and now >= phase.send_until
                                    and (not phase.flood_rate or phase.flood_ended)):
            break
        gevent.sleep(0.25)
    for record in phase.sends:
        if record.outcome == "in flight":
            record.outcome = "cut off"
    phase.over = True
    wall_s = time.perf_counter() - phase.t0
    cpu1, client1 = harness.cpu_seconds(server.pid), client_cpu_seconds()
    runner.quit()
    if killer is not None:
        killer.kill()
    wall = []
    if wall_proc is not None:
        try:
            wall_proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            wall_proc.kill()
            wall_proc.wait(5)
        try:
            wall = json.loads(Path(wall_out).read_text())
        except (OSError, ValueError):
            wall = []
        for leftover in (wall_out, wall_out + ".tmp"):
            Path(leftover).unlink(missing_ok=True)
    server_cpu = None if cpu0 is None or cpu1 is None else cpu1 - cpu0
    return Run(phase, wall_s, server_cpu, client1 - client0, env, wall)


def kill_worker(phase: Phase) -> None:
    """At phase.kill_at s: SIGKILL one judging worker; then note when the pool has new workers."""
    gevent.sleep(max(0.0, phase.t0 + phase.kill_at - time.perf_counter()))
    if not phase.server_pid:
        phase.kill = {"error": "no server pid: nothing killed"}
        return
    before = harness.worker_pids(phase.server_pid)
    if not before:
        phase.kill = {"error": "no judging worker found among the server's children: nothing killed"}
        return
    victim = before[0]
    waited_from = time.perf_counter()
    for _ in range(400):  # up to 2 s: kill while a Send is being judged, so the retry path is exercised
        if any(s.outcome == "in flight" for s in phase.sends[-200:]):
            break
        gevent.sleep(0.005)
    at = time.perf_counter()
    in_flight = sum(1 for s in phase.sends if s.outcome == "in flight")
    os.kill(victim, signal.SIGKILL)
    phase.kill = {"pid": victim, "at": at - phase.t0, "workers_before": before, "in_flight": in_flight,
                  "waited": at - waited_from}
    for _ in range(int(GRACE * 4)):  # bounded: watch for the replacement pool for at most GRACE s
        gevent.sleep(0.25)
        now = harness.worker_pids(phase.server_pid)
        fresh = [p for p in now if p not in before]
        if fresh and len(now) >= len(before):
            phase.kill.update(new_workers=fresh, new_after=time.perf_counter() - at)
            break
    answered_after = [s.ended for s in phase.sends if s.outcome == "ok" and s.ended and s.started >= at]
    if answered_after:
        phase.kill["first_new_answer_after"] = min(answered_after) - at


# ── the database, read-only, after a run ──────────────────────────────────────────────────────

def db_max_id(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        return int(conn.execute("SELECT coalesce(max(id), 0) FROM digits").fetchone()[0])


def db_check(db: Path, talk_id: int, after_id: int, phase: Phase) -> dict:
    """The talk's rows added during the phase against what the phones were told."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        rows = conn.execute("SELECT id, person, send_id, label, talk_id FROM digits WHERE id > ?", (after_id,)).fetchall()
        dup_pairs = conn.execute("SELECT count(*) FROM (SELECT 1 FROM digits WHERE send_id IS NOT NULL"
                                 " GROUP BY person, send_id HAVING count(*) > 1)").fetchone()[0]
        dup_ids = conn.execute("SELECT count(*) FROM (SELECT 1 FROM digits WHERE send_id IS NOT NULL AND id > ?"
                               " GROUP BY send_id HAVING count(*) > 1)", (after_id,)).fetchone()[0]
        talk_rows = conn.execute("SELECT count(*) FROM digits WHERE talk_id = ?", (talk_id,)).fetchone()[0]
    finally:
        conn.close()
    ours = {r[0]: r for r in rows if r[1] in phase.tokens}
    acked = [s for s in phase.sends if s.outcome == "ok"]
    acked_ids = {s.digit_id for s in acked}
    mismatched = [s for s in acked if s.digit_id in ours and (ours[s.digit_id][1], ours[s.digit_id][2], ours[s.digit_id][3])
                  != (s.token, s.send_id, s.label)]
    by_send = Counter((s.token, s.send_id) for s in acked)
    ids_per_send: dict = {}
    for s in acked:
        ids_per_send.setdefault((s.token, s.send_id), set()).add(s.digit_id)
    return {
        "rows": len(ours), "acked_ids": len(acked_ids), "acked_sends": len(acked),
        "missing": sorted(acked_ids - set(ours))[:10], "missing_n": len(acked_ids - set(ours)),
        "unacked_n": len(set(ours) - acked_ids),
        "other_rows": len(rows) - len(ours),
        "mismatched": len(mismatched), "dup_pairs": int(dup_pairs), "dup_send_ids": int(dup_ids),
        "send_twice_acked": sum(1 for v in by_send.values() if v > 1),
        "ids_per_send_gt1": sum(1 for v in ids_per_send.values() if len(v) > 1),
        "talk_rows": int(talk_rows),
        "ok": (acked_ids == set(ours) and not mismatched and not dup_pairs and not dup_ids),
    }


# ── reports ───────────────────────────────────────────────────────────────────────────────────

def kb(n: float) -> str:
    return f"{n / 1024:.1f} KB"


def status_text(counter: Counter) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0])))) or "—"


def cores(run: Run) -> str:
    own = f"this client {run.client_cpu:.1f} s = {run.client_cpu / run.wall_s:.2f} cores"
    if run.server_cpu is None:
        return f"server CPU: unknown (no pid); {own}"
    return (f"server CPU (process + judging workers): {run.server_cpu:.1f} s over {run.wall_s:.1f} s = "
            f"{run.server_cpu / run.wall_s:.2f} cores; {own}")


def report_storm(run: Run, refs: dict, page_size: tuple[int, int]) -> dict:
    phase = run.phase
    joins = phase.joins
    ok = [j for j in joins if j.ok]
    pages = [j for j in joins if j.page_status == 200]
    say(f"\n== storm: {phase.phones} phones open /join within {RAMP:.0f} s (spawn rate {phase.phones / RAMP:.0f}/s) ==")
    plain, gz = page_size
    say(f"the page: {plain:,} bytes, {gz:,} as gzip; references that make a browser fetch more: "
        f"{len(refs['requesting'])} ({len(refs['found'])} src/href/url() found"
        + (": " + ", ".join(f"<{t} {a}={v[:30]!r}>" for t, a, v in refs["found"]) if refs["found"] else "")
        + f"); its script fetches {', '.join(refs['script_paths']) or 'nothing'}")
    for t, a, v in refs["requesting"]:
        say(f"  WOULD FETCH: <{t} {a}={v!r}>")
    failures = Counter()
    for j in joins:
        if j.page_status != 200:
            failures[f"page {j.page_status}"] += 1
        elif j.token_status != 200:
            failures[f"token {j.token_status}"] += 1
    say(f"phones that started: {len(joins)} of {phase.phones}; pages served: {len(pages)}; joined (page + token): "
        f"{len(ok)}; failures: {sum(failures.values())} ({status_text(failures)})")
    say(f"responses: {status_text(Counter({f'{k[0]} {k[1]}': v for k, v in phase.statuses.items()}))}")
    say(f"page + token p50 / p95 / max: {spread([j.total_s for j in ok])}  "
        f"(page {spread([j.page_s for j in pages])}; token {spread([j.token_s for j in ok])})")
    tokens_retried = sum(1 for j in joins if j.token_attempts > 1)
    if tokens_retried:
        say(f"token needed more than one request: {tokens_retried} phones")
    wire = [j.page_wire + j.token_wire for j in ok]
    encodings = Counter(j.page_encoding or "identity" for j in pages)
    if wire:
        j = ok[0]
        say(f"bytes per phone received (Accept-Encoding: gzip): {percentile(wire, 50):,.0f} (page {j.page_wire:,} "
            f"with headers, {status_text(encodings)}; token {j.token_wire:,} with headers; the page decoded "
            f"{j.page_plain:,})")
    say(cores(run))
    return {"scenario": f"storm {phase.phones}", "phones": phase.phones, "ok": len(ok), "fail": sum(failures.values()),
            "p50": percentile([j.total_s for j in ok], 50), "p95": percentile([j.total_s for j in ok], 95),
            "max": percentile([j.total_s for j in ok], 100), "bytes": percentile(wire, 50) if wire else None,
            "server_cores": None if run.server_cpu is None else run.server_cpu / run.wall_s}


def report_steady(run: Run, label: str) -> dict:
    phase = run.phase
    sends = phase.sends
    acked = [s for s in sends if s.outcome == "ok"]
    times = [s.seconds for s in acked]
    outcomes = Counter(s.outcome for s in sends)
    retried = [s for s in sends if len(s.statuses) > 1]
    why_again = Counter(str(st) for s in sends for st in s.statuses[:-1])
    joins_ok = sum(1 for j in phase.joins if j.ok)
    first = min((s.started for s in sends), default=phase.t0)
    last = max((s.ended for s in acked), default=first)
    rate = len({s.digit_id for s in acked}) / (last - first) if last > first else float("nan")
    say(f"\n== {label}: {phase.phones} phones × {phase.seconds:.0f} s, a digit every {EVERY:.0f} ± {JITTER:.0f} s"
        + (f", + forged Sends at {phase.flood_rate:.0f}/s" if phase.flood_rate else "")
        + (f", one judging worker killed at {phase.kill_at:.0f} s" if phase.kill_at is not None else "") + " ==")
    say(f"phones joined: {joins_ok} of {phase.phones}"
        + (f" (join failures: {status_text(Counter(str(j.page_status if j.page_status != 200 else j.token_status) for j in phase.joins if not j.ok))})"
           if joins_ok < len(phase.joins) else "")
        + (f"; {phase.token_swaps} phones handed on after {crowd.MAX_DIGITS_PER_PERSON} digits (new token)" if phase.token_swaps else ""))
    say(f"Sends: {len(sends)} started, {len(acked)} acknowledged ({len({s.digit_id for s in acked})} distinct digit ids); "
        f"outcomes: {status_text(outcomes)}")
    say(f"Send → answer p50 / p95 / max: {spread(times)} (first attempt to final answer, retries included)")
    say(f"Sends that needed more than one request: {len(retried)} (what came back before the last: "
        f"{status_text(why_again)}); answers marked retry (first attempt already stored): "
        f"{sum(1 for s in acked if s.retry_answer)}")
    say(f"phone responses by endpoint and status: {status_text(Counter({f'{k[0]} {k[1]}': v for k, v in phase.statuses.items()}))}")
    say(f"digits/s served: {rate:.1f} (distinct acknowledged digits from the first Send to the last answer, "
        f"{last - first:.1f} s); offered: {len(sends) / max(1e-9, phase.seconds):.1f} Sends/s")
    say(cores(run))
    row = {"scenario": label, "phones": phase.phones, "sends": len(sends), "acked": len(acked),
           "p50": percentile(times, 50), "p95": percentile(times, 95), "max": percentile(times, 100),
           "retried": len(retried), "gave_up": outcomes.get("gave up", 0) + outcomes.get("cut off", 0),
           "errors": len(sends) - len(acked), "rate": rate,
           "server_cores": None if run.server_cpu is None else run.server_cpu / run.wall_s}
    if run.wall:
        per = {k: [s[k] for s in run.wall] for k in ("count_s", "latest_s", "scoreboard_s")}
        refresh = [s["count_s"] + s["latest_s"] + s["scoreboard_s"] for s in run.wall]
        say(f"presenter's wall reads, {len(run.wall)} samples once a second (in their own process), p50 / p95 / max: "
            f"count {spread(per['count_s'], 'ms', 1000, 1)}; latest 18 {spread(per['latest_s'], 'ms', 1000, 1)}; "
            f"scoreboard {spread(per['scoreboard_s'], 'ms', 1000, 1)}; one refresh {spread(refresh, 'ms', 1000, 1)} "
            f"({'meets' if percentile(refresh, 95) <= 0.1 else 'MISSES'} the ≤ 100 ms goal; the talk held "
            f"{run.wall[0]['count']} → {run.wall[-1]['count']} digits)")
        row["wall_p95"] = percentile(refresh, 95)
    if run.db is not None:
        d = run.db
        verdict = "OK" if d["ok"] else "FAILED"
        say(f"database cross-check ({verdict}): rows of these phones {d['rows']} = acknowledged distinct digit ids "
            f"{d['acked_ids']}: {'yes' if d['rows'] == d['acked_ids'] and not d['missing_n'] else 'NO'}; acknowledged "
            f"but not stored: {d['missing_n']}{' ' + str(d['missing']) if d['missing_n'] else ''}; stored but never "
            f"acknowledged: {d['unacked_n']}; stored row ≠ the phone's Send (person, send id, label): {d['mismatched']}; "
            f"send id stored twice: {d['dup_pairs']} (person, send id) pairs, {d['dup_send_ids']} send ids; one Send "
            f"answered with two digit ids: {d['ids_per_send_gt1']}"
            + (f"; rows of other people meanwhile: {d['other_rows']}" if d["other_rows"] else ""))
        row["db"] = verdict
    if phase.flood_rate:
        ft = phase.flood_times
        span = (phase.flood_ended or time.perf_counter()) - phase.flood_started
        accepted = phase.flood.get(200, 0)
        say(f"flood: {phase.flood_sent} forged Sends in {span:.1f} s = {phase.flood_sent / max(1e-9, span):.0f}/s "
            f"(asked {phase.flood_rate:.0f}/s); accepted: {accepted} ({'OK' if not accepted else 'FAILED: must be 0'}); "
            f"statuses: {status_text(phase.flood)}; their time p50 / p95 / max {spread(ft, 'ms', 1000, 1)}")
        row["flood_accepted"] = accepted
    if phase.kill_at is not None:
        k = phase.kill
        if "error" in k:
            say(f"kill: {k['error']}")
        else:
            say(f"kill: SIGKILL worker {k['pid']} at {k['at']:.2f} s (workers {k['workers_before']}; {k['in_flight']} "
                f"Sends in flight, as the phones see it, after waiting {k['waited']:.2f} s for one); new workers {k.get('new_workers', 'not seen')}"
                + (f" {k['new_after']:.1f} s later" if "new_after" in k else "")
                + (f"; first answer to a Send started after the kill: {k['first_new_answer_after']:.1f} s later"
                   if "first_new_answer_after" in k else ""))
            around = [s for s in sends if s.started <= phase.t0 + k["at"] + 1 and (s.ended or 1e18) >= phase.t0 + k["at"]]
            say(f"  Sends in flight around the kill: {len(around)}, of which acknowledged {sum(1 for s in around if s.outcome == 'ok')}, "
                f"with a retry {sum(1 for s in around if len(s.statuses) > 1)}, gave up {sum(1 for s in around if s.outcome in ('gave up', 'cut off'))}; "
                f"their Send → answer {spread([s.seconds for s in around if s.outcome == 'ok'])}")
            if run.db is not None:
                say(f"  every acknowledged digit in the database exactly once: {'yes' if run.db['ok'] else 'NO'}")
    return row


def locust_stats(env: Environment) -> None:
    rows = []
    for entry in sorted(env.stats.entries.values(), key=lambda e: e.name):
        if not entry.num_requests:
            continue
        rows.append([entry.name, entry.num_requests, entry.num_failures, f"{entry.get_response_time_percentile(0.5):.0f}",
                     f"{entry.get_response_time_percentile(0.95):.0f}", f"{entry.max_response_time:.0f}",
                     f"{entry.avg_content_length:,.0f}"])
    say(table(["Locust: request", "n", "fail", "p50 ms", "p95 ms", "max ms", "avg bytes"], rows))
    errors = sorted(env.stats.errors.values(), key=lambda e: -e.occurrences)[:8]
    for e in errors:
        say(f"  {e.occurrences:6d} × {e.method} {e.name}: {str(e.error)[:100]}")


def final_table(rows: list[dict]) -> None:
    def f(v, fmt):
        return "—" if v is None or (isinstance(v, float) and v != v) else format(v, fmt)

    out = []
    for r in rows:
        if r["scenario"].startswith("storm"):
            out.append([r["scenario"], r["phones"], f"{r['ok']} joined", r["fail"], f(r["p50"], ".3f"), f(r["p95"], ".3f"),
                        f(r["max"], ".3f"), "—", "—", f(r["server_cores"], ".2f"), "—",
                        f"{f(r['bytes'], ',.0f')} B/phone"])
        else:
            extra = []
            if "flood_accepted" in r:
                extra.append(f"forged accepted {r['flood_accepted']}")
            if "db" in r:
                extra.append(f"db {r['db']}")
            out.append([r["scenario"], r["phones"], f"{r['acked']}/{r['sends']}", r["errors"], f(r["p50"], ".3f"),
                        f(r["p95"], ".3f"), f(r["max"], ".3f"), f"{r['retried']}/{r['gave_up']}", f(r["rate"], ".1f"),
                        f(r["server_cores"], ".2f"), f(r.get("wall_p95"), ".4f"), "; ".join(extra) or "—"])
    say("\n" + table(["scenario", "phones", "ok", "errors", "p50 s", "p95 s", "max s", "retried/gave up", "digits/s",
                      "server cores", "wall p95 s", "checks"], out, title="== summary =="))


# ── main ──────────────────────────────────────────────────────────────────────────────────────

STARTED: list[harness.Server] = []


def hard_deadline(signum, frame) -> None:
    say("\nHARD DEADLINE reached: stopping everything this benchmark started.")
    for server in STARTED:
        harness.kill_now(server)
    os._exit(2)


def budget(args) -> float:
    seconds = 60 + WARM_UP_SECONDS + harness.HEALTH_SECONDS + 60
    if args.storm is not None:
        seconds += RAMP + GRACE + 30
    if args.steady is not None:
        seconds += (args.seconds + GRACE + 30) * (2 if args.compare else 1)
    return seconds


def main(args) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGALRM, hard_deadline)
    signal.alarm(int(budget(args)))
    say(f"hall_load: hard deadline in {budget(args):.0f} s")
    t = time.perf_counter()
    drawings, skipped = render_drawings(args.digits)
    say(f"drawings: {len(drawings)} distinct MNIST test digits redrawn on a {audience.SEND_CANVAS} px canvas in "
        f"{time.perf_counter() - t:.1f} s ({skipped} skipped as no digit); PNG data URLs "
        f"{spread([len(d.png) for d in drawings], 'bytes', 1, 0)}")
    server = None
    try:
        if args.host:
            url = args.host.rstrip("/")
            try:
                healthy = http(url + "/_stcore/health", timeout=5)[2] == b"ok"
            except OSError:
                healthy = False
            if not healthy:
                say(f"--host {url}: /_stcore/health does not answer ok")
                return 2
            port = urllib.parse.urlsplit(url).port or 80
            pid = args.pid or harness.listening_pid(port)
            server = harness.Server(url, pid or 0, Path(args.db) if args.db else None)
            say(f"server: {url} (pid {pid or 'unknown'}; database {args.db or 'not given: no database checks, no wall timing'})")
        else:
            try:
                server = harness.start_talk_server()
            except RuntimeError as exc:
                say(str(exc))
                return 2
            STARTED.append(server)
            say(f"server: {server.url} (pid {server.pid}, talk mode, database {server.db}); health in {server.started_in:.1f} s")
        url, db = server.url, server.db
        workers = harness.worker_pids(server.pid) if server.pid else []
        try:
            talk_id, warm_s, answer, rest_s = warm_up(url, drawings, len(workers) or os.cpu_count() or 2)
        except (RuntimeError, gevent.Timeout) as exc:
            say(f"warm-up failed (is the server in talk mode?): {exc}")
            return 2
        say(f"warm-up: one digit answered in {warm_s:.1f} s (talk {talk_id}; ANN read {answer['answers']['ann']['digit']}, "
            f"CNN {answer['answers']['cnn']['digit']}, label {answer['label']}), {2 * max(1, len(workers) or os.cpu_count() or 2)} "
            f"more at once in {rest_s:.2f} s; judging workers {harness.worker_pids(server.pid) if server.pid else 'unknown'}")
        fresh, kept = harness.kept_alive_delay(url)
        say(f"server's response time on a fresh connection {fresh * 1000:.1f} ms, on a kept-alive one {kept * 1000:.1f} ms"
            + (" (the server's sockets lack TCP_NODELAY: later responses on a connection wait for the client's "
               "delayed ACK; see _no_delay in this file)" if kept - fresh > 0.02 else ""))
        rows = []
        failed = False
        if args.storm is not None:
            status, headers, raw = http(url + "/join", headers=BROWSER)
            plain = raw
            if headers.get("content-encoding", headers.get("Content-Encoding", "")) == "gzip":
                import gzip
                plain = gzip.decompress(raw)
            refs = page_references(plain.decode("utf-8", errors="replace"))
            run = run_phase(url, Phase("storm", "storm", args.storm, drawings=drawings, server_pid=server.pid), server, None, None)
            rows.append(report_storm(run, refs, (len(plain), len(raw))))
            failed |= bool(refs["requesting"])
            if not args.no_locust_stats:
                locust_stats(run.env)
        if args.steady is not None:
            plans = []
            if args.compare:
                plans.append(("steady alone", 0.0, None))
            label = "steady" + (" + flood" if args.flood else "") + (" + kill" if args.kill_worker_at is not None else "")
            plans.append((label, args.flood_rate if args.flood else 0.0, args.kill_worker_at))
            for label, flood_rate, kill_at in plans:
                before = db_max_id(db) if db else None
                phase = Phase(label, "steady", args.steady, seconds=args.seconds, drawings=drawings,
                              flood_rate=flood_rate, kill_at=kill_at, server_pid=server.pid)
                run = run_phase(url, phase, server, db, talk_id)
                if db:
                    run.db = db_check(db, talk_id, before, phase)
                    failed |= not run.db["ok"]
                rows.append(report_steady(run, label))
                failed |= bool(phase.flood.get(200))
                if not args.no_locust_stats:
                    locust_stats(run.env)
                if len(plans) > 1 and label == "steady alone":
                    gevent.sleep(2)
            if args.compare:
                alone, flooded = rows[-2], rows[-1]
                say(f"\nsteady phones' Send → answer p95: {alone['p95']:.3f} s alone, {flooded['p95']:.3f} s with "
                    f"{args.flood_rate:.0f} forged Sends/s (p50 {alone['p50']:.3f} → {flooded['p50']:.3f} s)")
        final_table(rows)
        if failed:
            say("\nA CHECK FAILED (see above).")
        return 1 if failed else 0
    finally:
        if server is not None and server.process is not None:
            harness.stop_server(server)
        signal.alarm(0)


if __name__ == "__main__":
    sys.exit(main(ARGS))
