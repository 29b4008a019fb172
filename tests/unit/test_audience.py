"""The audience path without HTTP: person tokens, limits, a Send's checks, and judging and storing a
digit as a worker does it, with the shipped models and the one verdict the Draw page uses."""

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from mnist_core.analysis import verdict
from mnist_core.data import canvas_pen, preprocess, synthetic
from mnist_core.talk import audience, crowd, inputs

SIDE = audience.SEND_CANVAS


def data_url(rgba: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def blank() -> np.ndarray:
    rgba = np.zeros((SIDE, SIDE, 4), np.uint8)
    rgba[..., 3] = 255
    return rgba


def dot() -> np.ndarray:
    rgba = blank()
    rgba[145:152, 145:152, :3] = 255
    return rgba


def flood() -> np.ndarray:
    rgba = blank()
    rgba[10:290, 10:290, :3] = 255
    return rgba


@pytest.fixture(scope="module")
def judges():
    return audience.load_judges({"ann": "ann", "cnn": "cnn"})


@pytest.fixture
def store(tmp_path):
    now = [1_000_000.0]
    with crowd.CrowdStore(tmp_path / "crowd.sqlite3", clock=lambda: now[0]) as store:
        store.now = now  # tests move time instead of sleeping
        yield store


def drawn(mnist, index: int) -> tuple[np.ndarray, int]:
    (_, _), (x_test, y_test) = mnist
    return synthetic.redraw(x_test[index], np.random.default_rng(index), canvas=SIDE), int(y_test[index])


def send(store, judges, token, label, png, send_id="send-0001"):
    return audience.judge_and_store_with(store, *judges, store.current_talk(),
                                         audience.Send(token, send_id, label, png))


# ------------------------------------------------------------------ tokens and limits


def test_a_token_is_signed_for_one_talk_and_a_forged_or_old_one_is_refused():
    secret = b"s" * 32
    key = audience.talk_key(secret, 1)
    token = audience.issue_token(key)
    assert inputs.is_person_token(token) and len(token) == 44
    assert audience.token_is_valid(key, token)
    assert audience.issue_token(key) != token  # every phone its own
    assert not audience.token_is_valid(audience.talk_key(secret, 2), token), "a new talk must invalidate old tokens"
    assert not audience.token_is_valid(audience.talk_key(b"t" * 32, 1), token), "another database's secret"
    forged = token[:22] + ("A" if token[22] != "A" else "B") + token[23:]
    for bad in (forged, inputs.new_person_token(), "", None, 42, token + "x", token[:-1]):
        assert not audience.token_is_valid(key, bad), bad


def test_buckets_allow_a_burst_then_the_rate_and_keep_addresses_apart():
    now = [0.0]
    buckets = audience.Buckets(rate=2.0, burst=3.0, clock=lambda: now[0])
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)  # empty: half a second for the next
    assert buckets.take("b") == 0.0, "another address has its own bucket"
    now[0] += 0.5
    assert buckets.take("a") == 0.0 and buckets.take("a") > 0
    now[0] += 100
    assert [buckets.take("a") for _ in range(3)] == [0.0] * 3 and buckets.take("a") > 0, "the burst is capped"


def test_buckets_forget_old_addresses_so_a_flood_of_them_cannot_grow_memory():
    buckets = audience.Buckets(rate=1.0, burst=1.0, max_keys=100)
    for n in range(1000):
        buckets.take(f"10.0.{n // 256}.{n % 256}")
    assert len(buckets._levels) == 100


@pytest.mark.parametrize("body, status", [
    (b"not json", 400), (b"[1, 2]", 400),
    (json.dumps({"token": "t" * 44, "send_id": "short", "label": 3, "png": "data:image/png;base64,AA"}).encode(), 400),
    (json.dumps({"token": "t" * 44, "send_id": "abcdefgh", "label": 10, "png": "data:image/png;base64,AA"}).encode(), 400),
    (json.dumps({"token": "t" * 44, "send_id": "abcdefgh", "label": True, "png": "data:image/png;base64,AA"}).encode(), 400),
    (json.dumps({"token": "t" * 44, "send_id": "abcdefgh", "label": 3, "png": "data:image/gif;base64,AA"}).encode(), 400),
    (json.dumps({"send_id": "abcdefgh", "label": 3, "png": "data:image/png;base64,AA"}).encode(), 401),
    (b"{" + b" " * audience.MAX_BODY_BYTES + b"}", 413),
], ids=["not-json", "not-an-object", "short-send-id", "label-10", "label-bool", "not-png", "no-token", "too-large"])
def test_a_malformed_send_is_refused_with_a_message_that_names_the_fix(body, status):
    with pytest.raises(audience.Refused) as refused:
        audience.parse_send(body)
    assert refused.value.status == status
    assert refused.value.message.endswith(".") and len(refused.value.message) > 20


def test_a_well_formed_send_parses():
    body = {"token": "t" * 44, "send_id": "abcdefgh", "label": 3, "png": "data:image/png;base64,AA"}
    assert audience.parse_send(json.dumps(body).encode()) == audience.Send("t" * 44, "abcdefgh", 3, body["png"])


# ------------------------------------------------------------------ judging and storing, as a worker does


