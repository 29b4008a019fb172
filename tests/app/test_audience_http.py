"""The audience path over HTTP (audience/server.py): the gate that keeps the room on /join, the
presenter's cookie, person tokens, Sends judged by real worker processes, retries, refusals, and a
worker killed mid-request. Starlette's TestClient drives the routes and the gate that
streamlit_app.py's st.App serves beside Streamlit."""

import base64
import io
import os
import signal
import threading
import time

import numpy as np
import pytest
from PIL import Image
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from audience import server
from mnist_core.data import synthetic
from mnist_core.talk import audience, crowd, inputs, presenter

KEY = "presenter-key-for-http-tests"


async def streamlit_stand_in(request):
    """Where Streamlit's frontend would answer: what reaches it got past the gate."""
    return PlainTextResponse("streamlit")


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    return tmp_path_factory.mktemp("crowd") / "crowd.sqlite3"


@pytest.fixture(scope="module")
def pool(database):
    pool = audience.JudgePool(database, workers=2)  # spawned once for the module: they load the models
    pool.warm_up()
    yield pool
    pool.shutdown()


@pytest.fixture
def room(database, monkeypatch, pool):
    monkeypatch.setenv("MNIST_TALK_KEY", KEY)
    monkeypatch.setattr(presenter, "KEY_GUARD", presenter.KeyGuard())
    store = crowd.CrowdStore(database)
    store.new_talk()  # each test its own talk (and so its own tokens) in the module's database
    room = server.Room(store=store, pool=pool)
    server.ROOM[:] = [room]
    yield room
    server.ROOM.clear()
    store.close()


@pytest.fixture
def client(room):
    app = Starlette(routes=server.ROUTES + [Route("/{path:path}", streamlit_stand_in)],
                    middleware=[Middleware(server.AudienceGate)])
    with TestClient(app, base_url="http://127.0.0.1:8501", follow_redirects=False) as client:
        yield client


def png_url(mnist, index: int = 0) -> tuple[str, int]:
    (_, _), (x_test, y_test) = mnist
    rgba = synthetic.redraw(x_test[index], np.random.default_rng(index), canvas=audience.SEND_CANVAS)
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode(), int(y_test[index])


def token(client) -> str:
    response = client.post("/api/join/token")
    assert response.status_code == 200, response.text
    return response.json()["token"]


def rows(room) -> int:
    return room.store.count(room.store.current_talk())


# ------------------------------------------------------------------ who may open what


@pytest.mark.parametrize("path", ["/", "/train", "/draw", "/confusion", "/dataset", "/inside", "/experiments",
                                  "/talk/", "/anything/else"])
def test_every_page_address_leads_the_audience_to_join(client, path):
    response = client.get(path)
    if path == "/talk/":  # the presenter's address: Streamlit's key field, never a presenter page
        assert response.text == "streamlit"
        return
    assert response.status_code == 303 and response.headers["location"] == "/join"


