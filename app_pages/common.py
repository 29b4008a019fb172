"""What every page shares: cached data and models, the global ANN/CNN toggle, the projector preset,
friendly errors."""

from __future__ import annotations

import math

import numpy as np
import streamlit as st

from mnist_core import charts
from mnist_core.analysis import evaluation
from mnist_core.models import registry
from mnist_core.data import MnistUnavailableError, load_mnist_dataset
from mnist_core.models.inference import Classifier, load_classifier

TOGGLE_KEY = "model_toggle"
TOGGLE_OPTIONS = ("ANN", "CNN", "Both")
KIND_LABEL = {"ann": "ANN", "cnn": "CNN"}


@st.cache_resource(show_spinner="Loading MNIST …")
def _dataset():
    # cache_resource, not cache_data: the 55 MB of arrays are shared read-only, never copied.
    return load_mnist_dataset()


def dataset():
    """The verified MNIST dataset, or the clear error (every source tried, and the fix) and stop."""
    try:
        return _dataset()
    except MnistUnavailableError as exc:
        st.error("**MNIST is not available.**\n\n" + str(exc).replace("\n", "  \n"), icon=":material/error:")
        st.stop()


def classifier(name: str) -> Classifier | None:
    """The named model, or None after showing an error that names the file and the fix."""
    try:
        return load_classifier(name)  # cached per file version inside mnist_core
    except registry.ModelLoadError as exc:  # missing, corrupt or foreign: the message names the fix
        st.error(str(exc), icon=":material/error:")
    return None


@st.cache_data(show_spinner=False, ttl=5)
def saved_models() -> list[dict]:
    """Every saved model with its card's kind ('ann'/'cnn') and test accuracy."""
    rows = []
    for name in registry.list_models():
        card = registry.read_card(name)
        rows.append({"name": name, "kind": card.get("kind"), "preset": card.get("preset"),
                     "test_accuracy": card.get("test_accuracy"), "card": card})
    return rows


def model_label(kind: str, name: str) -> str:
    """How every page names a model: its family, then its name ("CNN · cnn")."""
    return f"{KIND_LABEL[kind]} · {name}"


def models_of_kind(kind: str) -> list[str]:
    """Saved models of one family, the shipped one first."""
    return [m["name"] for m in saved_models() if m["kind"] == kind]


def selected_kinds() -> list[str]:
    """The global toggle as model families: ['ann'], ['cnn'] or ['ann', 'cnn']."""
    choice = st.session_state.get(TOGGLE_KEY) or "Both"
    return {"ANN": ["ann"], "CNN": ["cnn"]}.get(choice, ["ann", "cnn"])


def model_toggle() -> None:
    """The sidebar's global ANN / CNN / Both switch (kept in session state across pages)."""
    if st.session_state.get(TOGGLE_KEY) is None:
        st.session_state[TOGGLE_KEY] = "Both"
    st.sidebar.segmented_control("Models shown", TOGGLE_OPTIONS, key=TOGGLE_KEY,
                                 help="Every page that shows a model honours this switch.")


# ------------------------------------------------------------------ the projector preset

PROJECTOR_KEY = "projector_mode"  # the sidebar toggle's key: this session's preset, on or off
PROJECTOR_CHOSEN_KEY = "projector_chosen"  # True once the person chose (the toggle, or the URL)
PROJECTOR_PARAM = "projector"  # ?projector=1

# Larger type and high contrast, for every page while the preset is on. Selectors checked in
# Chromium against Streamlit 1.67's DOM (data-testid attributes). Streamlit sizes its type and
# spacing in rem, so a 20 px root (PROJECTOR_SCALE) is 1.25× all of it at once.
PROJECTOR_SCALE = "html { font-size: 20px; }\n"
PROJECTOR_RULES = """/* Pure black text (the theme's is dark grey). Captions are drawn at 60% opacity, 3.9:1 on white:
   too light for a projector; opaque dark grey is 12.6:1 and still reads as secondary. */
.stApp, [data-testid="stSidebar"], [data-testid="stSidebarNavLink"] span, [data-testid="stWidgetLabel"] p,
[data-testid="stMetricValue"], [data-testid="stButtonGroup"] button, [data-testid="stSliderTickBar"],
.stApp input, .stApp textarea {
  color: #000;
}
[data-testid="stCaptionContainer"] { opacity: 1; color: #333; font-size: 0.95rem; }
/* The numbers the room reads. */
[data-testid="stMetricValue"] { font-size: 2.6rem; font-weight: 600; }
[data-testid="stMetricLabel"] p { font-size: 1rem; }
[data-testid="stMetricDelta"] { font-size: 1rem; }
/* Labels, buttons, tabs, expanders and tables at the body size instead of Streamlit's 0.875. */
[data-testid="stWidgetLabel"] p, [data-testid^="stBaseButton"] p, [data-testid="stTab"] p,
[data-testid="stExpander"] summary p, .stApp table { font-size: 1rem; }
.stApp th, .stApp td { border-color: #555; }
/* Bordered containers, forms and expanders: 2 px and dark. An unbordered block has no border
   style, so neither width nor colour changes anything there. */
[data-testid="stVerticalBlock"], [data-testid="stForm"], [data-testid="stExpander"] details {
  border-width: 2px; border-color: #555;
}
"""


