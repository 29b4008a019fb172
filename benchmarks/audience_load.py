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

Without --url it starts its own server (`streamlit run streamlit_app.py` on a free loopback port,
as the e2e tests do) and always stops it. Only loopback URLs are accepted; at most 100 sessions
and 600 s per level. It prints figures and asserts nothing.

The exchange (streamlit.proto): the client sends `BackMsg.rerun_script`, a `ClientState` with the
page's `page_script_hash`, the `widget_states` it holds and `context_info`; the server answers
`new_session`, `navigation` (every page's url path and hash), `delta`s (`new_element`,
`add_block`) and `script_finished`. Element ids are read from the widget protos in the deltas
(`bidi_component.id` for the canvas, `button.id` for Clear). The canvas (streamlit-drawable-canvas
0.13.0, a components-v2 `bidi_component`) sends `json_value`
`{"drawing": {"raw": <fabric.js JSON>, "data": "data:image/png;base64,…"}}` (its JS calls
`setStateValue("drawing", {raw, data})`, which Streamlit merges into the widget's JSON state); a
button press is `trigger_value: true` for that one rerun. Like the browser, a session keeps the
states it set while their widgets are shown and drops them when they leave the page; widgets it
never touched are not sent (the server keeps their values). It sends no `cached_message_hashes`,
so the server sends every element in full (on the Draw page none is big enough to be cached).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import math
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mnist_core.data import load_mnist  # noqa: E402
from mnist_core.data.synthetic import redraw  # noqa: E402
from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: E402
from streamlit.proto.ClientState_pb2 import ClientState, ContextInfo  # noqa: E402
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: E402
from streamlit.proto.WidgetStates_pb2 import WidgetState  # noqa: E402

MAX_SESSIONS, MAX_SECONDS = 100, 600  # the workplace's bounds for one level
SLOW = 30.0              # s: a run or a page open slower than this is an error
RAMP = 3.0               # s: sessions start spread over this
THINK = (2.0, 4.0)       # s: uniform pause after Clear, before the next digit
GRACE = 60.0             # s: after a level's time, in-flight runs get this long, then are cut off
SEED = 20_240_601
CANVAS, PEN = 300, 22    # the Draw page's canvas size and default pen width
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
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


# ── digits ────────────────────────────────────────────────────────────────────────────────────

@dataclass(frozen=True)
class Digit:
    label: int          # the MNIST label
    canvas_json: str    # the canvas widget's json_value, exactly as the browser would send it


def render_digits(count: int, canvas: int = CANVAS) -> list[Digit]:
    """`count` distinct MNIST test digits, each redrawn as strokes on a canvas×canvas px canvas (fixed seed)."""
    (_, _), (x_test, y_test) = load_mnist()
    order = np.random.default_rng(SEED).permutation(len(x_test))
    digits = []
    for i in range(count):
        index = int(order[i % len(order)])
        rgba = redraw(x_test[index], np.random.default_rng([SEED, i]), canvas=canvas)
        digits.append(Digit(int(y_test[index]), canvas_json(rgba)))
    return digits


def canvas_json(rgba: np.ndarray) -> str:
    """{"drawing": {"raw": fabric.js JSON, "data": PNG data URL}}, compact like JSON.stringify."""
    png = io.BytesIO()
    Image.fromarray(rgba).save(png, format="PNG")
    data_url = "data:image/png;base64," + base64.b64encode(png.getvalue()).decode("ascii")
    return json.dumps({"drawing": {"raw": fabric_drawing(rgba), "data": data_url}}, separators=(",", ":"))


def fabric_drawing(rgba: np.ndarray) -> dict:
    """The fabric.js canvas JSON of one freehand stroke through the digit's ink. The Draw page reads
    only the PNG; this gives the message the size and shape of a real one."""
    step = 10
    points = np.argwhere(rgba[step // 2::step, step // 2::step, 0] > 127)[:, ::-1] * step + step // 2  # (x, y)
    points = stroke_order(points) if len(points) else np.array([[rgba.shape[1] // 2, rgba.shape[0] // 2]])
    # Fabric's pencil brush: M first point, Q through midpoints, L last point.
    path = [["M", *map(float, points[0])]]
    for a, b in zip(points[:-1], points[1:]):
        path.append(["Q", float(a[0]), float(a[1]), float((a[0] + b[0]) / 2), float((a[1] + b[1]) / 2)])
    path.append(["L", *map(float, points[-1])])
    (left, top), (right, bottom) = points.min(axis=0), points.max(axis=0)
    stroke = {"type": "Path", "version": "7.4.0", "originX": "left", "originY": "top",
              "left": float(left - PEN / 2), "top": float(top - PEN / 2), "width": float(right - left),
              "height": float(bottom - top), "fill": None, "stroke": "#FFFFFF", "strokeWidth": PEN,
              "strokeDashArray": None, "strokeLineCap": "round", "strokeDashOffset": 0,
              "strokeLineJoin": "round", "strokeUniform": False, "strokeMiterLimit": 10, "scaleX": 1,
              "scaleY": 1, "angle": 0, "flipX": False, "flipY": False, "opacity": 1, "shadow": None,
              "visible": True, "backgroundColor": "", "fillRule": "nonzero", "paintFirst": "fill",
              "globalCompositeOperation": "source-over", "skewX": 0, "skewY": 0, "path": path}
    return {"version": "7.4.0", "objects": [stroke], "background": "#000000"}


def stroke_order(points: np.ndarray) -> np.ndarray:
    """The points in the order a pen would visit them: greedy nearest neighbour from the top."""
    left = np.ones(len(points), bool)
    current, ordered = 0, []
    for _ in range(len(points)):
        ordered.append(current)
        left[current] = False
        if not left.any():
            break
        distance = ((points - points[current]) ** 2).sum(axis=1).astype(float)
        distance[~left] = np.inf
        current = int(distance.argmin())
    return points[ordered]


# ── the protocol ──────────────────────────────────────────────────────────────────────────────

class LevelOver(Exception):
    """The level's hard end came while waiting for the server."""


class AppMismatch(Exception):
    """The app does not show what this benchmark expects (a page, a widget)."""


@dataclass
class Run:
    """What one script run showed, decoded only as far as this benchmark needs."""
    fragment: bool
    status: str = ""
    finished_at: float = 0.0
    widgets: dict = field(default_factory=dict)    # (element kind, label) → widget id
    disabled: set = field(default_factory=set)     # ids of widgets shown disabled
    options: dict = field(default_factory=dict)    # button group id → its options as shown
    numbers: dict = field(default_factory=dict)    # number input label → value
    metrics: dict = field(default_factory=dict)    # metric label → value (body)
    exceptions: list = field(default_factory=list)
    error_alerts: list = field(default_factory=list)

    WIDGET_KINDS = ("button", "button_group", "bidi_component", "checkbox", "slider", "selectbox",
                    "number_input", "text_input")

    def add(self, delta) -> None:
        if delta.WhichOneof("type") != "new_element":
            return  # add_block / new_transient: containers and spinners, nothing to read
        element = delta.new_element
        kind = element.WhichOneof("type")
        if kind == "metric":
            self.metrics[element.metric.label] = element.metric.body
        elif kind == "exception":
            self.exceptions.append(f"{element.exception.type}: {element.exception.message}"[:300])
        elif kind == "alert" and element.alert.format == 1:  # ERROR: st.error
            self.error_alerts.append(element.alert.body[:300])
        elif kind in self.WIDGET_KINDS:
            widget = getattr(element, kind)
            label = widget.component_name if kind == "bidi_component" else widget.label
            self.widgets[(kind, label)] = widget.id
            if getattr(widget, "disabled", False):
                self.disabled.add(widget.id)
            if kind == "button_group":
                self.options[widget.id] = [option.content for option in widget.options]
            elif kind == "number_input":
                self.numbers[label] = widget.value

    def widget(self, kind: str, label_part: str) -> str:
        """The id of the shown widget of this kind whose label contains `label_part`."""
        for (k, label), widget_id in self.widgets.items():
            if k == kind and label_part in label:
                return widget_id
        raise AppMismatch(f"no {kind} labelled {label_part!r} on the page (shown: {sorted(self.widgets)})")

    def verdict(self, family: str) -> str | None:
        """The value of the metric whose label contains ANN or CNN."""
        return next((body for label, body in self.metrics.items() if family in label), None)


CONTEXT = ContextInfo(timezone="UTC", timezone_offset=0, locale="en-US", is_embedded=False, color_scheme="light")


PRESENTER_KEY: str | None = None  # --key


class Session:
    """One browser tab: a websocket, the widget states the tab holds, and what the server showed."""

    def __init__(self, ws: ClientConnection, base_url: str):
        self.ws, self.base_url = ws, base_url
        self.pages: dict[str, str] = {}          # url path → page_script_hash (navigation message)
        self.page_hash, self.path = "", ""
        self.query_string = ""                    # the address bar's query (the server may change it)
        self.states: dict[str, WidgetState] = {}  # the states the tab would send with each rerun
        self.current: Run | None = None
        self.tickers: dict[str, tuple[float, asyncio.Task]] = {}  # fragment id → (interval, task)
        self.progress: tuple[int, str] | None = None  # the latest progress bar seen, any run
        self.odd: Counter = Counter()             # messages this client does not expect

    @classmethod
    async def open(cls, base_url: str) -> Session:
        parts = urllib.parse.urlsplit(base_url)
        ws_url = f"ws://{parts.netloc}{parts.path.rstrip('/')}/_stcore/stream"
        # No pings (a browser sends none; the server pings), no proxy (loopback only), any size.
        ws = await connect(ws_url, subprotocols=["streamlit"], max_size=None, ping_interval=None,
                           open_timeout=SLOW, proxy=None)
        session = cls(ws, base_url)
        if PRESENTER_KEY:  # a talk-mode server opens the demo pages to the presenter only
            session.query_string = f"key={PRESENTER_KEY}"
        return session

    async def close(self) -> None:
        self.stop_tickers()
        await self.ws.close()

    async def rerun(self, press: str | None = None, fragment_id: str = "", auto: bool = False) -> None:
        """Ask for a run of the current page with the held widget states (and a button press).
        Before the server has named the page's hash, the page is asked for by its url path, as a
        browser opening a deep link does."""
        state = ClientState(page_script_hash=self.page_hash, page_name="" if self.page_hash else self.path,
                            query_string=self.query_string, fragment_id=fragment_id, is_auto_rerun=auto,
                            context_info=CONTEXT)
        state.context_info.url = f"{self.base_url}/{self.path}" + (f"?{self.query_string}" if self.query_string else "")
        state.widget_states.widgets.extend(self.states.values())
        if press:
            state.widget_states.widgets.append(WidgetState(id=press, trigger_value=True))
        await self.ws.send(BackMsg(rerun_script=state).SerializeToString())

    async def wait_run(self, until: float) -> Run:
        """The next full run to finish (a run that ended early for a rerun is not one)."""
        while True:
            run = await self.receive(until)
            if run is not None and not run.fragment and run.status != "FINISHED_EARLY_FOR_RERUN":
                return run

    async def receive(self, until: float) -> Run | None:
        """Read and handle one message; the run it finished, if any. LevelOver at `until`."""
        try:
            async with asyncio.timeout(until - time.perf_counter()):
                data = await self.ws.recv()
        except TimeoutError:
            raise LevelOver from None
        return self.handle(ForwardMsg.FromString(data))

    def handle(self, msg: ForwardMsg) -> Run | None:
        kind = msg.WhichOneof("type")
        if kind == "delta":
            if self.current is not None:
                self.current.add(msg.delta)
                element = msg.delta.new_element
                if msg.delta.WhichOneof("type") == "new_element" and element.WhichOneof("type") == "progress":
                    self.progress = (element.progress.value, element.progress.text)
        elif kind == "new_session":
            fragment = len(msg.metadata.run.fragment_ids) > 0
            if not fragment:
                self.stop_tickers()  # the browser drops every auto-rerun timer when a full run starts
            self.current = Run(fragment=fragment)
        elif kind == "script_finished":
            run, self.current = self.current, None
            if run is not None:
                run.status = ForwardMsg.ScriptFinishedStatus.Name(msg.script_finished)
                run.finished_at = time.perf_counter()
                if not run.fragment and run.status != "FINISHED_EARLY_FOR_RERUN":
                    self.forget_hidden_widgets(run)
            return run
        elif kind == "navigation":
            self.pages = {page.url_pathname: page.page_script_hash for page in msg.navigation.app_pages}
            self.page_hash = msg.navigation.page_script_hash
        elif kind == "page_info_changed":  # st.query_params changed: the browser's address bar follows
            self.query_string = msg.page_info_changed.query_string
        elif kind == "auto_rerun":
            self.start_ticker(msg.auto_rerun.fragment_id, msg.auto_rerun.interval)
        elif kind == "stop_auto_rerun":
            for fragment_id in msg.stop_auto_rerun.fragment_ids:
                self.stop_tickers(fragment_id)
        elif kind in ("ref_hash", "page_not_found"):
            self.odd[kind] += 1
        return None

    def forget_hidden_widgets(self, run: Run) -> None:
        # As the browser does after each run: states of widgets no longer shown are dropped
        # (after Clear, the old canvas's drawing).
        shown = set(run.widgets.values())
        self.states = {wid: state for wid, state in self.states.items() if wid in shown}

    def start_ticker(self, fragment_id: str, interval: float) -> None:
        """st.fragment(run_every=…): the browser asks for a fragment rerun every `interval` s."""
        if not fragment_id or self.tickers.get(fragment_id, (None,))[0] == interval:
            return
        self.stop_tickers(fragment_id)

        async def tick():
            try:
                while True:
                    await asyncio.sleep(interval)
                    await self.rerun(fragment_id=fragment_id, auto=True)
            except ConnectionClosed:
                pass

        self.tickers[fragment_id] = (interval, asyncio.create_task(tick()))

    def stop_tickers(self, fragment_id: str | None = None) -> None:
        for fid in [fragment_id] if fragment_id else list(self.tickers):
            if fid in self.tickers:
                self.tickers.pop(fid)[1].cancel()

    async def open_page(self, path: str, until: float) -> Run:
        """A fresh tab at "/" (the main page), then a click on `path` in the navigation."""
        await self.rerun()
        await self.wait_run(until)
        if path not in self.pages:
            raise AppMismatch(f"no page at /{path} in the navigation: {sorted(self.pages)}")
        self.page_hash, self.path = self.pages[path], path
        await self.rerun()
        return await self.wait_run(until)


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


@dataclass
class SessionStats:
    """What every simulated person's sessions count."""
    right: Counter = field(default_factory=Counter)   # "ANN" / "CNN" → right answers
    errors: Counter = field(default_factory=Counter)
    examples: dict = field(default_factory=dict)      # error kind → first message
    open_times: list = field(default_factory=list)
    odd: Counter = field(default_factory=Counter)

    def error(self, kind: str, example: str = "") -> None:
        self.errors[kind] += 1
        if example:
            self.examples.setdefault(kind, example)


@dataclass
class Stats(SessionStats):
    latencies: list = field(default_factory=list)
    clear_times: list = field(default_factory=list)


async def visit(open_session, open_page, act, stats) -> bool:
    """One connection of a simulated person: connect, open the page, then `await act(session, page)`.
    A refused connection or a dropped one is counted and gives False (connect again); a slow open
    is counted. True once `act` returned or the level is over."""
    try:
        session = await open_session()
    except (OSError, InvalidHandshake, TimeoutError) as exc:
        stats.error("disconnect", f"connect: {exc!r}")
        await asyncio.sleep(1.0)
        return False
    try:
        opened = time.perf_counter()
        page = await open_page(session)
        stats.open_times.append(time.perf_counter() - opened)
        if stats.open_times[-1] > SLOW:
            stats.error("unopened")
        await act(session, page)
        return True
    except ConnectionClosed as exc:
        stats.error("disconnect", repr(exc))
        return False
    except LevelOver:
        return True
    finally:
        stats.odd.update(session.odd)
        await session.close()


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
        if await visit(lambda: Session.open(level.url), lambda s: s.open_page("draw", level.hard_end),
                       draw_until_the_end, stats):
            return


async def draw_and_clear(session: Session, page: Run, digit: Digit, level: Level, stats: Stats) -> Run:
    """Send one drawing, judge the verdicts, press Clear; the page as Clear left it."""
    canvas = page.widget("bidi_component", CANVAS_COMPONENT)
    session.states[canvas] = WidgetState(id=canvas, json_value=digit.canvas_json)
    sent = time.perf_counter()
    await session.rerun()
    run = await session.wait_run(level.hard_end)
    latency = run.finished_at - sent
    ann, cnn = run.verdict("ANN"), run.verdict("CNN")
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
    elif (cleared.verdict("ANN"), cleared.verdict("CNN")) != (EMPTY, EMPTY) \
            or cleared.widget("bidi_component", CANVAS_COMPONENT) == canvas:
        stats.error("not_cleared", f"ANN {cleared.verdict('ANN')!r}, CNN {cleared.verdict('CNN')!r}")
    return cleared


# ── one person training ───────────────────────────────────────────────────────────────────────

@dataclass
class Training:
    setup: str = ""
    started: float | None = None      # s into the level when Start was pressed
    moves: list = field(default_factory=list)   # (s into the level, bar's text) each time the batch moved on
    active_at_stop: bool | None = None
    stopped: float = 0.0               # s into the level when Stop was pressed
    polls: int = 0                     # fragment runs (the bar's auto-reruns) that finished
    last_bar: str = ""                 # the bar's text when Stop was pressed
    after_stop: str = ""
    problems: list = field(default_factory=list)


def batch_shown(progress: tuple[int, str] | None) -> tuple | None:
    """The epoch and batch the progress bar's text names ("Epoch 2 of 30 · batch 17 of 422 · …")."""
    match = re.search(r"Epoch (\d+).*?batch ([\d,]+)", progress[1]) if progress else None
    return match.groups() if match else None


async def training_session(level: Level, report: Training) -> None:
    """Open Train, pick the preset's full recipe, Start, follow the bar, Stop when the level ends."""
    session = await Session.open(level.url)
    try:
        page = await session.open_page("train", level.hard_end)
        recipe = page.widget("button_group", "Settings")
        full = next((o for o in page.options[recipe] if "recipe" in o), None)
        if full is None:
            raise AppMismatch(f"no recipe option in {page.options[recipe]}")
        session.states[recipe] = WidgetState(id=recipe)
        session.states[recipe].string_array_value.data.append(full)
        await session.rerun()
        page = await session.wait_run(level.hard_end)
        numbers = page.numbers
        report.setup = (f"{numbers.get('Epochs', 0):.0f} epochs, batch {numbers.get('Batch size', 0):.0f}"
                        if numbers else "settings not shown")
        await session.rerun(press=page.widget("button", "Start training"))
        page = await session.wait_run(level.hard_end)
        report.started = time.perf_counter() - level.start
        report.problems += page.exceptions + page.error_alerts

        # Follow the bar until the drawing ends; the fragment's auto-reruns bring it.
        last = None
        try:
            while True:
                run = await session.receive(level.deadline)
                if run is not None and run.fragment:
                    report.polls += 1
                elif run is not None:
                    page = run
                    report.problems += run.exceptions + run.error_alerts
                batch = batch_shown(session.progress)
                if batch and batch != last:  # the bar moved
                    last = batch
                    report.moves.append((time.perf_counter() - level.start, session.progress[1]))
        except LevelOver:
            pass

        stop = page.widget("button", "Stop")
        report.active_at_stop = stop not in page.disabled and "Test accuracy" not in page.metrics
        pressed = time.perf_counter()
        report.stopped, report.last_bar = pressed - level.start, (session.progress or (0, ""))[1]
        await session.rerun(press=stop)
        # The page reruns in full once the run has stopped and shows its test accuracy.
        until = min(level.hard_end, pressed + GRACE)
        try:
            while "Test accuracy" not in page.metrics:
                page = await session.wait_run(until)
                report.problems += page.exceptions + page.error_alerts
            report.after_stop = (f"Test accuracy {page.metrics['Test accuracy']} "
                                 f"{time.perf_counter() - pressed:.1f} s after Stop")
        except LevelOver:
            report.after_stop = f"no result within {until - pressed:.0f} s of Stop"
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


async def run_level(url: str, sessions: int, seconds: float, digits: list[Digit], per_session: int,
                    pid: int | None, train: bool) -> LevelResult:
    stats, training = Stats(), (Training() if train else None)
    rss_before, cpu_before, client_before = rss_mb(pid), cpu_seconds(pid), time.process_time()
    start = time.perf_counter()
    level = Level(url, sessions, seconds, digits, per_session, start, start + seconds, start + seconds + GRACE)
    drawers = [asyncio.create_task(drawing_session(n, level, stats)) for n in range(sessions)]
    trainer = asyncio.create_task(training_session(level, training)) if train else None
    # A bound of our own on top of the sessions' own deadlines: the level always ends.
    done, late = await asyncio.wait(drawers, timeout=seconds + GRACE + 10)
    elapsed = time.perf_counter() - start
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
    children = [rss_mb(child) or 0.0 for child in child_pids(pid)] if pid else []
    cpu_after = cpu_seconds(pid)
    server_cpu = tuple(np.subtract(cpu_after, cpu_before)) if cpu_before and cpu_after else None
    return LevelResult(sessions, stats, elapsed, (rss_before, rss_mb(pid)), sum(children) if children else None,
                       server_cpu, time.process_time() - client_before, len(late), training)


async def warm_up(url: str, digit: Digit) -> str:
    """One session draws one digit first, so a fresh server's first loads stay out of the figures."""
    stats = Stats()
    level = Level(url, 1, 0, [digit], 1, hard_end=time.perf_counter() + 120)
    session = await Session.open(url)
    try:
        started = time.perf_counter()
        page = await session.open_page("draw", level.hard_end)
        opened = time.perf_counter() - started
        await draw_and_clear(session, page, digit, level, stats)
    finally:
        await session.close()
    outcome = f"first verdict in {stats.latencies[0]:.2f} s" if stats.latencies else f"errors {dict(stats.errors)} {stats.examples}"
    return f"warm-up: Draw page opened in {opened:.1f} s, {outcome}"


# ── the server ────────────────────────────────────────────────────────────────────────────────

def start_server(log_path: str, extra_env: dict | None = None) -> subprocess.Popen:
    from tests.e2e.conftest import launch_server  # the e2e tests' launcher: free loopback port, health check
    with open(log_path, "wb") as log:  # a file, not a pipe: a full pipe blocks every thread that logs
        process, url = launch_server({**os.environ, **(extra_env or {})}, log)
    process.url = url
    return process


def stop_server(process: subprocess.Popen) -> None:
    """Stop the server we started, and any child process it left (a training worker)."""
    children = child_pids(process.pid)
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
    for child in children:
        try:
            os.kill(child, signal.SIGTERM)
        except ProcessLookupError:
            pass


def rss_mb(pid: int | None) -> float | None:
    if not pid:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int | None) -> tuple[float, float] | None:
    """CPU seconds (user + system) of the process, and of its child processes: those it has
    reaped (cutime, cstime) plus the live ones. The difference of two readings is what was
    spent in between, a training worker process included."""
    if not pid:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    own, reaped = int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])
    live = 0
    for child in child_pids(pid):
        try:
            child_fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
            live += int(child_fields[11]) + int(child_fields[12])
        except (OSError, IndexError):
            pass  # ended meanwhile: its time moves to the reaped column
    return own / tick, (reaped + live) / tick


def child_pids(pid: int) -> list[int]:
    """Every live descendant of `pid`."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        kids = [p for p, pp in parents.items() if pp == parent]
        found += kids
        frontier += kids
    return found


# ── report ────────────────────────────────────────────────────────────────────────────────────

def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else math.nan


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
    rss_before, rss_after = result.rss
    children = f" (+ {mb_text(result.children_rss)} MB in child processes)" if result.children_rss else ""
    server_cpu = "?"
    if result.server_cpu is not None:
        own, kids = result.server_cpu
        server_cpu = f"{own:.1f} s = {own / result.seconds:.2f} cores"
        if kids > 0.05:
            server_cpu += f" (+ {kids:.1f} s = {kids / result.seconds:.2f} cores in its child processes)"
    print(f"  server RSS {mb_text(rss_before)} → {mb_text(rss_after)} MB{children}; server process CPU {server_cpu}; "
          f"this client's CPU {result.client_cpu:.1f} s = {result.client_cpu / result.seconds:.2f} cores")
    if result.training is not None:
        print_training(result.training)


def print_training(t: Training) -> None:
    if t.started is None:
        print(f"  training: never started; {'; '.join(t.problems) or 'see the client errors above'}")
        return
    moves = [moment for moment, _ in t.moves]
    first = f"first batch shown {moves[0] - t.started:.1f} s after Start" if moves else "no batch ever shown"
    # Still spells: from Start to the first batch, between moves, and from the last move to Stop.
    # Training ran throughout if it was still running at Stop and no spell lasted 15 s.
    marks = [t.started, *moves, t.stopped]
    longest = max(b - a for a, b in zip(marks, marks[1:]))
    throughout = bool(t.active_at_stop and moves and longest < 15)
    print(f"  training ({t.setup}): Start pressed {t.started:.1f} s into the level, {first}; the bar moved "
          f"{len(moves)} times, longest still spell {longest:.1f} s")
    print(f"    the bar was polled {t.polls} times (fragment auto-reruns); its text at Stop: {t.last_bar!r}")
    print(f"    still running when Stop was pressed: {'yes' if t.active_at_stop else 'no'}; after Stop: {t.after_stop}; "
          f"training ran throughout: {'yes' if throughout else 'no'}")
    for problem in dict.fromkeys(t.problems):
        print(f"    shown on the Train page: {problem}")


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
    global PRESENTER_KEY
    PRESENTER_KEY = args.key
    if args.pid and not Path(f"/proc/{args.pid}").exists():
        parser.error(f"--pid {args.pid}: no such process")
    if args.url:
        parts = urllib.parse.urlsplit(args.url)
        if parts.scheme != "http" or parts.hostname not in LOOPBACK:
            parser.error(f"--url must be http:// on this machine (one of {', '.join(sorted(LOOPBACK))}), "
                         f"not {args.url!r}: this benchmark only talks to loopback")
        args.url = args.url.rstrip("/")
    return args


def server_answers(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy
    try:
        return opener.open(f"{url}/_stcore/health", timeout=5).read() == b"ok"
    except OSError:
        return False


async def measure(url: str, pid: int | None, args: argparse.Namespace, digits: list[Digit], per_session: int):
    print(await warm_up(url, digits[-1]))
    results = []
    for sessions in args.sessions:
        result = await run_level(url, sessions, args.seconds, digits, per_session, pid, args.train)
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
    digits = render_digits(count)
    print(f"{count:,} MNIST test digits redrawn as canvas PNGs in {time.perf_counter() - started:.1f} s "
          f"(median {statistics.median(len(d.canvas_json) for d in digits) / 1024:.1f} KB per canvas value)")

    server, log_path = None, None
    try:
        if args.url:
            if not server_answers(args.url):
                sys.exit(f"No Streamlit server answers at {args.url}/_stcore/health.")
            url, pid = args.url, args.pid
        else:
            log_fd, log_path = tempfile.mkstemp(prefix="audience_load-server-", suffix=".log")
            os.close(log_fd)
            server = start_server(log_path)
            url, pid = server.url, server.pid
            print(f"server: {url} (pid {pid}), its output in {log_path}")
        results = asyncio.run(measure(url, pid, args, digits, per_session))
    finally:
        if server is not None:
            stop_server(server)
    print(f"\nMeasured {time.strftime('%Y-%m-%d %H:%M')}, {args.seconds:.0f} s per level"
          f"{', training the default preset meanwhile' if args.train else ''}:\n")
    print(markdown_table(results))


if __name__ == "__main__":
    main()
