"""Talk mode through AppTest: who may open which page, and the Join page's Send (st_canvas faked)."""

import io
import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

from mnist_core import crowd, preprocess, synthetic

APP = str(Path(__file__).resolve().parents[2] / "streamlit_app.py")
TIMEOUT = 120
KEY = "presenter-key-for-tests"
JOIN_CANVAS = 340  # the Join page's canvas, px


# ------------------------------------------------------------------ fixtures and helpers


class FakeCanvas:
    """What st_canvas returns after the person drew `png` (None: nothing drawn yet)."""

    def __init__(self, png: bytes | None):
        self._png = png
        self.json_data = None

    @property
    def image_data(self):
        return None if self._png is None else np.asarray(Image.open(io.BytesIO(self._png)))

    @property
    def image_bytes(self):
        if isinstance(self._png, Exception):  # a data URL that does not decode raises in the real component
            raise self._png
        return self._png


@pytest.fixture
def canvas(monkeypatch):
    """st_canvas is replaced (the real one needs a browser); `canvas["png"]` is what is 'drawn'."""
    state = {"png": None, "calls": []}

    def st_canvas(**kwargs):
        state["calls"].append(kwargs)
        return FakeCanvas(state["png"])

    fake = types.ModuleType("streamlit_drawable_canvas")
    fake.st_canvas = st_canvas
    monkeypatch.setitem(sys.modules, "streamlit_drawable_canvas", fake)
    return state


@pytest.fixture
def talk_mode(monkeypatch, tmp_path, canvas):
    """A server in talk mode with an empty room database of the test's own."""
    from app_pages import common

    db = tmp_path / "crowd.sqlite3"
    monkeypatch.setenv("MNIST_TALK_KEY", KEY)
    monkeypatch.setenv("MNIST_CROWD_DB", str(db))
    clear = common.crowd_store.clear  # (a test may replace crowd_store itself)
    clear()  # cached per process: point it at this test's database
    yield db
    clear()