def projector_on() -> bool:
    """Whether this session shows the projector preset (larger type, high contrast, Okabe–Ito colours)."""
    return bool(st.session_state.get(PROJECTOR_KEY))


def projector_preset(talk_page: bool = False) -> None:
    """Decide this session's projector preset, keep `?projector=1` in the address while it is on
    (a reload, or a link copied off the projector, keeps it), and style the page. Called by
    streamlit_app.py on every run, before the sidebar's toggle and before the page draws.

    The session's first run reads the address. The Talk page is the presenter's projector page, so
    opening it (`talk_page`) turns the preset on, unless the person chose already: switched the
    toggle, or opened an address with `projector=0` or `=1`. Deciding here, not in talk.py, is
    simplest: the toggle, drawn just after, shows the state, and Streamlit forbids setting a widget's
    value once the widget is drawn."""
    state = st.session_state
    if PROJECTOR_KEY not in state:
        asked = st.query_params.get(PROJECTOR_PARAM)
        state[PROJECTOR_KEY] = asked == "1"
        if asked in ("0", "1"):
            state[PROJECTOR_CHOSEN_KEY] = True
    if talk_page and not state.get(PROJECTOR_CHOSEN_KEY):
        state[PROJECTOR_KEY] = True
    on = projector_on()
    # Changed only when different: a page switch drops the query string, so this puts it back.
    if on and st.query_params.get(PROJECTOR_PARAM) != "1":
        st.query_params[PROJECTOR_PARAM] = "1"
    elif not on and PROJECTOR_PARAM in st.query_params:
        del st.query_params[PROJECTOR_PARAM]
    if on:
        # Not the 1.25× root on the Talk page: it sets its own projector sizes (talk.STYLE) for three
        # rows of tiles on a 1080 px screen, and 1.25× more wrapped every verdict and pushed the
        # third row off the screen (seen in Chromium at 1920×1080).
        scale = "" if talk_page else PROJECTOR_SCALE
        st.html(f"<style>\n{scale}{PROJECTOR_RULES}</style>")  # style only: kept out of the page's flow


def _projector_chosen() -> None:
    st.session_state[PROJECTOR_CHOSEN_KEY] = True


def projector_toggle() -> None:
    """The sidebar's switch for the projector preset (its state is set by projector_preset)."""
    st.sidebar.toggle("Projector mode", key=PROJECTOR_KEY, on_change=_projector_chosen,
                      help="Larger type, high contrast and colour-blind-safe ANN/CNN colours, for a "
                           "room. Kept in the address as `?projector=1`.")


def kind_color(kind: str | None, index: int = 0) -> str:
    """A model family's colour for this session ('ann', 'cnn'; anything else: the index-th extra
    colour, e.g. another training run), in the projector palette while the preset is on."""
    return charts.color_for(kind, index, projector=projector_on())


def plotly_chart(fig, **kwargs):
    """st.plotly_chart, with the projector preset's larger type on a copy of the figure while it is
    on (figures are often cached and shared: never changed in place). Returns what st.plotly_chart
    returns (the selection event with `on_select`)."""
    return st.plotly_chart(charts.projector_figure(fig) if projector_on() else fig, **kwargs)


def live_view(view, active: bool, every: float = 1.0) -> None:
    """Draw `view` in a container of its own, polled every `every` seconds by a fragment while a worker
    job (or a replay) is `active`. The finished page draws the same view without a fragment, so a poll still in flight when
    the job ends finds no fragment to rerun and cannot redraw over the result (seen in Chromium: the
    Train page's metrics vanished)."""
    with st.container():
        if active:
            st.fragment(run_every=every)(view)()
        else:
            view()


def save_model_form(form_key: str, model_file, card, label: str, default_name: str, help: str,
                    name_key: str | None = None, border: bool = True) -> None:
    """Name a trained model file and save it into trained_models/ with its card (`card()` is
    called only when Save is pressed); a bad name or file gets the registry's message."""
    with st.form(form_key, border=border):
        name = st.text_input(label, value=default_name, key=name_key, help=help)
        if st.form_submit_button("Save model", icon=":material/save:"):
            try:
                path = registry.save_model_file(model_file, name, card())
            except (registry.ModelNameError, registry.ModelLoadError) as exc:
                st.error(str(exc), icon=":material/error:")
            else:
                saved_models.clear()
                st.success(f"Saved as **{path.stem}**: pick it on the Confusion matrix and Draw pages.",
                           icon=":material/save:")


@st.cache_data(show_spinner="Scoring the 10,000 test images …", max_entries=16)
def test_predictions(name: str, file_hash: str) -> np.ndarray:
    """(10000, 10) probabilities of a model on the test set, cached by the file's content hash:
    here per server, on disk across servers (mnist_core.analysis.evaluation)."""
    return evaluation.test_set_probabilities(name, dataset())


