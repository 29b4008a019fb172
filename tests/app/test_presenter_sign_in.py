"""The presenter's sign-in without the key in any address (audience/server.py): GET /presenter (a
small page that reads #key=... and posts it) and POST /api/presenter (checks it, sets the cookie),
and the client address behind a trusted balancer. Starlette's TestClient drives the routes and
the gate as streamlit_app.py's st.App serves them (tests/e2e/test_presenter_sign_in.py has the
page itself in Chromium)."""

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from audience import server
from mnist_core.talk import forwarded, presenter

KEY = "presenter-key-for-sign-in-tests"


async def streamlit_stand_in(request):
    return PlainTextResponse("streamlit")


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(presenter, "KEY_GUARD", presenter.KeyGuard(clock=clock))
    return clock


@pytest.fixture
def app(monkeypatch, clock):
    monkeypatch.setenv(presenter.KEY_ENV, KEY)
    monkeypatch.delenv(forwarded.TRUSTED_PROXIES_ENV, raising=False)
    return Starlette(routes=server.ROUTES + [Route("/{path:path}", streamlit_stand_in)],
                     middleware=[Middleware(server.AudienceGate)])


def browser(app, peer: str = "198.51.100.7", base_url: str = "http://127.0.0.1:8501") -> TestClient:
    return TestClient(app, base_url=base_url, follow_redirects=False, client=(peer, 50000))


def sign_in(client, key, **kwargs):
    return client.post("/api/presenter", json={"key": key}, **kwargs)


def test_the_sign_in_page_passes_the_gate_and_keeps_nothing(app):
    response = browser(app).get("/presenter")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store" and response.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    page = response.text
    assert "location.hash" in page and "history.replaceState" in page and "/api/presenter" in page
    assert 'type="password"' in page and KEY not in page
    assert len(page.encode()) < 10_000 and "<script src" not in page


def test_the_right_key_sets_the_presenters_cookie(app):
    client = browser(app)
    assert client.get("/train").status_code == 303, "the audience first"
    response = sign_in(client, KEY)
    assert response.status_code == 200 and response.json()["next"] == "/talk"
    assert response.headers["cache-control"] == "no-store"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{presenter.PRESENTER_COOKIE}={presenter.presenter_cookie_value(KEY)}")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and KEY not in cookie and "Secure" not in cookie
    assert client.get("/train").text == "streamlit" and client.get("/talk").text == "streamlit"


def test_over_https_the_cookie_is_secure(app):
    response = sign_in(browser(app, base_url="https://talk.example.org"), KEY)
    assert response.status_code == 200 and "Secure" in response.headers["set-cookie"]


def test_wrong_keys_wait_and_give_no_cookie(app, clock):
    client = browser(app)
    wrong = sign_in(client, "guess-1")
    assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
    assert wrong.headers["retry-after"] == "1" and wrong.json()["status"] == "wrong_key"
    assert "not the presenter's key" in wrong.json()["message"]
    waiting = sign_in(client, KEY)  # even the right key, while the client waits
    assert waiting.status_code == 429 and int(waiting.headers["retry-after"]) >= 1 and "set-cookie" not in waiting.headers
    clock.now += 1.1
    assert sign_in(client, "guess-2").status_code == 401
    clock.now += 1.1  # the second wrong key doubled the wait to 2 s
    assert sign_in(client, KEY).status_code == 429
    clock.now += 1.0
    assert sign_in(client, KEY).status_code == 200
    assert client.get("/train").text == "streamlit"


@pytest.mark.parametrize("body, status", [(b"{not json", 400), (b"[1, 2]", 400), (b'{"key": 7}', 401),
                                          (b"{}", 401), (b'{"key": "' + b"x" * 2000 + b'"}', 413)])
def test_malformed_sign_ins_are_refused(app, body, status):
    response = browser(app).post("/api/presenter", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status and "set-cookie" not in response.headers


def test_without_talk_mode_there_is_nothing_to_sign_in_to(app, monkeypatch):
    monkeypatch.delenv(presenter.KEY_ENV)
    response = sign_in(browser(app), KEY)
    assert response.status_code == 404 and "make talk" in response.json()["message"]


def test_the_old_address_still_works(app):
    client = browser(app)
    response = client.get(f"/talk?key={KEY}")
    assert response.status_code == 303 and response.headers["location"] == "/talk"
    assert client.get("/train").text == "streamlit"


# ------------------------------------------------------------------ behind a balancer


def test_behind_a_trusted_balancer_each_phone_waits_for_its_own_wrong_keys(app, monkeypatch):
    monkeypatch.setenv(forwarded.TRUSTED_PROXIES_ENV, "127.0.0.1")
    balancer = browser(app, peer="127.0.0.1")
    assert sign_in(balancer, "guess", headers={"X-Forwarded-For": "203.0.113.1"}).status_code == 401
    assert sign_in(balancer, "guess", headers={"X-Forwarded-For": "203.0.113.1"}).status_code == 429
    other = sign_in(balancer, KEY, headers={"X-Forwarded-For": "203.0.113.2"})
    assert other.status_code == 200, "another phone behind the same balancer is not kept waiting"


def test_a_forwarded_address_from_an_untrusted_peer_is_ignored(app, monkeypatch):
    monkeypatch.setenv(forwarded.TRUSTED_PROXIES_ENV, "127.0.0.1")
    guesser = browser(app, peer="198.51.100.9")
    assert sign_in(guesser, "guess", headers={"X-Forwarded-For": "203.0.113.1"}).status_code == 401
    # A new made-up address for each guess buys no new tries: the peer is what counts.
    assert sign_in(guesser, "guess", headers={"X-Forwarded-For": "203.0.113.99"}).status_code == 429


def test_the_audience_limits_count_phones_behind_the_balancer(monkeypatch):
    from starlette.requests import Request

    def request(peer, *forwarded_for):
        headers = [(b"x-forwarded-for", value.encode()) for value in forwarded_for]
        return Request({"type": "http", "method": "GET", "path": "/", "headers": headers, "client": (peer, 1)})

    monkeypatch.delenv(forwarded.TRUSTED_PROXIES_ENV, raising=False)
    assert server._address(request("127.0.0.1", "203.0.113.1")) == "127.0.0.1", "trust nobody unless told"
    monkeypatch.setenv(forwarded.TRUSTED_PROXIES_ENV, "127.0.0.1")
    assert server._address(request("127.0.0.1", "203.0.113.1")) == "203.0.113.1"
    assert server._address(request("127.0.0.1", "1.2.3.4, 203.0.113.1")) == "203.0.113.1"
    assert server._address(request("127.0.0.1", "garbage")) == "127.0.0.1"
    assert server._address(request("198.51.100.9", "203.0.113.1")) == "198.51.100.9"
