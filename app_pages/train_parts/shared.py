"""What every mode of the Train page shows: the drawing and augmentation settings, the start and
stop buttons, the curves, the epoch strip with its slider, each network's confusion matrix, first
layer and map of the learned space at that epoch, and the progress bar."""

import numpy as np
import streamlit as st

from app_pages import common, digit_links
from mnist_core import charts, training
from mnist_core.analysis import learned_space
from mnist_core.data import augment
from mnist_core.models import writeups
from mnist_core.training import epoch_snapshots, tracks
from mnist_core.training.tracks import Track

PREVIEW_DRAWS = 3  # rows of changed digits under the originals
AUGMENT_LABELS = {k.name: k.label for k in augment.AUGMENTATIONS}


def strip_of(ds) -> tuple[np.ndarray, np.ndarray, list[str]]:
    images, labels = epoch_snapshots.strip_digits(ds.x_test, ds.y_test)
    return images, labels, [f"test digit {i}" for i in epoch_snapshots.STRIP_INDICES]


@st.cache_data(max_entries=32, show_spinner=False)
def shipped_reading(pixels: bytes) -> int | None:
    """What the shipped CNN reads in a drawing: the strip's default truth for it."""
    model = common.classifier("cnn")
    image = np.frombuffer(pixels, np.float32).reshape(1, 28, 28)
    return None if model is None else int(model.predict_proba(image)[0].argmax())


def drawing_settings(container, disabled: bool) -> np.ndarray | None:
    """The Draw page's last drawing, if there is one and the person keeps it in: sent to the run."""
    drawing = st.session_state.get(digit_links.LAST_DRAWING_KEY)
    if drawing is None:
        container.caption("Draw a digit on the **Draw** page and it joins the strip of test digits below, "
                          "read by the network at every epoch.")
        return None
    image = np.asarray(drawing, np.float32)
    left, middle, right = container.columns([1, 3, 3], vertical_alignment="center")
    left.image(charts.thumbnail(image, 56), width=56)
    keep = middle.toggle("Add my last drawing to the strip", value=True, key="train_with_drawing", disabled=disabled)
    if "train_drawing_label" not in st.session_state or st.session_state.get("train_drawing_of") != image.tobytes():
        st.session_state.train_drawing_of = image.tobytes()
        st.session_state.train_drawing_label = shipped_reading(image.tobytes())
    right.selectbox("It is a", list(range(10)), key="train_drawing_label",
                    help="What you drew: each answer on it is marked right or wrong against this. "
                         "It starts as the shipped CNN's reading.")
    return image if keep else None


def augmentation_settings(ds, disabled: bool) -> None:
    """A switch per kind, and what the chosen kinds do to ten training digits (one of each)."""
    st.pills("Augmentation", augment.AUGMENTATION_NAMES, selection_mode="multi", key="train_augment", disabled=disabled,
             format_func=AUGMENT_LABELS.get,
             help="Random changes to every batch, new each epoch: " + " ".join(
                 f"**{k.label}**: {k.help}" for k in augment.AUGMENTATIONS) + " Slower to fit, better on new handwriting.")
    chosen = tuple(st.session_state.get("train_augment") or ())
    with st.expander("See what augmentation does to the training digits"):
        first = [int(np.flatnonzero(ds.y_train == d)[0]) for d in range(10)]
        originals = ds.x_train[first].astype(np.float32) / 255.0
        if not chosen:
            st.caption("No augmentation is on: the network sees these digits exactly as MNIST has them.")
            st.image(charts.image_strip(originals), caption="MNIST as it is")
            return
        st.image(charts.image_strip(originals), caption="MNIST as it is")
        draw = st.session_state.setdefault("train_augment_draw", 0)
        rng = np.random.default_rng(draw)
        for i in range(PREVIEW_DRAWS):
            st.image(charts.image_strip(augment.augment(originals, chosen, rng)),
                     caption=f"Draw {i + 1}: {augment.describe(chosen)}")
        if st.button("New random draws", icon=":material/casino:", key="train_augment_new"):
            st.session_state.train_augment_draw = draw + 1
            st.rerun()


def start_error(exc: Exception) -> None:
    st.error(str(exc), icon=":material/error:")


@st.cache_resource(max_entries=64, show_spinner=False)
def curves_figure(key: tuple, _runs: list[dict], x: str, _writeups: list[dict]):
    """Built once per new epoch, not on every poll: building and serialising a figure twice a second
    held the GIL long enough to slow the training thread thirtyfold (measured)."""
    return charts.training_curves(_runs, x=x, writeups=_writeups)


