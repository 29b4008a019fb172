"""The phones of benchmarks/hall_load.py on talk mode's plain-HTTP audience path, as Locust users
(FastHttpUser): a `Phone` joins (GET /join, POST /api/join/token) and in a steady phase sends a
digit every 5 ± 1 s as audience/join.html does, retrying a busy or unanswered Send with the same
send id; the `Flooder` sends forged-token Sends at a fixed rate. `warm_up` makes sure every judging
worker has answered before the figures start. Imported only after Locust has patched the standard
library for gevent (hall_load.py does that first)."""

from __future__ import annotations

import json
import random
import secrets
import sys
import time

import gevent
import gevent.pool
from canvas_digits import Drawing
from hall_phase import (
    AFTER_ANSWER,
    ATTEMPTS,
    BROWSER,
    EVERY,
    FETCH,
    GRACE,
    JITTER,
    MAX_SECONDS,
    RAMP,
    SEED,
    TIMEOUT,
    TOKEN_CHARS,
    WARM_UP_SECONDS,
    Join,
    Phase,
    SendRecord,
)
from harness import ROOT, http_request
from locust import FastHttpUser, constant, task
from locust.exception import StopUser

sys.path.insert(0, str(ROOT))
from mnist_core.talk import crowd  # noqa: E402

PHASE: Phase | None = None  # the phase running now (one at a time): hall_load.run_phase sets it


def forged_token(rng: random.Random) -> str:
    return "".join(rng.choice(TOKEN_CHARS) for _ in range(44))


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



# ── the warm-up, from the main greenlet ───────────────────────────────────────────────────────

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
                status, _, body = http_request(url + "/api/join/token", b"{}", FETCH)
                data = json.loads(body or b"{}")
                if status != 200:
                    last = (status, data)
                    time.sleep(1)
                    continue
                token, talk_id = data["token"], int(data["talk"])
            payload = json.dumps({"token": token, "send_id": send_id, "label": drawing.label, "png": drawing.png}).encode()
            status, _, body = http_request(url + "/api/join/send", payload, FETCH, timeout=60)
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
