"""Train: one network live, an ANN and a CNN racing, or a recorded run replayed. Curves by epoch or
seconds, the write-ups' figures beside ours, and what each network knows at every epoch: a strip of
fixed test digits, the confusion matrix and the first layer, scrubbed with a slider."""

import dataclasses
import time

import numpy as np
import streamlit as st

from mnist_core import charts, training
from mnist_core.data import augment
from mnist_core.training import epoch_snapshots
from mnist_core.models import presets
from mnist_core.models import registry
from mnist_core.training import replays
from mnist_core.models import writeups
from app_pages import common

QUICK_DEMO = {"train_size": 10_000, "epochs": 3}  # finishes in well under a minute on 2 cores
TRAIN_SIZES = [1_000, 2_000, 5_000, 10_000, 20_000, 30_000, 45_000, 60_000]
MODES = {"train": "Train one network", "race": "Race ANN vs CNN", "replay": "Replay a recording"}
RACE_VALIDATION = 0.1
REPLAY_POLL = 0.5  # s between a replay's frames: at 20×, a CNN epoch every second or so

st.title("Train a network live")
ds = common.dataset()  # verified MNIST, or the clear error; the training worker loads the same cache
strip_images, strip_labels = epoch_snapshots.strip_digits(ds.x_test, ds.y_test)
strip_names = [f"test digit {i}" for i in epoch_snapshots.STRIP_INDICES]
kinds = common.selected_kinds()

st.session_state.setdefault("train_history", {})  # run id → finished run summary, for overlays
params = st.query_params
if "train_mode" not in st.session_state:
    st.session_state.train_mode = "race" if params.get("race") else "replay" if params.get("replay") else "train"
mode = st.segmented_control("What to do", list(MODES), format_func=MODES.get, key="train_mode",
                            label_visibility="collapsed") or "train"

run = training.find_run(st.session_state.get("train_run_id") or params.get("run"))
if run is not None:
    st.session_state.train_run_id = run.id
race_ids = st.session_state.get("race_run_ids") or (params.get("race") or "").split(".")
race = [r for r in (training.find_run(i) for i in race_ids if i) if r is not None]
if race:
    st.session_state.race_run_ids = [r.id for r in race]


# ------------------------------------------------------------------ the last drawing joins the strip
drawing = st.session_state.get(common.LAST_DRAWING_KEY)


@st.cache_data(max_entries=32, show_spinner=False)
def shipped_reading(pixels: bytes) -> int | None:
    """What the shipped CNN reads in a drawing: the strip's default truth for it."""
    model = common.classifier("cnn")
    image = np.frombuffer(pixels, np.float32).reshape(1, 28, 28)
    return None if model is None else int(model.predict_proba(image)[0].argmax())


def drawing_settings(container, disabled: bool) -> np.ndarray | None:
    """The Draw page's last drawing, if there is one and the person keeps it in: sent to the run."""
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


# ------------------------------------------------------------------ augmentation, one switch per kind
AUGMENT_LABELS = {k.name: k.label for k in augment.KINDS}
PREVIEW_DRAWS = 3  # rows of changed digits under the originals


def augmentation_settings(disabled: bool) -> None:
    """A switch per kind, and what the chosen kinds do to ten training digits (one of each)."""
    st.pills("Augmentation", augment.KIND_NAMES, selection_mode="multi", key="train_augment", disabled=disabled,
             format_func=AUGMENT_LABELS.get,
             help="Random changes to every batch, new each epoch: " + " ".join(
                 f"**{k.label}**: {k.help}" for k in augment.KINDS) + " Slower to fit, better on new handwriting.")
    chosen = tuple(st.session_state.get("train_augment") or ())
    with st.expander("See what augmentation does to the training digits"):
        first = [int(np.flatnonzero(ds.y_train == d)[0]) for d in range(10)]
        originals = ds.x_train[first].astype(np.float32) / 255.0
        if not chosen:
            st.caption("No augmentation is on: the network sees these digits exactly as MNIST has them.")
            st.image(charts.image_strip(originals), caption="MNIST as it is")
            return
        draw = st.session_state.setdefault("train_augment_draw", 0)
        rng = np.random.default_rng(draw)
        changed = [augment.augment(originals, chosen, rng) for _ in range(PREVIEW_DRAWS)]
        st.image(charts.image_strip(originals), caption="MNIST as it is")
        for i, images in enumerate(changed):
            st.image(charts.image_strip(images), caption=f"Draw {i + 1}: {augment.describe(chosen)}")
        if st.button("New random draws", icon=":material/casino:", key="train_augment_new"):
            st.session_state.train_augment_draw = draw + 1
            st.rerun()


