"""A room of people drawing on the Draw page: N sessions over Streamlit's own websocket protocol, no browsers.

What it measures, for each number of sessions: the latency from sending the canvas's value until
both verdicts (the ANN and CNN `st.metric`s) hold a digit and the run has finished (median, p95,
max), verdicts per second, errors by kind, how many verdicts were right (ANN and CNN separately,
against the MNIST label), the server's RSS before and after, and the CPU seconds of the server
process and of this client (the machine has 2 cores; the client takes some of them).

Each session plays one person: it opens the app at "/", goes to the Draw page, then loops: sends
the canvas's value (a real MNIST test digit redrawn as 300×300 pen strokes, PNG, as the canvas
sends it), waits for both verdicts and the end of the run, presses Clear (and checks that both
verdicts went back to "—"), thinks 3 ± 1 s, and draws the next digit. Sessions start spread over
the first 3 s. A slow page or run is counted, never abandoned (a person waits; reconnecting would
only add load); a dropped connection is counted and the session reconnects.

With --train, one more session opens the Train page, picks "Preset's recipe" for the default
preset, presses Start training, follows the progress bar (polling the fragment as the browser
does) and presses Stop when the level ends; the report says whether training ran throughout.

    .venv/bin/python benchmarks/audience_load.py                         # 1 5 10 25 50 sessions × 60 s, own server
    .venv/bin/python benchmarks/audience_load.py --sessions 25 --seconds 45
    .venv/bin/python benchmarks/audience_load.py --sessions 5 --seconds 40 --train
    .venv/bin/python benchmarks/audience_load.py --url http://127.0.0.1:8501 --pid 1234   # a running server

Without --url it starts its own server (benchmarks/harness.py: `streamlit run streamlit_app.py` on
a free loopback port) and always stops it. Only loopback URLs are accepted; at most 100 sessions
and 600 s per level. It prints figures and asserts nothing.

The sessions speak Streamlit's protocol (benchmarks/streamlit_client.py). On the Draw page the
canvas is found by its `bidi_component.id`, Clear by its `button.id`. The canvas
(streamlit-drawable-canvas 0.13.0, a components-v2 `bidi_component`) sends `json_value`
`{"drawing": {"raw": <fabric.js JSON>, "data": "data:image/png;base64,…"}}` (its JS calls
`setStateValue("drawing", {raw, data})`, which Streamlit merges into the widget's JSON state;
benchmarks/canvas_digits.py makes them). On the Draw page no element is big enough to be cached.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import signal
import statistics
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import harness
from canvas_digits import Digit, render_digits
from harness import percentile
from streamlit_client import Run, Session, SessionStats, visit
from training_person import Training, print_training, train_until

MAX_SESSIONS, MAX_SECONDS = 100, 600  # the workplace's bounds for one level
SLOW = 30.0              # s: a run or a page open slower than this is an error
RAMP = 3.0               # s: sessions start spread over this
THINK = (2.0, 4.0)       # s: uniform pause after Clear, before the next digit
GRACE = 60.0             # s: after a level's time, in-flight runs get this long, then are cut off
SEED = 20_240_601
POOL_LIMIT = 3_000       # digits rendered up front (≈ 8 ms each); longer runs cycle through them
CANVAS_COMPONENT = "streamlit_drawable_canvas"
EMPTY = "—"
ERROR_KINDS = {  # kind → how the report names it
    "exception": "exception shown", "lost": "lost verdict", "disconnect": "disconnect or refused connection",
    "slow": f"run over {SLOW:.0f} s", "unopened": f"page not opened in {SLOW:.0f} s",
    "not_cleared": "Clear left a verdict", "client": "client error",
}
SHORT_KIND = {"exception": "exc", "lost": "lost", "disconnect": "disc", "slow": ">30 s",
              "unopened": "no page", "not_cleared": "not cleared", "client": "client"}


# ── one person drawing ────────────────────────────────────────────────────────────────────────

@dataclass
class Level:
    url: str
    sessions: int
    seconds: float
    digits: list[Digit]
    per_session: int             # digits each session may need: sessions start apart in the pool
    start: float = 0.0
    deadline: float = 0.0        # no new digit after this
    hard_end: float = 0.0        # nothing waits past this
    query: str = ""              # "key=…": a talk-mode server opens the demo pages to the presenter only

    async def open_session(self) -> Session:
        return await Session.open(self.url, self.query, open_timeout=SLOW)


@dataclass
class Stats(SessionStats):
    latencies: list = field(default_factory=list)
    clear_times: list = field(default_factory=list)


async def drawing_session(n: int, level: Level, stats: Stats) -> None:
    """Session n: open the Draw page, then draw, wait, Clear, think, until the level's time is up."""
    think = random.Random(SEED + n)
    await asyncio.sleep(RAMP * n / level.sessions)
    drawn = 0

    async def draw_until_the_end(session: Session, page: Run) -> None:
        nonlocal drawn
        while time.perf_counter() < level.deadline:
            digit = level.digits[(n * level.per_session + drawn) % len(level.digits)]
            drawn += 1
            page = await draw_and_clear(session, page, digit, level, stats)
            pause = think.uniform(*THINK)
            await asyncio.sleep(max(0.0, min(pause, level.deadline - time.perf_counter())))

    while time.perf_counter() < level.deadline:
        if await visit(level.open_session, lambda s: s.open_page("draw", level.hard_end),
                       draw_until_the_end, stats, SLOW):
            return