def test_a_drawn_digit_is_judged_by_the_one_verdict_and_stored_before_the_answer(store, judges, mnist):
    rgba, label = drawn(mnist, 0)
    token = inputs.new_person_token()
    body = send(store, judges, token, label, data_url(rgba))
    assert body["status"] == "ok" and body["label"] == label and body["retry"] is False
    row = store.digit(body["digit_id"])  # stored before the phone is told
    assert row.label == label and row.person == token and row.model_files["cnn"][0] == "cnn"
    # The Draw page's verdict on the same canvas, with the same models and unsure rules.
    same = verdict.judge(rgba, judges[0])
    for kind in ("ann", "cnn"):
        answer = body["answers"][kind]
        assert answer["digit"] == same.answers[kind].digit == label
        assert answer["unsure"] == same.answers[kind].unsure
        assert answer["confidence"] == pytest.approx(same.answers[kind].confidence, abs=1e-4)
        assert answer["right"] is True
        np.testing.assert_allclose(row.probabilities[kind], same.answers[kind].raw, atol=1e-6)
    assert np.array_equal(row.image, np.rint(same.image * 255).astype(np.uint8))
    assert body["agreement"] == {"tone": "agree", "line": f"Both models say {label}."}


def test_a_retry_with_the_same_send_id_gets_the_first_answer_and_no_second_row(store, judges, mnist):
    rgba, label = drawn(mnist, 0)
    token = inputs.new_person_token()
    first = send(store, judges, token, label, data_url(rgba), send_id="retry-me-1")
    again = send(store, judges, token, label, data_url(rgba), send_id="retry-me-1")  # within 3 s: still answered
    assert again["retry"] is True and again["digit_id"] == first["digit_id"]
    assert again["answers"] == first["answers"]
    assert store.count(store.current_talk()) == 1
    other = send(store, judges, token, label, data_url(rgba), send_id="retry-me-2")
    assert other["status"] == "rate_limited" and "in 3 s" in other["message"]
    store.now[0] += crowd.MIN_SECONDS_BETWEEN_DIGITS
    assert send(store, judges, token, label, data_url(rgba), send_id="retry-me-2")["status"] == "ok"
    assert store.count(store.current_talk()) == 2


def test_a_person_over_the_limit_is_refused_before_the_drawing_is_decoded(store, judges, mnist, monkeypatch):
    token = inputs.new_person_token()
    rgba, label = drawn(mnist, 0)
    send(store, judges, token, label, data_url(rgba), send_id="first-one")
    decoded = []
    monkeypatch.setattr(inputs, "canvas_png_to_rgba", lambda *a, **k: decoded.append(1))
    assert send(store, judges, token, label, "data:image/png;base64,AAAA", send_id="second-1")["status"] == "rate_limited"
    assert decoded == [], "a refused Send must cost no decoding and no judging"


@pytest.mark.parametrize("picture, message", [(blank, preprocess.BLANK_MESSAGE), (dot, preprocess.DOT_MESSAGE),
                                              (flood, preprocess.FLOOD_MESSAGE)], ids=["blank", "dot", "flood"])
def test_what_is_not_a_digit_is_not_stored_and_gets_the_draw_pages_words(store, judges, picture, message):
    body = send(store, judges, inputs.new_person_token(), 3, data_url(picture()))
    assert body == {"status": "not_a_digit", "message": message.replace("**", "")}
    assert store.count(store.current_talk()) == 0


@pytest.mark.parametrize("png", ["data:image/png;base64,!!!", "data:image/png;base64," + base64.b64encode(b"GIF89a" * 10).decode(),
                                 "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 40).decode(),
                                 None],
                         ids=["not-base64", "not-a-png", "broken-png", "wrong-size"])
def test_a_garbage_drawing_is_refused_with_a_clear_message_and_crashes_nothing(store, judges, png):
    if png is None:  # a real PNG of another size than the phone's 300 px send canvas
        rgba = np.zeros((SIDE + 40, SIDE, 4), np.uint8)
        rgba[..., 3] = 255
        png = data_url(rgba)
    body = send(store, judges, inputs.new_person_token(), 3, png)
    assert body["status"] == "bad_drawing" and "again" in body["message"]
    assert store.count(store.current_talk()) == 0


def test_a_small_thick_digit_is_stored_with_the_tip_to_draw_bigger(store, judges, mnist):
    (_, _), (x_test, y_test) = mnist
    rgba = canvas_pen.redraw_mnist(x_test[1], pen=22, height=55, canvas=SIDE)
    body = send(store, judges, inputs.new_person_token(), int(y_test[1]), data_url(rgba))
    assert body["status"] == "ok" and body["tip"] == preprocess.HEAVY_MESSAGE_FIXED_PEN


def test_a_database_that_fails_says_to_send_again_and_stores_nothing(tmp_path, judges, mnist):
    class BrokenStore(crowd.CrowdStore):
        def add_digit(self, *args, **kwargs):
            raise crowd.CrowdStoreError(f"{self.location} is not a usable room database (disk I/O error).")

    rgba, label = drawn(mnist, 1)
    with BrokenStore(tmp_path / "crowd.sqlite3") as store:
        body = send(store, judges, inputs.new_person_token(), label, data_url(rgba))
        assert body["status"] == "store_error" and "your phone sends the digit again by itself" in body["message"]
        assert body["retry_after"] == audience.STORE_RETRY_SECONDS and "sqlite3" not in body["message"]
        assert store.count(store.current_talk()) == 0


def test_a_wrong_answer_is_marked_wrong(store, judges, mnist):
    rgba, label = drawn(mnist, 0)  # a 7, sent as a 1
    body = send(store, judges, inputs.new_person_token(), 1, data_url(rgba))
    assert body["label"] == 1 and body["answers"]["ann"]["right"] is False and body["answers"]["cnn"]["right"] is False
