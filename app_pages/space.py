"""The learned space: where each network puts every digit (its last hidden layer, mapped to 2-D),
and where your drawing, a test digit or a mistake lands among them. The maps are drawn once per
model file by `python -m mnist_core map`; placing a digit is NumPy (mnist_core.analysis.learned_space)."""

import numpy as np
import streamlit as st

from app_pages import common, digit_links
from mnist_core import charts
from mnist_core.analysis import learned_space

SOURCE_KEY, INDEX_KEY, MISTAKE_KEY = "space_source", "space_index", "space_mistake"
DRAWING, TEST, MISTAKE = digit_links.DRAWING_SOURCE, digit_links.TEST_SOURCE, "A mistake"
MISTAKES_LISTED = 200

st.title("The learned space")
st.caption("Each network turns a digit into numbers, layer by layer; its last hidden layer is where the digits "
           "must already be sorted, since one more step reads the answer from it. Here each of 3,000 test "
           "digits is a dot at its place in that layer, mapped to 2-D so that digits the network holds close "
           "stay close (t-SNE). Place a digit to see what each network thinks it is most like.")
ds = common.dataset()
kinds = common.selected_kinds()
state = st.session_state
request = state.pop(digit_links.SPACE_REQUEST_KEY, None) or {}  # from the Draw and Confusion pages' buttons
chosen = common.pick_models(kinds, "space_model", wanted=request.get("models"), remember=True)
measured = {kind: common.measured(name) for kind, name in chosen.items()}
measured = {kind: m for kind, m in measured.items() if m is not None}
spaces = {kind: common.space_of(m.name) for kind, m in measured.items()}
spaces = {kind: s for kind, s in spaces.items() if s is not None}
if not spaces:
    st.stop()


def mistakes() -> list[int]:
    """Test digits that a shown model gets wrong, where the shown models disagree first."""
    answers = {kind: m.evaluation.predictions for kind, m in measured.items()}
    wrong = np.zeros(len(ds.y_test), bool)
    for predicted in answers.values():
        wrong |= predicted != ds.y_test
    split = np.zeros(len(ds.y_test), bool) if len(answers) < 2 else np.not_equal(*answers.values())
    return [int(i) for i in np.concatenate([np.flatnonzero(wrong & split), np.flatnonzero(wrong & ~split)])]


def mistake_label(index: int) -> str:
    reads = ", ".join(f"{common.KIND_LABEL[k]} {int(m.evaluation.predictions[index])}" for k, m in measured.items())
    return f"#{index}: a {int(ds.y_test[index])}, read as {reads}"


# ------------------------------------------------------------------ which digit
drawing = state.get(digit_links.LAST_DRAWING_KEY)
sources = ([DRAWING] if drawing is not None else []) + [TEST, MISTAKE]
digit_links.follow_request(request, sources, SOURCE_KEY, INDEX_KEY, len(ds.x_test))
pick = st.columns([3, 3, 2])
source = pick[0].segmented_control("Place in the maps", sources, key=SOURCE_KEY,
                                   help="Draw on the Draw page first to place your own digit.") or sources[0]
if source == DRAWING:
    image, truth, where = np.asarray(drawing, np.float32), None, "your drawing"
else:
    if source == TEST:
        index = pick[1].number_input(f"Test image (0–{len(ds.x_test) - 1:,})", 0, len(ds.x_test) - 1, step=1,
                                     key=INDEX_KEY)
    else:
        listed = mistakes()[:MISTAKES_LISTED] or [0]  # a model with no mistake: the first test image
        index = pick[1].selectbox("Test image a model gets wrong (where the two disagree first)", listed,
                                  format_func=mistake_label, key=MISTAKE_KEY) or listed[0]
    image, truth = ds.x_test[index].astype(np.float32) / 255.0, int(ds.y_test[index])
    where = f"test image #{index}, a {truth}"
digit_links.keep_picked(SOURCE_KEY, INDEX_KEY)
if drawing is None:
    pick[2].caption("Draw a digit on the Draw page to place your own.")
pick[2].image(charts.enlarge(image, 3), caption=where, width=84)


@st.cache_resource(show_spinner=False, max_entries=128)
def map_figure(name: str, file_hash: str, projector: bool, placed_at: tuple, ringed: tuple, title: str, _model_map):
    """One model's map with a digit placed (cached per model file, place and preset; shared, never
    changed: the projector's copy is made here)."""
    model_map = _model_map
    placed = [{"x": placed_at[0], "y": placed_at[1], "name": title}] if placed_at else []
    fig = charts.learned_space_map(model_map.coords, model_map.labels, model_map.indices, placed,
                                   np.array(ringed, int), height=520)
    return charts.projector_figure(fig) if projector else fig


likes = {}
columns = st.columns(len(spaces))
for column, (kind, space) in zip(columns, spaces.items()):
    m = measured[kind]
    places, order = space.place(m.classifier, image[None])
    neighbours = order[0]
    read = int(np.argmax(m.classifier.predict_proba(image[None])[0]))
    like, count = learned_space.most_like(space.model_map.labels[neighbours])
    likes[kind] = like
    with column:
        st.markdown(f"**{common.model_label(kind, m.name)}** reads **{read}**: {count} of the {len(neighbours)} "
                    f"test digits nearest {where} in its last hidden layer are **{like}s**")
        fig = map_figure(m.name, m.file_hash, common.projector_on(), tuple(float(v) for v in places[0]),
                         tuple(int(n) for n in neighbours), f"{where}: read as {read}", space.model_map)
        st.plotly_chart(fig, width="stretch", key=f"space-map-{kind}", config={"displayModeBar": False})
        nearest = space.model_map.indices[neighbours]
        st.image([charts.enlarge(ds.x_test[i], 2) for i in nearest], width=56,
                 caption=[f"a {int(ds.y_test[i])}" for i in nearest])
        st.caption(f"What the {common.KIND_LABEL[kind]} thinks {where} is most like: its {len(nearest)} nearest "
                   "test digits in its last hidden layer, nearest first (ringed in the map).")
if len(likes) == 2 and len(set(likes.values())) == 2:
    st.warning(f"The two networks place {where} differently: the ANN among the {likes['ann']}s, the CNN among "
               f"the {likes['cnn']}s. Each reads by what it holds close.", icon=":material/balance:")

scores = {common.KIND_LABEL[kind]: space.model_map for kind, space in spaces.items()}
st.caption("How cleanly each map separates the digits, measured on its file: " + learned_space.separation_line(scores)
           + " Each map: " + "; ".join(f"{label} {m.method}, {m.seconds:.1f} s to draw" for label, m in scores.items())
           + ". A placed digit lands at the closeness-weighted middle of its 10 nearest test digits in the "
             "network's own hidden layer, so no projection runs here.")
