"""Talk mode as a room uses it: a phone opens /join (one small HTML page, no Streamlit), draws with
its finger (touch events), picks the digit it drew and sends it; both models' answers come back,
the projector's Talk page counts the digit and shows its tile. Also on a slow network, with a
request or a response lost on the way (the page retries with the same send id: one row, never
two), and the audience cannot reach the demo pages."""

import json
import re
import sqlite3
import time

import pytest

from mnist_core.talk import crowd

from .conftest import assert_no_exception, screenshot, wait_until_idle
from .test_browser import digit_strokes

pytestmark = pytest.mark.e2e

PHONE_WIDTH = 390
SEND_TIMEOUT = 150_000  # ms: the first Send may wait for the judging workers to load both models
LOAD_TIMEOUT = 60_000
SLOW_3G = {"offline": False, "latency": 2000, "downloadThroughput": 50 * 1024, "uploadThroughput": 50 * 1024}


# ------------------------------------------------------------------ helpers

def touch_draw(page, digit: str, steps: int = 12):
    """Draw `digit` on #pad with a finger: CDP touchStart / touchMove / touchEnd, as a phone sends."""
    canvas = page.locator("#pad")
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


def ink(page) -> int:
    """How many of the canvas's pixels are lit (the background is black, the pen white)."""
    return page.evaluate("""() => {
        const c = document.getElementById("pad"), d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
        let lit = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] > 128) lit++;
        return lit;
    }""")


def open_join(phone, url: str):
    """The phone opens the join page and it is ready to draw: the canvas is laid out and the page
    holds its person token."""
    phone.goto(f"{url}/join", timeout=LOAD_TIMEOUT)
    phone.locator("#pad").wait_for(timeout=LOAD_TIMEOUT)
    wait_for_token(phone)


def wait_for_token(phone, timeout: float = LOAD_TIMEOUT):
    phone.wait_for_function("() => !!localStorage.getItem('mnist-person-token')", timeout=timeout)


def pick(phone, digit: int):
    """Choose the digit to draw with the picker (the prompt is random; we draw a 1)."""
    button = phone.get_by_role("button", name=f"Draw a {digit}", exact=True)
    button.tap()
    assert button.get_attribute("aria-pressed") == "true"
    assert phone.locator("#prompt-digit").inner_text().strip() == str(digit)


def draw_and_send(phone, digit: int = 1):
    pick(phone, digit)
    touch_draw(phone, str(digit))
    assert ink(phone) > 500, "the finger's strokes did not show on the canvas"
    phone.locator("#send").tap()


def wait_for_answers(phone, timeout: float = SEND_TIMEOUT) -> dict:
    """Until both models' answers are shown; returns kind → the answer line's text."""
    try:
        for kind in ("ann", "cnn"):
            phone.locator(f"#result .answer[data-kind='{kind}']").wait_for(timeout=timeout)
    except Exception:
        pytest.fail("No answer on the phone. Its status line said: "
                    f"{phone.locator('#status').inner_text()!r}\n" + "\n".join(phone.problems))
    return {kind: phone.locator(f"#result .answer[data-kind='{kind}']").inner_text() for kind in ("ann", "cnn")}


def assert_read_as(phone, digit: int):
    for kind, name in (("ann", "ANN"), ("cnn", "CNN")):
        line = phone.locator(f"#result .answer[data-kind='{kind}']")
        text = line.inner_text()
        assert line.locator(".model").inner_text().strip() == name, text
        assert line.locator(".digit").inner_text().strip() == str(digit), f"{name} did not read a {digit}: {text!r}"
        assert line.locator(".right").count() == 1 and "✓" in text, f"{name} is not marked right: {text!r}"


def assert_no_page_errors(phone):
    errors = [p for p in phone.problems if p.startswith("page error")]
    assert not errors, errors


def stored_labels(database) -> list[int]:
    with crowd.CrowdStore(database) as store:
        return [d.label for d in store.latest(store.current_talk(), limit=1000)]


def rows(database) -> int:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT count(*) FROM digits").fetchone()[0]


def rows_with_send_id(database, send_id: str) -> list[int]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM digits WHERE send_id = ?", (send_id,))]


def wait_for_received(projector, expected: int, timeout: float = 30_000):
    """Until the Talk page's counter shows `expected` (it refreshes by itself every 1.5 s)."""
    projector.wait_for_function(
        """n => [...document.querySelectorAll("[data-testid='stMetric']")]
                 .some(m => m.innerText.includes("Digits received")
                       && m.querySelector("[data-testid='stMetricValue']").innerText.trim().replace(/,/g, "") === String(n))""",
        arg=expected, timeout=timeout)


