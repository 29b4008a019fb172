"""MNIST: ANN vs CNN, live. Entry point: `streamlit run streamlit_app.py`.

This file is read in two ways. `streamlit run` first imports it as a module and finds `app`: the
server, Streamlit as a Starlette app with the audience's plain-HTTP routes beside it (the phones'
/join page and its JSON endpoints, audience/server.py). Then Streamlit runs it as every session's
script (`__name__ == "__main__"`): `main()` draws the navigation and the page.

The pages live in app_pages/, not pages/: Streamlit runs a folder named pages/ in its legacy
multipage mode until the first st.navigation call, so a deep link such as /draw opened first
on a fresh server showed the raw file list and skipped this script (seen in Chromium)."""

import gc
import sys
import threading

import streamlit as st

if __name__ != "__main__":  # imported by `streamlit run` (or uvicorn): the server
    from starlette.middleware import Middleware

    from app_pages import server_memory
    from audience import server

    server_memory.tune_allocator()  # before the server's threads make their malloc arenas
    app = st.App("streamlit_app.py", routes=server.ROUTES, middleware=[Middleware(server.AudienceGate)],
                  lifespan=server_memory.with_sweep(server.lifespan))


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
        st.Page("app_pages/space.py", title="Learned space", icon=":material/scatter_plot:"),
        st.Page("app_pages/experiments.py", title="Experiments", icon=":material/science:"),
    ]


def talk_page(url_path: str = "talk", default: bool = False):
    return st.Page("app_pages/talk.py", title="Talk", icon=":material/co_present:", url_path=url_path,
                   default=default)


def closed_pages() -> list:
    """What a session without the presenter's key gets in talk mode: the Talk page's key field
    (which points the audience to /join) at every address. In a browser the audience never gets
    here: audience/server.py's gate sends every page address without the presenter's cookie to
    the phones' /join page; this is the second lock, for a websocket opened by hand."""
    paths = ["home", "dataset", "train", "confusion", "draw", "inside", "space", "experiments", "join"]
    return [talk_page("talk", default=True)] + [talk_page(path) for path in paths]


def main() -> None:
    from app_pages.common import model_toggle
    from app_pages.projector import projector_preset, projector_toggle
    from app_pages.talk_roles import talk_role

    st.set_page_config(page_title="MNIST: ANN vs CNN, live", page_icon="✍️", layout="wide")
    # Talk mode (MNIST_TALK_KEY set): only the presenter gets the pages. Without talk mode: every page.
    role = talk_role()
    closed = role == "audience"
    if closed:
        navigation = st.navigation(closed_pages(), position="hidden")
    else:
        navigation = st.navigation(demo_pages() + ([talk_page()] if role == "presenter" else []))
    # The projector preset, per session: ?projector=1, the sidebar's toggle, or opening the Talk page.
    projector_preset(talk_page=navigation.url_path == "talk")
    if not closed:
        with st.sidebar:
            model_toggle()
            projector_toggle()
            st.caption("ANN: a plain multi-layer network that sees 784 unrelated numbers. "
                       "CNN: a convolutional network that sees strokes and shapes.")
    navigation.run()
    freeze_long_lived_objects()


if __name__ == "__main__":
    main()