# ------------------------------------------------------------------ what a run, a race or a replay shows
@dataclasses.dataclass(frozen=True)
class Track:
    """One network's curves and snapshots, live or replayed."""
    key: str
    label: str
    kind: str
    preset: str
    records: tuple
    snapshots: tuple
    has_drawing: bool = False


def track_of(r: training.TrainingRun, snap: training.RunSnapshot) -> Track:
    return Track(r.id, f"{r.config.preset} ({r.id[:4]})", r.preset.kind, r.config.preset, snap.records,
                 snap.snapshots, r.drawing is not None)


def curve_records(track: Track) -> list[dict]:
    """EpochRecords as dicts, with the accuracy each epoch's snapshot measured on test images."""
    scored = {s.epoch: s.test_accuracy for s in track.snapshots}
    return [dict(dataclasses.asdict(r), test_accuracy=scored.get(r.epoch)) for r in track.records]


@st.cache_resource(max_entries=64, show_spinner=False)
def curves_figure(key: tuple, _runs: list[dict], x: str, _writeups: list[dict]):
    """Built once per new epoch, not on every poll: building and serialising a figure twice a second
    held the GIL long enough to slow the training thread thirtyfold (measured)."""
    return charts.training_curves(_runs, x=x, writeups=_writeups)


def show_curves(tracks: list[Track], extra: list[dict], name: str) -> None:
    x = st.segmented_control("Curves by", ["epoch", "seconds"], default="epoch", key=f"{name}_x",
                             format_func=lambda v: "Epoch" if v == "epoch" else "Seconds of training") or "epoch"
    runs = [{"label": t.label, "color": common.kind_color(t.kind), "records": curve_records(t)} for t in tracks] + extra
    found = {t.preset: writeups.for_preset(t.preset) for t in tracks}
    reported = [writeups.overlay(w) for w in found.values() if w is not None]
    if not any(r["records"] for r in runs):
        st.caption("The first point appears when epoch 1 ends.")
        return
    key = tuple((r["label"], r["color"], len(r["records"])) for r in runs) + (common.projector_on(),)
    common.plotly_chart(curves_figure(key, runs, x, reported), width="stretch", key=f"{name}_curves")
    notes = ["Dotted: accuracy on a fixed sample of the test images, scored after every epoch."]
    if reported:
        shifted = any(found[t.preset] and found[t.preset].initial_epoch for t in tracks)
        notes.append("Stars: what the write-up reported" + (
            " by epochs of training done; it trained with initial_epoch=1, so it numbered its nine epochs 2–10."
            if shifted and x == "epoch" else "." if x == "epoch" else "; switch to Epoch to see them."))
    st.caption(" ".join(notes))


