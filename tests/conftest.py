"""Shared fixtures. Real MNIST comes from the cache `make test` fills; tests that only need the
loader's logic write their own small IDX files."""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def mnist():
    from mnist_core.data import load_mnist
    return load_mnist()


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    """An empty trained_models/ of the test's own."""
    directory = tmp_path / "trained_models"
    directory.mkdir()
    monkeypatch.setenv("MNIST_MODELS_DIR", str(directory))
    return directory


@pytest.fixture(autouse=True)
def fresh_key_guard(monkeypatch):
    """Each test starts with no wrong keys on record (the guard is per process, like a server's)."""
    from mnist_core.talk import presenter

    monkeypatch.setattr(presenter, "KEY_GUARD", presenter.KeyGuard())


# ---------------------------------------------------------------- the room's databases

@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL: MNIST_TEST_POSTGRES (a server URL where we may CREATE DATABASE) if given,
    else one of our own (Debian's package, a folder under /tmp, a loopback port), stopped at the end."""
    import psycopg

    from deploy import local_postgres

    given = os.environ.get("MNIST_TEST_POSTGRES")
    server = None if given else local_postgres.start_temporary()
    url = given or server.url
    databases = iter(range(1, 1_000_000))

    def new_database() -> str:
        name = f"mnist_test_{os.getpid()}_{next(databases)}"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return url.rsplit("/", 1)[0] + "/" + name

    yield new_database
    if server is not None:
        server.remove()


@pytest.fixture(params=["sqlite", "postgresql"])
def room_db(request, tmp_path):
    """Where a test's room keeps its digits: a new SQLite file, then a new PostgreSQL database
    (each test that takes this runs on both)."""
    if request.param == "sqlite":
        return str(tmp_path / "crowd.sqlite3")
    return request.getfixturevalue("postgres_server")()
