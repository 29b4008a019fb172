"""One scenario of benchmarks/hall_load.py, as data: the hall's pace and bounds, what its phones
record (their joins and Sends, the forged ones), and afterwards the database's side of it, read-only.
Nothing here imports Locust, gevent or the network (hall_load.py imports it before Locust patches
the standard library)."""

from __future__ import annotations

import itertools
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

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
    replica_kill_at: float | None = None                 # hall_balancer's incidents, planned …
    postgres_restart_at: float | None = None
    postgres_down: float = 5.0
    incidents: dict = field(default_factory=dict)        # … and what happened: "replica", "postgres" → figures
    statuses: Counter = field(default_factory=Counter)  # every phone response: (endpoint, status)


PHASE: Phase | None = None  # the scenario running now (one at a time)


@dataclass
class Run:
    """A phase as it ran: its records, how long, what CPU the server and this client spent."""
    phase: Phase
    wall_s: float
    server_cpu: float | None
    client_cpu: float
    env: object                     # the Locust Environment: its own stats
    wall: list = field(default_factory=list)
    db: dict | None = None


# ── the database, read-only, after a run ──────────────────────────────────────────────────────

def _query(db, sql: str, params: tuple = ()) -> list[tuple]:
    """Rows read past the store: a read-only SQLite connection, or psycopg for a postgresql:// URL."""
    if str(db).startswith(("postgresql://", "postgres://")):
        import psycopg

        with psycopg.connect(str(db), connect_timeout=10) as conn:
            return conn.execute(sql.replace("?", "%s"), params).fetchall()
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def db_max_id(db) -> int:
    return int(_query(db, "SELECT coalesce(max(id), 0) FROM digits")[0][0])


def db_check(db, talk_id: int, after_id: int, phase: Phase) -> dict:
    """The talk's rows added during the phase against what the phones were told."""
    rows = _query(db, "SELECT id, person, send_id, label, talk_id FROM digits WHERE id > ?", (after_id,))
    dup_pairs = _query(db, "SELECT count(*) FROM (SELECT 1 FROM digits WHERE send_id IS NOT NULL"
                           " GROUP BY person, send_id HAVING count(*) > 1) AS twice")[0][0]
    dup_ids = _query(db, "SELECT count(*) FROM (SELECT 1 FROM digits WHERE send_id IS NOT NULL AND id > ?"
                         " GROUP BY send_id HAVING count(*) > 1) AS twice", (after_id,))[0][0]
    talk_rows = _query(db, "SELECT count(*) FROM digits WHERE talk_id = ?", (talk_id,))[0][0]
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

