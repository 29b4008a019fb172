"""A room of phones sending digits to the Talk page: N Join sessions and one presenter, over
Streamlit's own websocket protocol, no browsers.

The scenario (talk mode): N phones, each sending a digit every 5 s for two minutes, while the
presenter's Talk page refreshes its wall by itself. What it measures:

- Send → answer: from pressing Send until the run that answers has finished and shows
  "Your **N** is on the big screen" (the `st.success`) and both model lines, N being the digit
  sent (median, p95, max); answers per second; errors by kind (a rate-limit or "not a digit"
  message, an `st.error`, an exception, a run without an answer, a run over 30 s, a dropped
  connection); how many answers the ANN and the CNN got right (the label is the digit the page
  prompted, which the phone draws).
- New tile on the wall: for each acknowledged digit, the time from the phone's answer to the first
  refresh of the Talk page's wall (its fragment, `run_every` 1.5 s) whose "Digits received" count
  includes that digit (median, p95, max). A digit's place in that count is its rank by id among
  the talk's rows, read from the database at the end; each answer is matched to its row by the
  phone's token and the server's commit time, which lies between the phone's Send and its answer
  (same machine, same clock). A refresh that ran between the commit and the phone's answer shows
  the digit before the phone knows: that latency is negative, and the report counts such digits.
  As a cross-check it also reports when each digit's own tile (its Hide button) was first shown.
- Rows in the database (read-only, sqlite3): the `digits` rows of the talk sent by the phones must
  equal the answers the phones received (a digit is stored before its phone is told).
- The wall's and the scoreboard's refreshes (how often, how long a run took), the server's RSS
  before and after, the CPU seconds of the server process and of this client.

Each phone plays one person: it opens the app at /join?p=TOKEN (a token of its own, kept for the
whole run, as the page keeps it in the address bar), then, every `--every` s: reads the digit the
page asks for ("Draw a **N**"), takes the next MNIST test digit with that label, redrawn as pen
strokes on the page's 340×340 canvas (leaving out the few redrawings the page would refuse as no
digit, about 1 in 750), sends the canvas's value (one stroke ends: the browser reruns the page, as
it does for every stroke), 1 s later presses Send, and waits for the answer.
It never sends sooner than 3 s after its last answer (the server's limit is 3 s between digits
and 30 digits per person per talk; 5 s × 120 s is 24). Phones start spread over the first
interval. A slow answer is counted, never abandoned; a dropped connection is counted and the phone
reconnects with the same token. After the time is up, answers in flight get 60 s.

The presenter opens /talk?key=KEY (the key makes the session the presenter's; the page removes it
from the address bar) and follows the page's two fragments as the browser does: it asks for a
rerun of each (`fragment_id`, `is_auto_rerun`) every `run_every` seconds. It keeps watching after
the phones stop until the wall counts every acknowledged digit (at most 10 s). Like a browser with
an empty cache it sends no `cached_message_hashes`; unlike a browser it fetches no images.

Before measuring, a warm-up opens the Talk page once and sends one digit from a phone of its own
(so a fresh server's first loads, the models included, stay out of the figures); that digit stays
in the talk and is left out of the comparisons (it is not one of the phones' tokens).

    .venv/bin/python benchmarks/talk_load.py                          # 30 phones, every 5 s, 120 s, own server
    .venv/bin/python benchmarks/talk_load.py --phones 3 --seconds 20
    .venv/bin/python benchmarks/talk_load.py --url http://127.0.0.1:8501 --pid 1234 \\
        --key KEY --db ~/.local/share/mnist-ann-vs-cnn/crowd.sqlite3      # a running talk server

Without --url it starts its own server (`streamlit run streamlit_app.py` on a free loopback port)
with MNIST_TALK_KEY set to a fresh random key and MNIST_CROWD_DB to a new SQLite file in a
temporary folder, and always stops the server and deletes that folder. With --url, the server
must be in talk mode on this machine: --key is its MNIST_TALK_KEY and --db its MNIST_CROWD_DB
(the digits go into its current talk). Only loopback URLs are accepted; at most 100 phones and
600 s. It prints figures and asserts nothing; it exits non-zero only when it cannot set up (no
server, a wrong key, a page that does not show what it expects in the warm-up).

The protocol helpers (Session, Run, digit rendering, server start and stop, RSS and CPU readings)
are audience_load.py's; see its docstring for the exchange.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import shutil
import signal
import sqlite3
import json
import statistics
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from websockets.exceptions import ConnectionClosed, InvalidHandshake

from audience_load import (CANVAS_COMPONENT, GRACE, LOOPBACK, POOL_LIMIT, SLOW, AppMismatch, Digit, LevelOver,
                           Run, Session, SessionStats, cpu_seconds, mb_text, percentile, render_digits, rss_mb, seconds_text,
                           server_answers, start_server, stop_server, visit)
from mnist_core import crowd, preprocess, talk  # audience_load put the project on sys.path
from streamlit.proto.WidgetStates_pb2 import WidgetState

MAX_PHONES, MAX_SECONDS = 100, 600
JOIN_CANVAS = 340        # px: app_pages/join.py's CANVAS_SIZE
STROKE_LEAD = 1.0        # s: the drawing's own rerun (the stroke ends) comes this long before Send
MIN_GAP = crowd.MIN_SECONDS_BETWEEN_DIGITS  # s: never send sooner than this after the last answer
SETTLE = 10.0            # s: after the phones stop, the wall gets this long to count every answer
COUNT_LABEL = "Digits received"
ALERT_WARNING, ALERT_INFO, ALERT_SUCCESS = 2, 3, 4  # streamlit.proto Alert.Format (ERROR, 1, is Run.error_alerts)

PROMPT = re.compile(r"Draw a \*\*(\d)\*\*")
ANSWER = re.compile(r"Your \*\*(\d)\*\* is on the big screen")
VERDICT = re.compile(r">(ANN|CNN)</span> read it as <b>(\d)</b>")
TILE = re.compile(r"hide-(\d+)$")  # a wall tile's Hide button: its key (the element id's end) names the digit
RATE_LIMIT = ("You can send another digit", "the most for one talk")

ERROR_KINDS = {  # kind → how the report names it (phones, then the presenter's page)
    "rate_limited": "rate-limit message", "not_a_digit": "'not a digit' message", "error_alert": "error shown",
    "exception": "exception shown", "lost": "run without an answer", "slow": f"answer over {SLOW:.0f} s",
    "unopened": f"Join page not opened in {SLOW:.0f} s", "disconnect": "disconnect or refused connection",
    "client": "client error",
    "wall_exception": "Talk page: exception shown", "wall_error": "Talk page: error shown",
    "wall_disconnect": "Talk page: disconnect", "wall_client": "Talk page: client error",
}
SHORT_KIND = {"rate_limited": "rate", "not_a_digit": "not digit", "error_alert": "err", "exception": "exc",
              "lost": "lost", "slow": ">30 s", "unopened": "no page", "disconnect": "disc", "client": "client",
              "wall_exception": "talk exc", "wall_error": "talk err", "wall_disconnect": "talk disc",
              "wall_client": "talk client"}


# ── what a run of the Join or Talk page showed ────────────────────────────────────────────────

@dataclass
class TalkRun(Run):
    """audience_load's Run, plus what the Join and Talk pages show besides widgets and metrics."""
    started_at: float = 0.0
    prompt: int | None = None                              # "Draw a **N**"
    answered: int | None = None                            # "Your **N** is on the big screen"
    alerts: list = field(default_factory=list)             # (format, body) of every st.info/warning/success/error
    verdicts: dict = field(default_factory=dict)           # "ANN"/"CNN" → the digit it read
    tiles: set = field(default_factory=set)                # digit ids of the wall's tiles (their Hide buttons)

    def add(self, delta) -> None:
        super().add(delta)
        if delta.WhichOneof("type") != "new_element":
            return
        element = delta.new_element
        kind = element.WhichOneof("type")
        if kind == "heading" and (match := PROMPT.search(element.heading.body)):
            self.prompt = int(match.group(1))
        elif kind == "alert":
            self.alerts.append((element.alert.format, element.alert.body[:300]))
            if element.alert.format == ALERT_SUCCESS and (match := ANSWER.search(element.alert.body)):
                self.answered = int(match.group(1))
        elif kind == "markdown":
            self.verdicts.update((family, int(digit)) for family, digit in VERDICT.findall(element.markdown.body))
        elif kind == "button" and (match := TILE.search(element.button.id)):
            self.tiles.add(int(match.group(1)))


