"""What the benchmarks share, with no Locust or gevent in it (the load generator's gevent
monkeypatching stays in the benchmark process that imports Locust):

- `start_server`: `streamlit run SCRIPT` (the app by default) on a free loopback port, ready once
  /_stcore/health answers; `start_talk_server` the app in talk mode with a fresh random presenter
  key and its own SQLite file in a temporary folder. `stop_server` stops either and whatever child
  processes it left. `answers_health` and `http_request`: plain HTTP to a loopback server.
- process readings from /proc: child processes, the judging workers, CPU seconds of a process and
  all its descendants, RSS, the process listening on a loopback port (for --host);
- `percentile`, `spread` and `table`: the report's figures and a plain-text table;
- `python benchmarks/harness.py wall DB TALK SECONDS OUT`: the presenter's wall reads
  (CrowdStore.count, latest(talk, 18), scoreboard) timed once a second, in a process of their
  own so that SQLite's blocking calls never stall the load generator's event loop.

Chromium and the Draw page in a real browser are in browser.py, a browser tab over Streamlit's own
protocol in streamlit_client.py, MNIST digits redrawn as canvas input in canvas_digits.py.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "streamlit_app.py"
PYTHON = sys.executable
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
HEALTH_SECONDS = 120.0  # a cold server (Streamlit, then TensorFlow in the workers) on a busy 2-core box
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # for loopback: no proxy from the environment


# ── the server ────────────────────────────────────────────────────────────────────────────────

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_loopback(url: str) -> bool:
    return (urllib.parse.urlsplit(url).hostname or "") in LOOPBACK


@dataclass
class Server:
    url: str
    pid: int
    db: Path | None = None                    # a talk-mode server's database
    process: subprocess.Popen | None = None  # None: a server this script did not start
    folder: Path | None = None                # the temporary folder of a server we started
    log: Path | None = None
    started_in: float = 0.0


def start_server(script: Path = APP, env_extra: dict | None = None, log: Path | None = None) -> Server:
    """`streamlit run SCRIPT` on a free loopback port, returned once /_stcore/health answers ok
    (`started_in`: seconds from the launch). Its output goes to `log` or nowhere, never to an
    unread pipe: a full pipe blocks every thread that logs."""
    env = dict(os.environ, **(env_extra or {}))
    port = free_port()
    started = time.perf_counter()
    with open(log or os.devnull, "wb") as out:
        process = subprocess.Popen(
            [PYTHON, "-m", "streamlit", "run", str(script), "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}", process.pid, process=process, log=log)
    deadline = time.monotonic() + HEALTH_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        if answers_health(server.url, timeout=2):
            server.started_in = time.perf_counter() - started
            return server
        time.sleep(0.05)  # fine enough for cold_start.py, whose figure includes this wait
    tail = log.read_bytes()[-3000:].decode(errors="replace") if log and log.exists() else ""
    stop_server(server)
    raise RuntimeError(f"{script.name} did not answer /_stcore/health within {HEALTH_SECONDS:.0f} s:\n{tail}")


def start_talk_server(keep_log: Path | None = None) -> Server:
    """The app in talk mode, a server of our own: a fresh key, a fresh database in a temporary
    folder (removed by stop_server), a free loopback port."""
    folder = Path(tempfile.mkdtemp(prefix="hall-load-"))
    db = folder / "crowd.sqlite3"
    env = {"MNIST_TALK_KEY": secrets.token_urlsafe(16), "MNIST_CROWD_DB": str(db)}
    try:
        server = start_server(APP, env, keep_log or folder / "server.log")
    except RuntimeError:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    server.db, server.folder = db, folder
    return server


def answers_health(url: str, timeout: float = 5) -> bool:
    try:
        return http_request(f"{url}/_stcore/health", timeout=timeout)[2] == b"ok"
    except OSError:
        return False


def http_request(url: str, body: bytes | None = None, headers: dict | None = None,
                 timeout: float = 15.0) -> tuple[int, dict, bytes]:
    """(status, headers, raw body) of a GET, or a POST with `body`, without raising on an HTTP
    status. Never through a proxy: the benchmarks talk to loopback only."""
    request = urllib.request.Request(url, data=body, headers=headers or {}, method="GET" if body is None else "POST")
    try:
        with _DIRECT.open(request, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def stop_server(server: Server, remove_folder: bool = True) -> None:
    """Stop a server we started and any child process it left (the judging workers); remove its
    temporary folder. A server we did not start is left alone."""
    if server.process is None:
        return
    children = descendants(server.pid)
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(5)
    for child in children:
        with _quiet():
            os.kill(child, signal.SIGKILL)
    if remove_folder and server.folder is not None:
        shutil.rmtree(server.folder, ignore_errors=True)


def kill_now(server: Server) -> None:
    """From a signal handler or a watchdog: SIGKILL the server we started and its children, no waiting."""
    if server.process is None:
        return
    for pid in descendants(server.pid) + [server.pid]:
        with _quiet():
            os.kill(pid, signal.SIGKILL)


class _quiet:
    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        return kind is not None and issubclass(kind, (ProcessLookupError, PermissionError, OSError))


# ── /proc readings ────────────────────────────────────────────────────────────────────────────

def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat's fields after the command name (field 3 onwards: state is [0])."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None and int(fields[1]) == pid:
                found.append(int(entry))
    return sorted(found)


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    for _ in range(10_000):  # bounded: a process tree is not deeper or wider than this
        if not todo:
            break
        kids = children(todo.pop())
        found += kids
        todo += kids
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def worker_pids(server_pid: int) -> list[int]:
    """The judging workers: the server's children started by multiprocessing's spawn (their
    command line runs `multiprocessing.spawn.spawn_main`; the resource tracker is left out)."""
    return [pid for pid in children(server_pid) if "spawn_main" in cmdline(pid)]


def cpu_seconds(pid: int | None) -> float | None:
    """CPU seconds (user + system) of the process and of all its descendants, the live ones and
    the ones already reaped (cutime, cstime). The difference of two readings is what the server
    and its workers spent in between, a worker that died in between included (once reaped)."""
    parts = cpu_seconds_split(pid)
    return None if parts is None else sum(parts)


def cpu_seconds_split(pid: int | None) -> tuple[float, float] | None:
    """cpu_seconds in two: (the process's own, its descendants' live and reaped)."""
    if not pid:
        return None
    fields = _stat_fields(pid)
    if fields is None:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    own = int(fields[11]) + int(fields[12])
    others = int(fields[13]) + int(fields[14])
    for child in descendants(pid):
        child_fields = _stat_fields(child)
        if child_fields is not None:
            others += sum(int(child_fields[i]) for i in (11, 12, 13, 14))  # live grandchildren: in the walk
    return own / tick, others / tick


def rss_mb(pid: int | None, with_children: bool = False) -> float | None:
    if not pid:
        return None
    total = 0.0
    for p in [pid] + (descendants(pid) if with_children else []):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            pass
    return total or None


def listening_pid(port: int) -> int | None:
    """The process (of this user) listening on a TCP port: its socket inode in /proc/net/tcp*,
    then the process holding that inode among /proc/*/fd. None if it cannot be seen."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 9 and parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{parts[9]}]")
    if not inodes:
        return None
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            for fd in os.listdir(f"/proc/{entry}/fd"):
                if os.readlink(f"/proc/{entry}/fd/{fd}") in inodes:
                    return int(entry)
        except OSError:
            continue
    return None


def kept_alive_delay(url: str, path: str = "/_stcore/health", rounds: int = 5) -> tuple[float, float]:
    """(median s for a response on a fresh connection, median s for the later responses on one
    kept-alive connection), with TCP_NODELAY on our side. A gap of ~40 ms means the server writes
    head and body in two sends without TCP_NODELAY, so its body waits for our delayed ACK."""
    parts = urllib.parse.urlsplit(url)
    request = f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: */*\r\n\r\n".encode()

    def one(sock) -> float:
        t0 = time.perf_counter()
        sock.sendall(request)
        data = b""
        for _ in range(1000):  # bounded: a small response comes in a few reads
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length:\s*(\d+)", head)
            if sep and length and len(body) >= int(length.group(1)):
                break
        return time.perf_counter() - t0

    def connect():
        sock = socket.create_connection((parts.hostname, parts.port or 80), timeout=10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    fresh, kept = [], []
    for _ in range(rounds):
        with connect() as sock:
            fresh.append(one(sock))
    with connect() as sock:
        one(sock)
        kept = [one(sock) for _ in range(rounds)]
    return percentile(fresh, 50), percentile(kept, 50)


# ── figures ───────────────────────────────────────────────────────────────────────────────────

def percentile(values, q: float) -> float:
    """The q-th percentile (0–100) by linear interpolation between order statistics; nan if empty."""
    data = sorted(values)
    if not data:
        return math.nan
    k = (len(data) - 1) * q / 100
    lo, hi = math.floor(k), math.ceil(k)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


def spread(values, unit: str = "s", scale: float = 1.0, digits: int = 3) -> str:
    """'p50 / p95 / max' of `values` (times `scale`), or '—' when there are none."""
    if not values:
        return "—"
    return " / ".join(f"{percentile(values, q) * scale:.{digits}f}" for q in (50, 95, 100)) + f" {unit}"


def table(headers: list[str], rows: list[list], title: str | None = None) -> str:
    cells = [[str(h) for h in headers]] + [["—" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [title] if title else []
    for n, row in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


# ── the presenter's wall, timed in a process of its own ───────────────────────────────────────

def wall_sampler(db: str, talk_id: int, seconds: float, out: str, wall_tiles: int = 18) -> None:
    """Once a second for `seconds`: time the Talk page's store reads (count, latest, scoreboard with
    both confusion matrices and the digits that fooled both)
    on a store of its own, as a Talk page's session holds one. Writes JSON to `out`."""
    sys.path.insert(0, str(ROOT))
    from mnist_core.talk.crowd import CrowdStore, CrowdStoreError

    store = CrowdStore(db)
    samples = []
    start = time.monotonic()
    for tick in range(int(seconds) + 1):  # bounded: one sample a second
        target = start + tick
        time.sleep(max(0.0, target - time.monotonic()))
        t0 = time.perf_counter()
        try:
            n = store.count(talk_id)
            t1 = time.perf_counter()
            tiles = store.latest(talk_id, wall_tiles)
            t2 = time.perf_counter()
            board = store.scoreboard(talk_id)  # and what the scoreboard shows beside it, as the Talk page does
            for kind in ("ann", "cnn"):
                store.confusion(talk_id, kind)
            store.fooled_both(talk_id, ("ann", "cnn"), limit=16)
            t3 = time.perf_counter()
        except CrowdStoreError:  # PostgreSQL restarting: the Talk page says so; the sampler goes on
            samples.append({"t": round(time.monotonic() - start, 3), "unavailable": True})
            continue
        samples.append({"t": round(time.monotonic() - start, 3), "count": n, "count_s": t1 - t0,
                        "latest_s": t2 - t1, "scoreboard_s": t3 - t2, "tiles": len(tiles),
                        "judged": {k: s.n for k, s in board.items()}})
        with open(out + ".tmp", "w") as f:  # written as it goes: a run cut short still has its samples
            json.dump(samples, f)
        os.replace(out + ".tmp", out)
    store.close()


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "wall":
        wall_sampler(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5])
    else:
        sys.exit("usage: harness.py wall DB TALK_ID SECONDS OUT.json")
