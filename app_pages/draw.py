"""Draw: a digit on the canvas, both models' verdicts side by side, and what they actually see."""

import time

import numpy as np
import streamlit as st
from streamlit_drawable_canvas import st_canvas

from app_pages import common, digit_links
from mnist_core import charts
from mnist_core.analysis import calibration, canvas_reading, verdict
from mnist_core.data import preprocess

CANVAS_SIZE = preprocess.DRAW_CANVAS
CANVAS_KEYS = 3  # the canvas's keys, taken in turn by Clear

st.title("✍️ Draw a digit")
st.caption("Draw one digit, 0–9, with the mouse, a finger or a pen. Each model answers when a stroke "
           "ends. Small or large, anywhere on the canvas: it is cropped, scaled and centred the way "
           "MNIST's own digits were.")

if "canvas_version" not in st.session_state:
    st.session_state.canvas_version = 0


def clear_canvas():
    # A new key gives a fresh, empty canvas. A few keys in turn, not a new one per Clear: Streamlit
    # keeps every widget's metadata (the canvas's with its callbacks) for the session's whole life,
    # two entries per key, so each Clear grew the session for good (50 sessions drawing for 5
    # minutes: ~10,000 entries). A key is taken again once Streamlit has dropped its drawing (a run
    # finished without it); presses faster than the runs (a double click under load) skip a key
    # that still holds one, and past CANVAS_KEYS of those a new key is taken, as before.
    current = st.session_state.canvas_version
    free = [k for k in range(CANVAS_KEYS) if k != current and canvas_key(k) not in st.session_state]
    st.session_state.canvas_version = free[0] if free else max(current, CANVAS_KEYS - 1) + 1


def canvas_key(version: int) -> str:
    return f"canvas-{version}"


def naive_resize_caption() -> str | None:
    """What the naive resize costs the shipped models, from their recorded measure
    (trained_models/canvas_reading.json); None when it was not measured on these very files."""
    result = canvas_reading.load()
    falls = []
    for kind in ("cnn", "ann"):
        figures = canvas_reading.for_file(result, kind, common.model_hash(kind))
        if figures:
            falls.append(f"the {common.KIND_LABEL[kind]} from {figures['faithful']:.1%} to {figures['naive']:.0%}")
    if not falls:
        return None
    return (f"Measured on {result['digits']:,} MNIST test digits redrawn as canvas strokes: with the naive resize "
            f"the shipped {' and '.join(falls)} (`python -m mnist_core canvas` measures them again).")


kinds = common.selected_kinds()
chosen = common.pick_models(kinds, "draw_model")
classifiers = {kind: common.classifier(name) for kind, name in chosen.items()}

left, right = st.columns([2, 3], gap="large")
with left:
    pens = preprocess.PEN_WIDTHS
    pen = st.slider("Pen width", pens[0], pens[-1], preprocess.DEFAULT_PEN, pens[1] - pens[0], key="pen_width",
                    help="Thin pens give faint digits once scaled down to 28×28; around 20 works best.")
    canvas = st_canvas(stroke_width=pen, stroke_color="#FFFFFF", background_color="#000000",
                       height=CANVAS_SIZE, width=CANVAS_SIZE, drawing_mode="freedraw",
                       return_image_data=True, key=canvas_key(st.session_state.canvas_version))
    st.button("Clear", icon=":material/ink_eraser:", on_click=clear_canvas, width="stretch")

# One verdict (mnist_core.analysis.verdict), as the room's phones get: preprocessing, both models, each one's
# unsure rule (measured on the test set and non-digits by mnist_core.analysis.calibration, once per model
# file): under its threshold a model's digit is marked "Unsure · best guess" in red.
# The caption reports CPU time of this thread: with a room drawing at once, wall time mostly
# measures the wait for the interpreter (300–500 ms under load for 1.4 ms of work).
rgba = canvas.image_data
live = {kind: model for kind, model in classifiers.items() if model is not None}
calibrations = {kind: common.calibration_of(chosen[kind]) for kind in live} if rgba is not None else {}
judges = {kind: verdict.Judge(chosen[kind], model, calibrations.get(kind)) for kind, model in live.items()}
started = time.thread_time()
judged = verdict.judge(rgba, judges)
cpu_ms = (time.thread_time() - started) * 1000
steps, image, problem = judged.steps, judged.image, judged.problem  # problem: blank, a dot or a flood
if image is not None:
    st.session_state[digit_links.LAST_DRAWING_KEY] = image  # Inside the models opens it
