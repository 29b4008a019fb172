"""The Train page in a real browser: the strip changes epoch by epoch, the slider scrubs it, a replay
plays to its end."""

import re
import time

from mnist_core.training import replays
from tests.e2e.conftest import assert_no_exception, screenshot, wait_until_idle
from tests.e2e.test_browser import open_page

MARKS = re.compile("[✓✗]")


def strip_text(page) -> str:
    """Everything the strip says: each answer with its mark, and each confidence."""
    return strip_at(page)[1]


def strip_at(page) -> tuple[str, str]:
    """The epoch the strip says it shows ("After epoch 2") and its text, read from the one chart
    together: the slider above it is redrawn a moment earlier."""
    strip = page.locator("[data-testid='stPlotlyChart']").filter(has_text=MARKS)
    if strip.count() == 0:
        return "", ""
    return strip.first.evaluate(
        "chart => [(chart.querySelector('.gtitle') || {}).textContent || '',"
        " [...chart.querySelectorAll('.textpoint text')].map(t => t.textContent).join(' ')]")


def slider_value(page) -> str:
    return page.locator("[data-testid='stSlider']").filter(has_text="Epoch").get_by_role("slider").get_attribute(
        "aria-valuetext") or ""


def test_a_quick_run_changes_the_strip_each_epoch_and_the_slider_scrubs_it(page, server):
    open_page(page, server, "train")
    epochs = page.get_by_label("Epochs")
    epochs.fill("5")  # the quick demo's 3 epochs of ~2 s each can end before the browser has drawn them all
    epochs.press("Enter")
    wait_until_idle(page)
    page.get_by_role("button", name=re.compile("Start training")).click()
    seen = {}  # epoch on the slider → what the strip said then
    deadline = time.time() + 180
    metric = page.locator("[data-testid='stMetric']").filter(has_text="Test accuracy")
    while time.time() < deadline and metric.count() == 0:
        title, text = strip_at(page)
        if title.startswith("After epoch") and MARKS.search(text):
            seen.setdefault(title.split()[-1], text)
        page.wait_for_timeout(300)
    assert metric.count() == 1, "the quick demo did not finish in 180 s"
    wait_until_idle(page)
    title, text = strip_at(page)
    seen.setdefault(title.split()[-1], text)  # the last epoch, drawn once the run ended
    assert len(seen) >= 3, f"the strip was seen at only {list(seen)} during the run"
    print(f"\nstrip seen after epochs {', '.join(sorted(seen))} of 5")
    assert len(set(seen.values())) == len(seen)  # a different strip each epoch
    assert slider_value(page) == "5"  # the slider followed the run to its last epoch
    last = strip_text(page)
    thumb = page.locator("[data-testid='stSlider']").filter(has_text="Epoch").get_by_role("slider")
    thumb.focus()
    page.keyboard.press("Home")  # back to epoch 1
    deadline = time.time() + 20
    while time.time() < deadline and strip_at(page)[0] != "After epoch 1":
        page.wait_for_timeout(200)
    wait_until_idle(page)
    assert slider_value(page) == "1"
    title, first = strip_at(page)
    assert title == "After epoch 1", f"the strip still shows {title!r} after the slider moved to epoch 1"
    assert first != last
    if "1" in seen:
        assert first == seen["1"]  # the same strip the run showed when epoch 1 ended
    assert_no_exception(page)
    screenshot(page, "train-strip-scrubbed", height=2400)


def test_a_replay_plays_to_its_end(page, server):
    open_page(page, server, "train")
    page.get_by_role("radio", name="Replay a recording").click()
    wait_until_idle(page)
    page.get_by_role("button", name="Play").click()
    progress = page.get_by_text(re.compile(r"Replay at 20× · playing epoch \d+ of 30"))
    progress.wait_for(timeout=15_000)
    playing = int(re.search(r"playing epoch (\d+)", progress.inner_text()).group(1))
    # At 20× the replay lasts a twentieth of the recorded run's training time (about 90 s for ann).
    seconds = replays.load_recording(replays.replay_path("ann", replays.SHIPPED_DIR)).seconds
    page.get_by_text("Replay of ann · all 30 epochs played").wait_for(timeout=(seconds / 20 + 40) * 1000)
    page.locator("[data-testid='stMetric']").filter(has_text="Test accuracy (recorded)").wait_for(timeout=15_000)
    wait_until_idle(page)
    assert playing < 30 and slider_value(page) == "30"  # seen under way, then played to its last epoch
    legend = " ".join(page.locator("[data-testid='stPlotlyChart'] .legendtext").all_text_contents())
    assert "ann (replay) · train" in legend
    assert page.get_by_text(re.compile("Replay · recorded")).count() >= 1  # labelled as a replay
    assert_no_exception(page)
    screenshot(page, "train-replay-finished", height=2400)
