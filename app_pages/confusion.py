"""Confusion matrix: where each model errs, and what those errors look like."""

import numpy as np
import streamlit as st

from app_pages import common, digit_links
from mnist_core import charts
from mnist_core.analysis import evaluation
from mnist_core.models import writeups

GALLERY_COLUMNS = 10

st.title("Where the models err")
ds = common.dataset()
kinds = common.selected_kinds()

# One model per family the global toggle shows; any saved model of that family can be picked.
pickers = st.columns(len(kinds) + 1)
chosen = common.pick_models(kinds, "confusion_model", places=pickers)
normalise = pickers[-1].segmented_control("Cells show", ["counts", "row %"], default="counts",
                                          key="confusion_normalise") == "row %"

results = {kind: common.evaluation_of(name) for kind, name in chosen.items()}
results = {kind: result for kind, result in results.items() if result is not None}
if not results:
    st.stop()


def gallery(indices: np.ndarray, result: evaluation.Evaluation, others: dict | None = None,
            limit: int = 30) -> None:
    """Test images in a grid, each captioned with the truth and the model's answer and confidence."""
    if len(indices) == 0:
        st.caption("No images here.")
        return
    grid = st.columns(GALLERY_COLUMNS)
    for i, index in enumerate(indices[:limit]):
        p = result.probabilities[index]
        caption = f"#{index} · true {result.labels[index]} · said {int(np.argmax(p))} ({p.max():.0%})"
        for label, other in (others or {}).items():
            q = other.probabilities[index]
            caption += f" · {label} {int(np.argmax(q))} ({q.max():.0%})"
        grid[i % GALLERY_COLUMNS].image(charts.enlarge(ds.x_test[index], 3), caption=caption, width="stretch")
    if len(indices) > limit:
        st.caption(f"Showing {limit} of {len(indices):,}.")


def look_inside(indices: np.ndarray, key: str, limit: int = 30) -> None:
    """Pick one of the images shown and open it in Inside the models or the Learned space."""
    if len(indices) == 0:
        return
    row = st.columns([1, 1, 1, 3], vertical_alignment="bottom")
    index = row[0].selectbox("Test image", [int(i) for i in indices[:limit]], key=f"inside_pick_{key}",
                             format_func=lambda i: f"#{i}")
    if row[1].button("Look inside the models", icon=":material/neurology:", key=f"inside_open_{key}"):
        digit_links.open_inside(index, chosen)
    if row[2].button("Where it lands", icon=":material/scatter_plot:", key=f"space_open_{key}",
                     help="This digit in each network's learned space, among 3,000 test digits."):
        digit_links.open_space(index, chosen)


def matrix_panel(kind: str, result: evaluation.Evaluation) -> None:
    label = common.model_label(kind, chosen[kind])
    st.metric(f"{label} · test accuracy", common.percent(result.accuracy),
              f"{result.errors} errors of {len(result.labels):,}", delta_color="off", delta_arrow="off")
    height = 480 if len(results) > 1 else 620  # a half-width column holds a smaller square
    event = common.plotly_chart(charts.confusion_heatmap(result.matrix, normalise, height=height), width="stretch",
                                key=f"matrix_{kind}", on_select="rerun", selection_mode="points")
    points = (event or {}).get("selection", {}).get("points", []) if event else []
    if points:  # a click on a cell picks it in the selectors below (they also work alone)
        st.session_state.cell_actual = str(points[0]["y"])
        st.session_state.cell_predicted = str(points[0]["x"])
        st.session_state.cell_kind = kind


columns = st.columns(len(results))
for column, (kind, result) in zip(columns, results.items()):
    with column:
        matrix_panel(kind, result)

