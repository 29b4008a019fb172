"""Talk mode through AppTest: who may open which page. (The phones' page is plain HTTP beside
Streamlit: tests/app/test_audience_http.py and the e2e tests.)"""

import sys
import types
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

APP = str(Path(__file__).resolve().parents[2] / "streamlit_app.py")
TIMEOUT = 120
KEY = "presenter-key-for-tests"


# ------------------------------------------------------------------ fixtures and helpers


@pytest.fixture
def canvas(monkeypatch):
    """st_canvas is replaced (the real one needs a browser): the Draw page imports it."""
    fake = types.ModuleType("streamlit_drawable_canvas")
    fake.st_canvas = lambda **kwargs: types.SimpleNamespace(image_data=None, json_data=None)
    monkeypatch.setitem(sys.modules, "streamlit_drawable_canvas", fake)


@pytest.fixture
def talk_mode(monkeypatch, tmp_path, canvas):
    """A server in talk mode with an empty room database of the test's own."""
    from app_pages import talk_roles
    from mnist_core.talk import presenter

    db = tmp_path / "crowd.sqlite3"
    monkeypatch.setenv("MNIST_TALK_KEY", KEY)
    monkeypatch.setenv("MNIST_CROWD_DB", str(db))
    monkeypatch.setattr(presenter, "KEY_GUARD", presenter.KeyGuard())
    clear = talk_roles.crowd_store.clear
    clear()  # cached per process: point it at this test's database
    yield db
    clear()


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


def assert_key_field_only(at: AppTest):
    """What a session without the presenter's key gets at any address: the Talk page's key field,
    which points the audience to /join (the phones' page, outside Streamlit)."""
    assert not at.exception, at.exception
    assert titles(at) == ["Talk: for the presenter"], titles(at)
    assert [t.label for t in at.text_input] == ["Presenter's key"]
    assert "Start training" not in buttons(at) and "Digits received" not in [m.label for m in at.metric]
    assert any("/join" in m.value for m in at.markdown)
    assert len(at.sidebar) == 0, "no navigation and no switches for the audience"


# ------------------------------------------------------------------ who may open what


@pytest.mark.parametrize("url_path", ["", "train", "confusion", "draw", "dataset", "inside", "experiments", "talk", "join"])
def test_without_the_key_every_address_gets_only_the_key_field(talk_mode, url_path):
    at = open_url(AppTest.from_file(APP, default_timeout=TIMEOUT), url_path)
    assert_key_field_only(at)
    open_url(at, "train")  # and nothing else afterwards
    assert_key_field_only(at)


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
    assert "Digits received" in [m.label for m in at.metric], "the presenter's Talk page"
    open_url(at, "train")  # and is still the presenter afterwards
    assert "Start training" in buttons(at)


def test_a_wrong_key_gives_no_presenter_rights(talk_mode):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["key"] = KEY + "x"
    at.run()
    assert "key" not in at.query_params
    assert_key_field_only(at)
    open_url(at, "train")
    assert_key_field_only(at)


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
