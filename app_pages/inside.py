"""Inside the models: why the ANN and the CNN answer as they do, on one digit (your drawing or a
test image). Everything is computed in mnist_core.analysis.explain from the NumPy forward pass."""

import numpy as np
import streamlit as st

from app_pages import common, digit_links
from app_pages.confidence import honest_confidence_section
from mnist_core import charts
from mnist_core.analysis import explain
from mnist_core.models.inference import load_classifier

SOURCE_KEY, INDEX_KEY = "inside_source", "inside_index"
DRAWING, TEST = digit_links.DRAWING_SOURCE, digit_links.TEST_SOURCE
UNITS_SHOWN = 8
MAPS_SHOWN = 16  # per conv block, unless all are asked for
SWEEP_LABELS = {"shift_x": "Shift left / right", "shift_y": "Shift up / down", "rotate": "Rotate",
                "scale": "Scale", "stroke": "Thinner / thicker"}
SWEEP_AXES = {"shift_x": "shift (px, + is right)", "shift_y": "shift (px, + is down)",
              "rotate": "rotation (degrees, + is anticlockwise)", "scale": "scale (× about the centre)",
              "stroke": "stroke (px thinner − / thicker +)"}


@st.cache_data(show_spinner="Looking inside …", max_entries=64)
def explained(name: str, file_hash: str, pixels: bytes, target: int) -> explain.DigitExplanation:
    """One model's every view of one digit, cached per model file version, digit and followed class."""
    image = np.frombuffer(pixels, np.float32).reshape(28, 28)
    return explain.explain_digit(load_classifier(name), image, target)


def label(kind: str) -> str:
    return common.model_label(kind, chosen[kind])


st.title("Inside the models")
st.caption("Why each network answers as it does, on one digit: where it looks, what its units and "
           "filters respond to, how far you can push the digit before it gives up, and how far to trust "
           "its confidence.")
ds = common.dataset()
kinds = common.selected_kinds()
state = st.session_state
request = state.pop(digit_links.INSIDE_REQUEST_KEY, None) or {}  # from the Draw and Confusion pages' buttons
chosen = common.pick_models(kinds, "inside_model", wanted=request.get("models"), remember=True)
classifiers = {kind: common.classifier(name) for kind, name in chosen.items()}
classifiers = {kind: c for kind, c in classifiers.items() if c is not None}
if not classifiers:
    st.stop()

# ------------------------------------------------------------------ which digit
if "index" in st.query_params:  # /inside?index=123: a test image by address (a talk's bookmark)
    try:
        request = {"index": int(st.query_params["index"])}
    except ValueError:
        st.warning(f"`index={st.query_params['index']}` is not a whole number: pick a test image below.",
                   icon=":material/link_off:")
    del st.query_params["index"]
drawing = state.get(digit_links.LAST_DRAWING_KEY)
sources = [DRAWING, TEST] if drawing is not None else [TEST]
digit_links.follow_request(request, sources, SOURCE_KEY, INDEX_KEY, len(ds.x_test))

pick = st.columns([2, 2, 3])
source = pick[0].segmented_control("Digit", sources, key=SOURCE_KEY, help="Draw on the Draw page and press "
                                   "*Look inside*; or any of MNIST's 10,000 test images by index.")
if source is None:  # a segmented control can be clicked off: keep showing something
    source = sources[0]
if source == TEST:
    index = pick[1].number_input(f"Test image (0–{len(ds.x_test) - 1:,})", 0, len(ds.x_test) - 1, step=1,
                                 key=INDEX_KEY)
    image, truth = ds.x_test[index].astype(np.float32) / 255.0, int(ds.y_test[index])
    where = f"test image #{index}, a **{truth}**"
else:
    image, truth = np.asarray(drawing, np.float32), None
    where = "your last drawing on the Draw page"
    pick[1].page_link("app_pages/draw.py", label="Draw another", icon=":material/draw:")
state[f"kept-{SOURCE_KEY}"], state[f"kept-{INDEX_KEY}"] = source, state[INDEX_KEY]

pixels = image.tobytes()
digit_key = hash(pixels)  # widgets whose choice belongs to this digit carry it in their key
if truth is None:  # a drawing: follow the answer (the CNN's when both are shown)
    default_target = int(classifiers[list(classifiers)[-1]].predict(image[None])[0])