class Downloads:
    """What a page fetches over the network (CDP Network events): requests and bytes on the wire
    (headers and bodies, as encoded: Network.loadingFinished's encodedDataLength)."""

    def __init__(self, page):
        self.cdp = page.context.new_cdp_session(page)
        self.urls: dict[str, str] = {}
        self.bytes: dict[str, int] = {}
        self.failed: set[str] = set()
        self.cdp.on("Network.requestWillBeSent", self._sent)
        self.cdp.on("Network.loadingFinished", lambda e: self.bytes.__setitem__(e["requestId"], int(e["encodedDataLength"])))
        self.cdp.on("Network.loadingFailed", lambda e: self.failed.add(e["requestId"]))
        self.cdp.send("Network.enable")

    def _sent(self, event):
        if not event["request"]["url"].startswith("data:"):
            self.urls[event["requestId"]] = event["request"]["method"] + " " + event["request"]["url"]

    def snapshot(self) -> tuple[list[str], int]:
        """(each request as "METHOD URL (bytes)", the bytes of them all)."""
        return ([f"{self.urls[r]} ({self.bytes.get(r, 0):,} B)" for r in self.urls],
                sum(self.bytes.get(r, 0) for r in self.urls))


# ------------------------------------------------------------------ 1. the whole path

def test_phone_draws_with_touch_sends_and_the_projector_shows_it(phone, page, talk_server):
    url, key, database = talk_server
    before = stored_labels(database)

    projector = page  # a laptop-sized browser on the projector, the presenter's
    projector.goto(f"{url}/talk?key={key}")
    projector.get_by_text("Digits received").wait_for(timeout=LOAD_TIMEOUT)
    assert "key=" not in projector.url, "the presenter's key stayed in the address bar"
    wait_for_received(projector, len(before))
    tiles_before = projector.locator(".tile-asked").count()

    downloads = Downloads(phone)
    open_join(phone, url)
    phone.wait_for_load_state("load")
    requests, transferred = downloads.snapshot()  # the canvas is usable: laid out, script run, token held
    phone.wait_for_load_state("networkidle")
    all_requests, all_transferred = downloads.snapshot()
    print(f"\n/join on the phone: {len(requests)} requests, {transferred:,} bytes transferred until the canvas is "
          f"usable ({len(all_requests)} requests, {all_transferred:,} bytes once idle): {requests}")
    assert len(requests) <= 5, f"the phone needed {len(requests)} requests before it could draw: {requests}"

    canvas = phone.locator("#pad")
    box = canvas.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE_WIDTH, f"the canvas does not fit the phone: {box}"
    assert box["width"] >= 320, f"the canvas is narrow for a phone: {box}"
    assert box["y"] + box["height"] <= 844, f"the canvas is not all on the first screen: {box}"
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE_WIDTH, "the page scrolls sideways"
    assert phone.locator("#send").is_visible() and phone.locator("#clear").is_visible()

    pick(phone, 1)
    touch_draw(phone, "1")
    drawn = ink(phone)
    assert drawn > 500, f"the finger's strokes did not show on the canvas ({drawn} lit pixels)"
    assert phone.locator("#hint").is_hidden()
    screenshot(phone, "talk-phone-drawn", height=1200)

    phone.locator("#send").tap()
    wait_for_answers(phone)
    assert phone.get_by_role("heading", name="Your 1 is on the big screen.").is_visible()
    assert_read_as(phone, 1)
    # A new prompt, and the canvas is empty again for the next digit.
    assert phone.locator("#prompt-digit").inner_text().strip() != "1", "no new prompt after Send"
    assert ink(phone) == 0, "the canvas was not cleared after Send"
    assert phone.locator("#hint").is_visible()
    assert phone.locator("#status").inner_text().strip() == ""
    assert stored_labels(database) == [1] + before  # newest first: the digit was stored before the phone was told
    assert_no_page_errors(phone)
    screenshot(phone, "talk-phone-sent", height=1200)

    # The projector counts it and shows its tile (newest first) without anyone touching it.
    wait_for_received(projector, len(before) + 1)
    expect_tiles = min(tiles_before + 1, 18)
    projector.wait_for_function("n => document.querySelectorAll('.tile-asked').length === n",
                                arg=expect_tiles, timeout=30_000)
    assert projector.locator(".tile-asked").first.inner_text().strip() == "asked 1"
    wait_until_idle(projector)
    assert_no_exception(projector)
    screenshot(projector, "talk-projector-wall")


# ------------------------------------------------------------------ 2. a slow network

def test_a_send_over_slow_3g_arrives_once(phone, talk_server):
    url, _, database = talk_server
    downloads = Downloads(phone)
    downloads.cdp.send("Network.emulateNetworkConditions", SLOW_3G)
    started = time.perf_counter()
    open_join(phone, url)
    loaded = time.perf_counter() - started
    requests, transferred = downloads.snapshot()
    print(f"\n/join over Slow 3G: ready to draw in {loaded:.1f} s ({len(requests)} requests, {transferred:,} bytes)")
    assert loaded >= 2.0, f"the network was not throttled (the page was ready in {loaded:.2f} s)"

    before = rows(database)
    draw_and_send(phone, 1)
    phone.locator("#status").filter(has_text="Sending").wait_for(timeout=10_000)  # a person sees it is on its way
    started = time.perf_counter()
    wait_for_answers(phone)
    print(f"Send → answers over Slow 3G: {time.perf_counter() - started:.1f} s")
    assert_read_as(phone, 1)
    assert rows(database) == before + 1, "a Send over a slow network must store exactly one row"
    assert_no_page_errors(phone)