@st.cache_resource(max_entries=256, show_spinner=False)
def strip_figure(key: tuple, _tracks: list[Track], epoch: int, drawing_label: int | None, _drawing):
    with_drawing = _drawing is not None
    images = np.concatenate([strip_images, _drawing[None] * 255]) if with_drawing else strip_images
    truths = [int(t) for t in strip_labels] + ([drawing_label] if with_drawing else [])
    names = strip_names + (["your drawing"] if with_drawing else [])
    rows = []
    for t in _tracks:
        shot = epoch_snapshots.at_epoch(t.snapshots, epoch)
        label = t.label if shot is None or shot.epoch == epoch else f"{t.label}, epoch {shot.epoch}"
        answers = [None] * len(images) if shot is None else [int(a) for a in shot.answers[:len(images)]]
        confidence = [0.0] * len(images) if shot is None else shot.confidence[:len(images)]
        if with_drawing and not t.has_drawing and shot is not None:  # a replay never saw the drawing
            answers, confidence = answers + [None], list(confidence) + [0.0]
        rows.append({"label": label, "color": common.kind_color(t.kind), "answers": answers, "confidence": confidence})
    typical = len(epoch_snapshots.STRIP_EASY)  # a line of typical digits, then the hard ones and the drawing
    return charts.epoch_strip(images, truths, rows, names, lines=[range(typical), range(typical, len(images))],
                              title=f"After epoch {epoch}")


@st.cache_resource(max_entries=256, show_spinner=False)
def scrub_figures(key: tuple, _shot: epoch_snapshots.EpochSnapshot, kind: str):
    """The confusion matrix and the first layer after one epoch."""
    confusion = charts.confusion_heatmap(_shot.confusion, height=430)
    names = [f"unit {i}" if kind == "ann" else str(i) for i in range(len(_shot.first_layer))]
    layer = charts.diverging_grid(_shot.first_layer, names, columns=4 if kind == "ann" else 8, height=430,
                                  hover_name="unit" if kind == "ann" else "filter")
    return confusion, layer


def show_epochs(tracks: list[Track], name: str, drawing_image=None) -> None:
    """The strip at one epoch, and under it each network's confusion matrix and first layer then: the
    slider follows a live run while it sits on the newest epoch."""
    epochs = sorted({s.epoch for t in tracks for s in t.snapshots})
    st.subheader("What each network knows" if len(tracks) > 1 else "What the network knows")
    if not epochs:
        st.caption("The strip of test digits appears when epoch 1 ends: each network's answer under each digit, "
                   "✓ right, ✗ wrong.")
        return
    # A new slider for each new epoch (its key names the count), so the browser never sends back a value
    # from the shorter range: it starts on the newest epoch unless the person had scrubbed back.
    before = st.session_state.get(f"{name}_epoch_key")
    scrubbed = st.session_state.get(before) if before else None
    latest_before = st.session_state.get(f"{name}_epoch_latest")
    start = scrubbed if scrubbed in epochs and scrubbed != latest_before else epochs[-1]
    slider = f"{name}_epoch_{len(epochs)}"
    st.session_state[f"{name}_epoch_key"], st.session_state[f"{name}_epoch_latest"] = slider, epochs[-1]
    epoch = st.select_slider("Epoch", epochs, value=start, key=slider,
                             disabled=len(epochs) < 2,
                             help="Scrub back through the run: the strip, the confusion matrix and the first "
                                  "layer as they were after that epoch.")
    label = st.session_state.get("train_drawing_label") if drawing_image is not None else None
    key = tuple((t.key, len(t.snapshots)) for t in tracks) + (epoch, label, common.projector_on())
    common.plotly_chart(strip_figure(key, tracks, epoch, label, drawing_image), width="stretch",
                        key=f"{name}_strip", config={"displayModeBar": False})
    st.caption(f"The same {len(strip_labels)} test digits in every run: ten typical ones, then ten hard ones. "
               f"Under each, the digit {'each' if len(tracks) > 1 else 'the'} network reads after that epoch, ✓ "
               "right or ✗ wrong, and how sure it is"
               + ("; the last is your drawing." if drawing_image is not None else "."))
    columns = st.columns(2)  # one network: its matrix beside its first layer; two: a column each
    for n, t in enumerate(tracks):
        shot = epoch_snapshots.at_epoch(t.snapshots, epoch)
        if shot is None:
            columns[n].caption(f"{t.label}: epoch 1 has not ended yet.")
            continue
        confusion, layer = scrub_figures((t.key, shot.epoch, common.projector_on()), shot, t.kind)
        places = (columns[n], columns[n]) if len(tracks) > 1 else columns
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
    p = snap.progress
    if snap.state == "evaluating":
        st.progress(1.0, text=f"{label}: scoring the 10,000 test images …")
    elif snap.state != "running":
        return
    elif p is None:
        st.progress(0.0, text=f"{label}: {snap.status or 'preparing the data and building the model …'}")
    else:
        st.progress(min(1.0, p.batch / p.batches),
                    text=f"{label}: epoch {p.epoch} of {epochs} · batch {p.batch:,} of {p.batches:,} · "
                         f"{p.samples_per_second:,.0f} samples/s · about {p.seconds_left:,.0f} s left")