def show_curves(shown: list[Track], extra: list[dict], name: str) -> None:
    x = st.segmented_control("Curves by", ["epoch", "seconds"], default="epoch", key=f"{name}_x",
                             format_func=lambda v: "Epoch" if v == "epoch" else "Seconds of training") or "epoch"
    runs = [{"label": t.label, "color": common.kind_color(t.kind), "records": tracks.curve_records(t)}
            for t in shown] + extra
    found = {t.preset: writeups.for_preset(t.preset) for t in shown}
    reported = [writeups.overlay(w) for w in found.values() if w is not None]
    if not any(r["records"] for r in runs):
        st.caption("The first point appears when epoch 1 ends.")
        return
    key = tuple((r["label"], r["color"], len(r["records"])) for r in runs) + (common.projector_on(),)
    common.plotly_chart(curves_figure(key, runs, x, reported), width="stretch", key=f"{name}_curves")
    notes = ["Dotted: accuracy on a fixed sample of the test images, scored after every epoch."]
    if reported:
        shifted = any(found[t.preset] and found[t.preset].initial_epoch for t in shown)
        notes.append("Stars: what the write-up reported" + (
            " by epochs of training done; it trained with initial_epoch=1, so it numbered its nine epochs 2–10."
            if shifted and x == "epoch" else "." if x == "epoch" else "; switch to Epoch to see them."))
    st.caption(" ".join(notes))


@st.cache_resource(max_entries=256, show_spinner=False)
def strip_figure(key: tuple, _shown: list[Track], epoch: int, drawing_label: int | None, _drawing, _strip):
    images_, labels, names = _strip
    images = tracks.strip_images_with(images_, _drawing)
    with_drawing = _drawing is not None
    truths = [int(t) for t in labels] + ([drawing_label] if with_drawing else [])
    rows = tracks.strip_rows(_shown, epoch, len(images), with_drawing, common.kind_color)
    typical = len(epoch_snapshots.STRIP_EASY)  # a line of typical digits, then the hard ones and the drawing
    return charts.epoch_strip(images, truths, rows, names + (["your drawing"] if with_drawing else []),
                              lines=[range(typical), range(typical, len(images))], title=f"After epoch {epoch}")


@st.cache_resource(max_entries=256, show_spinner=False)
def scrub_figures(key: tuple, _shot: epoch_snapshots.EpochSnapshot, kind: str):
    """The confusion matrix and the first layer after one epoch."""
    confusion = charts.confusion_heatmap(_shot.confusion, height=430)
    names = [f"unit {i}" if kind == "ann" else str(i) for i in range(len(_shot.first_layer))]
    layer = charts.diverging_grid(_shot.first_layer, names, columns=4 if kind == "ann" else 8, height=430,
                                  hover_name="unit" if kind == "ann" else "filter")
    return confusion, layer


def epoch_slider(epochs: list[int], name: str) -> int:
    # A new slider for each new epoch (its key names the count), so the browser never sends back a value
    # from the shorter range: it starts on the newest epoch unless the person had scrubbed back.
    before = st.session_state.get(f"{name}_epoch_key")
    start = tracks.epoch_to_show(epochs, st.session_state.get(before) if before else None,
                                 st.session_state.get(f"{name}_epoch_latest"))
    slider = f"{name}_epoch_{len(epochs)}"
    st.session_state[f"{name}_epoch_key"], st.session_state[f"{name}_epoch_latest"] = slider, epochs[-1]
    return st.select_slider("Epoch", epochs, value=start, key=slider, disabled=len(epochs) < 2,
                            help="Scrub back through the run: the strip, the confusion matrix and the first "
                                 "layer as they were after that epoch.")


def show_epochs(shown: list[Track], name: str, strip_, drawing_image=None) -> None:
    """The strip at one epoch, and under it each network's confusion matrix and first layer then: the
    slider follows a live run while it sits on the newest epoch."""
    epochs = sorted({s.epoch for t in shown for s in t.snapshots})
    st.subheader("What each network knows" if len(shown) > 1 else "What the network knows")
    if not epochs:
        st.caption("The strip of test digits appears when epoch 1 ends: each network's answer under each digit, "
                   "✓ right, ✗ wrong.")
        return
    epoch = epoch_slider(epochs, name)
    label = st.session_state.get("train_drawing_label") if drawing_image is not None else None
    key = tuple((t.key, len(t.snapshots)) for t in shown) + (epoch, label, common.projector_on())
    common.plotly_chart(strip_figure(key, shown, epoch, label, drawing_image, strip_), width="stretch",
                        key=f"{name}_strip", config={"displayModeBar": False})
    st.caption(f"The same {len(strip_[1])} test digits in every run: ten typical ones, then ten hard ones. "
               f"Under each, the digit {'each' if len(shown) > 1 else 'the'} network reads after that epoch, ✓ "
               "right or ✗ wrong, and how sure it is"
               + ("; the last is your drawing." if drawing_image is not None else "."))
    columns = st.columns(2)  # one network: its matrix beside its first layer; two: a column each
    for n, t in enumerate(shown):
        show_scrubbed(t, epoch, name, (columns[n], columns[n]) if len(shown) > 1 else columns)
    show_maps(shown, epoch, name)


