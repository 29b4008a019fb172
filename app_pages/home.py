"""Home: what the demo shows, the dataset's status, and the shipped models."""

import streamlit as st

from app_pages import common
from mnist_core.models import presets

st.title("✍️ MNIST: ANN vs CNN, live")
st.markdown(
    "Two kinds of neural network learn the same 70,000 handwritten digits. The **ANN** (a plain "
    "multi-layer perceptron) sees an image as 784 unrelated numbers; the **CNN** (a convolutional "
    "network) slides small filters over it and so sees strokes, corners and loops wherever they are. "
    "Look at the data, train both live (or race them, or replay a recorded run) and watch what they "
    "know epoch by epoch, find where each one errs, "
    "then draw a digit and see both answer side by side."
)

ds = common.dataset()
st.subheader("Dataset")
cols = st.columns(4)
cols[0].metric("Training images", f"{len(ds.x_train):,}")
cols[1].metric("Test images", f"{len(ds.x_test):,}")
cols[2].metric("Image", "28 × 28, 0–255")
cols[3].metric("Checksums", "SHA-256 ✓")
st.caption(f"Loaded from **{ds.source}**, cached in `{ds.directory}`; all four IDX files match their "
           "published SHA-256 sums.")

st.subheader("Shipped models")
kinds = common.selected_kinds()
columns = st.columns(len(kinds))
for column, kind in zip(columns, kinds):
    with column:
        classifier = common.classifier(kind)
        if classifier is None:
            continue
        card = classifier.card
        label = common.KIND_LABEL[kind]
        st.metric(f"{label} · test accuracy", common.percent(card.get("test_accuracy")),
                  help="Measured on the 10,000 MNIST test images when the model was trained.")
        st.caption(presets.PRESETS[kind].description)
        seconds = card.get("training_seconds")
        took = f"{seconds / 60:,.0f} min of training" if isinstance(seconds, (int, float)) else "training time unknown"
        st.markdown(f"**{classifier.parameter_count:,} parameters** · {card.get('epochs_run', '?')} epochs, {took}")
        with st.expander(f"{label} architecture, layer by layer"):
            # A Markdown table, not st.dataframe: Home is the first page a fresh server renders,
            # and a dataframe would load pandas and Arrow first (~0.3 s of the cold start).
            st.markdown(common.markdown_table(classifier.layer_table()))

st.subheader("Where next")
links = st.columns(4)
links[0].page_link("app_pages/dataset.py", label="Look at the digits", icon=":material/grid_view:")
links[1].page_link("app_pages/train.py", label="Train a network live", icon=":material/monitoring:")
links[2].page_link("app_pages/confusion.py", label="See where models err", icon=":material/grid_on:")
links[3].page_link("app_pages/draw.py", label="Draw a digit", icon=":material/draw:")