def snapshot_cost(tracks: list[Track]) -> str:
    parts = [f"{t.label} {epoch_snapshots.share_of_training(t.snapshots, t.records):.1%}" for t in tracks if t.records]
    return "Taking each epoch's snapshot cost " + ", ".join(parts) + " of the training time." if parts else ""


def start_error(exc: Exception) -> None:
    st.error(str(exc), icon=":material/error:")


# ------------------------------------------------------------------ one network
def apply_recipe():
    """Fill the settings from the chosen preset, as a quick demo or with the write-up's full recipe."""
    preset = presets.PRESETS[st.session_state.train_preset]
    quick = st.session_state.get("train_recipe", "Quick demo") == "Quick demo"
    st.session_state.train_epochs = QUICK_DEMO["epochs"] if quick else preset.epochs
    st.session_state.train_size = QUICK_DEMO["train_size"] if quick else 60_000
    st.session_state.train_batch = preset.batch_size
    st.session_state.train_lr = preset.learning_rate
    st.session_state.train_optimizer = preset.optimizer
    st.session_state.train_val = preset.validation_split if preset.validation_split else 0.1
    st.session_state.train_augment = list(preset.augment)


def run_label(r: training.TrainingRun) -> str:
    return f"{r.config.preset} ({r.id[:4]})"


def overlay_runs(exclude: str | None) -> list[dict]:
    """This session's earlier runs of the families the global toggle shows."""
    history = st.session_state.train_history
    return [dict(h, color=common.kind_color(None, i)) for i, h in enumerate(history.values())
            if h["id"] != exclude and h["kind"] in kinds]