class TalkSession(Session):
    """A tab whose runs are read as TalkRuns."""

    def handle(self, msg):
        finished = super().handle(msg)
        if msg.WhichOneof("type") == "new_session":
            self.current = TalkRun(fragment=self.current.fragment, started_at=time.perf_counter())
        return finished

    async def open_at(self, path: str, query: str, until: float) -> TalkRun:
        """A fresh tab at /path?query, as a browser opening that address (a deep link)."""
        self.path, self.query_string = path, query
        await self.rerun()
        run = await self.wait_run(until)
        if self.pages.get(path) != self.page_hash:
            raise AppMismatch(f"/{path} did not open its page (the navigation has {sorted(self.pages)})")
        return run


# ── the level ─────────────────────────────────────────────────────────────────────────────────

@dataclass
class Level:
    url: str
    key: str
    phones: int
    every: float
    seconds: float
    by_label: dict               # label → the pool's digits of that label
    per_phone: int               # digits each phone may send: phones start apart in each label's list
    start: float = 0.0
    deadline: float = 0.0        # no Send after this
    hard_end: float = 0.0        # nothing waits past this
    phones_done: float | None = None


@dataclass
class Answer:
    phone: int
    token: str
    label: int
    sent: float           # perf_counter at Send
    acked: float          # perf_counter when the answering run finished
    sent_wall: float      # time.time() at Send and at the answer, to find the row the server committed
    acked_wall: float


