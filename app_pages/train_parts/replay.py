"""Replay a recording: a full recipe recorded on this machine plays back like a live run, at 1×, 5×
or 20×, its curves, strip and layers epoch by epoch."""

import time

import streamlit as st

from app_pages import common
from app_pages.train_parts import shared
from mnist_core.data import augment
from mnist_core.models import presets, registry, writeups
from mnist_core.training import replays, tracks
from mnist_core.training.tracks import Track

REPLAY_POLL = 0.5  # s between a replay's frames: at 20×, a CNN epoch every second or so


@st.cache_resource(max_entries=16, show_spinner=False)
def recording(version: tuple) -> replays.Recording:
    return replays.load_recording(version[0])


def recording_named(name: str) -> replays.Recording | None:
    """The recording, or None after saying what is wrong with its file."""
    try:
        return recording(registry.file_version(replays.replay_path(name)))
    except (replays.ReplayFileError, FileNotFoundError) as exc:
        st.error(str(exc), icon=":material/error:")
        return None


def describe(chosen: replays.Recording, speed: int) -> str:
    c = chosen.config
    return (f"Recorded on {chosen.recorded_on} on this {chosen.cpus}-core machine: {c['epochs']} epochs on "
            f"{c['train_size']:,} images, batch {c['batch_size']}, {c['optimizer']} at {c['learning_rate']:g}"
            f", augmentation: {augment.describe(augment.kinds_from(c['augment']))}; "
            f"{chosen.seconds:,.0f} s of training, {chosen.seconds / speed:,.0f} s at {speed}×.")


def controls(names: list[str], playing: dict | None):
    """The recording picker, speed, Play and Stop; (name, speed, play, stop), or None on a bad file."""
    with st.container(border=True):
        top = st.columns([3, 2, 1, 1], vertical_alignment="bottom")
        if st.session_state.get("replay_name") not in names:
            asked = st.query_params.get("replay")
            st.session_state.replay_name = asked if asked in names else names[0]
        name = top[0].selectbox("Recording", names, key="replay_name", format_func=lambda n: n + (
            " (shipped model)" if n in registry.SHIPPED else " (preset's recipe)"))
        speed = top[1].segmented_control("Speed", replays.SPEEDS, default=20, key="replay_speed",
                                         format_func=lambda s: f"{s}×") or 20
        play = top[2].button("Play", type="primary", icon=":material/play_arrow:", width="stretch")
        stop = top[3].button("Stop", icon=":material/stop:", width="stretch", key="replay_stop",
                             disabled=playing is None or bool(playing.get("stopped")))
        chosen = recording_named(name)
        if chosen is None:
            return None
        st.caption(describe(chosen, speed))
    return name, speed, play, stop


def frame_of(rec: replays.Recording, playing: dict):
    """Where the replay stands now (or where it was stopped)."""
    return lambda: replays.frame_at(rec, (playing.get("stopped") or time.time()) - playing["started"],
                                    playing["speed"])


def view_of(rec: replays.Recording, playing: dict, playing_now: bool, frame, strip):
    def view():
        f = frame()
        shown, epochs = rec.upto(f.epochs), len(rec.records)
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
        shared.show_curves([track], [], "replay")
        shared.show_epochs([track], "replay", strip)
        if playing_now and (f.finished or playing.get("stopped")):
            st.rerun(scope="app")
    return view


def played(rec: replays.Recording) -> None:
    cols = st.columns(3)
    cols[0].metric("Test accuracy (recorded)", common.percent(rec.test_accuracy))
    cols[1].metric("Epochs", len(rec.records))
    cols[2].metric("Training time (recorded)", f"{rec.seconds:,.0f} s")
    reported = writeups.for_preset(rec.preset)
    if reported is not None and rec.name == rec.preset:
        st.caption(f"The {rec.preset} write-up reported {reported.source}: {reported.test_accuracy:.2%} on the "
                   f"test images; this recipe reached {rec.test_accuracy:.2%} here.")
    st.caption(tracks.snapshot_cost([Track(f"replay-{rec.name}", rec.name, rec.kind, rec.preset, rec.records,
                                           rec.snapshots)]))


def show(ds, kinds: list[str]) -> None:
    names = replays.list_replays()
    if not names:
        st.warning(f"There are no recordings in {replays.replays_dir()}. Record them (≈ 30 minutes) with: "
                   "`python -m mnist_core record --all`", icon=":material/warning:")
        return
    names = [n for n in names if presets.PRESETS.get(n) is None or presets.PRESETS[n].kind in kinds] or names
    playing = st.session_state.get("replay")
    chosen = controls(names, playing)
    if chosen is None:
        return
    name, speed, play, stop = chosen
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
    rec = recording_named(playing["name"])
    if rec is None:
        return
    frame = frame_of(rec, playing)
    finished = frame().finished  # decided once a run: the results never show under a replay still playing
    playing_now = not finished and not playing.get("stopped")
    st.badge(f"Replay · recorded {rec.recorded_on}", icon=":material/replay:", color="violet")
    common.live_view(view_of(rec, playing, playing_now, frame, shared.strip_of(ds)), playing_now, every=REPLAY_POLL)
    if finished:
        played(rec)
