"""Training runs recorded once on this machine and replayed on the Train page at 1×, 5× or 20×.

A recording is a full recipe's per-epoch records and snapshots (`epoch_snapshots`): everything the
Train page draws for a live run, so a replay looks like one. `python -m mnist_core record NAME` runs
the recipe in the training worker and writes trained_models/replays/NAME.npz (one compressed file,
read without pickle). NAME is a shipped model (its card's recipe) or a preset (the write-up's recipe).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
from pathlib import Path

import numpy as np

from mnist_core.models import presets, registry
from mnist_core.training import epoch_snapshots
from mnist_core.training.epoch_snapshots import EpochSnapshot
from mnist_core.training.runs import EpochRecord, TrainingConfig, TrainingRun, model_card

SPEEDS = (1, 5, 20)
SHIPPED_DIR = Path(__file__).resolve().parents[2] / "trained_models" / "replays"
RECORDED = ("ann", "cnn", "seed000-ann", "seed001-ann", "seed002-ann", "seed000-cnn", "seed004-cnn")
_SNAPSHOT_ARRAYS = ("answers", "confidence", "confusion", "first_layer")


class ReplayFileError(ValueError):
    """A replay file that cannot be read; the message names the command that records it again."""


@dataclasses.dataclass(frozen=True, eq=False)
class Recording:
    name: str  # a shipped model's name or a preset's
    preset: str
    config: dict  # the TrainingConfig it ran
    records: tuple[EpochRecord, ...]
    snapshots: tuple[EpochSnapshot, ...]
    strip_labels: tuple[int, ...]
    test_accuracy: float | None
    parameters: int | None
    recorded_on: str  # ISO date
    versions: dict
    cpus: int  # of the machine it was recorded on

    @property
    def kind(self) -> str:
        return presets.get_preset(self.preset).kind

    @property
    def seconds(self) -> float:
        """Training seconds, as the curves' seconds axis counts them."""
        return sum(r.seconds for r in self.records)

    def upto(self, epochs: int) -> "Recording":
        """The recording as it stood after `epochs` epochs: what a replay shows at that point."""
        return dataclasses.replace(self, records=self.records[:epochs],
                                   snapshots=tuple(s for s in self.snapshots if s.epoch <= epochs))


def replays_dir() -> Path:
    """MNIST_REPLAYS_DIR, else trained_models/replays."""
    return Path(os.environ.get("MNIST_REPLAYS_DIR") or SHIPPED_DIR)


def replay_path(name: str, directory: Path | None = None) -> Path:
    return (directory or replays_dir()) / f"{registry.sanitize_name(name)}.npz"


def list_replays(directory: Path | None = None) -> list[str]:
    """Recorded names, in RECORDED's order, then any others."""
    found = {p.stem for p in (directory or replays_dir()).glob("*.npz") if not p.name.startswith(".")}  # not a file being written
    return [n for n in RECORDED if n in found] + sorted(found - set(RECORDED))


