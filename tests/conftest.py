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