# ------------------------------------------------------------------ 3. a request or a response lost

def test_a_dropped_send_is_retried_by_the_page_and_stored_once(phone, talk_server):
    url, _, database = talk_server
    open_join(phone, url)
    sent = []  # each Send request's body, as the server would get it

    def drop_the_first(route):
        sent.append(json.loads(route.request.post_data))
        if len(sent) == 1:
            route.abort()  # the Wi-Fi dropped it: the server never sees this one
        else:
            route.continue_()

    phone.route("**/api/join/send", drop_the_first)
    before = rows(database)
    draw_and_send(phone, 1)
    wait_for_answers(phone)
    assert_read_as(phone, 1)
    assert phone.locator("#status").inner_text().strip() == "", "an error stayed on screen after the answer came"
    assert len(sent) >= 2, "the page did not send again after the request was dropped"
    assert len({body["send_id"] for body in sent}) == 1, "the retry carried a new send id"
    assert rows(database) == before + 1
    assert len(rows_with_send_id(database, sent[0]["send_id"])) == 1


def test_a_failed_join_is_tried_again_quietly(phone, talk_server):
    """Behind a balancer, a replica that just died answers a token request with 502 once: the page
    asks again by itself and says nothing alarming."""
    url, _, _ = talk_server
    asked = []

    def fail_the_first(route):
        asked.append(route.request.url)
        if len(asked) == 1:
            route.fulfill(status=502, body="")  # what Caddy answers for a replica gone mid-request
        else:
            route.continue_()

    phone.route("**/api/join/token", fail_the_first)
    open_join(phone, url)  # waits for the token in the page's storage
    assert len(asked) == 2
    assert phone.locator("#status").inner_text().strip() == ""
    assert_no_page_errors(phone)


def test_a_lost_answer_is_retried_and_gets_the_same_digit(phone, talk_server):
    url, _, database = talk_server
    open_join(phone, url)
    sent, answers = [], []  # each Send's body, and what the server answered it

    def lose_the_first_answer(route):
        sent.append(json.loads(route.request.post_data))
        response = route.fetch(timeout=SEND_TIMEOUT)  # the server gets it, judges and stores it …
        answers.append((response.status, response.json()))
        if len(sent) == 1:
            route.abort()  # … and its answer is lost on the way back to the phone
        else:
            route.fulfill(response=response)

    phone.route("**/api/join/send", lose_the_first_answer)
    before = rows(database)
    draw_and_send(phone, 1)
    wait_for_answers(phone)
    assert_read_as(phone, 1)
    assert phone.locator("#status").inner_text().strip() == "", "an error stayed on screen after the answer came"
    assert len(sent) >= 2, "the page did not send again after the answer was lost"
    assert len({body["send_id"] for body in sent}) == 1, "the retry carried a new send id"
    (first_status, first), (retry_status, retry) = answers[0], answers[-1]
    assert first_status == 200 and first["retry"] is False, first
    assert retry_status == 200 and retry["retry"] is True, retry
    assert retry["digit_id"] == first["digit_id"], (first, retry)
    assert rows(database) == before + 1, "the retry stored the digit a second time"
    assert rows_with_send_id(database, sent[0]["send_id"]) == [first["digit_id"]]


# ------------------------------------------------------------------ 4. the demo pages are closed

@pytest.mark.parametrize("path", ["train", ""])
def test_the_audience_lands_on_join_from_a_demo_page(phone, talk_server, path):
    url, _, _ = talk_server
    phone.goto(f"{url}/{path}", timeout=LOAD_TIMEOUT)
    phone.locator("#pad").wait_for(timeout=LOAD_TIMEOUT)
    assert phone.url == f"{url}/join", phone.url
    assert phone.locator("#send").is_visible()
    assert phone.get_by_role("heading", name=re.compile(r"Draw a \d")).is_visible()
    assert phone.get_by_role("button", name=re.compile("Start training")).count() == 0
    assert phone.get_by_text("Start training").count() == 0
    assert phone.locator("[data-testid='stApp']").count() == 0, "the phone got the Streamlit app"
    screenshot(phone, f"talk-phone-{path or 'home'}-url", height=1200)


# ------------------------------------------------------------------ 5. nothing drawn

def test_send_with_a_blank_canvas_asks_for_a_digit_and_stores_nothing(phone, talk_server):
    url, _, database = talk_server
    open_join(phone, url)
    sends = []
    phone.on("request", lambda r: "/api/join/send" in r.url and sends.append(r.url))
    before = rows(database)
    phone.locator("#send").tap()
    phone.locator("#status").filter(has_text="Draw a digit first").wait_for(timeout=10_000)
    assert "error" in phone.locator("#status").get_attribute("class")
    assert phone.locator("#result").is_hidden()
    assert not sends, "a blank canvas was sent to the server"
    assert rows(database) == before
    assert_no_page_errors(phone)
