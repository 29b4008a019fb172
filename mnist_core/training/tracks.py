"""A run, a race or a replay as the Train page shows it, without Streamlit: each network's track
(its records and epoch snapshots, live or replayed), the epoch strip's rows, the progress line,
the race's settings and the epoch slider's rule. The page draws; the decisions are here."""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from mnist_core.models import presets
from mnist_core.training import epoch_snapshots
from mnist_core.training.jobs import TrainingConfig
from mnist_core.training.runs import RunSnapshot, TrainingRun

QUICK_DEMO = {"train_size": 10_000, "epochs": 3}  # finishes in well under a minute on 2 cores
TRAIN_SIZES = [1_000, 2_000, 5_000, 10_000, 20_000, 30_000, 45_000, 60_000]
RACE_VALIDATION = 0.1


@dataclasses.dataclass(frozen=True)
class Track:
    """One network's curves and snapshots, live or replayed."""
    key: str
    label: str
    kind: str
    preset: str
    records: tuple
    snapshots: tuple
    has_drawing: bool = False


def run_label(run: TrainingRun) -> str:
    return f"{run.config.preset} ({run.id[:4]})"


def track_of(run: TrainingRun, snap: RunSnapshot) -> Track:
    return Track(run.id, run_label(run), run.preset.kind, run.config.preset, snap.records, snap.snapshots,
                 run.drawing is not None)


def curve_records(track: Track) -> list[dict]:
    """EpochRecords as dicts, with the accuracy each epoch's snapshot measured on test images."""
    scored = {s.epoch: s.test_accuracy for s in track.snapshots}
    return [dict(dataclasses.asdict(r), test_accuracy=scored.get(r.epoch)) for r in track.records]


def strip_rows(tracks: list[Track], epoch: int, digits: int, with_drawing: bool,
               color_of: Callable[[str], str]) -> list[dict]:
    """Each network's answers under the strip's `digits` images after `epoch` (its latest epoch so
    far if it has not reached it), with how sure it was; None where it has no answer yet."""
    rows = []
    for t in tracks:
        shot = epoch_snapshots.at_epoch(t.snapshots, epoch)
        label = t.label if shot is None or shot.epoch == epoch else f"{t.label}, epoch {shot.epoch}"
        answers = [None] * digits if shot is None else [int(a) for a in shot.answers[:digits]]
        confidence = [0.0] * digits if shot is None else shot.confidence[:digits]
        if with_drawing and not t.has_drawing and shot is not None:  # a replay never saw the drawing
            answers, confidence = answers + [None], list(confidence) + [0.0]
        rows.append({"label": label, "color": color_of(t.kind), "answers": answers, "confidence": confidence})
    return rows


def epoch_to_show(epochs: list[int], scrubbed: int | None, latest_before: int | None) -> int:
    """Where the epoch slider stands: on the newest epoch, following a live run, unless the person
    scrubbed back to an earlier one (then it stays there)."""
    return scrubbed if scrubbed in epochs and scrubbed != latest_before else epochs[-1]


def progress_line(snap: RunSnapshot, label: str, epochs: int) -> tuple[float, str] | None:
    """(fraction done, what to say) while a run trains or scores; None once it has ended."""
    p = snap.progress
    if snap.state == "evaluating":
        return 1.0, f"{label}: scoring the 10,000 test images …"
    if snap.state != "running":
        return None
    if p is None:
        return 0.0, f"{label}: {snap.status or 'preparing the data and building the model …'}"
    return (min(1.0, p.batch / p.batches),
            f"{label}: epoch {p.epoch} of {epochs} · batch {p.batch:,} of {p.batches:,} · "
            f"{p.samples_per_second:,.0f} samples/s · about {p.seconds_left:,.0f} s left")


def snapshot_cost(tracks: list[Track]) -> str:
    parts = [f"{t.label} {epoch_snapshots.share_of_training(t.snapshots, t.records):.1%}" for t in tracks if t.records]
    return "Taking each epoch's snapshot cost " + ", ".join(parts) + " of the training time." if parts else ""


def presets_by_kind(kinds=("ann", "cnn")) -> dict[str, list[str]]:
    return {kind: [n for n, p in presets.PRESETS.items() if p.kind == kind] for kind in kinds}


def race_configs(ann: str, cnn: str, epochs: int, size: int) -> list[TrainingConfig]:
    """Both networks on the same images, each with its preset's batch size, at most the images it
    fits: a batch of 1,000 (seed002-ann) needs that many after the validation share is held out."""
    fitted = size - round(size * RACE_VALIDATION)
    return [TrainingConfig(name, epochs=epochs, train_size=size, validation_split=RACE_VALIDATION,
                           batch_size=min(presets.PRESETS[name].batch_size, fitted)) for name in (ann, cnn)]


def strip_images_with(strip_images: np.ndarray, drawing: np.ndarray | None) -> np.ndarray:
    """The strip's test digits (uint8), and the drawing (in [0, 1]) after them when there is one."""
    return strip_images if drawing is None else np.concatenate([strip_images, drawing[None] * 255])