else:
    default_target = truth
target = pick[2].selectbox("Follow the probability of", list(range(10)), index=default_target,
                           key=f"inside_target-{digit_key}",
                           help="The maps and the sweeps follow this digit: the true one for a test "
                                "image, the answer for a drawing. Pick another to ask 'why not a 9?'")
results = {kind: explained(chosen[kind], common.model_hash(chosen[kind]), pixels, target)
           for kind in classifiers}

# ------------------------------------------------------------------ the answers
columns = st.columns([1] + [2] * len(results))
columns[0].image(charts.thumbnail(image, 196), width=196)
columns[0].caption(f"The input: {where}")
for column, (kind, result) in zip(columns[1:], results.items()):
    with column:
        p = result.probabilities
        st.metric(label(kind), str(int(np.argmax(p))), f"{p.max():.1%} sure · p({target}) {p[target]:.1%}",
                  delta_color="off", delta_arrow="off")
        common.plotly_chart(charts.probability_bars(p, common.kind_color(kind), height=230,
                                                    title="Probability of each digit"), width="stretch",
                            key=f"inside-probs-{kind}", config={"displayModeBar": False})

# ------------------------------------------------------------------ where each model looks
st.subheader("Where each model looks")
st.caption(f"Red: places that speak **for** {target}, blue: against. *Covering a patch*: how much the score of "
           f"{target} drops while a grey 4×4 square hides that place. *Integrated gradients*: each pixel's share "
           "of that score, from the model's own gradients. Each map is scaled to ±1 at its strongest place (one "
           "colour scale for all); scores, not probabilities, because a model that is 100% sure barely moves its "
           "probability. Grey on MNIST's black background is faint ink too: red over empty space means the "
           "model wants that space empty. Look for whether a model relies on the strokes or on the empty space.")
maps = []
for kind, result in results.items():
    name = common.KIND_LABEL[kind]
    for method, values in (("covering a patch", result.occlusion), ("integrated gradients", result.integrated_gradients)):
        # each map scaled to its own peak, which the title gives: a weak map does not pass for a strong one
        maps.append((f"{name} · {method}<br>(peak {np.abs(values).max():.2g})", explain.relative(values)))
common.plotly_chart(charts.attribution_maps(image, maps, columns=4, limit=1.0, unit="relative weight",
                                            height=None if len(maps) > 2 else 460,
                                            title=f"Where each model finds the evidence for {target}"),
                    width="stretch", key="inside-attributions")

# ------------------------------------------------------------------ the ANN
if "ann" in results and results["ann"].units is not None:
    units = results["ann"].units
    st.subheader("Inside the ANN: the units that carry the answer")
    st.caption(f"Each picture is one of the {units.layer_size} units of the first hidden layer: its 784 weights "
               "laid out as the image (red: ink there excites it, blue: ink there inhibits it). These "
               f"{UNITS_SHOWN} add the most to the score of {target}. The ANN has no idea of strokes or "
               "neighbours: each unit is a template of the whole image, tied to where the ink is.")
    titles = [f"unit {u}<br>activation {a:.1f}" for u, a in zip(units.units, units.activations)]
    common.plotly_chart(charts.diverging_grid(units.weights, titles, columns=UNITS_SHOWN, colorbar_title="weight",
                                              title=f"The {len(units.units)} first-layer units that add most to "
                                                    f"the score of {target}: their weights",
                                              numbers=units.units, hover_name="unit"), width="stretch", key="inside-ann-units")
    common.plotly_chart(charts.evidence_flow(units.shares, [f"unit {u}" for u in units.units], target,
                                             title="How these units' evidence flows to the ten outputs "
                                                   "(score shares; the answer's column framed)"),
                        width="stretch", key="inside-ann-flow")