def png_of(rgba: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


def drawn_digit(mnist, index: int = 0) -> tuple[bytes, int]:
    """A real MNIST test digit redrawn as pen strokes on the Join page's canvas, and its label."""
    (_, _), (x_test, y_test) = mnist
    return png_of(synthetic.redraw(x_test[index], np.random.default_rng(index), canvas=JOIN_CANVAS)), int(y_test[index])


def blank_canvas() -> np.ndarray:
    rgba = np.zeros((JOIN_CANVAS, JOIN_CANVAS, 4), np.uint8)
    rgba[..., 3] = 255
    return rgba


def open_url(at: AppTest, url_path: str) -> AppTest:
    """Run the page at `/url_path`, as a typed URL or a link does: the browser asks for the page's
    hash (st.Page hashes its url_path), whether or not this session's navigation has it.
    AppTest.switch_page only accepts pages the session was given, which is the point here."""
    at._page_hash = calc_hash(url_path)
    return at.run()


def titles(at: AppTest) -> list[str]:
    return [t.value for t in at.title]


def buttons(at: AppTest) -> list[str]:
    return [b.label for b in at.button]


def assert_join_page(at: AppTest):
    assert not at.exception, at.exception
    assert any(t.startswith("Draw a **") for t in titles(at)), titles(at)
    assert "Send" in buttons(at) and "Clear" in buttons(at)
    assert "Start training" not in buttons(at)
    assert len(at.sidebar) == 0, "the audience's page has nothing in the sidebar"


def stored(db: Path) -> list[crowd.Digit]:
    with crowd.CrowdStore(db) as store:
        return store.latest(store.current_talk(), limit=100)


def join(talk_mode) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert_join_page(at)
    return at


def send(at: AppTest) -> AppTest:
    return next(b for b in at.button if b.label == "Send").click().run()


def messages(at: AppTest) -> str:
    return "\n".join(e.value for kind in ("info", "warning", "error", "success") for e in getattr(at, kind))


# ------------------------------------------------------------------ who may open what


@pytest.mark.parametrize("url_path", ["train", "confusion", "draw", "dataset", "inside", "experiments", "talk"])
def test_audience_opening_any_other_page_gets_join(talk_mode, url_path):
    at = join(talk_mode)  # a phone that scanned the QR code
    open_url(at, url_path)
    assert_join_page(at)


@pytest.mark.parametrize("url_path", ["train", "dataset"])
def test_a_first_visit_by_a_demo_page_url_gets_join(talk_mode, url_path):
    at = open_url(AppTest.from_file(APP, default_timeout=TIMEOUT), url_path)
    assert_join_page(at)
    open_url(at, "talk")  # and it is the audience from then on
    assert_join_page(at)


PRESENTER_PAGES = {"train": "Train a network live", "confusion": "Where the models err",
                   "draw": "Draw a digit", "dataset": "The MNIST dataset", "inside": "Inside the models",
                   "experiments": "Experiments: what convolution assumes"}


def test_presenter_key_opens_every_page_and_leaves_the_address_bar(talk_mode):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["key"] = KEY
    at.run()
    assert not at.exception, at.exception
    assert "key" not in at.query_params  # never left on show for the projector
    for url_path, title in PRESENTER_PAGES.items():
        open_url(at, url_path)
        assert not at.exception, (url_path, at.exception)
        assert any(title in t for t in titles(at)), (url_path, titles(at))
        assert "Send" not in buttons(at)
        if url_path == "train":
            assert "Start training" in buttons(at)
    open_url(at, "talk")
    assert not at.exception, at.exception
    assert not any(t.startswith("Draw a **") for t in titles(at)), "the presenter's Talk page showed Join"
    open_url(at, "join")  # the presenter may try the phone page too
    assert "Send" in buttons(at)
    open_url(at, "train")  # and is still the presenter afterwards
    assert "Start training" in buttons(at)


def test_a_wrong_key_gives_no_presenter_rights(talk_mode):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["key"] = KEY + "x"
    at.run()
    assert "key" not in at.query_params
    assert_join_page(at)
    open_url(at, "train")
    assert_join_page(at)


def test_without_a_talk_key_the_app_is_as_before(monkeypatch, canvas):
    monkeypatch.delenv("MNIST_TALK_KEY", raising=False)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    assert any("MNIST: ANN vs CNN, live" in t for t in titles(at))
    assert at.sidebar.segmented_control(key="model_toggle").value == "Both"
    for url_path in ("join", "talk"):  # no such pages: the default page (Home) runs
        open_url(at, url_path)
        assert any("MNIST: ANN vs CNN, live" in t for t in titles(at)), titles(at)
        assert "Send" not in buttons(at)
    open_url(at, "train")
    assert "Start training" in buttons(at)


# ------------------------------------------------------------------ the Join page


def test_join_keeps_the_person_in_the_url_and_sizes_the_canvas_for_a_phone(talk_mode, canvas):
    at = join(talk_mode)
    token = at.query_params["p"]
    assert crowd.is_person_token(token)
    at.run()
    assert at.query_params["p"] == token
    reloaded = AppTest.from_file(APP, default_timeout=TIMEOUT)  # a reload: a new session, the same URL
    reloaded.query_params["p"] = token
    reloaded.run()
    assert reloaded.query_params["p"] == token
    forged = AppTest.from_file(APP, default_timeout=TIMEOUT)
    forged.query_params["p"] = "x'; DROP TABLE digits; --"
    forged.run()
    assert forged.query_params["p"] != "x'; DROP TABLE digits; --" and crowd.is_person_token(forged.query_params["p"])
    call = canvas["calls"][-1]
    assert call["width"] == call["height"] == JOIN_CANVAS and "canvas" in call["key"]
    assert call["return_image_data"] and call["drawing_mode"] == "freedraw"


def test_join_sends_a_drawn_digit_and_shows_both_answers(talk_mode, canvas, mnist):
    png, label = drawn_digit(mnist, 0)  # a 7
    at = join(talk_mode)
    at.selectbox(key="join_label").set_value(label).run()  # the person picks the digit they will draw
    assert titles(at)[0] == f"Draw a **{label}**"
    canvas["png"] = png
    key_before = canvas["calls"][-1]["key"]
    send(at)
    assert not at.exception, at.exception
    rows = stored(talk_mode)
    assert len(rows) == 1 and rows[0].label == label and rows[0].person == at.query_params["p"]
    assert rows[0].predictions == {"ann": label, "cnn": label}
    assert rows[0].image.shape == (28, 28) and rows[0].image.max() > 200
    assert f"Your **{label}** is on the big screen" in at.success[0].value
    answers = [m.value for m in at.markdown if "read it as" in m.value]
    assert len(answers) == 1
    for name in ("ANN", "CNN"):
        assert re.search(rf"{name}</span> read it as <b>{label}</b> <b[^>]*>✓</b>", answers[0]), answers[0]
    assert canvas["calls"][-1]["key"] != key_before, "no fresh canvas for the next digit"
    assert titles(at)[0] != f"Draw a **{label}**", "no new prompt for the next digit"


def test_join_suggests_drawing_bigger_after_a_small_thick_digit(talk_mode, canvas, mnist, monkeypatch):
    from app_pages import common
    from mnist_core import canvas_pen

    now = [1_000_000.0]
    store = crowd.CrowdStore(talk_mode, clock=lambda: now[0])  # time moves only when the test says
    monkeypatch.setattr(common, "crowd_store", lambda: store)
    (_, _), (x_test, y_test) = mnist
    at = join(talk_mode)
    at.selectbox(key="join_label").set_value(int(y_test[1])).run()
    canvas["png"] = png_of(canvas_pen.redraw_mnist(x_test[1], pen=22, height=60, canvas=JOIN_CANVAS))
    send(at)
    assert not at.exception, at.exception
    assert len(stored(talk_mode)) == 1  # sent and judged like any digit
    assert "Tip: draw bigger next time" in messages(at)
    canvas["png"], label = drawn_digit(mnist, 0)
    at.selectbox(key="join_label").set_value(label).run()
    now[0] += crowd.MIN_SECONDS_BETWEEN_DIGITS + 1
    send(at)
    assert len(stored(talk_mode)) == 2 and "Tip: draw bigger" not in messages(at)
    store.close()


def test_join_marks_a_wrong_answer(talk_mode, canvas, mnist):
    png, label = drawn_digit(mnist, 0)  # a 7, sent as a 1
    at = join(talk_mode)
    at.selectbox(key="join_label").set_value(1).run()
    canvas["png"] = png
    send(at)
    assert stored(talk_mode)[0].label == 1
    answers = next(m.value for m in at.markdown if "read it as" in m.value)
    assert re.search(rf"ANN</span> read it as <b>{label}</b> <b[^>]*>✗</b>", answers), answers
    assert re.search(rf"CNN</span> read it as <b>{label}</b> <b[^>]*>✗</b>", answers), answers


def dot() -> np.ndarray:
    rgba = blank_canvas()
    rgba[165:172, 165:172, :3] = 255
    return rgba


def flood() -> np.ndarray:
    rgba = blank_canvas()
    rgba[10:330, 10:330, :3] = 255
    return rgba


@pytest.mark.parametrize("picture, message", [(None, preprocess.BLANK_MESSAGE), (blank_canvas, preprocess.BLANK_MESSAGE),
                                              (dot, preprocess.DOT_MESSAGE), (flood, preprocess.FLOOD_MESSAGE)],
                         ids=["nothing-drawn", "blank", "dot", "flood"])
def test_join_refuses_what_is_not_a_digit(talk_mode, canvas, picture, message):
    at = join(talk_mode)
    canvas["png"] = None if picture is None else png_of(picture())
    send(at)
    assert not at.exception, at.exception
    assert message in messages(at)
    assert not at.success
    assert stored(talk_mode) == []


@pytest.mark.parametrize("value", [b"<html>not a png</html>", b"\x89PNG\r\n\x1a\n" + b"\0" * 40,
                                   ValueError("not enough values to unpack")],
                         ids=["not-a-png", "broken-png", "undecodable-data-url"])
def test_join_refuses_a_garbage_canvas_value(talk_mode, canvas, value):
    at = join(talk_mode)
    canvas["png"] = value
    send(at)
    assert not at.exception, at.exception
    assert len(at.error) == 1 and "draw again" in at.error[0].value
    assert not at.success
    assert stored(talk_mode) == []


def test_join_second_send_within_3_s_is_rate_limited(talk_mode, canvas, mnist, monkeypatch):
    from app_pages import common

    now = [1_000_000.0]
    store = crowd.CrowdStore(talk_mode, clock=lambda: now[0])  # time stands still unless moved
    monkeypatch.setattr(common, "crowd_store", lambda: store)
    png, label = drawn_digit(mnist, 0)
    at = join(talk_mode)
    canvas["png"] = png
    send(at)
    assert "is on the big screen" in at.success[0].value
    now[0] += 2.0
    send(at)
    assert not at.exception, at.exception
    assert any("You can send another digit in 1 s" in i.value for i in at.info), messages(at)
    assert not at.success and len(stored(talk_mode)) == 1
    now[0] += 1.5
    send(at)
    assert "is on the big screen" in at.success[0].value and len(stored(talk_mode)) == 2
    store.close()


def test_join_a_database_that_fails_says_to_send_again(talk_mode, canvas, mnist, monkeypatch):
    from app_pages import common

    class BrokenStore(crowd.CrowdStore):
        def add_digit(self, *args, **kwargs):
            raise crowd.CrowdStoreError(f"{self.path} is not a usable room database (disk I/O error).")

    store = BrokenStore(talk_mode)
    monkeypatch.setattr(common, "crowd_store", lambda: store)
    at = join(talk_mode)
    canvas["png"] = drawn_digit(mnist, 1)[0]
    send(at)
    assert not at.exception, at.exception
    assert "Press **Send** again" in at.error[0].value and not at.success
    store.close()
