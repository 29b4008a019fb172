"""One person training on the Train page while others load the app, over Streamlit's protocol
(streamlit_client): picks "Preset's recipe" for the default preset, presses Start training,
follows the progress bar (polling the fragment as the browser does), presses Stop when told, and
waits for the test accuracy. `print_training` says whether training ran throughout."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from streamlit_client import AppMismatch, Run, Session, TimeUp

LONGEST_STILL = 15.0  # s: a bar that stood still longer than this means training stalled


@dataclass
class Training:
    setup: str = ""
    started: float | None = None      # s from `start` when Start was pressed
    moves: list = field(default_factory=list)   # (s from `start`, bar's text) each time the batch moved on
    active_at_stop: bool | None = None
    stopped: float = 0.0               # s from `start` when Stop was pressed
    polls: int = 0                     # fragment runs (the bar's auto-reruns) that finished
    last_bar: str = ""                 # the bar's text when Stop was pressed
    after_stop: str = ""
    problems: list = field(default_factory=list)


def batch_shown(progress: tuple[int, str] | None) -> tuple | None:
    """The epoch and batch the progress bar's text names ("ann (52a9): epoch 2 of 30 · batch 17 of 422 · …"),
    "epoch" in either case."""
    match = re.search(r"(?i)epoch (\d+).*?batch ([\d,]+)", progress[1]) if progress else None
    return match.groups() if match else None


async def train_until(session: Session, report: Training, start: float, stop_at: float, hard_end: float,
                      result_within: float) -> None:
    """Open Train, start the full recipe, follow the bar until `stop_at`, press Stop and wait (up
    to `result_within` s, never past `hard_end`) for the test accuracy. Times are perf_counter."""
    page = await session.open_page("train", hard_end)
    page = await start_full_recipe(session, page, report, hard_end)
    report.started = time.perf_counter() - start
    report.problems += page.exceptions + page.error_alerts
    page = await follow_bar(session, page, report, start, stop_at)
    await stop_and_wait(session, page, report, start, hard_end, result_within)


async def start_full_recipe(session: Session, page: Run, report: Training, until: float) -> Run:
    recipe = page.widget("button_group", "Settings")
    full = next((o for o in page.options[recipe] if "recipe" in o), None)
    if full is None:
        raise AppMismatch(f"no recipe option in {page.options[recipe]}")
    session.hold_strings(recipe, [full])
    await session.rerun()
    page = await session.wait_run(until)
    numbers = page.numbers
    report.setup = (f"{numbers.get('Epochs', 0):.0f} epochs, batch {numbers.get('Batch size', 0):.0f}"
                    if numbers else "settings not shown")
    await session.rerun(press=page.widget("button", "Start training"))
    return await session.wait_run(until)


async def follow_bar(session: Session, page: Run, report: Training, start: float, stop_at: float) -> Run:
    """Until `stop_at`: every run the fragment's auto-reruns bring, each move of the bar. The page
    as its last full run left it."""
    last = None
    try:
        while True:
            run = await session.receive(stop_at)
            if run is not None and run.fragment:
                report.polls += 1
            elif run is not None:
                page = run
                report.problems += run.exceptions + run.error_alerts
            batch = batch_shown(session.progress)
            if batch and batch != last:  # the bar moved
                last = batch
                report.moves.append((time.perf_counter() - start, session.progress[1]))
    except TimeUp:
        return page


async def stop_and_wait(session: Session, page: Run, report: Training, start: float, hard_end: float,
                        result_within: float) -> None:
    stop = page.widget("button", "Stop")
    report.active_at_stop = stop not in page.disabled and "Test accuracy" not in page.metrics
    pressed = time.perf_counter()
    report.stopped, report.last_bar = pressed - start, (session.progress or (0, ""))[1]
    await session.rerun(press=stop)
    until = min(hard_end, pressed + result_within)
    # The page reruns in full once the run has stopped and shows its test accuracy.
    try:
        while "Test accuracy" not in page.metrics:
            page = await session.wait_run(until)
            report.problems += page.exceptions + page.error_alerts
        report.after_stop = (f"Test accuracy {page.metrics['Test accuracy']} "
                             f"{time.perf_counter() - pressed:.1f} s after Stop")
    except TimeUp:
        report.after_stop = f"no result within {until - pressed:.0f} s of Stop"


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
    throughout = bool(t.active_at_stop and moves and longest < LONGEST_STILL)
    print(f"  training ({t.setup}): Start pressed {t.started:.1f} s into the level, {first}; the bar moved "
          f"{len(moves)} times, longest still spell {longest:.1f} s")
    print(f"    the bar was polled {t.polls} times (fragment auto-reruns); its text at Stop: {t.last_bar!r}")
    print(f"    still running when Stop was pressed: {'yes' if t.active_at_stop else 'no'}; after Stop: {t.after_stop}; "
          f"training ran throughout: {'yes' if throughout else 'no'}")
    for problem in dict.fromkeys(t.problems):
        print(f"    shown on the Train page: {problem}")
