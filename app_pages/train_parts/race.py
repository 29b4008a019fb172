"""Race an ANN against a CNN: both start at once on the same images, their curves on one chart."""

import streamlit as st

from app_pages import common
from app_pages.train_parts import shared
from mnist_core import training
from mnist_core.training import tracks


def race_view_of(runs: list[training.TrainingRun], was_active: bool, strip):
    def view():
        snaps = [r.snapshot() for r in runs]
        for r, snap in zip(runs, snaps):
            shared.progress_bar(snap, tracks.run_label(r), r.config.epochs)
        shown = [tracks.track_of(r, snap) for r, snap in zip(runs, snaps)]
        shared.show_curves(shown, [], "race")
        shared.show_epochs(shown, "race", strip, runs[0].drawing)
        if was_active and not any(r.is_active for r in runs):
            st.rerun(scope="app")
    return view


def settings(active: bool):
    by_kind = tracks.presets_by_kind()
    with st.container(border=True):
        top = st.columns(4)
        top[0].selectbox("ANN", by_kind["ann"], key="race_ann", disabled=active)
        top[1].selectbox("CNN", by_kind["cnn"], key="race_cnn", disabled=active)
        top[2].number_input("Epochs", 1, training.MAX_EPOCHS, tracks.QUICK_DEMO["epochs"], key="race_epochs",
                            disabled=active)
        top[3].select_slider("Training images", tracks.TRAIN_SIZES, value=tracks.QUICK_DEMO["train_size"],
                             key="race_size", disabled=active, format_func=lambda n: f"{n:,}")
        st.caption("Both start at once on the same images in the same order, each with its preset's batch size "
                   f"(at most the images it fits), optimiser and learning rate, {tracks.RACE_VALIDATION:.0%} held "
                   "out for validation. On this 2-core machine each gets about one core.")
        with_drawing = shared.drawing_settings(st, active)
        start, stop = common.run_buttons("Start the race", ":material/sprint:", active, "Stop both", stop_key="race_stop")
    return start, stop, with_drawing


def start(with_drawing) -> None:
    s = st.session_state
    try:
        runs = training.start_race(tracks.race_configs(s.race_ann, s.race_cnn, s.race_epochs, s.race_size),
                                   drawing=with_drawing)
    except (training.HyperparameterError, training.TrainingBusyError) as exc:
        shared.start_error(exc)
    else:
        s.race_run_ids = [r.id for r in runs]
        st.query_params["race"] = ".".join(r.id for r in runs)
        st.rerun()


def results(race: list[training.TrainingRun]) -> None:
    snaps = [r.snapshot() for r in race]
    for column, r, snap in zip(st.columns(len(race)), race, snaps):
        if snap.state == "failed":
            column.error(f"{tracks.run_label(r)}: {snap.message}", icon=":material/error:")
            continue
        seconds = sum(x.seconds for x in snap.records)
        column.metric(f"{common.KIND_LABEL[r.preset.kind]} · {tracks.run_label(r)}", common.percent(snap.test_accuracy),
                      f"{len(snap.records)} epochs in {seconds:.1f} s", delta_color="off", delta_arrow="off",
                      help="Test accuracy on the 10,000 test images, then the epochs and training seconds.")
    st.caption(tracks.snapshot_cost([tracks.track_of(r, s) for r, s in zip(race, snaps)]))


def show(ds, race: list[training.TrainingRun]) -> None:
    active = any(r.is_active for r in race)
    pressed_start, pressed_stop, with_drawing = settings(active)
    if pressed_start:
        start(with_drawing)
    if pressed_stop:
        for r in race:
            r.stop()
        st.toast("Stopping both after their current batch …", icon=":material/stop:")
    if not race:
        st.info("Pick an ANN and a CNN and press **Start the race**: their curves share one chart, by epoch or "
                "by seconds of training.", icon=":material/arrow_upward:")
        return
    common.live_view(race_view_of(race, active, shared.strip_of(ds)), active)
    if not active:
        results(race)