def save_recording(recording: Recording, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {field.name: getattr(recording, field.name) for field in dataclasses.fields(Recording)
            if field.name not in ("records", "snapshots")}
    meta["records"] = [dataclasses.asdict(r) for r in recording.records]
    meta["snapshot_epochs"] = [s.epoch for s in recording.snapshots]
    meta["snapshot_seconds"] = [s.seconds for s in recording.snapshots]
    arrays = {key: np.stack([getattr(s, key) for s in recording.snapshots]) for key in _SNAPSHOT_ARRAYS} \
        if recording.snapshots else {}
    mapped = [s for s in recording.snapshots if s.map_points is not None]  # maps are taken within a budget
    meta["map_epochs"] = [s.epoch for s in mapped]
    if mapped:
        arrays["map_points"] = np.stack([s.map_points for s in mapped])
    registry.atomic_write(path, lambda tmp: np.savez_compressed(tmp, meta=np.array(json.dumps(meta)), **arrays))
    return path


def load_recording(path: Path) -> Recording:
    """The recording in `path`; ReplayFileError naming the fix when it is missing or damaged."""
    path = Path(path)
    again = f"Record it again with: python -m mnist_core record {path.stem}"
    if not path.is_file():
        raise ReplayFileError(f"There is no recording {path.name} in {path.parent}. {again}")
    try:
        with np.load(path, allow_pickle=False) as stored:
            meta = json.loads(str(stored["meta"]))
            epochs = meta.pop("snapshot_epochs")
            seconds = meta.pop("snapshot_seconds")
            arrays = {key: stored[key] for key in _SNAPSHOT_ARRAYS} if epochs else {}
            map_epochs = meta.pop("map_epochs", [])  # recordings made before the maps have none
            maps = dict(zip(map_epochs, stored["map_points"], strict=True)) if map_epochs else {}
        if any(m.shape != (epoch_snapshots.MAP_POINTS, 2) or not np.isfinite(m).all() for m in maps.values()):
            raise ValueError(f"maps of {sorted({m.shape for m in maps.values()})} points")
        snapshots = tuple(EpochSnapshot(int(epoch), *(arrays[key][i] for key in _SNAPSHOT_ARRAYS), float(cost),
                                        maps.get(epoch))
                          for i, (epoch, cost) in enumerate(zip(epochs, seconds, strict=True)))
        records = tuple(EpochRecord(**r) for r in meta.pop("records"))
        meta["strip_labels"] = tuple(meta["strip_labels"])
        recording = Recording(records=records, snapshots=snapshots, **meta)
        presets.get_preset(recording.preset)
    except Exception as exc:  # a damaged zip, JSON, shapes or fields: all end the same way
        raise ReplayFileError(f"The recording {path.name} cannot be read ({type(exc).__name__}: {exc}). {again}") from exc
    return recording


def recipe(name: str) -> TrainingConfig:
    """A shipped model's recipe from its card, or a preset's own full recipe (the write-up's)."""
    if name in registry.SHIPPED:
        card = registry.read_card(name)
        fields = {f.name for f in dataclasses.fields(TrainingConfig)} - {"preset"}
        return TrainingConfig(card["preset"], **{k: v for k, v in card["hyperparameters"].items() if k in fields})
    presets.get_preset(name)  # KeyError names the presets
    return TrainingConfig(name)


def plain_config(config: TrainingConfig) -> dict:
    """`config` as a recording stores it: plain JSON values, as its file gives it back."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def from_run(name: str, run: TrainingRun) -> Recording:
    snap = run.snapshot()
    card = model_card(run)
    from mnist_core.data.mnist import load_mnist

    _, (x_test, y_test) = load_mnist()
    _, labels = epoch_snapshots.strip_digits(x_test, y_test)
    return Recording(name, run.config.preset, plain_config(run.config), snap.records, snap.snapshots,
                     tuple(int(label) for label in labels), snap.test_accuracy, card["parameters"],
                     datetime.date.today().isoformat(), card["versions"], os.cpu_count() or 1)


def record(name: str, on_epoch=None, on_batch=None, directory: Path | None = None) -> tuple[Recording, Path]:
    """Run `name`'s recipe in the training worker and write its recording. RuntimeError if it fails."""
    run = TrainingRun(recipe(name), on_epoch=on_epoch, on_batch=on_batch)
    snap = run.run()
    run.discard()
    if snap.state != "finished":
        raise RuntimeError(snap.message)
    recording = from_run(name, run)
    return recording, save_recording(recording, replay_path(name, directory))


@dataclasses.dataclass(frozen=True)
class ReplayFrame:
    epochs: int  # epochs shown in full
    fraction: float  # of the epoch under way
    finished: bool


def frame_at(recording: Recording, elapsed: float, speed: float) -> ReplayFrame:
    """Where a replay started `elapsed` seconds ago at `speed`× stands: each epoch takes its recorded
    seconds divided by the speed."""
    position = max(0.0, elapsed) * speed
    for done, record in enumerate(recording.records):
        if position < record.seconds:
            return ReplayFrame(done, position / record.seconds, False)
        position -= record.seconds
    return ReplayFrame(len(recording.records), 0.0, True)
