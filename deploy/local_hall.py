"""A whole hall on this machine's loopback: PostgreSQL (deploy/local_postgres.py), N app replicas
(`streamlit run streamlit_app.py`, talk mode) and Caddy in front (deploy/Caddyfile), for trying
the set-up, for tests and for benchmarks.

    python -m deploy.local_hall [--replicas 2] [--port 8600]      (make hall)

    with LocalHall(replicas=2) as hall:
        hall.balancer_url, hall.replica_urls, hall.key
        hall.kill_replica(0); hall.start_replica(0); hall.postgres.restart(down_seconds=3)

Each part runs in a process group of its own (a replica's judging workers are its children), so
stopping, or SIGKILLing a replica, takes all of it; nothing is left running after exit. Each
part's output goes to a file in `hall.folder`."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from deploy import local_postgres
from mnist_core.talk import presenter

ROOT = Path(__file__).resolve().parents[1]
CADDYFILE = Path(__file__).with_name("Caddyfile")
LOOPBACK = "127.0.0.1"
START_SECONDS = 180  # a replica on a busy 2-core machine: Streamlit, then the models
STOP_SECONDS = 10


class HallError(RuntimeError):
    """A part did not start; the message has the end of its log."""


def unverified_tls() -> ssl.SSLContext:
    """A client context that accepts the certificate of Caddy's own CA (LocalHall(https=True))."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    return context


def _healthy(url: str) -> bool:
    try:
        context = unverified_tls() if url.startswith("https:") else None
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1, context=context) as response:
            return response.status == 200 and response.read() == b"ok"
    except OSError:
        return False


def _stop_group(process: subprocess.Popen | None, sig: int = signal.SIGTERM, wait: float = STOP_SECONDS) -> None:
    """Signal the process's whole group (it leads one: start_new_session) and reap it; SIGKILL
    what is still there after `wait` seconds."""
    if process is None:
        return
    for signal_now, seconds in ((sig, wait), (signal.SIGKILL, wait)):
        try:
            os.killpg(process.pid, signal_now)
        except ProcessLookupError:
            pass
        try:
            process.wait(seconds)
        except subprocess.TimeoutExpired:
            continue
        try:
            os.killpg(process.pid, signal.SIGKILL)  # the leader is gone: its workers too
        except ProcessLookupError:
            pass
        return


