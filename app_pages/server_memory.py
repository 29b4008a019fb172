"""The server's memory under a room of sessions: given back when the sessions close.

Measured with benchmarks/audience_load.py (50 Draw-page sessions for 10 minutes, docs/figures.md): RSS
283 → 388 MB by the end, still 391 MB 200 s after the last tab closed. Three things kept it:

- glibc's allocator. Streamlit runs every script run in a thread of its own; glibc gave those
  threads up to 8 arenas per core (12 here) and, once a large buffer had been freed, served the
  next ones (the canvas's PNG and RGBA array, ~360 KB) from those arenas too. By the end they
  held 158 MB of which 96 MB was free and could not be returned (malloc_trim gave 9–20 MB).
  Two arenas and a fixed 128 KiB mmap threshold: 5–10 MB free, server CPU within 3%.
  `tune_allocator`, unless MALLOC_ARENA_MAX / MALLOC_MMAP_THRESHOLD_ say otherwise.
- Closed tabs. Streamlit keeps a disconnected session for server.disconnectedSessionTTL (120 s)
  in case the tab reconnects, but drops an expired one only when another tab disconnects, and
  never shuts it down: its state, script event loop and media files (a drawing's four
  thumbnails) stayed until then, and its objects (cycles) until a full garbage collection, which
  a quiet server does not run (runner.postScriptGC is off). `sweep` shuts expired sessions
  down, and collects and trims the heap once sessions have gone.
- A new canvas key per Clear, which Streamlit never forgets within a session: fixed on the Draw
  page (clear_canvas).

With the three: 270 → 295 MB at the end (301 at most), 282 MB once the tabs had closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import os
import platform
import sys

LOG = logging.getLogger(__name__)
SWEEP_SECONDS = 30.0
M_MMAP_THRESHOLD, M_ARENA_MAX = -3, -8  # glibc's mallopt parameters (malloc.h)
MMAP_THRESHOLD = 128 * 1024  # glibc's initial value, kept fixed (setting it turns the dynamic one off)


def _glibc():
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def tune_allocator() -> None:
    """Two malloc arenas and a fixed mmap threshold for this process (glibc only; an explicit
    MALLOC_ARENA_MAX or MALLOC_MMAP_THRESHOLD_ in the environment wins). Call it early: arenas
    made before it stay."""
    libc = _glibc()
    if libc is None:
        return
    if "MALLOC_ARENA_MAX" not in os.environ:
        libc.mallopt(M_ARENA_MAX, 2)
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)


def collect_and_trim() -> None:
    """A full collection, then the allocator's free pages back to the system."""
    gc.collect()
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def _session_manager():
    from streamlit import runtime

    return getattr(runtime.get_instance(), "_session_mgr", None) if runtime.exists() else None


def shut_down_expired_sessions() -> int:
    """Shut down the disconnected sessions whose reconnect time is over; how many. Streamlit's
    session storage has no public way to list those (its reads skip them), so this reaches into
    it, and does nothing if its shape is not the one known here (Streamlit 1.67)."""
    manager = _session_manager()
    cache = getattr(getattr(manager, "_session_storage", None), "_cache", None)
    lock = getattr(manager, "_storage_lock", None)
    if not hasattr(cache, "expire") or lock is None:
        return 0
    with lock:
        expired = cache.expire()
    for _, info in expired:
        # As Streamlit closes a stored session (WebsocketSessionManager.close_session): its media
        # files, uploads and script event loop go now, not whenever it is collected.
        info.session.shutdown()
    return len(expired)


def session_counts() -> tuple[int, int]:
    """(sessions with a tab, every session the server keeps: with a tab or waiting for one)."""
    manager = _session_manager()
    if manager is None:
        return 0, 0
    return manager.num_active_sessions(), len(manager.list_sessions())


async def sweep(every: float = SWEEP_SECONDS) -> None:
    """Every `every` seconds, on the server's event loop (where Streamlit shuts sessions down):
    shut down expired sessions; when some went (shut down here, or dropped by Streamlit when
    another tab disconnected) or the last tab closed, collect and trim, in a thread (a collection
    over what sessions left takes a few tens of ms)."""
    was_active, was_kept = 0, 0
    while True:
        await asyncio.sleep(every)
        try:
            expired = shut_down_expired_sessions()
            active, kept = session_counts()
            if expired or kept < was_kept or (was_active and not active):
                await asyncio.to_thread(collect_and_trim)
            was_active, was_kept = active, kept
        except Exception:  # never let housekeeping take the server down
            LOG.exception("server memory sweep failed")


def with_sweep(lifespan):
    """`lifespan` (a Starlette lifespan) with `sweep` running beside it."""

    @contextlib.asynccontextmanager
    async def combined(app):
        async with lifespan(app) as state:
            task = asyncio.create_task(sweep())
            try:
                yield state
            finally:
                task.cancel()

    return combined
