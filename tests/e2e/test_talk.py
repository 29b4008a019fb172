"""Talk mode as a room uses it: a phone draws with its finger (touch events) and sends a digit,
the projector's Talk page counts it and shows its tile, and the phone cannot reach the demo pages."""

import re

import pytest

from mnist_core import crowd

from .conftest import assert_no_exception, screenshot, wait_until_idle
from .test_browser import digit_strokes

pytestmark = pytest.mark.e2e

PHONE_WIDTH = 390


def touch_draw(page, digit: str, steps: int = 12):
    """Draw `digit` on the canvas with a finger: CDP touchStart / touchMove / touchEnd, as a phone sends."""
    canvas = page.locator("canvas.upper-canvas").first
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    cdp = page.context.new_cdp_session(page)
    try:
        for stroke in digit_strokes(digit, box["x"], box["y"], min(box["width"], box["height"])):
            x, y = stroke[0]
            cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
            for (x0, y0), (x1, y1) in zip(stroke, stroke[1:]):
                for i in range(1, steps + 1):
                    point = {"x": x0 + (x1 - x0) * i / steps, "y": y0 + (y1 - y0) * i / steps}
                    cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [point]})
            cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    finally:
        cdp.detach()


def pick_prompt(page, digit: str):
    """Choose the digit to draw with the page's selector (a prompt is random; we can draw a 1 or a 7)."""
    page.get_by_test_id("stSelectbox").locator("input").click()
    page.get_by_role("option", name=digit, exact=True).click()
    page.get_by_role("heading", name=re.compile(rf"Draw a {digit}\b")).wait_for(timeout=30_000)
    wait_until_idle(page)


def stored_labels(database) -> list[int]:
    with crowd.CrowdStore(database) as store:
        return [d.label for d in store.latest(store.current_talk(), limit=1000)]


def received(projector) -> int:
    metric = projector.locator("[data-testid='stMetric']").filter(has_text="Digits received")
    return int(metric.locator("[data-testid='stMetricValue']").first.inner_text().strip().replace(",", ""))


def wait_for_received(projector, expected: int, timeout: float = 10_000):
    """Until the Talk page's counter shows `expected` (it refreshes by itself every 1.5 s)."""
    projector.wait_for_function(
        """n => [...document.querySelectorAll("[data-testid='stMetric']")]
                 .some(m => m.innerText.includes("Digits received")
                       && m.querySelector("[data-testid='stMetricValue']").innerText.trim().replace(/,/g, "") === String(n))""",
        arg=expected, timeout=timeout)


def test_phone_draws_with_touch_sends_and_the_projector_shows_it(phone, page, talk_server):
    url, key, database = talk_server
    before = stored_labels(database)

    projector = page  # a laptop-sized browser on the projector, the presenter's
    projector.goto(f"{url}/talk?key={key}")
    projector.get_by_text("Digits received").wait_for(timeout=60_000)
    assert "key=" not in projector.url, "the presenter's key stayed in the address bar"
    wait_for_received(projector, len(before))
    tiles_before = projector.locator(".tile-asked").count()
    phone.goto(f"{url}/join")
    canvas = phone.locator("canvas.upper-canvas").first
    canvas.wait_for(timeout=60_000)
    wait_until_idle(phone)
    assert_no_exception(phone)
    box = canvas.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE_WIDTH, f"the canvas does not fit the phone: {box}"
    assert box["width"] >= 320, f"the canvas is narrow for a phone: {box}"
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE_WIDTH, "the page scrolls sideways"
    assert phone.get_by_test_id("stSidebar").count() == 0 or not phone.get_by_test_id("stSidebar").is_visible()
    assert "p=" in phone.url  # the person's token, so a reload keeps them in the talk

    pick_prompt(phone, "1")
    touch_draw(phone, "1")
    wait_until_idle(phone)
    screenshot(phone, "talk-phone-drawn", height=1200)
    phone.get_by_role("button", name=re.compile("Send")).tap()
    arrived = phone.get_by_text("is on the big screen")
    arrived.wait_for(timeout=30_000)
    wait_until_idle(phone)
    answers = phone.get_by_text(re.compile("read it as")).first.inner_text()
    assert re.search(r"ANN\s+read it as 1 ✓", answers) and re.search(r"CNN\s+read it as 1 ✓", answers), answers
    assert not phone.get_by_role("heading", name=re.compile(r"Draw a 1\b")).is_visible(), "no new prompt after Send"
    assert_no_exception(phone)
    assert stored_labels(database) == [1] + before  # newest first: the digit was stored before the phone was told
    screenshot(phone, "talk-phone-sent", height=1200)

    # The projector counts it and shows its tile (newest first) without anyone touching it.
    wait_for_received(projector, len(before) + 1)
    tiles = projector.locator(".tile-asked")
    expect_tiles = min(tiles_before + 1, 18)
    projector.wait_for_function("n => document.querySelectorAll('.tile-asked').length === n",
                                arg=expect_tiles, timeout=10_000)
    assert tiles.first.inner_text().strip() == "asked 1"
    assert_no_exception(projector)
    screenshot(projector, "talk-projector-wall")

    # The audience cannot reach the demo pages: /train lands on Join.
    phone.goto(f"{url}/train")
    phone.get_by_role("button", name=re.compile("Send")).wait_for(timeout=60_000)
    wait_until_idle(phone)
    assert phone.get_by_role("button", name=re.compile("Start training")).count() == 0
    assert phone.get_by_role("heading", name=re.compile("Draw a ")).is_visible()
    assert_no_exception(phone)
    screenshot(phone, "talk-phone-train-url", height=1200)
