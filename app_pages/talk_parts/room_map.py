"""The Talk page's room in the map: the room's newest digits placed live into the CNN's learned
space (mnist_core.analysis.learned_space), each a dot in its asked digit's colour, a red ✗ on each
one that fooled the CNN. Each digit is placed once per session: a refresh places only the new ones."""

import numpy as np
import streamlit as st

from app_pages import common
from mnist_core import charts

ROOM_MAP_DIGITS = 500  # the newest: enough to fill the map, few enough to redraw every few seconds
ROOM_MAP_SECONDS = 5.0
PLACES_KEY = "talk_room_places"  # digit id → (x, y), for one model file


def room_in_map(store, talk_id: int, live: bool) -> None:
    st.subheader("The room in the CNN's map")
    model = common.measured((common.models_of_kind("cnn") or ["cnn"])[0])  # the shipped one first
    space = common.space_of(model.name) if model is not None else None
    if space is None:
        return
    common.live_view(lambda: show_room_map(store, talk_id, model, space), active=live, every=ROOM_MAP_SECONDS)


def show_room_map(store, talk_id: int, model, space) -> None:
    digits = store.latest(talk_id, ROOM_MAP_DIGITS)
    kept = st.session_state.get(PLACES_KEY)
    if kept is None or kept["model"] != model.file_hash:
        kept = st.session_state[PLACES_KEY] = {"model": model.file_hash, "places": {}}
    new = [d for d in digits if d.id not in kept["places"]]
    if new:
        places, _ = space.place(model.classifier, np.stack([d.image for d in new]).astype(np.float32) / 255.0)
        kept["places"].update({d.id: (float(x), float(y)) for d, (x, y) in zip(new, places)})
    placed = []
    for d in digits:
        read = int(np.argmax(d.probabilities["cnn"])) if "cnn" in d.probabilities else \
            int(model.classifier.predict(d.image[None].astype(np.float32) / 255.0)[0])
        x, y = kept["places"][d.id]
        placed.append({"x": x, "y": y, "symbol": "circle", "size": 11, "color": charts.DIGIT_COLORS[d.label],
                       "name": f"asked for a {d.label} · the CNN read {read}", "wrong": read != d.label})
    if not digits:  # no empty chart: the map comes with the first digit
        st.caption("The room's digits appear here as they arrive, each where the CNN puts it among 3,000 test digits.")
        return
    fooled = sum(p["wrong"] for p in placed)
    m = space.model_map
    fig = charts.learned_space_map(m.coords, m.labels, m.indices, placed, height=620, faint=True)
    common.plotly_chart(fig, width="stretch", key="talk-room-map", config={"displayModeBar": False})
    st.caption(f"The room's {len(digits):,} newest digits (big dots, in the colour of the digit asked for) among "
               f"3,000 test digits (faint), each where the CNN's last hidden layer puts it; a red ✗ marks the "
               f"{fooled} that fooled the CNN. A fooled digit usually sits in the cluster of the digit it was read as.")