def train_one() -> None:
    active = run is not None and run.is_active
    names = [name for name, preset in presets.PRESETS.items() if preset.kind in kinds]
    if st.session_state.get("train_preset") not in names:
        st.session_state.train_preset = names[0]
        apply_recipe()
    with st.container(border=True):
        top = st.columns([2, 1])
        top[0].selectbox("Network", names, key="train_preset", on_change=apply_recipe, disabled=active,
                         format_func=lambda n: f"{n}  ({presets.PRESETS[n].kind.upper()})")
        top[1].segmented_control("Settings", ["Quick demo", "Preset's recipe"], key="train_recipe",
                                 default="Quick demo", on_change=apply_recipe, disabled=active)
        preset = presets.PRESETS[st.session_state.train_preset]
        st.caption(preset.description)
        row = st.columns(6)
        row[0].number_input("Epochs", step=1, key="train_epochs", disabled=active)
        row[1].number_input("Batch size", step=16, key="train_batch", disabled=active)
        row[2].number_input("Learning rate", step=0.0005, format="%g", key="train_lr", disabled=active)
        row[3].selectbox("Optimiser", presets.OPTIMIZERS, key="train_optimizer", disabled=active)
        row[4].select_slider("Training images", TRAIN_SIZES, key="train_size", disabled=active,
                             format_func=lambda n: f"{n:,}")
        row[5].slider("Validation split", 0.0, 0.5, step=0.05, key="train_val", disabled=active)
        augmentation_settings(active)
        with_drawing = drawing_settings(st, active)
        buttons = st.columns([1, 1, 4])
        start = buttons[0].button("Start training", type="primary", icon=":material/play_arrow:", disabled=active,
                                  width="stretch")
        stop = buttons[1].button("Stop", icon=":material/stop:", disabled=not active, width="stretch")

    if start:
        config = training.TrainingConfig(
            preset=st.session_state.train_preset, epochs=st.session_state.train_epochs,
            batch_size=st.session_state.train_batch, learning_rate=st.session_state.train_lr,
            optimizer=st.session_state.train_optimizer, validation_split=st.session_state.train_val,
            train_size=st.session_state.train_size, augment=tuple(st.session_state.train_augment or ()))
        try:
            new_run = training.TrainingRun(config, drawing=with_drawing).start()
        except (training.HyperparameterError, training.TrainingBusyError) as exc:
            start_error(exc)
        else:
            st.session_state.train_run_id = new_run.id
            st.query_params["run"] = new_run.id  # a reload of this page re-attaches to the run
            st.rerun()
    if stop and run is not None:
        run.stop()
        st.toast("Stopping after the current batch …", icon=":material/stop:")

    if run is None:
        st.info("Pick a network and press **Start training**. The quick demo trains on 10,000 images for "
                "3 epochs: about 10–30 seconds here. No time? **Replay a recording** plays a full recipe "
                "recorded on this machine.", icon=":material/arrow_upward:")
        return
    compare = st.toggle("Overlay this session's earlier runs", value=True, key="train_compare")

    def run_view():
        snap = run.snapshot()
        progress_bar(snap, run_label(run), run.config.epochs)
        track = track_of(run, snap)
        show_curves([track], overlay_runs(run.id) if compare else [], "train")
        show_epochs([track], "train", run.drawing)
        if active and not run.is_active:
            st.rerun(scope="app")  # the run ended: one full rerun shows the result and the save form

    common.live_view(run_view, active)
    snap = run.snapshot()
    if snap.state == "failed":
        st.error(snap.message, icon=":material/error:")
    elif snap.state in ("finished", "stopped"):
        st.session_state.train_history.setdefault(run.id, {
            "id": run.id, "label": run_label(run), "kind": run.preset.kind,
            "records": [dataclasses.asdict(r) for r in snap.records]})
        cols = st.columns(4)
        cols[0].metric("Test accuracy", common.percent(snap.test_accuracy),
                       help="On the 10,000 MNIST test images the network never trained on.")
        last = snap.records[-1] if snap.records else None
        cols[1].metric("Train accuracy", common.percent(last.accuracy if last else None),
                       help="Averaged over the last epoch's batches while dropout and augmentation were on, "
                            "so it can sit below the test accuracy.")
        cols[2].metric("Epochs", f"{len(snap.records)} of {run.config.epochs}")
        cols[3].metric("Training time", f"{sum(r.seconds for r in snap.records):.1f} s")
        st.caption(snapshot_cost([track_of(run, snap)]))
        if snap.state == "stopped":
            st.info(snap.message, icon=":material/stop:")
        common.save_model_form("save_form", run.model_file, lambda: training.model_card(run), "Save as",
                               f"my-{run.config.preset}-{run.id[:4]}",
                               help="Letters, digits, '-' and '_'. Saved models appear on the other pages.")


# ------------------------------------------------------------------ a race
def race_view_of(runs: list[training.TrainingRun], was_active: bool):
    def view():
        snaps = [r.snapshot() for r in runs]
        for r, snap in zip(runs, snaps):
            progress_bar(snap, run_label(r), r.config.epochs)
        tracks = [track_of(r, snap) for r, snap in zip(runs, snaps)]
        show_curves(tracks, [], "race")
        show_epochs(tracks, "race", runs[0].drawing)
        if was_active and not any(r.is_active for r in runs):
            st.rerun(scope="app")
    return view


