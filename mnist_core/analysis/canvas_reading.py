"""How well the shipped models read MNIST test digits redrawn as canvas strokes (random size, place
and pen width), through the MNIST-faithful preprocessing and through a naive resize. Measured by
`python -m mnist_core canvas` into trained_models/canvas_reading.json, with the model files' hashes,
so the Draw page states the figures of the files it serves (a test checks they belong together)."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import numpy as np

from mnist_core.data import preprocess, synthetic
from mnist_core.data.mnist import MnistDataset, write_atomic
from mnist_core.models import registry
from mnist_core.models.inference import load_classifier

DIGITS = 2000
FORMAT = 1


def result_path(directory: Path | None = None) -> Path:
    return (directory or registry.models_dir()) / "canvas_reading.json"


def redrawn(dataset: MnistDataset, digits: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The same `digits` test digits clean, redrawn and preprocessed faithfully, and squashed: the
    three inputs the models are scored on; and their labels."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(dataset.x_test), digits, replace=False)
    blank = np.zeros((28, 28), np.float32)
    inputs = {"clean": [], "faithful": [], "naive": []}
    for i in pick:
        rgba = synthetic.redraw(dataset.x_test[i], rng)
        faithful, naive = preprocess.canvas_to_mnist(rgba), preprocess.naive_resize(rgba)
        inputs["clean"].append(dataset.x_test[i].astype(np.float32) / 255)
        inputs["faithful"].append(blank if faithful is None else faithful)
        inputs["naive"].append(blank if naive is None else naive)
    return {way: np.stack(images) for way, images in inputs.items()}, dataset.y_test[pick]


def measure(dataset: MnistDataset, names=("ann", "cnn"), digits: int = DIGITS, seed: int = 0,
            directory: Path | None = None) -> dict:
    started = time.perf_counter()
    inputs, labels = redrawn(dataset, digits, seed)
    models = {}
    for name in names:
        classifier = load_classifier(name, directory)
        models[name] = {"file_sha256": registry.file_hash(name, directory), "kind": classifier.kind,
                        **{way: float(np.mean(classifier.predict(x) == labels)) for way, x in inputs.items()}}
    return {"format": FORMAT, "digits": digits, "seed": seed, "models": models,
            "seconds": round(time.perf_counter() - started, 1),
            "measured": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}


def save(result: dict, path: Path | None = None) -> Path:
    path = path or result_path()
    write_atomic(path, (json.dumps(result, indent=2) + "\n").encode())
    return path


_loaded: dict[tuple, dict | None] = {}  # file version → its result: the Draw page asks on every run


def load(path: Path | None = None) -> dict | None:
    """The recorded result, or None when there is none or it is not one this code reads. Read once
    per version of the file."""
    path = path or result_path()
    try:
        version = registry.file_version(path)
    except OSError:
        return None
    if version not in _loaded:
        try:
            result = json.loads(path.read_text())
        except (OSError, ValueError):
            result = None
        _loaded[version] = result if isinstance(result, dict) and result.get("format") == FORMAT else None
    return _loaded[version]


def for_file(result: dict | None, name: str, file_sha256: str | None) -> dict | None:
    """The model's recorded figures when they were measured on this very file, else None."""
    entry = (result or {}).get("models", {}).get(name)
    return entry if entry and entry.get("file_sha256") == file_sha256 else None