@dataclass
class Stats(SessionStats):
    sent: int = 0
    thick_tips: int = 0  # answers that came with the tip to draw bigger (not an error: the digit was judged)
    answers: list = field(default_factory=list)


@dataclass
class Wall:
    """What the presenter's Talk page showed."""
    opened: float | None = None               # s to open the Talk page
    baseline: int | None = None               # "Digits received" when it opened
    key_left: bool = False                    # the key still in the address bar after the first run
    refreshes: list = field(default_factory=list)   # (finished_at, count, tile ids, run s) per wall run
    score_runs: list = field(default_factory=list)  # run s of each scoreboard fragment run
    full_runs: int = 0


def refused(digit: Digit) -> bool:
    """Whether the Join page would refuse this drawing as no digit (blank, dot, flood): a person
    would not send it, so the pool leaves it out (about 1 redrawn MNIST digit in 750 is a flood)."""
    rgba = crowd.canvas_png_to_rgba(json.loads(digit.canvas_json)["drawing"]["data"], expected_size=None)
    return preprocess.drawing_problem(preprocess.preprocess_steps(rgba)) is not None


def pick(level: Level, n: int, label: int, drawn: int) -> Digit:
    digits = level.by_label[label]
    return digits[(n * level.per_phone + drawn) % len(digits)]


async def phone(n: int, level: Level, stats: Stats, token: str) -> None:
    """Phone n: open /join, then every `every` s draw the prompted digit and Send it."""
    next_send, drawn = level.start + level.every * n / level.phones, 0  # phones start spread over one beat
    await asyncio.sleep(max(0.0, next_send - time.perf_counter()))

    async def send_on_the_beat(session: TalkSession, page: TalkRun) -> None:
        nonlocal next_send, drawn
        while next_send < level.deadline:
            await asyncio.sleep(max(0.0, next_send - STROKE_LEAD - time.perf_counter()))
            if page.prompt is None:
                raise AppMismatch("the Join page shows no 'Draw a **N**' prompt")
            digit = pick(level, n, page.prompt, drawn)
            drawn += 1
            page = await draw(session, page, digit, level)
            await asyncio.sleep(max(0.0, next_send - time.perf_counter()))
            page = await send(session, page, digit, level, stats, n, token)
            # On a fixed beat (a late Send does not push the next ones back), never within MIN_GAP of an answer.
            next_send = max(next_send + level.every, time.perf_counter() + MIN_GAP)

    while time.perf_counter() < level.deadline:  # until no digit is due before the end
        if await visit(lambda: TalkSession.open(level.url),
                       lambda s: s.open_at("join", f"p={token}", level.hard_end), send_on_the_beat, stats):
            return


async def draw(session: TalkSession, page: TalkRun, digit: Digit, level: Level) -> TalkRun:
    """The stroke ends: the canvas sends its value and the page reruns (nothing is sent yet)."""
    canvas = page.widget("bidi_component", CANVAS_COMPONENT)
    if "join-canvas" not in canvas:
        raise AppMismatch(f"the canvas's id {canvas!r} does not hold the key join-canvas-…")
    session.states[canvas] = WidgetState(id=canvas, json_value=digit.canvas_json)
    await session.rerun()
    return await session.wait_run(level.hard_end)


