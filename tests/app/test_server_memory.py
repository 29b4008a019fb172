"""app_pages/server_memory.py against Streamlit's own session manager and storage: the sweep reaches
into them (they have no public way to list expired sessions), so a Streamlit that changes them
fails here, not silently in a long-running server."""

import time
import types
from unittest import mock

from streamlit import runtime
from streamlit.runtime.memory_session_storage import MemorySessionStorage
from streamlit.runtime.session_manager import SessionInfo
from streamlit.runtime.websocket_session_manager import WebsocketSessionManager

from app_pages import server_memory


def stored(storage, session_id):
    session = types.SimpleNamespace(id=session_id, shutdown=mock.Mock())
    storage.save(SessionInfo(client=None, session=session))
    return session


def test_a_disconnected_session_is_shut_down_once_its_reconnect_time_is_over(monkeypatch):
    storage = MemorySessionStorage(ttl_seconds=0.2)
    manager = WebsocketSessionManager(storage, mock.Mock(), mock.Mock(), None)
    monkeypatch.setattr(runtime, "exists", lambda: True)
    monkeypatch.setattr(runtime, "get_instance", lambda: types.SimpleNamespace(_session_mgr=manager))

    old = stored(storage, "old")
    assert server_memory.session_counts() == (0, 1)
    time.sleep(0.3)
    assert server_memory.session_counts() == (0, 0)  # Streamlit's reads skip it; it is still kept
    assert server_memory.shut_down_expired_sessions() == 1
    old.shutdown.assert_called_once()
    new = stored(storage, "new")
    assert server_memory.shut_down_expired_sessions() == 0
    new.shutdown.assert_not_called()
    assert server_memory.session_counts() == (0, 1)


def test_without_a_server_the_sweep_does_nothing():
    assert server_memory.shut_down_expired_sessions() == 0
    assert server_memory.session_counts() == (0, 0)
    server_memory.tune_allocator()  # glibc or not: no error
    server_memory.collect_and_trim()