def race_mode() -> None:
    active = any(r.is_active for r in race)
    by_kind = {kind: [n for n, p in presets.PRESETS.items() if p.kind == kind] for kind in ("ann", "cnn")}
    with st.container(border=True):
        top = st.columns(4)
        top[0].selectbox("ANN", by_kind["ann"], key="race_ann", disabled=active)
        top[1].selectbox("CNN", by_kind["cnn"], key="race_cnn", disabled=active)
        top[2].number_input("Epochs", 1, training.MAX_EPOCHS, QUICK_DEMO["epochs"], key="race_epochs", disabled=active)
        top[3].select_slider("Training images", TRAIN_SIZES, value=QUICK_DEMO["train_size"], key="race_size",
                             disabled=active, format_func=lambda n: f"{n:,}")
        st.caption("Both start at once on the same images in the same order, each with its preset's batch size "
                   f"(at most the images it fits), optimiser and learning rate, {RACE_VALIDATION:.0%} held out for "
                   "validation. On this 2-core machine each gets about one core.")
        with_drawing = drawing_settings(st, active)
        buttons = st.columns([1, 1, 4])
        start = buttons[0].button("Start the race", type="primary", icon=":material/sprint:", disabled=active,
                                  width="stretch")
        stop = buttons[1].button("Stop both", icon=":material/stop:", disabled=not active, width="stretch", key="race_stop")
    if start:
        size = st.session_state.race_size
        fitted = size - round(size * RACE_VALIDATION)  # a batch of 1,000 (seed002-ann) needs that many images
        configs = [training.TrainingConfig(name, epochs=st.session_state.race_epochs, train_size=size,
                                           validation_split=RACE_VALIDATION,
                                           batch_size=min(presets.PRESETS[name].batch_size, fitted))
                   for name in (st.session_state.race_ann, st.session_state.race_cnn)]
        try:
            runs = training.start_race(configs, drawing=with_drawing)
        except (training.HyperparameterError, training.TrainingBusyError) as exc:
            start_error(exc)
        else:
            st.session_state.race_run_ids = [r.id for r in runs]
            st.query_params["race"] = ".".join(r.id for r in runs)
            st.rerun()
    if stop:
        for r in race:
            r.stop()
        st.toast("Stopping both after their current batch …", icon=":material/stop:")
    if not race:
        st.info("Pick an ANN and a CNN and press **Start the race**: their curves share one chart, by epoch or "
                "by seconds of training.", icon=":material/arrow_upward:")
        return
    common.live_view(race_view_of(race, active), active)
    if not active:
        snaps = [r.snapshot() for r in race]
        cols = st.columns(len(race))
        for column, r, snap in zip(cols, race, snaps):
            if snap.state == "failed":
                column.error(f"{run_label(r)}: {snap.message}", icon=":material/error:")
                continue
            seconds = sum(x.seconds for x in snap.records)
            column.metric(f"{common.KIND_LABEL[r.preset.kind]} · {run_label(r)}", common.percent(snap.test_accuracy),
                          f"{len(snap.records)} epochs in {seconds:.1f} s", delta_color="off", delta_arrow="off",
                          help="Test accuracy on the 10,000 test images, then the epochs and training seconds.")
        st.caption(snapshot_cost([track_of(r, s) for r, s in zip(race, snaps)]))


# ------------------------------------------------------------------ a replay
@st.cache_resource(max_entries=16, show_spinner=False)
def recording(version: tuple) -> replays.Recording:
    return replays.load_recording(version[0])