async def draw_and_clear(session: Session, page: Run, digit: Digit, level: Level, stats: Stats) -> Run:
    """Send one drawing, judge the verdicts, press Clear; the page as Clear left it."""
    canvas = page.widget("bidi_component", CANVAS_COMPONENT)
    session.hold_json(canvas, digit.canvas_json)
    sent = time.perf_counter()
    await session.rerun()
    run = await session.wait_run(level.hard_end)
    latency = run.finished_at - sent
    ann, cnn = run.metric("ANN"), run.metric("CNN")
    # One outcome per drawing, the worst first.
    if run.exceptions or run.status == "FINISHED_WITH_COMPILE_ERROR":
        stats.error("exception", (run.exceptions or [run.status])[0])
    elif latency > SLOW:
        stats.error("slow", f"{latency:.1f} s")
    elif not (ann and ann.isdigit() and cnn and cnn.isdigit()):
        stats.error("lost", f"ANN {ann!r}, CNN {cnn!r}, {run.status}")
    else:
        stats.latencies.append(latency)
        stats.right["ANN"] += ann == str(digit.label)
        stats.right["CNN"] += cnn == str(digit.label)

    sent = time.perf_counter()
    await session.rerun(press=run.widget("button", "Clear"))
    cleared = await session.wait_run(level.hard_end)
    stats.clear_times.append(cleared.finished_at - sent)
    if cleared.exceptions:
        stats.error("exception", cleared.exceptions[0])
    elif (cleared.metric("ANN"), cleared.metric("CNN")) != (EMPTY, EMPTY) \
            or cleared.widget("bidi_component", CANVAS_COMPONENT) == canvas:
        stats.error("not_cleared", f"ANN {cleared.metric('ANN')!r}, CNN {cleared.metric('CNN')!r}")
    return cleared


async def training_session(level: Level, report: Training) -> None:
    """With --train: one more person trains the default preset's full recipe until the level ends."""
    session = await level.open_session()
    try:
        await train_until(session, report, level.start, level.deadline, level.hard_end, GRACE)
    finally:
        await session.close()


# ── a level ───────────────────────────────────────────────────────────────────────────────────

@dataclass
class LevelResult:
    sessions: int
    stats: Stats
    seconds: float              # from the first session's start to the last one's end
    rss: tuple                  # server MB before, after (None: unknown)
    children_rss: float | None  # MB of the server's child processes after the level, if any
    server_cpu: tuple | None    # CPU s of the server process, and of its child processes, during the level
    client_cpu: float
    cut_off: int
    training: Training | None


async def run_level(level: Level, pid: int | None, train: bool) -> LevelResult:
    stats, training = Stats(), (Training() if train else None)
    rss_before, cpu_before, client_before = harness.rss_mb(pid), harness.cpu_seconds_split(pid), time.process_time()
    level.start = time.perf_counter()
    level.deadline, level.hard_end = level.start + level.seconds, level.start + level.seconds + GRACE
    drawers = [asyncio.create_task(drawing_session(n, level, stats)) for n in range(level.sessions)]
    trainer = asyncio.create_task(training_session(level, training)) if train else None
    # A bound of our own on top of the sessions' own deadlines: the level always ends.
    done, late = await asyncio.wait(drawers, timeout=level.seconds + GRACE + 10)
    elapsed = time.perf_counter() - level.start
    if trainer:
        more_done, more_late = await asyncio.wait([trainer], timeout=max(1.0, level.hard_end + 10 - time.perf_counter()))
        done, late = done | more_done, late | more_late
    for task in late:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
    for task in done:
        if task.exception() is None:
            continue
        if task is trainer:
            training.problems.append(f"client error: {task.exception()!r}"[:300])
        else:
            stats.error("client", repr(task.exception())[:300])
    children = [harness.rss_mb(child) or 0.0 for child in harness.descendants(pid)] if pid else []
    cpu_after = harness.cpu_seconds_split(pid)
    server_cpu = (cpu_after[0] - cpu_before[0], cpu_after[1] - cpu_before[1]) if cpu_before and cpu_after else None
    return LevelResult(level.sessions, stats, elapsed, (rss_before, harness.rss_mb(pid)),
                       sum(children) if children else None, server_cpu, time.process_time() - client_before,
                       len(late), training)


