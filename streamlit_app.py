"""MNIST: ANN vs CNN, live. Entry point: `streamlit run streamlit_app.py`.

The pages live in app_pages/, not pages/: Streamlit runs a folder named pages/ in its legacy
multipage mode until the first st.navigation call, so a deep link such as /draw opened first
on a fresh server showed the raw file list and skipped this script (seen in Chromium)."""

import gc
import sys
import threading

import streamlit as st

from app_pages.common import model_toggle, projector_preset, projector_toggle, talk_role

st.set_page_config(page_title="MNIST: ANN vs CNN, live", page_icon="✍️", layout="wide")


@st.cache_resource(show_spinner=False)
def _frozen() -> dict:
    return {"modules": 0}  # how many modules were loaded at the last freeze (shared by all sessions)


def _collect_and_freeze() -> None:
    gc.collect()
    gc.freeze()


def freeze_long_lived_objects() -> None:
    """Move what the server has loaded (modules, MNIST, models, caches) out of the garbage
    collector's way. Streamlit runs a full collection after every script run; measured here, it
    walked ~117,000 objects in 50 ms, which caps a server at ~20 runs/s before any work. Frozen
    objects are skipped: the collection then walks only what sessions made. Again only when new
    modules were imported (a page opened for the first time): a handful of times per server, in a
    thread of its own so the page that triggered it is not kept waiting."""
    frozen = _frozen()
    if len(sys.modules) != frozen["modules"]:
        frozen["modules"] = len(sys.modules)
        threading.Thread(target=_collect_and_freeze, name="gc-freeze", daemon=True).start()


def demo_pages() -> list:
    return [
        st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("app_pages/dataset.py", title="Dataset", icon=":material/grid_view:"),
        st.Page("app_pages/train.py", title="Train", icon=":material/monitoring:"),
        st.Page("app_pages/confusion.py", title="Confusion matrix", icon=":material/grid_on:"),
        st.Page("app_pages/draw.py", title="Draw", icon=":material/draw:"),
        st.Page("app_pages/inside.py", title="Inside the models", icon=":material/neurology:"),
        st.Page("app_pages/experiments.py", title="Experiments", icon=":material/science:"),
    ]


def join_page(url_path: str, default: bool = False):
    return st.Page("app_pages/join.py", title="Join", icon=":material/smartphone:", url_path=url_path,
                   default=default)


def talk_page():
    return st.Page("app_pages/talk.py", title="Talk", icon=":material/co_present:", url_path="talk")


def audience_pages(with_talk: bool) -> list:
    """Join at the root, at /join (the QR code's address) and at the address of every page the
    audience may not open. Streamlit serves a default page only at the root and answers any other
    unknown address with a 'Page not found' dialog over the page (seen on a phone: the QR code's
    /join itself got it), so each address is a page of its own that runs Join."""
    closed = ["join", "home", "dataset", "train", "confusion", "draw", "inside", "experiments"] + ([] if with_talk else ["talk"])
    pages = [join_page("join-start", default=True)] + [join_page(path) for path in closed]
    return pages + ([talk_page()] if with_talk else [])


# Talk mode (MNIST_TALK_KEY set): the audience gets the Join page only, whatever address it opens
# (see audience_pages); an undecided session may still reach the Talk page,
# which asks for the key. Without talk mode, or with the key: every page.
role = talk_role()
audience = role in ("audience", "undecided")
if audience:
    navigation = st.navigation(audience_pages(with_talk=role == "undecided"), position="hidden")
else:
    navigation = st.navigation(demo_pages() + ([talk_page(), join_page("join")] if role == "presenter" else []))
# The projector preset, per session: ?projector=1, the sidebar's toggle, or opening the Talk page.
projector_preset(talk_page=navigation.url_path == "talk")
if not audience:
    with st.sidebar:
        model_toggle()
        projector_toggle()
        st.caption("ANN: a plain multi-layer network that sees 784 unrelated numbers. "
                   "CNN: a convolutional network that sees strokes and shapes.")

navigation.run()
freeze_long_lived_objects()
