"""What every page shares: cached data and models, the global ANN/CNN toggle, friendly errors."""

from __future__ import annotations

import numpy as np
import streamlit as st

from mnist_core import evaluation, registry
from mnist_core.data import MnistUnavailableError, load_mnist_dataset
from mnist_core.inference import Classifier, load_classifier

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


@st.cache_data(show_spinner="Scoring the 10,000 test images …", max_entries=16)
def test_predictions(name: str, file_hash: str) -> np.ndarray:
    """(10000, 10) probabilities of a model on the test set, cached by the file's content hash:
    here per server, on disk across servers (mnist_core.evaluation)."""
    return evaluation.test_set_probabilities(name, dataset())


def evaluation_of(name: str) -> evaluation.Evaluation | None:
    try:
        file_hash = registry.file_hash(name)
    except FileNotFoundError:
        classifier(name)  # shows the error
        return None
    if classifier(name) is None:
        return None
    return evaluation.Evaluation(test_predictions(name, file_hash), dataset().y_test)


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

ROLE_KEY = "talk_role"  # "presenter" | "audience"; absent: not decided yet


def talk_role() -> str | None:
    """None when talk mode is off (`make run`: one person, every page). In talk mode: "presenter"
    once this session showed the key (`/talk?key=KEY`, or the Talk page's password field),
    "audience" once it opened anything else, "undecided" before either."""
    from mnist_core import talk

    if not talk.is_talk_mode():
        return None
    if "key" in st.query_params:
        if talk.key_matches(st.query_params.get("key")):
            st.session_state[ROLE_KEY] = "presenter"
        del st.query_params["key"]  # never left on show: the projector shows this address bar
    return st.session_state.get(ROLE_KEY, "undecided")


def become_audience() -> None:
    """An undecided session that opened the Join page is the audience from now on."""
    st.session_state.setdefault(ROLE_KEY, "audience")


def accept_presenter_key(given: str) -> bool:
    from mnist_core import talk

    if talk.key_matches(given):
        st.session_state[ROLE_KEY] = "presenter"
        return True
    return False


@st.cache_resource(show_spinner=False)
def crowd_store():
    """The room's digit store, shared by every session (CrowdStore is thread-safe)."""
    from mnist_core.crowd import CrowdStore

    return CrowdStore()