async def send(session: TalkSession, page: TalkRun, digit: Digit, level: Level, stats: Stats,
               n: int, token: str) -> TalkRun:
    """Press Send; judge the answer. The page as the answer left it."""
    button = page.widget("button", "Send")
    sent, sent_wall = time.perf_counter(), time.time()
    stats.sent += 1
    await session.rerun(press=button)
    run = await session.wait_run(level.hard_end)
    latency = run.finished_at - sent
    infos = [body for form, body in run.alerts if form in (ALERT_INFO, ALERT_WARNING)]
    tips = [body for body in infos if body == preprocess.HEAVY_MESSAGE_FIXED_PEN]
    stats.thick_tips += bool(tips)
    infos = [body for body in infos if body not in tips]
    # One outcome per digit, the worst first.
    if run.exceptions or run.status == "FINISHED_WITH_COMPILE_ERROR":
        stats.error("exception", (run.exceptions or [run.status])[0])
    elif run.error_alerts:
        stats.error("error_alert", run.error_alerts[0])
    elif any(part in body for body in infos for part in RATE_LIMIT):
        stats.error("rate_limited", next(b for b in infos if any(p in b for p in RATE_LIMIT)))
    elif infos:
        stats.error("not_a_digit", infos[0])
    elif run.answered != digit.label or set(run.verdicts) != {"ANN", "CNN"}:
        stats.error("lost", f"answer {run.answered!r} for a {digit.label}, lines {run.verdicts}, {run.status}")
    elif latency > SLOW:
        stats.error("slow", f"{latency:.1f} s")
    if run.answered == digit.label:  # acknowledged, however slow: the phone was told it arrived
        stats.answers.append(Answer(n, token, digit.label, sent, run.finished_at, sent_wall, time.time()))
        for family, read in run.verdicts.items():
            stats.right[family] += read == digit.label
    return run


async def presenter(level: Level, wall: Wall, stats: Stats, opened: asyncio.Event) -> None:
    """The Talk page on the projector: open it with the key, then follow its fragments until the
    phones are done and the wall counts every answer (or SETTLE s have passed)."""
    expected = None
    while True:
        try:
            session = await TalkSession.open(level.url)
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            stats.error("wall_disconnect", f"connect: {exc!r}")
            if not opened.is_set():
                raise
            await asyncio.sleep(1.0)
            continue
        try:
            started = time.perf_counter()
            page = await session.open_at(talk.TALK_PATH, urllib.parse.urlencode({"key": level.key}), level.hard_end)
            if COUNT_LABEL not in page.metrics:
                raise AppMismatch(f"the Talk page shows no {COUNT_LABEL!r} metric (a wrong key?); "
                                  f"metrics {sorted(page.metrics)}, alerts {page.alerts[:2]}")
            if not opened.is_set():
                wall.opened, wall.baseline = time.perf_counter() - started, count_of(page)
                wall.key_left = "key" in urllib.parse.parse_qs(session.query_string)
                opened.set()
            note(page, wall, stats)
            while True:
                if level.phones_done is not None:
                    if expected is None:
                        expected = wall.baseline + len(stats.answers)
                    last = wall.refreshes[-1][1] if wall.refreshes else -1
                    if last >= expected or time.perf_counter() > level.phones_done + SETTLE:
                        return
                try:
                    run = await session.receive(min(level.hard_end, time.perf_counter() + 1.0))
                except LevelOver:
                    if time.perf_counter() >= level.hard_end:
                        return
                    continue
                if run is not None:
                    note(run, wall, stats)
        except ConnectionClosed as exc:
            stats.error("wall_disconnect", repr(exc))
        finally:
            stats.odd.update(session.odd)
            await session.close()


def count_of(run: Run) -> int:
    return int(run.metrics[COUNT_LABEL].replace(",", ""))


def note(run: TalkRun, wall: Wall, stats: Stats) -> None:
    if run.exceptions:
        stats.error("wall_exception", run.exceptions[0])
    if run.error_alerts:
        stats.error("wall_error", run.error_alerts[0])
    took = run.finished_at - run.started_at
    if not run.fragment:
        wall.full_runs += 1
    if COUNT_LABEL in run.metrics:
        wall.refreshes.append((run.finished_at, count_of(run), frozenset(run.tiles), took))
    elif run.fragment:
        wall.score_runs.append(took)