async def warm_up(url: str, query: str, digit: Digit) -> str:
    """One session draws one digit first, so a fresh server's first loads stay out of the figures."""
    stats = Stats()
    level = Level(url, 1, 0, [digit], 1, hard_end=time.perf_counter() + 120, query=query)
    session = await level.open_session()
    try:
        started = time.perf_counter()
        page = await session.open_page("draw", level.hard_end)
        opened = time.perf_counter() - started
        await draw_and_clear(session, page, digit, level, stats)
    finally:
        await session.close()
    outcome = f"first verdict in {stats.latencies[0]:.2f} s" if stats.latencies else f"errors {dict(stats.errors)} {stats.examples}"
    return f"warm-up: Draw page opened in {opened:.1f} s, {outcome}"


# ── report ────────────────────────────────────────────────────────────────────────────────────

def seconds_text(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.2f} s"


def mb_text(value: float | None) -> str:
    return "?" if value is None else f"{value:,.0f}"


def print_level(result: LevelResult) -> None:
    s = result.stats
    verdicts = len(s.latencies)
    print(f"\n── {result.sessions} session(s), {result.seconds:.1f} s ──")
    if s.open_times:
        print(f"  Draw page opened {len(s.open_times)} time(s): median {statistics.median(s.open_times):.2f} s, "
              f"max {max(s.open_times):.2f} s")
    print(f"  verdicts: {verdicts} = {verdicts / result.seconds:.2f}/s; from sending the drawing to both verdicts "
          f"and the run's end: median {seconds_text(percentile(s.latencies, 50))}, "
          f"p95 {seconds_text(percentile(s.latencies, 95))}, max {seconds_text(max(s.latencies, default=math.nan))}")
    if verdicts:
        print(f"  right: ANN {s.right['ANN']} of {verdicts} ({s.right['ANN'] / verdicts:.1%}), "
              f"CNN {s.right['CNN']} of {verdicts} ({s.right['CNN'] / verdicts:.1%})")
    if s.clear_times:
        print(f"  Clear → empty canvas and both verdicts back to {EMPTY}: median {statistics.median(s.clear_times):.2f} s, "
              f"{len(s.clear_times) - s.errors['not_cleared']} of {len(s.clear_times)} emptied")
    errors = ", ".join(f"{ERROR_KINDS[k]} {n}" for k, n in s.errors.items() if n) or "none"
    print(f"  errors: {errors}")
    for kind, example in s.examples.items():
        print(f"    first {ERROR_KINDS[kind]}: {example}")
    if result.cut_off:
        print(f"  {result.cut_off} session(s) cut off at the level's hard end")
    if s.odd:
        print(f"  unexpected messages: {dict(s.odd)}")
    print(f"  {server_and_client_text(result)}")
    if result.training is not None:
        print_training(result.training)


def server_and_client_text(result: LevelResult) -> str:
    rss_before, rss_after = result.rss
    children = f" (+ {mb_text(result.children_rss)} MB in child processes)" if result.children_rss else ""
    server_cpu = "?"
    if result.server_cpu is not None:
        own, kids = result.server_cpu
        server_cpu = f"{own:.1f} s = {own / result.seconds:.2f} cores"
        if kids > 0.05:
            server_cpu += f" (+ {kids:.1f} s = {kids / result.seconds:.2f} cores in its child processes)"
    return (f"server RSS {mb_text(rss_before)} → {mb_text(rss_after)} MB{children}; server process CPU {server_cpu}; "
            f"this client's CPU {result.client_cpu:.1f} s = {result.client_cpu / result.seconds:.2f} cores")


