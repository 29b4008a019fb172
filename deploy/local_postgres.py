"""A PostgreSQL server of our own on a loopback port: Debian's package, its own data folder,
started for a hall on one machine (`make hall`) or for the tests, and stopped with them.

On a real host, PostgreSQL is the distribution's service (`deploy/postgresql.conf` says what to
set); this module only spares a laptop or a CI machine from touching the system's cluster."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

CONF = Path(__file__).with_name("postgresql.conf")
INSTALL_HINT = "install Debian's PostgreSQL with `make postgres` (apt-get install postgresql)"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server programs here; the message names the fix."""


def server_bin() -> Path:
    """The newest installed server's bin folder (initdb and pg_ctl are not on PATH in Debian)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[4]))
    if not found:
        raise PostgresUnavailable(f"No PostgreSQL server on this machine: {INSTALL_HINT}.")
    return Path(found[-1]).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _as_postgres(command: list[str]) -> list[str]:
    # The server refuses to run as root; Debian's package made the `postgres` user for it.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@dataclass
class LocalPostgres:
    """One cluster in `folder` on 127.0.0.1:`port`, trusting loopback connections only."""

    folder: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def database_url(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def _pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        options = f"-p {self.port} -k {self.folder} -c config_file={self.folder / 'postgresql.conf'}"
        return subprocess.run(_as_postgres([str(server_bin() / "pg_ctl"), "-D", str(self.data), "-o", options,
                                            "-l", str(self.folder / "server.log"), "-w", "-t", "30", *args]),
                              check=check, capture_output=True, text=True)

    def init(self) -> "LocalPostgres":
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        if not (self.data / "PG_VERSION").exists():
            subprocess.run(_as_postgres([str(server_bin() / "initdb"), "-D", str(self.data), "-U", "postgres",
                                         "--auth=trust", "--encoding=UTF8", "--no-instructions"]),
                           check=True, capture_output=True, text=True)
            # Our settings, with initdb's file kept beside them for what we do not set.
            conf = self.folder / "postgresql.conf"
            conf.write_text(f"include '{self.data / 'postgresql.conf'}'\n" + CONF.read_text())
            if os.geteuid() == 0:
                shutil.chown(conf, "postgres", "postgres")
        return self

    def start(self) -> "LocalPostgres":
        done = self._pg_ctl("start", check=False)
        if done.returncode:
            log = (self.folder / "server.log")
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"PostgreSQL did not start in {self.folder}: {done.stderr.strip()}\n{tail}")
        return self

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl("stop", "-m", mode, check=False)

    def restart(self, down_seconds: float = 0.0) -> None:
        """Stop, stay down `down_seconds`, start again (what a database restart looks like to the app)."""
        self.stop()
        time.sleep(down_seconds)
        self.start()

    def create_database(self, name: str) -> str:
        subprocess.run(_as_postgres([str(server_bin() / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                                     "-U", "postgres", name]), check=True, capture_output=True, text=True)
        return self.database_url(name)

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


def start_temporary(port: int | None = None) -> LocalPostgres:
    """A new cluster in a new folder under /tmp (not under pytest's: the `postgres` user must reach it)."""
    folder = Path(tempfile.mkdtemp(prefix="mnist-postgres-"))
    return LocalPostgres(folder, port or free_port()).init().start()
