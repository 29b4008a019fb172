"""The room past one laptop, as it runs: Caddy in front of two app replicas on one PostgreSQL
(deploy/local_hall.py, what `make hall` starts). A phone sends through the balancer and the walls
on both replicas count it; the presenter signs in through the balancer, the replica holding the
presenter's session is SIGKILLed, and the Talk page carries on by itself on the other one."""

import hashlib
import hmac

import pytest

from deploy.local_hall import LocalHall
from mnist_core.talk import crowd

from .conftest import assert_no_exception, screenshot, wait_until_idle
from .test_talk import LOAD_TIMEOUT, assert_no_page_errors, assert_read_as, draw_and_send, open_join, wait_for_answers, wait_for_received

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def hall(tmp_path_factory):
    with LocalHall(replicas=2, port=0, folder=tmp_path_factory.mktemp("hall")) as running:
        yield running


def open_wall(page, url: str, key: str):
    page.goto(f"{url}/talk?key={key}", timeout=LOAD_TIMEOUT)
    page.get_by_text("Digits received").wait_for(timeout=LOAD_TIMEOUT)


def sticky_replica(hall: LocalHall, page) -> int:
    """Which replica the balancer keeps this browser on: Caddy's `lb` cookie is the HMAC-SHA-256 of
    the replica's address (no secret set in deploy/Caddyfile)."""
    cookie = next(c["value"] for c in page.context.cookies() if c["name"] == "lb")
    for index, port in enumerate(hall.replica_ports):
        if hmac.new(b"", f"127.0.0.1:{port}".encode(), hashlib.sha256).hexdigest() == cookie:
            return index
    pytest.fail(f"the balancer's cookie {cookie!r} names no replica")


def test_a_phone_sends_through_the_balancer_and_the_wall_on_each_replica_counts_it(hall, browser, phone):
    walls = []
    for url in hall.replica_urls:  # one projector on each replica, straight to it
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        walls.append(context.new_page())
        open_wall(walls[-1], url, hall.key)
    for wall in walls:
        wait_for_received(wall, 0)

    open_join(phone, hall.balancer_url)
    draw_and_send(phone, 1)
    wait_for_answers(phone)
    assert_read_as(phone, 1)
    assert_no_page_errors(phone)

    for wall in walls:  # whichever replica judged it, both walls read it from PostgreSQL
        wait_for_received(wall, 1)
        assert wall.locator(".tile-asked").first.inner_text().strip() == "asked 1"
        assert_no_exception(wall)
    with crowd.CrowdStore(hall.crowd_db) as store:
        assert [d.label for d in store.latest(store.current_talk())] == [1]
    for wall in walls:
        wall.context.close()


def test_the_presenters_replica_dies_and_the_talk_page_carries_on_by_itself(hall, page, phone):
    page.goto(hall.presenter_url, timeout=LOAD_TIMEOUT)  # the key in the fragment: never sent
    page.get_by_text("Digits received").wait_for(timeout=LOAD_TIMEOUT)
    assert "key" not in page.url
    with crowd.CrowdStore(hall.crowd_db) as store:
        count = store.count(store.current_talk())
    wait_for_received(page, count)

    doomed = sticky_replica(hall, page)
    hall.kill_replica(doomed)  # SIGKILL, with its judging workers

    open_join(phone, hall.balancer_url)
    draw_and_send(phone, 7)
    wait_for_answers(phone)
    assert_read_as(phone, 7)

    # The page's websocket died with its replica: Streamlit's page connects again through the
    # balancer, lands on the other replica (the presenter's cookie is good there too) and counts on.
    wait_for_received(page, count + 1, timeout=60_000)
    assert page.get_by_text("Digits received").is_visible()
    assert page.locator("input[type='password']").count() == 0, "the presenter was asked for the key again"
    assert sticky_replica(hall, page) != doomed
    wait_until_idle(page)
    assert_no_exception(page)
    screenshot(page, "hall-presenter-after-failover")
    hall.start_replica(doomed)


def test_https_through_caddy_sets_a_secure_presenter_cookie_and_logs_no_key(tmp_path):
    """The path a public name takes, on one machine: Caddy terminates TLS (its own CA for
    localhost; a public name gets Let's Encrypt's), the replica sees https through the trusted
    proxy and marks the presenter's cookie Secure; the key, sent both ways, is in no log line."""
    import json
    import urllib.error
    import urllib.request

    from deploy.local_hall import unverified_tls

    with LocalHall(replicas=1, port=0, folder=tmp_path, https=True) as hall:
        assert hall.balancer_url.startswith("https://localhost:")
        with urllib.request.urlopen(hall.join_url, context=unverified_tls(), timeout=30) as response:
            assert response.status == 200 and b"<canvas" in response.read()
        sign_in = urllib.request.Request(f"{hall.balancer_url}/api/presenter", method="POST",
                                         data=json.dumps({"key": hall.key}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(sign_in, context=unverified_tls(), timeout=30) as response:
            cookie = next(c for c in response.headers.get_all("Set-Cookie") if c.startswith("mnist_presenter="))
        assert "Secure" in cookie and "HttpOnly" in cookie
        old_form = urllib.request.Request(f"{hall.balancer_url}/talk?key={hall.key}", headers={"Referer": f"x?key={hall.key}"})
        try:
            urllib.request.urlopen(old_form, context=unverified_tls(), timeout=30).close()
        except urllib.error.HTTPError:
            pass
    logs = "".join(path.read_text(errors="replace") for path in tmp_path.glob("*.log"))
    assert "/talk" in logs, "Caddy logged no request at all"
    assert hall.key not in logs
