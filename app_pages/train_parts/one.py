"""Train one network: pick a preset, a quick demo or its full recipe, watch it learn, save it."""

import dataclasses

import streamlit as st

from app_pages import common
from app_pages.train_parts import shared
from mnist_core import training
from mnist_core.models import presets
from mnist_core.training import tracks


def apply_recipe():
    """Fill the settings from the chosen preset, as a quick demo or with the write-up's full recipe."""
    preset = presets.PRESETS[st.session_state.train_preset]
    quick = st.session_state.get("train_recipe", "Quick demo") == "Quick demo"
    st.session_state.train_epochs = tracks.QUICK_DEMO["epochs"] if quick else preset.epochs
    st.session_state.train_size = tracks.QUICK_DEMO["train_size"] if quick else 60_000
    st.session_state.train_batch = preset.batch_size
    st.session_state.train_lr = preset.learning_rate
    st.session_state.train_optimizer = preset.optimizer
    st.session_state.train_val = preset.validation_split if preset.validation_split else 0.1
    st.session_state.train_augment = list(preset.augment)


def overlay_runs(exclude: str | None, kinds: list[str]) -> list[dict]:
    """This session's earlier runs of the families the global toggle shows."""
    history = st.session_state.train_history
    return [dict(h, color=common.kind_color(None, i)) for i, h in enumerate(history.values())
            if h["id"] != exclude and h["kind"] in kinds]


def settings(ds, kinds: list[str], active: bool):
    """The settings box; (start pressed, stop pressed, the drawing to add to the strip or None)."""
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
        st.caption(presets.PRESETS[st.session_state.train_preset].description)
        row = st.columns(6)
        row[0].number_input("Epochs", step=1, key="train_epochs", disabled=active)
        row[1].number_input("Batch size", step=16, key="train_batch", disabled=active)
        row[2].number_input("Learning rate", step=0.0005, format="%g", key="train_lr", disabled=active)
        row[3].selectbox("Optimiser", presets.OPTIMIZERS, key="train_optimizer", disabled=active)
        row[4].select_slider("Training images", tracks.TRAIN_SIZES, key="train_size", disabled=active,
                             format_func=lambda n: f"{n:,}")
        row[5].slider("Validation split", 0.0, 0.5, step=0.05, key="train_val", disabled=active)
        shared.augmentation_settings(ds, active)
        with_drawing = shared.drawing_settings(st, active)
        start, stop = common.run_buttons("Start training", ":material/play_arrow:", active)
    return start, stop, with_drawing


def start(with_drawing) -> None:
    s = st.session_state
    config = training.TrainingConfig(
        preset=s.train_preset, epochs=s.train_epochs, batch_size=s.train_batch, learning_rate=s.train_lr,
        optimizer=s.train_optimizer, validation_split=s.train_val, train_size=s.train_size,
        augment=tuple(s.train_augment or ()))
    try:
        new_run = training.TrainingRun(config, drawing=with_drawing).start()
    except (training.HyperparameterError, training.TrainingBusyError) as exc:
        shared.start_error(exc)
    else:
        s.train_run_id = new_run.id
        st.query_params["run"] = new_run.id  # a reload of this page re-attaches to the run
        st.rerun()


def result(run: training.TrainingRun) -> None:
    """How a finished or stopped run did, and the form that saves it."""
    snap = run.snapshot()
    st.session_state.train_history.setdefault(run.id, {
        "id": run.id, "label": tracks.run_label(run), "kind": run.preset.kind,
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
    st.caption(tracks.snapshot_cost([tracks.track_of(run, snap)]))
    if snap.state == "stopped":
        st.info(snap.message, icon=":material/stop:")
    common.save_model_form("save_form", run.model_file, lambda: training.model_card(run), "Save as",
                           f"my-{run.config.preset}-{run.id[:4]}",
                           help="Letters, digits, '-' and '_'. Saved models appear on the other pages.")


def show(ds, kinds: list[str], run: training.TrainingRun | None) -> None:
    active = run is not None and run.is_active
    pressed_start, pressed_stop, with_drawing = settings(ds, kinds, active)
    if pressed_start:
        start(with_drawing)
    if pressed_stop and run is not None:
        run.stop()
        st.toast("Stopping after the current batch …", icon=":material/stop:")
    if run is None:
        st.info("Pick a network and press **Start training**. The quick demo trains on 10,000 images for "
                "3 epochs: about 10–30 seconds here. No time? **Replay a recording** plays a full recipe "
                "recorded on this machine.", icon=":material/arrow_upward:")
        return
    compare = st.toggle("Overlay this session's earlier runs", value=True, key="train_compare")
    strip = shared.strip_of(ds)

    def run_view():
        snap = run.snapshot()
        shared.progress_bar(snap, tracks.run_label(run), run.config.epochs)
        track = tracks.track_of(run, snap)
        shared.show_curves([track], overlay_runs(run.id, kinds) if compare else [], "train")
        shared.show_epochs([track], "train", strip, run.drawing)
        if active and not run.is_active:
            st.rerun(scope="app")  # the run ended: one full rerun shows the result and the save form

    common.live_view(run_view, active)
    snap = run.snapshot()
    if snap.state == "failed":
        st.error(snap.message, icon=":material/error:")
    elif snap.state in ("finished", "stopped"):
        result(run)