def markdown_table(results: list[LevelResult]) -> str:
    lines = ["| sessions | median | p95 | max | verdicts/s | errors | right (ANN/CNN) | RSS before → after |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        s, verdicts = r.stats, len(r.stats.latencies)
        total = sum(s.errors.values())
        errors = f"{total} ({', '.join(f'{SHORT_KIND[k]} {n}' for k, n in s.errors.items() if n)})" if total else "0"
        right = f"{s.right['ANN']} / {s.right['CNN']} of {verdicts}"
        longest = "> 30 s" if s.errors["slow"] else seconds_text(max(s.latencies, default=math.nan))
        lines.append(f"| {r.sessions} | {seconds_text(percentile(s.latencies, 50))} | "
                     f"{seconds_text(percentile(s.latencies, 95))} | {longest} | {verdicts / r.seconds:.2f} | "
                     f"{errors} | {right} | {mb_text(r.rss[0])} → {mb_text(r.rss[1])} MB |")
    return "\n".join(lines)


# ── main ──────────────────────────────────────────────────────────────────────────────────────

def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 5, 10, 25, 50],
                        help=f"concurrent sessions, one level each (1–{MAX_SESSIONS})")
    parser.add_argument("--seconds", type=float, default=60, help=f"length of each level (5–{MAX_SECONDS} s)")
    parser.add_argument("--url", help="a running server on this machine (http://127.0.0.1:PORT); default: start one")
    parser.add_argument("--pid", type=int, help="with --url: the server's process id, for its RSS and CPU")
    parser.add_argument("--key", help="with --url: the presenter's key of a talk-mode server (the Draw page "
                                      "is the presenter's there; run it beside benchmarks/hall_load.py --host)")
    parser.add_argument("--train", action="store_true",
                        help="one more session trains the default preset's full recipe during each level")
    args = parser.parse_args()
    if any(not 1 <= n <= MAX_SESSIONS for n in args.sessions):
        parser.error(f"--sessions: each level must have 1 to {MAX_SESSIONS} sessions")
    if not 5 <= args.seconds <= MAX_SECONDS:
        parser.error(f"--seconds must be between 5 and {MAX_SECONDS}")
    if args.pid and not args.url:
        parser.error("--pid goes with --url (a server this script starts is measured anyway)")
    if args.pid and not Path(f"/proc/{args.pid}").exists():
        parser.error(f"--pid {args.pid}: no such process")
    if args.url:
        if urllib.parse.urlsplit(args.url).scheme != "http" or not harness.is_loopback(args.url):
            parser.error(f"--url must be http:// on this machine (one of {', '.join(sorted(harness.LOOPBACK))}), "
                         f"not {args.url!r}: this benchmark only talks to loopback")
        args.url = args.url.rstrip("/")
    return args


async def measure(url: str, pid: int | None, args: argparse.Namespace, digits: list[Digit], per_session: int):
    query = f"key={args.key}" if args.key else ""
    print(await warm_up(url, query, digits[-1]))
    results = []
    for sessions in args.sessions:
        level = Level(url, sessions, args.seconds, digits, per_session, query=query)
        result = await run_level(level, pid, args.train)
        print_level(result)
        results.append(result)
        await asyncio.sleep(2)  # let the last runs and closed sessions settle before the next level
    return results


def main() -> None:
    args = parse_args()
    # A plain `kill` must still run the finally below, which stops the server this script started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped by SIGTERM"))
    per_session = math.ceil(args.seconds / THINK[0]) + 1
    count = min(POOL_LIMIT, max(args.sessions) * per_session)
    started = time.perf_counter()
    digits = render_digits(count, SEED)
    print(f"{count:,} MNIST test digits redrawn as canvas PNGs in {time.perf_counter() - started:.1f} s "
          f"(median {statistics.median(len(d.canvas_json) for d in digits) / 1024:.1f} KB per canvas value)")

    server = None
    try:
        if args.url:
            if not harness.answers_health(args.url):
                sys.exit(f"No Streamlit server answers at {args.url}/_stcore/health.")
            url, pid = args.url, args.pid
        else:
            log_fd, log_name = tempfile.mkstemp(prefix="audience_load-server-", suffix=".log")
            os.close(log_fd)
            log_path = Path(log_name)
            server = harness.start_server(log=log_path)
            url, pid = server.url, server.pid
            print(f"server: {url} (pid {pid}), its output in {log_path}")
        results = asyncio.run(measure(url, pid, args, digits, per_session))
    finally:
        if server is not None:
            harness.stop_server(server)
    print(f"\nMeasured {time.strftime('%Y-%m-%d %H:%M')}, {args.seconds:.0f} s per level"
          f"{', training the default preset meanwhile' if args.train else ''}:\n")
    print(markdown_table(results))


if __name__ == "__main__":
    main()
