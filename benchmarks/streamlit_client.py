"""A browser tab without a browser: Streamlit's own websocket protocol (streamlit.proto), decoded
only as far as the load benchmarks need, so that one process can play many people.

The exchange: the client sends `BackMsg.rerun_script`, a `ClientState` with the page's
`page_script_hash`, the `widget_states` it holds and `context_info`; the server answers
`new_session`, `navigation` (every page's url path and hash), `delta`s (`new_element`,
`add_block`) and `script_finished`. Element ids are read from the widget protos in the deltas. A
button press is `trigger_value: true` for that one rerun. Like the browser, a session keeps the
states it set while their widgets are shown and drops them when they leave the page; widgets it
never touched are not sent (the server keeps their values). It sends no `cached_message_hashes`,
so the server sends every element in full. `st.fragment(run_every=…)` arrives as `auto_rerun`,
and the session asks for the fragment's reruns as the browser's timer would.
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ClientState_pb2 import ClientState, ContextInfo
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

CONTEXT = ContextInfo(timezone="UTC", timezone_offset=0, locale="en-US", is_embedded=False, color_scheme="light")


class TimeUp(Exception):
    """The caller's deadline came while waiting for the server."""


class AppMismatch(Exception):
    """The app does not show what the benchmark expects (a page, a widget)."""


@dataclass
class Run:
    """What one script run showed, decoded only as far as the benchmarks need."""
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

    def metric(self, label_part: str) -> str | None:
        """The value of the metric whose label contains `label_part`."""
        return next((body for label, body in self.metrics.items() if label_part in label), None)


class Session:
    """One browser tab: a websocket, the widget states the tab holds, and what the server showed."""

    def __init__(self, ws: ClientConnection, base_url: str, query_string: str = ""):
        self.ws, self.base_url = ws, base_url
        self.pages: dict[str, str] = {}          # url path → page_script_hash (navigation message)
        self.page_hash, self.path = "", ""
        self.query_string = query_string          # the address bar's query (the server may change it)
        self.states: dict[str, WidgetState] = {}  # the states the tab would send with each rerun
        self.current: Run | None = None
        self.tickers: dict[str, tuple[float, asyncio.Task]] = {}  # fragment id → (interval, task)
        self.progress: tuple[int, str] | None = None  # the latest progress bar seen, any run
        self.odd: Counter = Counter()             # messages this client does not expect

    @classmethod
    async def open(cls, base_url: str, query_string: str = "", open_timeout: float = 30.0) -> Session:
        parts = urllib.parse.urlsplit(base_url)
        ws_url = f"ws://{parts.netloc}{parts.path.rstrip('/')}/_stcore/stream"
        # No pings (a browser sends none; the server pings), no proxy (loopback only), any size.
        ws = await connect(ws_url, subprotocols=["streamlit"], max_size=None, ping_interval=None,
                           open_timeout=open_timeout, proxy=None)
        return cls(ws, base_url, query_string)

    async def close(self) -> None:
        self.stop_tickers()
        await self.ws.close()

    def hold_json(self, widget_id: str, value: str) -> None:
        """The widget's JSON value, as a components-v2 component sets it, held for every rerun."""
        self.states[widget_id] = WidgetState(id=widget_id, json_value=value)

    def hold_strings(self, widget_id: str, values: list[str]) -> None:
        """The widget's chosen options (a button group's, a multiselect's), held for every rerun."""
        self.states[widget_id] = WidgetState(id=widget_id)
        self.states[widget_id].string_array_value.data.extend(values)

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
        """Read and handle one message; the run it finished, if any. TimeUp at `until`."""
        try:
            async with asyncio.timeout(until - time.perf_counter()):
                data = await self.ws.recv()
        except TimeoutError:
            raise TimeUp from None
        return self.handle(ForwardMsg.FromString(data))

    def handle(self, msg: ForwardMsg) -> Run | None:
        kind = msg.WhichOneof("type")
        if kind == "delta":
            self.read_delta(msg.delta)
        elif kind == "new_session":
            fragment = len(msg.metadata.run.fragment_ids) > 0
            if not fragment:
                self.stop_tickers()  # the browser drops every auto-rerun timer when a full run starts
            self.current = Run(fragment=fragment)
        elif kind == "script_finished":
            return self.finish_run(msg)
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

    def read_delta(self, delta) -> None:
        if self.current is None:
            return
        self.current.add(delta)
        element = delta.new_element
        if delta.WhichOneof("type") == "new_element" and element.WhichOneof("type") == "progress":
            self.progress = (element.progress.value, element.progress.text)

    def finish_run(self, msg: ForwardMsg) -> Run | None:
        run, self.current = self.current, None
        if run is not None:
            run.status = ForwardMsg.ScriptFinishedStatus.Name(msg.script_finished)
            run.finished_at = time.perf_counter()
            if not run.fragment and run.status != "FINISHED_EARLY_FOR_RERUN":
                self.forget_hidden_widgets(run)
        return run

    def forget_hidden_widgets(self, run: Run) -> None:
        # As the browser does after each run: states of widgets no longer shown are dropped
        # (after the Draw page's Clear, the old canvas's drawing).
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


# ── a person's visits ─────────────────────────────────────────────────────────────────────────

@dataclass
class SessionStats:
    """What every simulated person's sessions count."""
    right: Counter = field(default_factory=Counter)   # e.g. "ANN" / "CNN" → right answers
    errors: Counter = field(default_factory=Counter)
    examples: dict = field(default_factory=dict)      # error kind → first message
    open_times: list = field(default_factory=list)
    odd: Counter = field(default_factory=Counter)

    def error(self, kind: str, example: str = "") -> None:
        self.errors[kind] += 1
        if example:
            self.examples.setdefault(kind, example)


async def visit(open_session, open_page, act, stats: SessionStats, slow: float) -> bool:
    """One connection of a simulated person: connect, open the page, then `await act(session, page)`.
    A refused connection or a dropped one is counted ("disconnect") and gives False (connect again);
    an open slower than `slow` s is counted ("unopened"). True once `act` returned or time is up."""
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
        if stats.open_times[-1] > slow:
            stats.error("unopened")
        await act(session, page)
        return True
    except ConnectionClosed as exc:
        stats.error("disconnect", repr(exc))
        return False
    except TimeUp:
        return True
    finally:
        stats.odd.update(session.odd)
        await session.close()