@dataclass
class Result:
    phones: int
    every: float
    seconds: float                 # from the level's start until the last phone stopped
    start: float                   # perf_counter at the level's start
    stats: Stats
    wall: Wall
    db: dict
    tile_latency: list             # s from each answer to the first wall refresh that counts it
    early: int                     # answers whose digit was counted on the wall before the answer came
    never: int                     # answers whose digit no wall refresh counted
    unmatched: int                 # answers without a row in the database (by token and commit time)
    tile_seen: list                # s from each answer to the first refresh that showed its tile
    rss: tuple
    server_cpu: tuple | None
    client_cpu: float
    cut_off: int


async def run_level(url: str, key: str, db_path: Path, pid: int | None, args: argparse.Namespace,
                    by_label: dict, per_phone: int) -> Result:
    stats, wall = Stats(), Wall()
    level = Level(url, key, args.phones, args.every, args.seconds, by_label, per_phone)
    tokens = [crowd.new_person_token() for _ in range(args.phones)]
    rss_before, cpu_before, client_before = rss_mb(pid), cpu_seconds(pid), time.process_time()
    opened = asyncio.Event()
    level.hard_end = time.perf_counter() + SLOW + args.seconds + GRACE  # until the Talk page has opened
    watcher = asyncio.create_task(presenter(level, wall, stats, opened))
    await asyncio.wait([watcher, asyncio.create_task(opened.wait())], return_when=asyncio.FIRST_COMPLETED)
    if not opened.is_set():
        watcher.result()  # raises what kept the Talk page from opening: a setup failure
        raise AppMismatch("the Talk page never opened")
    level.start = time.perf_counter()
    level.deadline, level.hard_end = level.start + args.seconds, level.start + args.seconds + GRACE
    phones = [asyncio.create_task(phone(n, level, stats, tokens[n])) for n in range(args.phones)]
    done, late = await asyncio.wait(phones, timeout=args.seconds + GRACE + 10)
    level.phones_done = time.perf_counter()
    elapsed = level.phones_done - level.start
    for task in late:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
    for task in done:
        if task.exception() is not None:
            stats.error("client", repr(task.exception())[:300])
    more_done, more_late = await asyncio.wait([watcher], timeout=SETTLE + 15)
    for task in more_late:
        task.cancel()
        stats.error("wall_client", "the Talk page's session did not stop")
    await asyncio.gather(*more_late, return_exceptions=True)
    if watcher in more_done and watcher.exception() is not None:
        stats.error("wall_client", repr(watcher.exception())[:300])
    cpu_after = cpu_seconds(pid)
    server_cpu = tuple(a - b for a, b in zip(cpu_after, cpu_before)) if cpu_before and cpu_after else None
    rss_after = rss_mb(pid)
    db = read_db(db_path, tokens)
    latency, early, never, unmatched, seen = tile_latencies(stats.answers, db, wall)
    return Result(args.phones, args.every, elapsed, level.start, stats, wall, db, latency, early, never, unmatched, seen,
                  (rss_before, rss_after), server_cpu, time.process_time() - client_before, len(late))


def read_db(path: Path, tokens: list[str]) -> dict:
    """The current talk's rows (read-only): (id, person, created, hidden), oldest first."""
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    try:
        talk_id = connection.execute("SELECT max(id) FROM talks").fetchone()[0]
        rows = connection.execute("SELECT id, person, created, hidden FROM digits WHERE talk_id = ? ORDER BY id",
                                  (talk_id,)).fetchall()
    finally:
        connection.close()
    mine = set(tokens)
    return {"talk": talk_id, "rows": rows, "phones_rows": sum(person in mine for _, person, _, _ in rows),
            "hidden": sum(hidden for *_, hidden in rows)}


def tile_latencies(answers: list[Answer], db: dict, wall: Wall):
    """For each answer: its row (the phone's row committed between its Send and its answer), that
    row's place in the wall's count, and the first wall refresh counting it (and showing its tile)."""
    rank, by_person = {}, {}
    visible = 0
    for digit_id, person, created, hidden in db["rows"]:
        if not hidden:
            visible += 1
            rank[digit_id] = visible
        by_person.setdefault(person, []).append((created, digit_id))
    latency, seen, early, never, unmatched = [], [], 0, 0, 0
    for answer in answers:
        row = next((digit_id for created, digit_id in by_person.get(answer.token, [])
                    if answer.sent_wall - 0.05 <= created <= answer.acked_wall + 0.05), None)
        if row is None or row not in rank:
            unmatched += 1
            continue
        counted = next((at for at, count, _, _ in wall.refreshes if count >= rank[row]), None)
        if counted is None:
            never += 1
            continue
        latency.append(counted - answer.acked)
        early += counted < answer.acked
        shown = next((at for at, _, tiles, _ in wall.refreshes if row in tiles), None)
        if shown is not None:
            seen.append(shown - answer.acked)
    return latency, early, never, unmatched, seen


