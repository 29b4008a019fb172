"""The presenter signs in on a real talk-mode server in Chromium, and the key is in no URL the
browser requests (nor in its address bar or history): /presenter#key=KEY keeps it in the fragment
and posts it in a body; without a fragment the page asks for it."""

import urllib.parse

import pytest

from .conftest import assert_no_exception, wait_until_idle

pytestmark = pytest.mark.e2e

LOAD_TIMEOUT = 60_000


def record_requests(page) -> list:
    """Every request the page makes (websockets too), as Playwright sees it leave the browser."""
    requests = []
    page.on("request", lambda request: requests.append(request))
    page.on("websocket", lambda ws: requests.append(ws))
    return requests


def assert_on_the_talk_page_without_the_key(page, key: str):
    address = urllib.parse.urlsplit(page.url)
    assert address.path == "/talk" and key not in page.url and not address.fragment, page.url


def assert_key_only_in_the_sign_in_body(requests, key: str):
    in_urls = [r.url for r in requests if key in r.url]
    assert not in_urls, f"the key was sent in an address: {in_urls}"
    carrying = [r for r in requests if hasattr(r, "post_data") and key in (r.post_data or "")]
    assert [(r.method, r.url.rsplit("/", 2)[-2:]) for r in carrying] == [("POST", ["api", "presenter"])]


def test_the_key_in_the_fragment_opens_the_talk_page_and_never_leaves_the_browser(page, talk_server):
    url, key, _ = talk_server
    requests = record_requests(page)
    page.goto(f"{url}/presenter#key={key}")
    page.get_by_text("Digits received").wait_for(timeout=LOAD_TIMEOUT)
    wait_until_idle(page)
    assert_on_the_talk_page_without_the_key(page, key)
    assert_key_only_in_the_sign_in_body(requests, key)
    assert any("/_stcore/stream" in r.url for r in requests), "the Talk page's websocket"
    assert_no_exception(page)
    # Every entry of this tab's history (read, not walked: going back would navigate Streamlit's
    # page mid-run): no address holds the key.
    cdp = page.context.new_cdp_session(page)
    visited = [entry["url"] for entry in cdp.send("Page.getNavigationHistory")["entries"]]
    cdp.detach()
    assert any("/talk" in address for address in visited), visited  # (/presenter replaced itself)
    assert not [address for address in visited if key in address], visited


def test_without_a_fragment_the_page_asks_and_a_wrong_key_waits(page, talk_server):
    url, key, _ = talk_server
    requests = record_requests(page)
    page.goto(f"{url}/presenter")
    field = page.get_by_label("Presenter's key")
    field.fill("not-the-key")
    page.get_by_role("button", name="Open the Talk page").click()
    page.get_by_text("not the presenter's key").wait_for(timeout=LOAD_TIMEOUT)
    assert page.url == f"{url}/presenter"
    page.wait_for_timeout(1_200)  # the guard's wait after one wrong key: 1 s
    field.fill(key)
    page.get_by_role("button", name="Open the Talk page").click()
    page.get_by_text("Digits received").wait_for(timeout=LOAD_TIMEOUT)
    assert_on_the_talk_page_without_the_key(page, key)
    assert_key_only_in_the_sign_in_body(requests, key)
    wait_until_idle(page)
    assert_no_exception(page)
