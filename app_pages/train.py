"""Train: pick a preset, press Start, watch loss and accuracy grow epoch by epoch; Stop; save."""

import dataclasses

import streamlit as st

from mnist_core import charts, models, training
from app_pages import common

QUICK_DEMO = {"train_size": 10_000, "epochs": 3}  # finishes in well under a minute on 2 cores
TRAIN_SIZES = [1_000, 2_000, 5_000, 10_000, 20_000, 30_000, 45_000, 60_000]

st.title("Train a network live")
common.dataset()  # verified MNIST, or the clear error; the training worker loads the same cache

st.session_state.setdefault("train_history", {})  # run id → finished run summary, for overlays
run_id = st.session_state.get("train_run_id") or st.query_params.get("run")
run = training.find_run(run_id)
if run is not None:
    st.session_state.train_run_id = run.id
active = run is not None and run.is_active


def apply_recipe():
    """Fill the settings from the chosen preset, as a quick demo or with the write-up's full recipe."""
    preset = models.PRESETS[st.session_state.train_preset]
    quick = st.session_state.get("train_recipe", "Quick demo") == "Quick demo"
    st.session_state.train_epochs = QUICK_DEMO["epochs"] if quick else preset.epochs
    st.session_state.train_size = QUICK_DEMO["train_size"] if quick else 60_000
    st.session_state.train_batch = preset.batch_size
    st.session_state.train_lr = preset.learning_rate
    st.session_state.train_optimizer = preset.optimizer
    st.session_state.train_val = preset.validation_split if preset.validation_split else 0.1
    st.session_state.train_augment = preset.augment


kinds = common.selected_kinds()
names = [name for name, preset in models.PRESETS.items() if preset.kind in kinds]
if st.session_state.get("train_preset") not in names:
    st.session_state.train_preset = names[0]
    apply_recipe()

with st.container(border=True):
    top = st.columns([2, 1])
    top[0].selectbox("Network", names, key="train_preset", on_change=apply_recipe, disabled=active,
                     format_func=lambda n: f"{n}  ({models.PRESETS[n].kind.upper()})")
    top[1].segmented_control("Settings", ["Quick demo", "Preset's recipe"], key="train_recipe",
                             default="Quick demo", on_change=apply_recipe, disabled=active)
    preset = models.PRESETS[st.session_state.train_preset]
    st.caption(preset.description)
    row = st.columns(7)
    row[0].number_input("Epochs", step=1, key="train_epochs", disabled=active)
    row[1].number_input("Batch size", step=16, key="train_batch", disabled=active)
    row[2].number_input("Learning rate", step=0.0005, format="%g", key="train_lr", disabled=active)
    row[3].selectbox("Optimiser", models.OPTIMIZERS, key="train_optimizer", disabled=active)
    row[4].select_slider("Training images", TRAIN_SIZES, key="train_size", disabled=active,
                         format_func=lambda n: f"{n:,}")
    row[5].slider("Validation split", 0.0, 0.5, step=0.05, key="train_val", disabled=active)
    row[6].toggle("Augment", key="train_augment", disabled=active,
                  help="Random small shifts, rotations and zooms of each batch: slower to fit, better on drawn digits.")

    buttons = st.columns([1, 1, 4])
    start = buttons[0].button("Start training", type="primary", icon=":material/play_arrow:", disabled=active, width="stretch")
    stop = buttons[1].button("Stop", icon=":material/stop:", disabled=not active, width="stretch")

if start:
    config = training.TrainingConfig(
        preset=st.session_state.train_preset, epochs=st.session_state.train_epochs,
        batch_size=st.session_state.train_batch, learning_rate=st.session_state.train_lr,
        optimizer=st.session_state.train_optimizer, validation_split=st.session_state.train_val,
        train_size=st.session_state.train_size, augment=st.session_state.train_augment)
    try:
        new_run = training.TrainingRun(config)
        new_run.start()
    except (training.HyperparameterError, training.TrainingBusyError) as exc:
        st.error(str(exc), icon=":material/error:")
    else:
        st.session_state.train_run_id = new_run.id
        st.query_params["run"] = new_run.id  # a reload of this page re-attaches to the run
        run, active = new_run, True
        st.rerun()

if stop and run is not None:
    run.stop()
    st.toast("Stopping after the current batch …", icon=":material/stop:")


def run_label(r: training.TrainingRun) -> str:
    return f"{r.config.preset} ({r.id[:4]})"


@st.cache_resource(max_entries=64, show_spinner=False)
def curves_figure(run_key: tuple, _runs: list[dict]):
    """Built once per new epoch, not on every poll: building and serialising a figure twice a second
    held the GIL long enough to slow the training thread thirtyfold (measured)."""
    return charts.training_curves(_runs)


def overlay_runs(exclude: str | None) -> list[dict]:
    """This session's earlier runs of the families the global toggle shows."""
    history = st.session_state.train_history
    return [dict(h, color=common.kind_color(None, i)) for i, h in enumerate(history.values())
            if h["id"] != exclude and h["kind"] in kinds]


if run is None:
    st.info("Pick a network and press **Start training**. The quick demo trains on 10,000 images for "
            "3 epochs: about 10–30 seconds here.", icon=":material/arrow_upward:")
else:
    compare = st.toggle("Overlay this session's earlier runs", value=True, key="train_compare")

    def run_view():
        snap = run.snapshot()
        if snap.state in ("running", "evaluating"):
            p = snap.progress
            if snap.state == "evaluating":
                st.progress(1.0, text="Scoring the 10,000 test images …")
            elif p is None:
                st.progress(0.0, text=snap.status or "Preparing the data and building the model …")
            else:
                st.progress(min(1.0, p.batch / p.batches),
                            text=f"Epoch {p.epoch} of {run.config.epochs} · batch {p.batch:,} of {p.batches:,} · "
                                 f"{p.samples_per_second:,.0f} samples/s · about {p.seconds_left:,.0f} s left")
        records = [dataclasses.asdict(r) for r in snap.records]
        runs = [{"label": run_label(run), "color": common.kind_color(run.preset.kind), "records": records}]
        if compare:
            runs += overlay_runs(run.id)
        if records or len(runs) > 1:
            key = tuple((r["label"], r["color"], len(r["records"])) for r in runs)  # colours: the preset
            common.plotly_chart(curves_figure(key, runs), width="stretch", key="training_curves")
        elif snap.state == "running":
            st.caption("The first point appears when epoch 1 ends.")
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
        if snap.state == "stopped":
            st.info(snap.message, icon=":material/stop:")
        common.save_model_form("save_form", run.model_file, lambda: training.model_card(run), "Save as",
                               f"my-{run.config.preset}-{run.id[:4]}",
                               help="Letters, digits, '-' and '_'. Saved models appear on the other pages.")
