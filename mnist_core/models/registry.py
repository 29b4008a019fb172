"""trained_models/: NAME.keras plus a NAME.json card. Atomic saves, sanitised names, Keras-free
checked reads (model_file), and errors that name the file and the fix."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import re
import shutil
import tempfile
from pathlib import Path

from mnist_core.models import model_file
from mnist_core.models.model_file import ModelLoadError

MODELS_DIR = Path(__file__).resolve().parents[2] / "trained_models"
SHIPPED = ("ann", "cnn")  # produced by docs/models.md's recipe; never overwritten from the UI
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class ModelNameError(ValueError):
    """A model name that is not safe as a file name, or that would overwrite a model."""


def models_dir() -> Path:
    """MNIST_MODELS_DIR if set (tests use a temp dir), else the repository's trained_models/."""
    return Path(os.environ.get("MNIST_MODELS_DIR") or MODELS_DIR)


def sanitize_name(raw: str) -> str:
    """'My CNN v2!' → 'my-cnn-v2'. Raises ModelNameError if nothing usable is left."""
    name = re.sub(r"[^a-z0-9_-]+", "-", str(raw).strip().lower()).strip("-_")[:64].strip("-_")
    if not _NAME_RE.match(name):
        raise ModelNameError(
            f"{raw!r} is not a usable model name: use letters, digits, '-' or '_' (for example 'my-cnn').")
    return name


def model_path(name: str, directory: Path | None = None) -> Path:
    if not _NAME_RE.match(name):
        raise ModelNameError(f"{name!r} is not a model name (letters, digits, '-' or '_' only).")
    return (directory or models_dir()) / f"{name}.keras"


def card_path(name: str, directory: Path | None = None) -> Path:
    return model_path(name, directory).with_suffix(".json")


def list_models(directory: Path | None = None) -> list[str]:
    """Names of saved models, shipped ones first."""
    directory = directory or models_dir()
    names = sorted(p.stem for p in directory.glob("*.keras") if _NAME_RE.match(p.stem))
    return [n for n in SHIPPED if n in names] + [n for n in names if n not in SHIPPED]


def read_card(name: str, directory: Path | None = None) -> dict:
    """The model's JSON card; {} when it has none or it is unreadable (the model still loads)."""
    path = card_path(name, directory)
    try:
        card = json.loads(path.read_text())
        return card if isinstance(card, dict) else {}
    except (OSError, ValueError):
        return {}


def file_version(path: Path) -> tuple:
    """What changes when a file is rewritten (path, mtime, size): the key for per-version caches.
    FileNotFoundError when it is missing."""
    stat = path.stat()
    return str(path), stat.st_mtime_ns, stat.st_size


_hashes: dict[tuple, str] = {}  # file version → digest: pages ask on every rerun


def file_hash(name: str, directory: Path | None = None) -> str:
    """SHA-256 of the model file: the key for anything cached about this model. Read once per
    file version, so asking on every rerun costs a stat, not a 2 MB read."""
    path = model_path(name, directory)
    key = file_version(path)
    if key not in _hashes:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        _hashes[key] = digest.hexdigest()
    return _hashes[key]


def missing_model_error(name: str, path: Path) -> ModelLoadError:
    return ModelLoadError(
        f"No model file {path}. Train one on the Train page, or retrain the shipped models "
        f"as docs/models.md describes (`python -m mnist_core train --preset {name if name in SHIPPED else 'cnn'} ...`).")


def read_model(name: str, directory: Path | None = None):
    """The saved model as checked layer specs (model_file.ModelSpec), read without Keras: what the
    server predicts with. ModelLoadError naming the file and the fix on any problem."""

    path = model_path(name, directory)
    if not path.is_file():
        raise missing_model_error(name, path)
    return model_file.read_model_file(path)


def atomic_write(path: Path, write) -> None:
    """Write through a temp file in the same folder, then rename: never a half-written file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; saved models are shared files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_new_name(name: str, directory: Path, overwrite: bool, allow_shipped: bool) -> tuple[str, Path]:
    name = sanitize_name(name)
    path = model_path(name, directory)
    if name in SHIPPED and not allow_shipped:
        raise ModelNameError(f"'{name}' is a shipped model and is not overwritten from here; choose another name.")
    if path.exists() and not overwrite:
        raise ModelNameError(f"A model named '{name}' already exists; choose another name.")
    return name, path


def save_model_file(source: Path, name: str, card: dict, directory: Path | None = None,
                    overwrite: bool = False, allow_shipped: bool = False) -> Path:
    """Name a trained model file (a training worker's output): copy it to NAME.keras and write
    NAME.json, both atomically. Refuses to overwrite unless asked, and never overwrites a shipped
    model unless allow_shipped (the retraining recipe)."""
    import numpy

    directory = directory or models_dir()
    name, path = check_new_name(name, directory, overwrite, allow_shipped)
    if not Path(source).is_file():
        raise ModelLoadError(f"The trained model {source} is gone (the server was restarted?); train it again.")

    model_file.read_model_file(Path(source))  # refuse now what the pages could not serve later
    directory.mkdir(parents=True, exist_ok=True)
    full_card = {
        "name": name,
        **card,
        "saved": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": {"python": platform.python_version(), "numpy": numpy.__version__, **card.get("versions", {})},
    }
    atomic_write(path, lambda tmp: shutil.copyfile(source, tmp))
    atomic_write(card_path(name, directory),
                  lambda tmp: Path(tmp).write_text(json.dumps(full_card, indent=2, default=float) + "\n"))
    return path


def delete_model(name: str, directory: Path | None = None) -> None:
    if name in SHIPPED:
        raise ModelNameError(f"'{name}' is a shipped model and cannot be deleted from the app.")
    model_path(name, directory).unlink(missing_ok=True)
    card_path(name, directory).unlink(missing_ok=True)