def test_the_phone_page_is_one_small_file(client):
    response = client.get("/join", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    page = response.text
    assert len(page.encode()) < 30_000, "the whole phone page, script and style inline, stays small"
    assert 'id="send"' in page and 'id="clear"' in page and "<canvas" in page
    assert "{{" not in page, "a template mark was left unfilled"
    assert '<script src' not in page and 'rel="stylesheet"' not in page, "no second request for assets"


def test_streamlits_own_paths_pass_the_gate(client):
    for path in ("/_stcore/health", "/static/js/index.js", "/favicon.png", "/component/x/index.html"):
        assert client.get(path).text == "streamlit", path


def test_the_key_in_the_address_sets_the_presenters_cookie_and_leaves_the_address(client):
    response = client.get(f"/talk?key={KEY}")
    assert response.status_code == 303 and response.headers["location"] == "/talk"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{presenter.PRESENTER_COOKIE}=") and "HttpOnly" in cookie and KEY not in cookie
    assert client.get("/train").text == "streamlit", "the presenter's browser gets every page"
    client.cookies.clear()
    assert client.get("/train").status_code == 303


def test_wrong_keys_are_slowed_down_and_give_no_cookie(client):
    response = client.get("/talk?key=wrong")
    assert response.status_code == 303 and "set-cookie" not in response.headers
    again = client.get(f"/talk?key={KEY}")  # even the right key waits after a wrong one
    assert again.status_code == 429 and int(again.headers["retry-after"]) >= 1
    assert "try again in" in again.text
    assert client.get("/train").status_code == 303


def test_without_talk_mode_the_gate_lets_everything_through_and_the_api_says_so(client, monkeypatch):
    monkeypatch.delenv("MNIST_TALK_KEY")
    assert client.get("/train").text == "streamlit"
    server.ROOM.clear()
    response = client.post("/api/join/token")
    assert response.status_code == 404 and "make talk" in response.json()["message"]


# ------------------------------------------------------------------ Sends


def test_a_send_is_answered_once_stored_and_a_retry_is_never_counted_twice(client, room, mnist):
    png, label = png_url(mnist, 0)
    person = token(client)
    body = {"token": person, "send_id": "phone-made-0001", "label": label, "png": png}
    first = client.post("/api/join/send", json=body)
    assert first.status_code == 200, first.text
    answer = first.json()
    assert answer["answers"]["ann"]["digit"] == answer["answers"]["cnn"]["digit"] == label
    assert room.store.digit(answer["digit_id"]).person == person
    again = client.post("/api/join/send", json=body)  # the phone never saw the first answer
    assert again.status_code == 200 and again.json()["digit_id"] == answer["digit_id"] and again.json()["retry"]
    room.answered.clear()  # a retry that reaches another process: the store answers it
    room.last_send.clear()
    third = client.post("/api/join/send", json=body)
    assert third.status_code == 200 and third.json()["digit_id"] == answer["digit_id"] and third.json()["retry"]
    assert rows(room) == 1
    too_soon = client.post("/api/join/send", json={**body, "send_id": "phone-made-0002"})
    assert too_soon.status_code == 429 and "another digit in" in too_soon.json()["message"]
    assert rows(room) == 1


def test_a_forged_token_is_refused_before_any_work(client, room, mnist):
    png, label = png_url(mnist, 0)
    forged = inputs.new_person_token() + inputs.new_person_token()[:22]
    submitted = []
    room.pool.submit, original = (lambda *a: submitted.append(a)), room.pool.submit
    try:
        started = time.perf_counter()
        for n in range(50):
            response = client.post("/api/join/send", json={"token": forged[:44], "send_id": f"forged-{n:04d}",
                                                           "label": label, "png": png})
            assert response.status_code == 401 and response.json()["status"] == "token"
        elapsed = time.perf_counter() - started
    finally:
        room.pool.submit = original
    assert submitted == [] and rows(room) == 0
    print(f"50 forged Sends refused in {elapsed * 1000:.0f} ms through the test client")


def test_a_new_talk_invalidates_old_tokens_and_the_phone_gets_a_new_one(client, room, mnist):
    png, label = png_url(mnist, 0)
    old = token(client)
    room.store.new_talk()
    room._talk = (0, 0.0)  # as if the talk id had been read over a second ago
    response = client.post("/api/join/send", json={"token": old, "send_id": "new-talk-01", "label": label, "png": png})
    assert response.status_code == 401
    fresh = token(client)
    response = client.post("/api/join/send", json={"token": fresh, "send_id": "new-talk-01", "label": label, "png": png})
    assert response.status_code == 200 and room.store.digit(response.json()["digit_id"]).talk_id == room.store.current_talk()


def test_an_oversized_body_is_refused_before_it_is_read(client, room):
    response = client.post("/api/join/send", content=b"x" * (audience.MAX_BODY_BYTES + 1),
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and "draw again" in response.json()["message"]
    response = client.post("/api/join/send", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and "Reload" in response.json()["message"]


def test_what_is_not_a_digit_gets_422_and_the_draw_pages_words(client, room):
    rgba = np.zeros((audience.SEND_CANVAS,) * 2 + (4,), np.uint8)
    rgba[..., 3] = 255
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG")
    png = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    response = client.post("/api/join/send", json={"token": token(client), "send_id": "blank-0001", "label": 3, "png": png})
    assert response.status_code == 422 and "Draw a digit" in response.json()["message"]
    assert rows(room) == 0


def test_the_address_and_room_limits_answer_busy_with_a_retry_time(client, room, mnist, monkeypatch):
    png, label = png_url(mnist, 0)
    room.sends_by_address = audience.Buckets(rate=0.01, burst=1)
    first = client.post("/api/join/send", json={"token": token(client), "send_id": "limit-0001", "label": label, "png": png})
    assert first.status_code == 200
    second = client.post("/api/join/send", json={"token": token(client), "send_id": "limit-0002", "label": label, "png": png})
    assert second.status_code == 429 and second.json()["status"] == "busy" and int(second.headers["retry-after"]) >= 1
    assert rows(room) == 1


def test_a_worker_killed_mid_request_loses_nothing_and_the_retry_is_answered(client, room, mnist):
    png, label = png_url(mnist, 2)
    body = {"token": token(client), "send_id": "killed-0001", "label": label, "png": png}
    busy = [room.pool.submit(audience._slow_warm) for _ in range(room.pool.workers)]  # both workers busy for 0.3 s
    result = {}
    sender = threading.Thread(target=lambda: result.update(response=client.post("/api/join/send", json=body)))
    sender.start()
    deadline = time.time() + 5
    while room.pool.queued <= len(busy) and time.time() < deadline:
        time.sleep(0.01)
    os.kill(room.pool.pids()[0], signal.SIGKILL)
    sender.join(30)
    died = result["response"]
    assert died.status_code == 503 and died.json()["status"] == "busy" and "again" in died.json()["message"]
    assert all(f.exception() is not None for f in busy)
    retried = client.post("/api/join/send", json=body)  # the phone sends it again, the same send id
    assert retried.status_code == 200, retried.text
    assert retried.json()["answers"]["cnn"]["digit"] == label
    assert rows(room) == 1 and room.pool.restarts >= 1


def test_listening_sockets_get_tcp_nodelay_so_kept_alive_responses_do_not_wait_40_ms():
    import socket

    listener = socket.socket(family=socket.AF_INET)  # protocol 0, as Streamlit binds it
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        assert not listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert server.no_delay_on_listening_sockets() >= 1
        assert listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        client = socket.create_connection(listener.getsockname())
        accepted, _ = listener.accept()
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY), "accepted connections inherit it"
        accepted.close()
        client.close()
    finally:
        listener.close()