@st.cache_resource(show_spinner=False)
def epoch_map_digits() -> tuple[np.ndarray, np.ndarray]:
    """The epoch maps' test digits (learned_space.epoch_sample) and their labels."""
    ds = common.dataset()
    indices = learned_space.epoch_sample(ds.y_test)
    return indices, ds.y_test[indices]


@st.cache_resource(max_entries=256, show_spinner=False)
def epoch_map_figure(key: tuple, _t: Track, epoch: int):
    """One network's map at `epoch`, on axes that hold every map of its run (the points move, not the
    axes), and how cleanly it separates the digits."""
    shot = epoch_snapshots.at_map(_t.snapshots, epoch)
    indices, labels = epoch_map_digits()
    fig = charts.learned_space_map(shot.map_points, labels, indices, height=460, ranges=charts.map_ranges(
        [s.map_points for s in _t.snapshots if s.map_points is not None]))
    scores = learned_space.separation(shot.map_points.astype(np.float32), labels)
    return (charts.projector_figure(fig) if common.projector_on() else fig), scores


def show_maps(shown: list[Track], epoch: int, name: str) -> None:
    """Each network's map of the learned space at the slider's epoch: where it puts 1,000 test digits."""
    st.markdown("**The learned space**: where each network puts 1,000 test digits (its last hidden layer, "
                "t-SNE), each epoch's map started from the last's, so the digits move as it learns")
    columns = st.columns(max(2, len(shown)))
    for column, t in zip(columns, shown):
        shot = epoch_snapshots.at_map(t.snapshots, epoch)
        if shot is None:
            column.caption(f"{t.label}: no map yet. A map is taken when an epoch ends, while every snapshot "
                           "together stays within 5% of the training time, so quick epochs get fewer maps.")
            continue
        fig, (neighbours, silhouette) = epoch_map_figure(
            (t.key, shot.epoch, len(t.snapshots), common.projector_on()), t, shot.epoch)
        column.markdown(f"{t.label} · map from epoch {shot.epoch}: {neighbours:.1%} of the digits share the "
                        f"digit of most of their 10 nearest, silhouette {silhouette:.2f}")
        column.plotly_chart(fig, width="stretch", key=f"{name}_map_{t.key}", config={"displayModeBar": False})
    if len(shown) == 1:
        columns[1].caption("Scrub the slider back: early on, digits of different kinds share the map; as the "
                           "network learns, each kind gathers into a cluster of its own, and the two scores "
                           "above climb. A dot inside another digit's cluster is a digit the network reads "
                           "as that one. The Learned space page shows the shipped models' maps and places "
                           "your own drawing in them.")


def show_scrubbed(t: Track, epoch: int, name: str, places) -> None:
    shot = epoch_snapshots.at_epoch(t.snapshots, epoch)
    if shot is None:
        places[0].caption(f"{t.label}: epoch 1 has not ended yet.")
        return
    confusion, layer = scrub_figures((t.key, shot.epoch, common.projector_on()), shot, t.kind)
    with places[0]:
        st.markdown(f"**{t.label} · epoch {shot.epoch}**: {shot.test_accuracy:.1%} of {shot.test_images:,} "
                    "test images right")
        common.plotly_chart(confusion, width="stretch", key=f"{name}_confusion_{t.key}")
    with places[1]:
        units = len(shot.first_layer)
        st.markdown(f"**First layer after epoch {shot.epoch}**: " + (
            f"the 784 weights of units 0–{units - 1}, as images" if t.kind == "ann" else
            f"its {units} filters, {shot.first_layer.shape[1]}×{shot.first_layer.shape[2]} px"))
        common.plotly_chart(layer, width="stretch", key=f"{name}_layer_{t.key}")


def progress_bar(snap: training.RunSnapshot, label: str, epochs: int) -> None:
    line = tracks.progress_line(snap, label, epochs)
    if line is not None:
        st.progress(line[0], text=line[1])