presets = {m["name"]: m["preset"] for m in common.saved_models()}
for kind, result in results.items():
    writeup = writeups.for_preset(presets.get(chosen[kind]))
    if writeup is None or writeup.confusion is None:
        continue
    theirs = writeup.confusion
    st.subheader(f"{chosen[kind]} beside the {writeup.preset} write-up")
    st.caption(f"{chosen[kind]} was trained from preset {writeup.preset}. Its write-up published this matrix on the "
               f"same 10,000 test images (rows actual, columns predicted). Their diagonal sums to "
               f"{np.trace(theirs):,}, {writeup.test_accuracy:.2%}; ours to {np.trace(result.matrix):,}.")
    ours_column, theirs_column = st.columns(2)
    with ours_column:
        st.metric(f"Ours · {chosen[kind]}", common.percent(result.accuracy),
                  f"{(result.accuracy - writeup.test_accuracy) * 100:+.2f} pts on the write-up")
        common.plotly_chart(charts.confusion_heatmap(result.matrix, normalise, height=480), width="stretch",
                            key=f"writeup_ours_{kind}")
    with theirs_column:
        st.metric(f"The write-up · {writeup.preset}", common.percent(writeup.test_accuracy))
        common.plotly_chart(charts.confusion_heatmap(theirs, normalise, height=480), width="stretch",
                            key=f"writeup_theirs_{kind}")

st.subheader("The images in one cell")
st.caption("Click a cell of a matrix, or pick it here. Off the diagonal: the most confident mistakes first. "
           "On the diagonal: the correct answers the model was least sure of.")
st.session_state.setdefault("cell_actual", "4")
st.session_state.setdefault("cell_predicted", "9")
if st.session_state.get("cell_kind") not in results:
    st.session_state.cell_kind = next(iter(results))
pick = st.columns([1, 1, 1, 3])
pick[0].selectbox("Actual", charts.DIGITS, key="cell_actual")
pick[1].selectbox("Predicted", charts.DIGITS, key="cell_predicted")
pick[2].selectbox("Model", list(results), key="cell_kind", format_func=lambda k: common.KIND_LABEL[k])
actual, predicted = int(st.session_state.cell_actual), int(st.session_state.cell_predicted)
cell_kind = st.session_state.cell_kind
cell = evaluation.cell_indices(results[cell_kind], actual, predicted)
pick[3].markdown(f"**{common.KIND_LABEL[cell_kind]}**: {len(cell):,} test images are a **{actual}** "
                 f"predicted as **{predicted}**.")
others = {common.KIND_LABEL[k]: r for k, r in results.items() if k != cell_kind}
gallery(cell, results[cell_kind], others)
look_inside(cell, "cell")

st.subheader("Per-class figures")
columns = st.columns(len(results))
for column, (kind, result) in zip(columns, results.items()):
    with column:
        metrics = evaluation.per_class_metrics(result.matrix)
        st.markdown(f"**{common.model_label(kind, chosen[kind])}**: accuracy {result.accuracy:.2%}")
        common.plotly_chart(charts.per_class_bars(metrics), width="stretch", key=f"per_class_{kind}")
        st.dataframe(metrics.style.format({"precision": "{:.2%}", "recall": "{:.2%}", "f1": "{:.2%}"}),
                     hide_index=True, width="stretch")

st.subheader("Most confident mistakes")
for kind, result in results.items():
    st.markdown(f"**{common.model_label(kind, chosen[kind])}**: wrong, and sure of it")
    mistakes = evaluation.most_confident_mistakes(result, 20)
    gallery(mistakes, result, limit=20)
    look_inside(mistakes, f"mistakes_{kind}", limit=20)

if {"ann", "cnn"} <= results.keys():
    st.subheader("Where the two disagree")
    ann, cnn = results["ann"], results["cnn"]
    cnn_only = evaluation.right_here_wrong_there(cnn, ann)
    ann_only = evaluation.right_here_wrong_there(ann, cnn)
    st.markdown(f"The CNN gets **{len(cnn_only)}** test digits right that the ANN gets wrong; the reverse "
                f"happens **{len(ann_only)}** times. Captions: what the ANN said, then the CNN.")
    left, right = st.tabs([f"CNN right, ANN wrong ({len(cnn_only)})", f"ANN right, CNN wrong ({len(ann_only)})"])
    with left:
        gallery(cnn_only, ann, {"CNN": cnn})
    with right:
        gallery(ann_only, ann, {"CNN": cnn})