# ------------------------------------------------------------------ the CNN
if "cnn" in results and results["cnn"].feature_maps:
    cnn, blocks = classifiers["cnn"], results["cnn"].feature_maps
    st.subheader("Inside the CNN: filters and feature maps")
    st.caption("The first layer's filters are small stroke detectors slid over the whole image. Each conv "
               "block's feature maps show where its filters fired on this digit (most active first, one "
               "colour scale per block): early blocks still look like the digit, later ones are coarse maps "
               "of parts. Click a cell of the big map below to see which pixels it can see.")
    filters = explain.first_filters(cnn)
    common.plotly_chart(charts.diverging_grid(filters, [str(i) for i in range(len(filters))],
                                              columns=16, colorbar_title="weight", hover_name="filter",
                                              title=f"First layer: {len(filters)} filters, "
                                                    f"{filters.shape[1]}×{filters.shape[2]} px each"),
                        width="stretch", key="inside-cnn-filters")
    show_all = st.toggle("Show every channel (not only the 16 most active)", key="inside_all_channels")
    for block in blocks:
        count = len(block.maps) if show_all else min(MAPS_SHOWN, len(block.maps))
        titles = [f"ch {c}" for c in block.channels[:count]]
        common.plotly_chart(charts.feature_map_grid(block.maps[:count], titles, columns=8 if count <= 16 else 16,
                                                    channels=block.channels[:count],
                                                    title=f"{block.label}{'' if count == len(block.maps) else f' · the {count} most active'}"),
                            width="stretch", key=f"inside-cnn-block-{block.block}")

    st.markdown("**What one cell can see (its receptive field)**")
    choose = st.columns([1, 1, 3])
    block_number = choose[0].selectbox("Block", [b.block for b in blocks], index=len(blocks) - 1,
                                       key="inside_rf_block", format_func=lambda b: blocks[b - 1].label)
    block = blocks[block_number - 1]
    channel = choose[1].selectbox("Channel (most active first)", list(block.channels), key=f"inside_rf_channel-{block_number}")
    values = block.maps[list(block.channels).index(channel)]
    cell_key = f"inside_rf_cell-{chosen['cnn']}-{block_number}-{channel}-{digit_key}"
    cell = st.session_state.get(cell_key)
    if cell is None or not (cell[0] < values.shape[0] and cell[1] < values.shape[1]):
        cell = tuple(int(v) for v in np.unravel_index(np.argmax(values), values.shape))  # the strongest
    field = explain.receptive_field(cnn, block.op_index, *cell)
    left, right = st.columns(2)
    with left:
        event = common.plotly_chart(
            charts.clickable_map(values, cell, f"Conv {block_number}, channel {channel}: click a cell"),
            width="stretch", key=f"inside-rf-map-{block_number}-{channel}", on_select="rerun",
            selection_mode="points")
        points = (event or {}).get("selection", {}).get("points", []) if event else []
        if points and "x" in points[0] and (points[0]["y"], points[0]["x"]) != cell:
            st.session_state[cell_key] = (int(points[0]["y"]), int(points[0]["x"]))
            st.rerun()
    with right:
        top, left_px, bottom, right_px = field
        common.plotly_chart(charts.digit_with_box(image, field, f"Row {cell[0]}, column {cell[1]} sees "
                                                                f"{bottom - top + 1}×{right_px - left_px + 1} px "
                                                                f"of the input"),
                            width="stretch", key="inside-rf-digit")

# ------------------------------------------------------------------ push the digit around
st.subheader("Push the digit around")
st.caption(f"The digit is moved, turned, scaled or re-inked **without** re-centring, and each model's "
           f"probability of {target} is plotted against the size of the change. A flat line means the model "
           "does not care; a cliff means it does. Convolution shares filters across places, but pooling and "
           "the dense layers on top still see position: check how tolerant each really is.")
sweep = st.segmented_control("Change", list(SWEEP_LABELS), format_func=SWEEP_LABELS.get, default="shift_x",
                             key="inside_sweep") or "shift_x"
lines = [{"label": label(kind), "color": common.kind_color(kind), "values": result.sweeps[sweep]}
         for kind, result in results.items()]
amounts = explain.SWEEPS[sweep]
common.plotly_chart(charts.sweep_lines(amounts, lines, explain.UNTOUCHED[sweep], SWEEP_AXES[sweep], target,
                                       title=f"{SWEEP_LABELS[sweep]}: how sure each model stays that it is a {target}"),
                    width="stretch", key="inside-sweep")
st.image(charts.image_strip(explain.transformed(image, sweep), factor=3),
         caption=f"The inputs, left to right: {', '.join(str(a) for a in amounts)}", width="stretch")

# ------------------------------------------------------------------ honest confidence
honest_confidence_section({kind: chosen[kind] for kind in classifiers})  # errors were shown above