# ── warm-up ───────────────────────────────────────────────────────────────────────────────────

async def warm_up(url: str, key: str, by_label: dict, token: str) -> str:
    """Open the Talk page once and send one digit as `token`, so first loads stay out of the figures.
    Raises AppMismatch (a setup failure) when either page does not do what the benchmark needs."""
    until = time.perf_counter() + 120
    presenter_tab, phone_tab = await TalkSession.open(url), await TalkSession.open(url)
    try:
        started = time.perf_counter()
        talk_page = await presenter_tab.open_at(talk.TALK_PATH, urllib.parse.urlencode({"key": key}), until)
        if COUNT_LABEL not in talk_page.metrics:
            raise AppMismatch(f"the Talk page with the key shows no {COUNT_LABEL!r} metric: is --key the server's "
                              f"MNIST_TALK_KEY, and is the server in talk mode? (shown: alerts "
                              f"{talk_page.alerts[:2]}, errors {talk_page.error_alerts[:2]}, "
                              f"exceptions {talk_page.exceptions[:1]})")
        talk_opened = time.perf_counter() - started
        started = time.perf_counter()
        page = await phone_tab.open_at("join", f"p={token}", until)
        join_opened = time.perf_counter() - started
        if page.prompt is None:
            raise AppMismatch(f"the Join page shows no 'Draw a **N**' prompt (exceptions {page.exceptions[:1]})")
        stats, level = Stats(), Level(url, key, 1, 5, 0, by_label, 1, hard_end=until)
        digit = by_label[page.prompt][-1]
        page = await draw(phone_tab, page, digit, level)
        await send(phone_tab, page, digit, level, stats, -1, token)
        if not stats.answers:
            raise AppMismatch(f"the warm-up digit got no answer: {dict(stats.errors)} {stats.examples}")
        answer = stats.answers[0]
    finally:
        await presenter_tab.close()
        await phone_tab.close()
    return (f"warm-up: Talk page opened in {talk_opened:.1f} s, Join page in {join_opened:.1f} s, "
            f"first Send answered in {answer.acked - answer.sent:.2f} s")


# ── report ────────────────────────────────────────────────────────────────────────────────────

def spread(values: list[float]) -> str:
    if not values:
        return "–"
    return (f"median {seconds_text(percentile(values, 50))}, p95 {seconds_text(percentile(values, 95))}, "
            f"max {seconds_text(max(values))}")


