"""Train: one network live, an ANN and a CNN racing, or a recorded run replayed. Curves by epoch or
seconds, the write-ups' figures beside ours, and what each network knows at every epoch: a strip of
fixed test digits, the confusion matrix and the first layer, scrubbed with a slider. Each mode is
a module of app_pages/train_parts; the rules they follow are in mnist_core.training.tracks."""

import streamlit as st

from app_pages import common
from app_pages.train_parts import one, race, replay
from mnist_core import training

MODES = {"train": "Train one network", "race": "Race ANN vs CNN", "replay": "Replay a recording"}

st.title("Train a network live")
ds = common.dataset()  # verified MNIST, or the clear error; the training worker loads the same cache
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
racing = [r for r in (training.find_run(i) for i in race_ids if i) if r is not None]
if racing:
    st.session_state.race_run_ids = [r.id for r in racing]

if mode == "race":
    race.show(ds, racing)
elif mode == "replay":
    replay.show(ds, kinds)
else:
    one.show(ds, kinds, run)
