"""What every page shares: MNIST, the models and what is measured of them (one trip into the core,
mnist_core.analysis.measured), the model picker, the global ANN/CNN toggle, each model's colour,
and friendly errors. The projector preset is in projector.py, talk-mode roles in talk_roles.py."""

from __future__ import annotations

import contextlib

import streamlit as st

from app_pages.projector import projector_on
from mnist_core import charts
from mnist_core.analysis import evaluation
from mnist_core.analysis.learned_space import MapFileError, Space
from mnist_core.analysis.measured import MeasuredModel, measured_model
from mnist_core.data import MnistUnavailableError, load_mnist_dataset
from mnist_core.models import registry
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


def pick_models(kinds: list[str], key: str, places=None, wanted: dict | None = None,
                remember: bool = False) -> dict[str, str]:
    """The one model picker: for each shown family a selectbox of its saved models (the shipped one
    first), keyed `{key}_{kind}`, in the sidebar's "Models on this page" unless `places` (a container
    per family) are given. `wanted` (kind → name) selects what another page asked for; `remember`
    keeps the choice across pages (Streamlit drops a widget's value once another page ran)."""
    state, chosen = st.session_state, {}
    with st.sidebar.expander("Models on this page", expanded=False) if places is None else contextlib.nullcontext():
        for n, kind in enumerate(kinds):
            names, widget = models_of_kind(kind) or [kind], f"{key}_{kind}"
            if remember and widget not in state and f"kept-{widget}" in state:
                state[widget] = state[f"kept-{widget}"]
            if (wanted or {}).get(kind) in names:  # the model the person was looking at
                state[widget] = wanted[kind]
            if widget in state and state[widget] not in names:
                state.pop(widget)  # deleted since: back to the first
            where = st if places is None else places[n]
            chosen[kind] = where.selectbox(f"{KIND_LABEL[kind]} model", names, key=widget)
            if remember:
                state[f"kept-{widget}"] = chosen[kind]
    return chosen


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


def run_buttons(start_label: str, start_icon: str, active: bool, stop_label: str = "Stop",
                start_key: str | None = None, stop_key: str | None = None, start_help: str | None = None,
                widths=(1, 1, 4)) -> tuple[bool, bool]:
    """The one pair of run controls for a worker job: (start pressed, stop pressed). Start is off
    while the job runs, Stop while it does not."""
    start_column, stop_column, _ = st.columns(list(widths))
    start = start_column.button(start_label, type="primary", icon=start_icon, disabled=active, width="stretch",
                                key=start_key, help=start_help)
    stop = stop_column.button(stop_label, icon=":material/stop:", disabled=not active, width="stretch", key=stop_key)
    return start, stop


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


def measured(name: str) -> MeasuredModel | None:
    """The named model and what is measured of it (one trip into the core, per file version), or
    None after showing the error that names the file and the fix."""
    try:
        return measured_model(name, dataset())
    except registry.ModelLoadError as exc:  # missing, corrupt or foreign
        st.error(str(exc), icon=":material/error:")
        return None


def _measure(name: str, measure: str, spinner: str):
    model = measured(name)
    if model is None:
        return None
    if measure in vars(model):  # measured before: no spinner
        return getattr(model, measure)
    with st.spinner(spinner):
        return getattr(model, measure)


def space_of(name: str) -> Space | None:
    """The model's map of the learned space, or None after saying which command draws it."""
    try:
        return _measure(name, "space", "Reading the map …")
    except MapFileError as exc:
        st.info(str(exc), icon=":material/scatter_plot:")
        return None


def model_hash(name: str) -> str | None:
    """The model file's content hash (what its cached results are keyed by), or None after showing
    the error when the model is missing or unreadable."""
    model = measured(name)
    return None if model is None else model.file_hash


def evaluation_of(name: str) -> evaluation.Evaluation | None:
    return _measure(name, "evaluation", "Scoring the 10,000 test images …")


def calibration_of(name: str):
    """The model's mnist_core.analysis.calibration.Calibration (its unsure threshold and what it catches),
    or None after showing the error when the model is missing or unreadable."""
    return _measure(name, "calibration", "Measuring how honest the model's confidence is …")


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