def print_result(r: Result) -> None:
    s, w = r.stats, r.wall
    answered = len(s.answers)
    latencies = [a.acked - a.sent for a in s.answers]
    print(f"\n── {r.phones} phone(s), a digit every {r.every:g} s, {r.seconds:.1f} s ──")
    if s.open_times:
        print(f"  Join page opened {len(s.open_times)} time(s): median {statistics.median(s.open_times):.2f} s, "
              f"max {max(s.open_times):.2f} s")
    print(f"  digits: {s.sent} sent, {answered} answered = {answered / r.seconds:.2f}/s; Send → answer: {spread(latencies)}")
    slowest = sorted(s.answers, key=lambda a: a.sent - a.acked)[:3]
    if slowest and slowest[0].acked - slowest[0].sent > 0.5:
        print("    slowest answers: " + ", ".join(f"{a.acked - a.sent:.2f} s (Send {a.sent - r.start:.1f} s into the level)"
                                                for a in slowest)
              + f"; {sum(a.acked - a.sent > 0.5 for a in s.answers)} over 0.5 s")
    if answered:
        print(f"  right: ANN {s.right['ANN']} of {answered} ({s.right['ANN'] / answered:.1%}), "
              f"CNN {s.right['CNN']} of {answered} ({s.right['CNN'] / answered:.1%}); "
              f"{s.thick_tips} came with the tip to draw bigger")
    errors = ", ".join(f"{ERROR_KINDS[k]} {n}" for k, n in s.errors.items() if n) or "none"
    print(f"  errors: {errors}")
    for kind, example in s.examples.items():
        print(f"    first {ERROR_KINDS[kind]}: {example}")
    if r.cut_off:
        print(f"  {r.cut_off} phone(s) cut off at the hard end")
    gaps = [b[0] - a[0] for a, b in zip(w.refreshes, w.refreshes[1:])]
    print(f"  Talk page opened in {w.opened:.2f} s ({COUNT_LABEL} {w.baseline}); key left in the address bar: "
          f"{'YES' if w.key_left else 'no'}; full runs {w.full_runs}")
    if gaps:
        longest = max(range(len(gaps)), key=gaps.__getitem__)
        print(f"  wall refreshed {len(w.refreshes)} times: every {spread(gaps)} (the longest gap ended "
              f"{w.refreshes[longest + 1][0] - r.start:.1f} s into the level); one refresh's run took "
              f"{spread([took for *_, took in w.refreshes])}")
    if w.score_runs:
        print(f"  scoreboard refreshed {len(w.score_runs)} times; one run took {spread(w.score_runs)}")
    print(f"  new tile (answer → first wall refresh whose {COUNT_LABEL} counts it): {spread(r.tile_latency)}; "
          f"{r.early} of {len(r.tile_latency)} counted before the phone's answer came"
          + (f"; never counted: {r.never}" if r.never else "") + (f"; no row found: {r.unmatched}" if r.unmatched else ""))
    print(f"    its own tile first shown (Hide button): {len(r.tile_seen)} of {len(r.tile_latency)}, {spread(r.tile_seen)}")
    db, rows = r.db, r.db["phones_rows"]
    print(f"  database: {rows} rows from the phones in talk {db['talk']} ({len(db['rows'])} in the talk, "
          f"{db['hidden']} hidden) vs {answered} answers acknowledged: {'equal' if rows == answered else 'NOT EQUAL'}")
    if s.odd:
        print(f"  unexpected messages: {dict(s.odd)}")
    cpu = "?"
    if r.server_cpu is not None:
        own, kids = r.server_cpu
        cpu = f"{own:.1f} s = {own / r.seconds:.2f} cores" + (f" (+ {kids:.1f} s in child processes)" if kids > 0.05 else "")
    print(f"  server RSS {mb_text(r.rss[0])} → {mb_text(r.rss[1])} MB; server process CPU {cpu}; "
          f"this client's CPU {r.client_cpu:.1f} s = {r.client_cpu / r.seconds:.2f} cores")


