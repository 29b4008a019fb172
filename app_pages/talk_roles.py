"""Who a session is in talk mode: the presenter (who showed the key: the cookie /talk?key=KEY
sets, the key in the address, or the Talk page's key field) or the audience; and the room's store
every session shares."""

from __future__ import annotations

import math

import streamlit as st

ROLE_KEY = "talk_role"  # "presenter" once this session showed the key


def talk_role() -> str | None:
    """None when talk mode is off (`make run`: one person, every page). In talk mode: "presenter"
    once this session showed the key (the cookie that /talk?key=KEY sets, the key in the address,
    or the Talk page's key field), else "audience": the phones' page is /join, outside Streamlit."""
    from mnist_core.talk import presenter

    if not presenter.is_talk_mode():
        return None
    if "key" in st.query_params:
        if presenter.KEY_GUARD.check(client_address(), st.query_params.get("key")):
            st.session_state[ROLE_KEY] = "presenter"
        del st.query_params["key"]  # never left on show: the projector shows this address bar
    if presenter.is_presenter_cookie(st.context.cookies.get(presenter.PRESENTER_COOKIE)):
        st.session_state[ROLE_KEY] = "presenter"
    return st.session_state.get(ROLE_KEY, "audience")


def client_address() -> str:
    """The browser's address, for the key guard; "unknown" where Streamlit has none (a test, or
    loopback, which Streamlit hides). Behind a balancer on another host, the address it forwarded
    if it is trusted (mnist_core.talk.forwarded; one on this host, uvicorn already unwraps)."""
    from mnist_core.talk import forwarded

    address = st.context.ip_address
    if not isinstance(address, str) or not address:
        return "unknown"
    return forwarded.client_address(address, st.context.headers.get_all("X-Forwarded-For"))


def accept_presenter_key(given: str) -> str | None:
    """None when `given` is the key (the session becomes the presenter's); else what to tell the
    person. Repeated wrong keys are slowed down (presenter.KeyGuard, per client address)."""
    from mnist_core.talk import presenter

    wait = presenter.KEY_GUARD.wait(client_address())
    if wait:
        return f"Too many wrong keys: wait {math.ceil(wait)} s, then try again."
    if presenter.KEY_GUARD.check(client_address(), given):
        st.session_state[ROLE_KEY] = "presenter"
        return None
    return ("That is not the presenter's key. Use the key `make talk` printed (the `key=` part of the presenter's "
            f"URL, or `MNIST_TALK_KEY` if you set it yourself). Wait {math.ceil(presenter.KEY_GUARD.wait(client_address()))} s "
            "before the next try: each wrong key doubles the wait.")


@st.cache_resource(show_spinner=False)
def crowd_store():
    """The room's digit store, shared by every session (CrowdStore is thread-safe)."""
    from mnist_core.talk.crowd import CrowdStore

    return CrowdStore()