def model_hash(name: str) -> str | None:
    """The model file's content hash (what its cached results are keyed by), or None after showing
    the error when the model is missing or unreadable."""
    try:
        file_hash = registry.file_hash(name)
    except FileNotFoundError:
        classifier(name)  # shows the error
        return None
    return file_hash if classifier(name) is not None else None


def evaluation_of(name: str) -> evaluation.Evaluation | None:
    file_hash = model_hash(name)
    if file_hash is None:
        return None
    return evaluation.Evaluation(test_predictions(name, file_hash), dataset().y_test)


# cache_resource, not cache_data: the Draw page reads it on every stroke of every session, and
# cache_data would unpickle a copy each time; the result is shared read-only.
@st.cache_resource(show_spinner="Measuring how honest the model's confidence is …", max_entries=16)
def calibration_for(name: str, file_hash: str):
    # Keyed by the file's hash, like test_predictions: a model saved over the name is measured again.
    from mnist_core.analysis import calibration

    return calibration.calibrate(load_classifier(name), test_predictions(name, file_hash), dataset().y_test)


def calibration_of(name: str):
    """The model's mnist_core.analysis.calibration.Calibration (its unsure threshold and what it catches),
    or None after showing the error when the model is missing or unreadable."""
    file_hash = model_hash(name)
    return None if file_hash is None else calibration_for(name, file_hash)


def percent(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}%}"


def markdown_table(rows: list[dict]) -> str:
    """Rows of equal keys as a Markdown table (numbers with thousands separators)."""
    if not rows:
        return ""
    keys = list(rows[0])
    cells = [[f"{row[k]:,}" if isinstance(row[k], int) else str(row[k]) for k in keys] for row in rows]
    return "\n".join(["| " + " | ".join(keys) + " |", "|" + " --- |" * len(keys)]
                     + ["| " + " | ".join(c.replace("|", "\\|") for c in line) + " |" for line in cells])


# ------------------------------------------------------------------ talk mode: roles

ROLE_KEY = "talk_role"  # "presenter" once this session showed the key


def talk_role() -> str | None:
    """None when talk mode is off (`make run`: one person, every page). In talk mode: "presenter"
    once this session showed the key (the cookie that /talk?key=KEY sets, the key in the address,
    or the Talk page's key field), else "audience": the phones' page is /join, outside Streamlit."""
    from mnist_core.talk import presenter

    if not presenter.is_talk_mode():
        return None
    if "key" in st.query_params:
        if presenter.KEY_GUARD.check(client_address(), st.query_params.get("key")):
            st.session_state[ROLE_KEY] = "presenter"
        del st.query_params["key"]  # never left on show: the projector shows this address bar
    if presenter.is_presenter_cookie(st.context.cookies.get(presenter.PRESENTER_COOKIE)):
        st.session_state[ROLE_KEY] = "presenter"
    return st.session_state.get(ROLE_KEY, "audience")


def client_address() -> str:
    """The browser's address, for the key guard; "unknown" where Streamlit has none (a test)."""
    address = st.context.ip_address
    return address if isinstance(address, str) and address else "unknown"


def accept_presenter_key(given: str) -> str | None:
    """None when `given` is the key (the session becomes the presenter's); else what to tell the
    person. Repeated wrong keys are slowed down (presenter.KeyGuard, per client address)."""
    from mnist_core.talk import presenter

    wait = presenter.KEY_GUARD.wait(client_address())
    if wait:
        return f"Too many wrong keys: wait {math.ceil(wait)} s, then try again."
    if presenter.KEY_GUARD.check(client_address(), given):
        st.session_state[ROLE_KEY] = "presenter"
        return None
    return ("That is not the presenter's key. Use the key `make talk` printed (the `key=` part of the presenter's "
            f"URL, or `MNIST_TALK_KEY` if you set it yourself). Wait {math.ceil(presenter.KEY_GUARD.wait(client_address()))} s "
            "before the next try: each wrong key doubles the wait.")


@st.cache_resource(show_spinner=False)
def crowd_store():
    """The room's digit store, shared by every session (CrowdStore is thread-safe)."""
    from mnist_core.talk.crowd import CrowdStore

    return CrowdStore()


# ------------------------------------------------------------------ opening a digit in Inside the models

INSIDE_PAGE = "app_pages/inside.py"
INSIDE_REQUEST_KEY = "inside_request"  # what the Inside the models page should open on its next run
LAST_DRAWING_KEY = "last_drawing"  # the Draw page's latest 28×28 input, kept for Inside the models


def open_inside(index: int | None = None, models: dict[str, str] | None = None) -> None:
    """Switch to Inside the models showing test image `index`, or the last drawing (index None),
    with the `models` ("ann"/"cnn" → name) the person was looking at. Passed as a request the page
    reads once, not as its widgets' state: Streamlit drops the state of widgets that were not drawn
    on the page that just ran."""
    request = {"drawing": True} if index is None else {"index": int(index)}
    st.session_state[INSIDE_REQUEST_KEY] = {**request, "models": dict(models or {})}
    st.switch_page(INSIDE_PAGE)