def replay_mode() -> None:
    names = replays.list_replays()
    if not names:
        st.warning(f"There are no recordings in {replays.replays_dir()}. Record them (≈ 30 minutes) with: "
                   "`python -m mnist_core record --all`", icon=":material/warning:")
        return
    names = [n for n in names if presets.PRESETS.get(n) is None or presets.PRESETS[n].kind in kinds] or names
    playing = st.session_state.get("replay")
    with st.container(border=True):
        top = st.columns([3, 2, 1, 1], vertical_alignment="bottom")
        if st.session_state.get("replay_name") not in names:
            st.session_state.replay_name = params.get("replay") if params.get("replay") in names else names[0]
        name = top[0].selectbox("Recording", names, key="replay_name",
                                format_func=lambda n: n + (" (shipped model)" if n in registry.SHIPPED else " (preset's recipe)"))
        speed = top[1].segmented_control("Speed", replays.SPEEDS, default=20, key="replay_speed",
                                         format_func=lambda s: f"{s}×") or 20
        play = top[2].button("Play", type="primary", icon=":material/play_arrow:", width="stretch")
        stop = top[3].button("Stop", icon=":material/stop:", width="stretch", key="replay_stop",
                             disabled=playing is None or bool(playing.get("stopped")))
        try:
            chosen = recording(registry.file_version(replays.replay_path(name)))
        except (replays.ReplayFileError, FileNotFoundError) as exc:
            st.error(str(exc), icon=":material/error:")
            return
        c = chosen.config
        st.caption(f"Recorded on {chosen.recorded_on} on this {chosen.cpus}-core machine: {c['epochs']} epochs on "
                   f"{c['train_size']:,} images, batch {c['batch_size']}, {c['optimizer']} at {c['learning_rate']:g}"
                   f", augmentation: {augment.describe(augment.kinds_from(c['augment']))}; "
                   f"{chosen.seconds:,.0f} s of training, "
                   f"{chosen.seconds / speed:,.0f} s at {speed}×.")
    if play:
        st.session_state.replay = {"name": name, "speed": speed, "started": time.time()}
        st.query_params["replay"] = name
        st.session_state.pop("replay_epoch", None)
        st.rerun()
    if stop and playing:
        playing["stopped"] = time.time()
    if playing is None:
        st.info("Press **Play**: the recorded run plays back like a live one, its curves, strip and layers epoch "
                "by epoch.", icon=":material/arrow_upward:")
        return
    try:
        rec = recording(registry.file_version(replays.replay_path(playing["name"])))
    except (replays.ReplayFileError, FileNotFoundError) as exc:
        st.error(str(exc), icon=":material/error:")
        return

    def frame():
        now = playing.get("stopped") or time.time()
        return replays.frame_at(rec, now - playing["started"], playing["speed"])

    playing_now = not frame().finished and not playing.get("stopped")

    def view():
        f = frame()
        shown = rec.upto(f.epochs)
        epochs = len(rec.records)
        if f.finished:
            st.progress(1.0, text=f"Replay of {rec.name} · all {epochs} epochs played")
        else:
            left = (rec.seconds - sum(r.seconds for r in shown.records)) / playing["speed"]
            state = "stopped at" if playing.get("stopped") else "playing"
            st.progress(min(1.0, (f.epochs + f.fraction) / epochs),
                        text=f"Replay at {playing['speed']}× · {state} epoch {min(f.epochs + 1, epochs)} of {epochs} · "
                             f"about {left:,.0f} s left")
        track = Track(f"replay-{rec.name}", f"{rec.name} (replay)", rec.kind, rec.preset, shown.records,
                      shown.snapshots)
        show_curves([track], [], "replay")
        show_epochs([track], "replay")
        if playing_now and (f.finished or playing.get("stopped")):
            st.rerun(scope="app")

    st.badge(f"Replay · recorded {rec.recorded_on}", icon=":material/replay:", color="violet")
    common.live_view(view, playing_now, every=REPLAY_POLL)
    if frame().finished:
        cols = st.columns(3)
        cols[0].metric("Test accuracy (recorded)", common.percent(rec.test_accuracy))
        cols[1].metric("Epochs", len(rec.records))
        cols[2].metric("Training time (recorded)", f"{rec.seconds:,.0f} s")
        reported = writeups.for_preset(rec.preset)
        if reported is not None and rec.name == rec.preset:
            st.caption(f"The {rec.preset} write-up reported {reported.source}: {reported.test_accuracy:.2%} on the "
                       f"test images; this recipe reached {rec.test_accuracy:.2%} here.")
        track = Track(f"replay-{rec.name}", rec.name, rec.kind, rec.preset, rec.records, rec.snapshots)
        st.caption(snapshot_cost([track]))


if mode == "race":
    race_mode()
elif mode == "replay":
    replay_mode()
else:
    train_one()
