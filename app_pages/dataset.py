"""Dataset: MNIST's numbers, a browsable grid, one digit pixel by pixel, balance and average digits."""

import numpy as np
import streamlit as st

from app_pages import common
from mnist_core import charts
from mnist_core.data import dataset_views

PAGE_SIZE = 40
COLUMNS = 10

st.title("The MNIST dataset")
ds = common.dataset()


@st.cache_data(show_spinner=False)
def pixel_range() -> tuple[int, int]:
    return int(ds.x_train.min()), int(ds.x_train.max())  # 47 MB: once, not on every rerun


cols = st.columns(6)
cols[0].metric("Training images", f"{len(ds.x_train):,}")
cols[1].metric("Test images", f"{len(ds.x_test):,}")
cols[2].metric("Shape", "28 × 28")
cols[3].metric("Type", str(ds.x_train.dtype))
cols[4].metric("Pixel range", "{}–{}".format(*pixel_range()))
cols[5].metric("Checksums", "verified ✓")
st.caption(f"Source: **{ds.source}** (cache `{ds.directory}`). White digit on black, size-normalised to "
           "20×20 and centred by mass in 28×28, exactly as the models receive it (scaled to 0–1).")


@st.cache_resource(show_spinner=False)
def average_digit_figures(split: str) -> dict:
    """The mean and spread grids of one split, built once: rebuilding them was half of every rerun."""
    images, labels = _split(split)
    means, variances = dataset_views.class_means(images, labels), dataset_views.class_variances(images, labels)
    return {"mean": charts.image_grid(means, [f"mean {d}" for d in range(10)], zmax=255, colorscale="gray"),
            "variance": charts.image_grid(np.sqrt(variances), [f"spread {d}" for d in range(10)],
                                          colorscale="Viridis", hover_label="std")}


def _split(split: str):
    return (ds.x_train, ds.y_train) if split == "train" else (ds.x_test, ds.y_test)


def reset_page():
    st.session_state.dataset_page = 1


browse, closeup, balance, means = st.tabs(["Browse", "One digit up close", "Class balance", "Average digits"])

with browse:
    c1, c2, c3 = st.columns([1, 3, 1])
    split = c1.segmented_control("Split", ["train", "test"], default="train", key="dataset_split",
                                 on_change=reset_page) or "train"
    digit = c2.segmented_control("Digit", ["all"] + charts.DIGITS, default="all", key="dataset_digit",
                                 on_change=reset_page) or "all"
    if c3.button("Shuffle", icon=":material/shuffle:", width="stretch"):
        st.session_state.dataset_seed = int(np.random.default_rng().integers(1 << 31))
        reset_page()
    if st.button("Back to dataset order", disabled="dataset_seed" not in st.session_state):
        st.session_state.pop("dataset_seed", None)
        reset_page()
    images, labels = _split(split)
    indices = dataset_views.filter_indices(labels, None if digit == "all" else int(digit),
                                           st.session_state.get("dataset_seed"))
    pages = max(1, -(-len(indices) // PAGE_SIZE))
    if "dataset_page" not in st.session_state:
        st.session_state.dataset_page = 1
    st.session_state.dataset_page = min(st.session_state.dataset_page, pages)

    n1, n2, n3 = st.columns([1, 1, 2])
    n1.number_input(f"Page (of {pages:,})", 1, pages, key="dataset_page")
    jump = n2.number_input(f"Jump to index (0–{len(labels) - 1:,})", value=None, step=1,
                           placeholder="e.g. 1234", key="dataset_jump")
    n3.caption(f"{len(indices):,} {split} images" + ("" if digit == "all" else f" of the digit {digit}") +
               (", shuffled" if "dataset_seed" in st.session_state else ", in dataset order"))
    problem = None if jump is None else dataset_views.index_problem(int(jump), len(labels), split)
    if jump is not None:
        if problem:
            st.error(problem, icon=":material/search:")
        else:
            st.session_state.closeup_index = int(jump)
            st.success(f"Index {int(jump):,} of the {split} split is a **{labels[int(jump)]}**; "
                       "it is shown first below and on the *One digit up close* tab.", icon=":material/search:")
    page = st.session_state.dataset_page
    visible = indices[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
    if jump is not None and not problem:
        visible = np.concatenate([[int(jump)], visible[visible != int(jump)]])[:PAGE_SIZE]
    grid = st.columns(COLUMNS)
    for i, index in enumerate(visible):
        grid[i % COLUMNS].image(charts.enlarge(images[index], 3), caption=f"#{index} · {labels[index]}",
                                width="stretch")

with closeup:
    images, labels = _split(split)
    default = int(st.session_state.get("closeup_index", visible[0] if len(visible) else 0))
    default = min(default, len(labels) - 1)
    index = st.number_input(f"Index in the {split} split", 0, len(labels) - 1, default, key=f"closeup_{split}")
    left, right = st.columns([3, 2])
    with left:
        common.plotly_chart(charts.digit_heatmap(images[index], f"{split} #{index}: a {labels[index]}"),
                            width="stretch", key="closeup_heatmap")
    with right:
        st.markdown("**Every pixel is a number.** The ANN receives these 784 numbers as one long list and "
                    "has to learn that neighbouring pixels belong together; the CNN's filters look at 3×3 "
                    "neighbourhoods directly. Hover over a pixel to read its value (0 = black, 255 = white).")
        values = images[index]
        st.metric("Ink pixels (> 0)", f"{int((values > 0).sum())} of 784")
        st.metric("Mean pixel value", f"{values.mean():.1f}")

with balance:
    common.plotly_chart(charts.class_distribution(ds.y_train, ds.y_test), width="stretch", key="class_balance")
    counts = np.bincount(ds.y_train, minlength=10)
    st.caption(f"Roughly balanced: the rarest training digit ({int(np.argmin(counts))}) has {counts.min():,} "
               f"images, the commonest ({int(np.argmax(counts))}) {counts.max():,}. Accuracy is a fair summary.")

with means:
    view = st.segmented_control("Show", ["mean", "variance"], default="mean", key="means_view") or "mean"
    figures = average_digit_figures(split)
    if view == "mean":
        common.plotly_chart(figures["mean"], width="stretch", key="mean_images")
        st.caption("The average of every image of each digit. A network with no hidden layer can only "
                   "compare a digit with templates much like these, which is why such a linear model "
                   "stalls well below the networks on the Train page: a slanted 1 or an open 4 does not "
                   "match its blurry template.")
    else:
        common.plotly_chart(figures["variance"], width="stretch", key="variance_images")
        st.caption("Standard deviation per pixel: bright where writers disagree about where the ink goes. "
                   "The spread is wide, so a fixed pixel-by-pixel template cannot capture a digit.")