class LocalHall:
    """PostgreSQL, `replicas` app servers and Caddy on 127.0.0.1. `port`: the balancer's (0: a free
    one); `key`: the presenter's (default: a new one); `sqlite`: a database file to share instead
    of PostgreSQL (then `.postgres` is None); `folder`: where the logs go (default: a new one
    under /tmp, kept after exit); `https`: Caddy serves https://localhost:PORT with a certificate
    of its own CA (the path a public name takes, on one machine)."""

    def __init__(self, replicas: int = 2, port: int = 8600, key: str | None = None,
                 sqlite: str | os.PathLike | None = None, folder: str | os.PathLike | None = None,
                 env: dict[str, str] | None = None, https: bool = False):
        if replicas < 1:
            raise ValueError("a hall needs at least one replica")
        self.key = key or presenter.new_key()
        self.folder = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="mnist-hall-"))
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = port or local_postgres.free_port()
        self.replica_ports = [local_postgres.free_port() for _ in range(replicas)]
        self.sqlite = Path(sqlite) if sqlite else None
        self.extra_env = dict(env or {})
        self.postgres: local_postgres.LocalPostgres | None = None
        self.crowd_db = ""
        self.replicas: list[subprocess.Popen | None] = [None] * replicas
        self.caddy: subprocess.Popen | None = None
        self.https = https

    # ---------------------------------------------------------------- addresses

    @property
    def balancer_url(self) -> str:
        return f"https://localhost:{self.port}" if self.https else f"http://{LOOPBACK}:{self.port}"

    @property
    def replica_urls(self) -> list[str]:
        return [f"http://{LOOPBACK}:{port}" for port in self.replica_ports]

    @property
    def join_url(self) -> str:
        return presenter.join_url(self.balancer_url)

    @property
    def presenter_url(self) -> str:
        return presenter.sign_in_url(self.balancer_url, self.key)

    def log_path(self, name: str) -> Path:
        return self.folder / f"{name}.log"

    # ---------------------------------------------------------------- starting and stopping

    def start(self) -> LocalHall:
        try:
            self._start_database()
            for index in range(len(self.replicas)):
                self._launch_replica(index)
            self._launch_caddy()
            for index in range(len(self.replicas)):
                self._wait_until_healthy(self.replica_urls[index], self.replicas[index], f"replica-{index}")
            self._wait_until_healthy(self.balancer_url, self.caddy, "caddy")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        _stop_group(self.caddy)
        self.caddy = None
        for index in range(len(self.replicas)):
            _stop_group(self.replicas[index])
            self.replicas[index] = None
        if self.postgres is not None:
            server_log = self.postgres.folder / "server.log"
            if server_log.exists():  # the cluster's folder goes with it; its log stays with the others
                shutil.copyfile(server_log, self.log_path("postgres"))
            self.postgres.remove()
            self.postgres = None

    def __enter__(self) -> LocalHall:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def kill_replica(self, index: int) -> None:
        """SIGKILL replica `index` and its judging workers, as a crashed machine would go."""
        _stop_group(self.replicas[index], signal.SIGKILL)
        self.replicas[index] = None

    def start_replica(self, index: int) -> None:
        """Start replica `index` again on its port, once it answers."""
        if self.replicas[index] is not None and self.replicas[index].poll() is None:
            return
        self._launch_replica(index)
        self._wait_until_healthy(self.replica_urls[index], self.replicas[index], f"replica-{index}")

    # ---------------------------------------------------------------- the parts

    def _start_database(self) -> None:
        if self.sqlite is not None:
            self.crowd_db = str(self.sqlite)
            return
        self.postgres = local_postgres.start_temporary()
        self.crowd_db = self.postgres.create_database("mnist_crowd")

    def _launch(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
        # Output to a file, never an unread pipe (a full pipe blocks the writer for good).
        with self.log_path(name).open("ab") as log:
            return subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    def replica_env(self) -> dict[str, str]:
        return {"MNIST_TALK_KEY": self.key, "MNIST_CROWD_DB": self.crowd_db, "MNIST_PUBLIC_URL": self.balancer_url,
                # Caddy is on loopback: believe its X-Forwarded-For, ours and uvicorn's rule alike.
                "MNIST_TRUSTED_PROXIES": LOOPBACK, "FORWARDED_ALLOW_IPS": LOOPBACK, **self.extra_env}

    def _launch_replica(self, index: int) -> None:
        streamlit = Path(sys.executable).with_name("streamlit")
        command = [str(streamlit), "run", "streamlit_app.py", "--server.port", str(self.replica_ports[index]),
                   "--server.address", LOOPBACK, "--server.headless", "true", "--browser.gatherUsageStats", "false"]
        self.replicas[index] = self._launch(f"replica-{index}", command, self.replica_env())

    def _launch_caddy(self) -> None:
        caddy = shutil.which("caddy")
        if caddy is None:
            raise HallError("Caddy is not installed: `make caddy` (apt-get install caddy).")
        env = {"MNIST_SITE_ADDRESS": self.balancer_url, "MNIST_BIND_ADDRESS": LOOPBACK,
               "MNIST_REPLICAS": " ".join(f"{LOOPBACK}:{port}" for port in self.replica_ports),
               # Caddy's own state (autosaved config, certificates) stays in the hall's folder.
               "XDG_CONFIG_HOME": str(self.folder / "caddy"), "XDG_DATA_HOME": str(self.folder / "caddy"),
               "MNIST_HTTP_PORT": str(local_postgres.free_port())}  # its HTTP→HTTPS redirect, not on :80
        self.caddy = self._launch("caddy", [caddy, "run", "--adapter", "caddyfile", "--config", str(CADDYFILE)], env)

    def _wait_until_healthy(self, url: str, process: subprocess.Popen | None, name: str) -> None:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if _healthy(url):
                return
            if process is None or process.poll() is not None:
                break
            time.sleep(0.1)
        tail = self.log_path(name).read_text(errors="replace")[-3000:] if self.log_path(name).exists() else ""
        raise HallError(f"{name} did not answer {url}/_stcore/health (log: {self.log_path(name)}):\n{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.local_hall", description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--port", type=int, default=8600, help="the balancer's port (default 8600)")
    parser.add_argument("--key", default=os.environ.get(presenter.KEY_ENV) or None,
                        help=f"the presenter's key (default: {presenter.KEY_ENV}, else a new one)")
    parser.add_argument("--sqlite", metavar="FILE", help="share this SQLite file instead of PostgreSQL")
    parser.add_argument("--logs", metavar="FOLDER", help="where each part's log goes (default: a new folder in /tmp)")
    args = parser.parse_args(argv)
    # Ctrl-C and `kill` stop the hall alike (a shell starting us in the background ignores SIGINT).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    hall = LocalHall(args.replicas, args.port, args.key, args.sqlite, args.logs)
    print(f"Starting a hall in {hall.folder}: {'SQLite ' + args.sqlite if args.sqlite else 'PostgreSQL'}, "
          f"{args.replicas} replicas, Caddy on {hall.balancer_url} …", flush=True)
    try:
        with hall:
            database = f"PostgreSQL {hall.crowd_db}" if hall.postgres else f"SQLite {hall.sqlite}"
            print(f"Presenter, open on the projector's browser:  {hall.presenter_url}\n"
                  f"The audience joins at {hall.join_url}\n"
                  f"Replicas: {' '.join(hall.replica_urls)}; database: {database}\n"
                  f"Logs: {hall.folder}/ (caddy.log, replica-N.log, postgres.log at exit). Ctrl-C stops it all.",
                  flush=True)
            _watch(hall)
    except KeyboardInterrupt:
        pass
    except HallError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("Hall stopped.")
    return 0


def _watch(hall: LocalHall) -> None:
    """Until interrupted: say once when a part stops by itself (the others go on serving)."""
    reported: set[str] = set()
    while True:
        parts = {"caddy": hall.caddy, **{f"replica-{i}": p for i, p in enumerate(hall.replicas)}}
        for name, process in parts.items():
            if process is not None and process.poll() is not None and name not in reported:
                reported.add(name)
                print(f"{name} exited with {process.returncode}: see {hall.log_path(name)}", flush=True)
        time.sleep(1)


if __name__ == "__main__":
    raise SystemExit(main())