def markdown_row(r: Result) -> str:
    s, answered = r.stats, len(r.stats.answers)
    latencies = [a.acked - a.sent for a in s.answers]
    total = sum(s.errors.values())
    errors = f"{total} ({', '.join(f'{SHORT_KIND[k]} {n}' for k, n in s.errors.items() if n)})" if total else "0"
    header = ("| phones × every | sent | answered | median | p95 | max | digits/s | errors | new tile median / p95 / max "
              "| DB rows = answered | RSS before → after | server CPU |\n"
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    tile = " / ".join(seconds_text(v) for v in (percentile(r.tile_latency, 50), percentile(r.tile_latency, 95),
                                                max(r.tile_latency, default=math.nan)))
    cpu = f"{r.server_cpu[0]:.0f} s" if r.server_cpu else "?"
    rows = r.db["phones_rows"]
    return (f"{header}\n| {r.phones} × {r.every:g} s | {s.sent} | {answered} | {seconds_text(percentile(latencies, 50))} "
            f"| {seconds_text(percentile(latencies, 95))} | {seconds_text(max(latencies, default=math.nan))} "
            f"| {answered / r.seconds:.2f} | {errors} | {tile} | {rows} {'=' if rows == answered else '≠'} {answered} "
            f"| {mb_text(r.rss[0])} → {mb_text(r.rss[1])} MB | {cpu} |")


# ── main ──────────────────────────────────────────────────────────────────────────────────────

def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phones", type=int, default=30, help=f"phones sending digits (1–{MAX_PHONES})")
    parser.add_argument("--every", type=float, default=5.0,
                        help=f"s between one phone's digits (at least {MIN_GAP:g}, the server's limit)")
    parser.add_argument("--seconds", type=float, default=120, help=f"how long the phones send (5–{MAX_SECONDS} s)")
    parser.add_argument("--url", help="a running talk server on this machine (http://127.0.0.1:PORT); default: start one")
    parser.add_argument("--pid", type=int, help="with --url: the server's process id, for its RSS and CPU")
    parser.add_argument("--key", help="with --url: the server's MNIST_TALK_KEY (the presenter's key)")
    parser.add_argument("--db", help="with --url: the server's MNIST_CROWD_DB (its room database file)")
    args = parser.parse_args()
    if not 1 <= args.phones <= MAX_PHONES:
        parser.error(f"--phones must be between 1 and {MAX_PHONES}")
    if not 5 <= args.seconds <= MAX_SECONDS:
        parser.error(f"--seconds must be between 5 and {MAX_SECONDS}")
    if not MIN_GAP <= args.every <= args.seconds:
        parser.error(f"--every must be between {MIN_GAP:g} s (the server's limit between digits) and --seconds")
    if (args.pid or args.key or args.db) and not args.url:
        parser.error("--pid, --key and --db go with --url (a server this script starts gets its own)")
    if args.url:
        if not (args.key and args.db):
            parser.error("--url needs --key (the server's MNIST_TALK_KEY) and --db (its MNIST_CROWD_DB)")
        parts = urllib.parse.urlsplit(args.url)
        if parts.scheme != "http" or parts.hostname not in LOOPBACK:
            parser.error(f"--url must be http:// on this machine (one of {', '.join(sorted(LOOPBACK))}), "
                         f"not {args.url!r}: this benchmark only talks to loopback")
        args.url = args.url.rstrip("/")
        args.db = Path(args.db).expanduser()  # it may not exist yet: the server creates it on the first Join or Talk page
    if args.pid and not Path(f"/proc/{args.pid}").exists():
        parser.error(f"--pid {args.pid}: no such process")
    if args.seconds / args.every > crowd.MAX_DIGITS_PER_PERSON:
        print(f"note: {args.seconds:g} s at one digit every {args.every:g} s is more than the "
              f"{crowd.MAX_DIGITS_PER_PERSON} digits a person may send per talk: expect rate-limit messages")
    return args


async def measure(url: str, key: str, db: Path, pid: int | None, args, by_label: dict, per_phone: int) -> Result:
    token = crowd.new_person_token()
    print(await warm_up(url, key, by_label, token))
    try:
        warm_up_rows = [row for row in read_db(db, [token])["rows"] if row[1] == token]
    except sqlite3.Error as exc:
        raise AppMismatch(f"cannot read the room database {db} ({exc}): is it the server's MNIST_CROWD_DB?") from None
    if not warm_up_rows:
        raise AppMismatch(f"the warm-up digit is not in {db}'s current talk: is it the server's MNIST_CROWD_DB?")
    result = await run_level(url, key, db, pid, args, by_label, per_phone)
    print_result(result)
    return result


def main() -> None:
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped by SIGTERM"))
    per_phone = math.ceil(args.seconds / args.every) + 1
    count = min(POOL_LIMIT, max(200, args.phones * per_phone))
    started = time.perf_counter()
    rendered = render_digits(count, canvas=JOIN_CANVAS)
    digits = [digit for digit in rendered if not refused(digit)]
    by_label = {label: [d for d in digits if d.label == label] for label in range(10)}
    print(f"{count:,} MNIST test digits redrawn as {JOIN_CANVAS}×{JOIN_CANVAS} canvas PNGs in "
          f"{time.perf_counter() - started:.1f} s (median {statistics.median(len(d.canvas_json) for d in digits) / 1024:.1f} "
          f"KB per canvas value; {len(rendered) - len(digits)} left out that the Join page would refuse as no digit; "
          f"fewest of one label: {min(len(v) for v in by_label.values())})")

    server, folder = None, None
    try:
        if args.url:
            if not server_answers(args.url):
                sys.exit(f"No Streamlit server answers at {args.url}/_stcore/health.")
            url, pid, key, db = args.url, args.pid, args.key, args.db
        else:
            folder = Path(tempfile.mkdtemp(prefix="talk_load-"))
            key, db = talk.new_key(), folder / "crowd.sqlite3"
            log_fd, log_path = tempfile.mkstemp(prefix="talk_load-server-", suffix=".log")
            os.close(log_fd)
            server = start_server(log_path, {talk.KEY_ENV: key, "MNIST_CROWD_DB": str(db)})
            url, pid = server.url, server.pid
            print(f"server: {url} (pid {pid}, talk mode, its database {db}), its output in {log_path}")
        try:
            result = asyncio.run(measure(url, key, db, pid, args, by_label, per_phone))
        except (AppMismatch, OSError, InvalidHandshake, ConnectionClosed, LevelOver) as exc:
            sys.exit(f"Setup failed: {exc!r}")
    finally:
        if server is not None:
            stop_server(server)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"\nMeasured {time.strftime('%Y-%m-%d %H:%M')}, {args.phones} phones × a digit every {args.every:g} s "
          f"for {args.seconds:g} s:\n")
    print(markdown_row(result))


if __name__ == "__main__":
    main()
