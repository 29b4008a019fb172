"""Opening a digit on another page: the Draw and Confusion pages' buttons send the last drawing or a
test image to Inside the models or the Learned space, and those pages' digit pickers follow the
request and keep their choice across pages."""

from __future__ import annotations

import streamlit as st

INSIDE_PAGE = "app_pages/inside.py"
INSIDE_REQUEST_KEY = "inside_request"  # what the Inside the models page should open on its next run
LAST_DRAWING_KEY = "last_drawing"  # the Draw page's latest 28×28 input, kept for Inside the models


DRAWING_SOURCE, TEST_SOURCE = "Your last drawing", "A test image"  # a digit picker's first two sources
SPACE_PAGE = "app_pages/space.py"
SPACE_REQUEST_KEY = "space_request"  # the same, for the Learned space page


def open_inside(index: int | None = None, models: dict[str, str] | None = None) -> None:
    """Switch to Inside the models showing test image `index`, or the last drawing (index None),
    with the `models` ("ann"/"cnn" → name) the person was looking at. Passed as a request the page
    reads once, not as its widgets' state: Streamlit drops the state of widgets that were not drawn
    on the page that just ran."""
    _open(INSIDE_PAGE, INSIDE_REQUEST_KEY, index, models)


def open_space(index: int | None = None, models: dict[str, str] | None = None) -> None:
    """Switch to the Learned space placing test image `index`, or the last drawing (index None)."""
    _open(SPACE_PAGE, SPACE_REQUEST_KEY, index, models)


def follow_request(request: dict, sources: list[str], source_key: str, index_key: str, test_images: int) -> None:
    """A digit picker's state (`source_key`: DRAWING_SOURCE, TEST_SOURCE or another of `sources`;
    `index_key`: a test image) as it was before another page ran, then as `request` asks (a test
    image's index, or the last drawing, from open_inside or open_space)."""
    state = st.session_state
    for key in (source_key, index_key):  # widgets forget their value once another page ran
        if key not in state and f"kept-{key}" in state:
            state[key] = state[f"kept-{key}"]
    if "index" in request:
        state[source_key], state[index_key] = TEST_SOURCE, min(max(int(request["index"]), 0), test_images - 1)
    elif request.get("drawing") and DRAWING_SOURCE in sources:
        state[source_key] = DRAWING_SOURCE
    if state.get(source_key) not in sources:
        state[source_key] = sources[0]
    state.setdefault(index_key, 0)


def keep_picked(*keys: str) -> None:
    """Remember a picker's widgets for follow_request on the next visit."""
    for key in keys:
        if st.session_state.get(key) is not None:  # a widget not drawn this run has no value to keep
            st.session_state[f"kept-{key}"] = st.session_state[key]


def _open(page: str, request_key: str, index: int | None, models: dict[str, str] | None) -> None:
    request = {"drawing": True} if index is None else {"index": int(index)}
    st.session_state[request_key] = {**request, "models": dict(models or {})}
    st.switch_page(page)