probabilities = {kind: answer.probabilities for kind, answer in judged.answers.items()}  # shown after T
unsure = {kind: answer.unsure for kind, answer in judged.answers.items()}


def unsure_help(kind: str) -> str | None:
    measured = calibrations.get(kind)
    if measured is None:
        return None
    return (f"This model says **Unsure** when its top probability is under {measured.threshold:.0%}: the level "
            f"under which {calibration.CORRECT_FLAG_RATE:.0%} of its right answers on half the test set fall. On "
            f"the other half that caught {measured.caught_mistakes:.0%} of its mistakes, and "
            f"{measured.flagged_non_digits:.0%} of a set of letters, scribbles and noise. More in Inside the "
            "models, Honest confidence.")

with right:
    columns = st.columns(len(kinds))
    for column, kind in zip(columns, kinds):
        with column:
            label = common.model_label(kind, chosen[kind])
            if kind in probabilities:
                p = probabilities[kind]
                digit = int(np.argmax(p))
                if unsure.get(kind):
                    # The value stays the digit (the page's contract: the digit, or — before a drawing);
                    # the red delta says it is only a best guess.
                    st.metric(label, str(digit), f"Unsure · best guess, {p[digit]:.0%} sure", delta_color="inverse",
                              delta_arrow="off", help=unsure_help(kind))
                else:
                    st.metric(label, str(digit), f"{p[digit]:.1%} sure", delta_color="off", delta_arrow="off",
                              help=unsure_help(kind))
                common.plotly_chart(charts.probability_bars(p, common.kind_color(kind)), width="stretch",
                                    key=f"probs-{kind}", config={"displayModeBar": False})
            else:
                st.metric(label, "—", "draw a digit", delta_color="off", delta_arrow="off")
    tone_line = judged.agreement
    if tone_line is not None:
        tone, line = tone_line
        {"agree": st.success, "disagree": st.warning}.get(tone, st.info)(
            line, icon={"agree": ":material/handshake:", "disagree": ":material/balance:"}.get(tone, ":material/help:"))
    elif problem == preprocess.DOT_MESSAGE:
        st.info(problem, icon=":material/edit:")
    if image is None:
        st.info(preprocess.BLANK_MESSAGE, icon=":material/arrow_back:")
    elif probabilities:
        st.caption(f"Preprocessing and {len(probabilities)} model(s): {cpu_ms:.1f} ms of CPU time",
                   help="CPU time this server spent on your drawing. With many people drawing at once, "
                        "the wait for your turn comes on top.")
    if problem == preprocess.FLOOD_MESSAGE:
        st.warning(problem, icon=":material/water:")
    elif judged.heavy_strokes:
        st.info(preprocess.HEAVY_MESSAGE, icon=":material/line_weight:")
    if image is not None and probabilities:
        buttons = st.columns(2)
        if buttons[0].button("Look inside the models", key="draw_look_inside", icon=":material/neurology:",
                             help="Why each model answers as it does on this drawing: where it looks, its units "
                                  "and filters, and what happens when the drawing is pushed around.",
                             width="stretch"):
            digit_links.open_inside(models=chosen)
        if buttons[1].button("Where it lands", key="draw_open_space", icon=":material/scatter_plot:",
                             help="Your drawing in each network's learned space, among 3,000 test digits, "
                                  "with the ones each network thinks it is most like.", width="stretch"):
            digit_links.open_space(models=chosen)

if image is not None:
    st.subheader("What the models see")
    compare = st.toggle("Compare with a naive resize (the whole canvas squashed to 28×28)", key="compare_naive")
    shown = [("Canvas ink", steps.ink), ("Cropped to the ink", steps.cropped),
             ("Longer side scaled to 20 px", steps.fitted), ("Centred by mass in 28×28: the input", image)]
    cols = st.columns(len(shown) + (1 if compare else 0))
    for col, (title, picture) in zip(cols, shown):
        col.image(charts.thumbnail(picture), caption=title, width=168)
    if compare:
        naive = preprocess.naive_resize(rgba)
        cols[-1].image(charts.thumbnail(naive), caption="Naive resize: the input", width=168)
        answers = []
        for kind, faithful in probabilities.items():
            squashed = classifiers[kind].predict_proba(naive[None])[0]
            answers.append({"model": common.model_label(kind, chosen[kind]),
                            "MNIST-faithful input": f"{int(np.argmax(faithful))} ({faithful.max():.0%})",
                            "naive resize": f"{int(np.argmax(squashed))} ({squashed.max():.0%})"})
        st.dataframe(answers, hide_index=True)
        caption = naive_resize_caption()
        if caption:
            st.caption(caption)
