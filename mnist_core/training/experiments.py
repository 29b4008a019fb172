"""Four small experiments on what convolution assumes about images, and what that buys.

- shuffled_pixels: one fixed permutation of the 784 pixels for every image. The ANN never used
  neighbourhoods and does not care; the CNN's 3×3 filters assumed them.
- fair_fight: an ANN and a CNN with the same number of weights (two budgets), the same recipe,
  test accuracy per epoch and per second of training.
- few_examples: test accuracy after 100 … 60,000 training images, a few seeds each.
- robustness: accuracy on test images shifted, rotated, scaled, thinned, thickened, blurred and
  noised (MNIST-C-like, reproducible), for the matched pair and the shipped models.

Each has a quick setting (a presenter runs it live in ≤ 60 s) and a full one (the shipped
result). `run_experiment` needs Keras and runs in a worker (`training_worker`) or the CLI;
everything else here (settings, pixels, corruptions, result files) is NumPy only, for the server.
Results are tidy rows (one measurement each) so the page can overlay a fresh run on the shipped one.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Callable

import numpy as np

from mnist_core.models.presets import MODEL_KINDS

NAMES = ("shuffled_pixels", "fair_fight", "few_examples", "robustness")
TITLES = {"shuffled_pixels": "Shuffled pixels", "fair_fight": "A fair fight",
          "few_examples": "Learning from few examples", "robustness": "Robustness"}
PAIR_BUDGET = 100_000  # parameters of the matched pair every experiment but the fair fight uses
BATCH_SIZE = 64
LEARNING_RATE = 1e-3  # Adam, the same recipe for both networks everywhere
SHIPPED_DIR = Path(__file__).resolve().parents[2] / "trained_models" / "experiments"
FORMAT = 1


class ExperimentFileError(ValueError):
    """A result file that cannot be read; the message names the file and the fix."""


class ExperimentStopped(Exception):
    """Stop was pressed: nothing is written."""


@dataclasses.dataclass(frozen=True)
class Setting:
    train_images: int  # the largest training set
    test_images: int  # scored on the first N test images
    epochs: int  # per training run
    seeds: tuple[int, ...] = (0,)
    budgets: tuple[int, ...] = (PAIR_BUDGET,)  # parameter budgets of the matched pairs
    train_sizes: tuple[int, ...] = ()  # few_examples only
    min_images_seen: int = 0  # few_examples: a small set is repeated until a run saw this many images


SETTINGS: dict[str, dict[str, Setting]] = {
    "shuffled_pixels": {"quick": Setting(10_000, 2_000, 3), "full": Setting(60_000, 10_000, 8)},
    "fair_fight": {"quick": Setting(10_000, 2_000, 3, budgets=(30_000, 100_000)),
                   "full": Setting(60_000, 10_000, 10, budgets=(30_000, 100_000))},
    "few_examples": {
        "quick": Setting(10_000, 2_000, 2, seeds=(0, 1), train_sizes=(100, 300, 1_000, 3_000, 10_000),
                         min_images_seen=6_000),
        "full": Setting(60_000, 10_000, 5, seeds=(0, 1, 2),
                        train_sizes=(100, 300, 1_000, 3_000, 10_000, 60_000), min_images_seen=30_000)},
    "robustness": {"quick": Setting(10_000, 1_000, 3), "full": Setting(60_000, 1_000, 8)},
}


def setting_for(name: str, quick: bool) -> Setting:
    if name not in SETTINGS:
        raise KeyError(f"Unknown experiment {name!r}. Choose one of: {', '.join(NAMES)}")
    return SETTINGS[name]["quick" if quick else "full"]


# ------------------------------------------------------------------ shuffled pixels

def pixel_permutation(seed: int = 0) -> np.ndarray:
    """The one fixed shuffle of the 784 pixel positions: the same for every image, fixed by its seed."""
    return np.random.default_rng(seed).permutation(28 * 28)


def shuffle_pixels(images: np.ndarray, permutation: np.ndarray) -> np.ndarray:
    """(n, 28, 28) → the same images with their pixels moved by `permutation`."""
    images = np.asarray(images)
    return images.reshape(len(images), -1)[:, permutation].reshape(images.shape)


# ------------------------------------------------------------------ corruptions (MNIST-C-like)
# Each takes (n, 28, 28) float32 in [0, 1], a strength and a seeded generator, and leaves the
# images as they are at strength IDENTITY. The digit is not re-centred: that is what is tested.

def _shift(images, pixels, rng):
    from mnist_core.analysis.explain import shifted

    directions = np.array([(1, 0), (-1, 0), (0, 1), (0, -1)])[rng.integers(0, 4, len(images))]
    return np.stack([shifted(x, int(dx * pixels), int(dy * pixels)) for x, (dx, dy) in zip(images, directions)])


def _rotate(images, degrees, rng):
    from mnist_core.analysis.explain import rotated

    signs = rng.choice([-1, 1], len(images))
    return images.copy() if degrees == 0 else np.stack([rotated(x, s * degrees) for x, s in zip(images, signs)])


def _scale(images, factor, rng):
    from mnist_core.analysis.explain import scaled

    return images.copy() if factor == 1 else np.stack([scaled(x, factor) for x in images])


def _stroke(images, pixels, rng):
    from mnist_core.analysis.explain import stroke_changed

    return np.stack([stroke_changed(x, int(pixels)) for x in images])


def _blur(images, sigma, rng):
    """Gaussian blur, separable, with the kernel cut at 3σ."""
    if sigma == 0:
        return images.copy()
    radius = max(1, math.ceil(3 * sigma))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    out = images
    for axis in (1, 2):
        pad = [(0, 0)] * 3
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad)
        out = sum(w * np.take(padded, range(i, i + 28), axis=axis) for i, w in enumerate(kernel))
    return out


def _noise(images, std, rng):
    return np.clip(images + rng.normal(0, std, images.shape), 0, 1) if std else images.copy()


@dataclasses.dataclass(frozen=True)
class Corruption:
    label: str  # "Shift"
    unit: str  # the x axis: "pixels in a random direction"
    strengths: tuple
    identity: float  # the strength that leaves a digit untouched
    apply: Callable


CORRUPTIONS: dict[str, Corruption] = {
    "shift": Corruption("Shift", "pixels, in a random direction", (0, 1, 2, 3, 4, 5, 6), 0, _shift),
    "rotate": Corruption("Rotation", "degrees, either way", (0, 10, 20, 30, 40, 50, 60), 0, _rotate),
    "scale": Corruption("Scale", "× size about the centre", (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2, 1.4), 1.0, _scale),
    "stroke": Corruption("Stroke", "pixels thinner (−) or thicker (+)", (-2, -1, 0, 1, 2, 3), 0, _stroke),
    "blur": Corruption("Blur", "Gaussian σ in pixels", (0, 0.5, 1.0, 1.5, 2.0, 2.5), 0, _blur),
    "noise": Corruption("Noise", "Gaussian noise σ (ink = 1)", (0, 0.1, 0.2, 0.3, 0.4, 0.5), 0, _noise),
}


def corrupted(images: np.ndarray, corruption: str, strength: float, seed: int = 0) -> np.ndarray:
    """The images under one corruption at one strength; the same images, seed and strength give the
    same result (the set is reproducible, like MNIST-C)."""
    rng = np.random.default_rng([seed, NAMES.index("robustness"), list(CORRUPTIONS).index(corruption)])
    images = np.asarray(images, np.float32)
    return CORRUPTIONS[corruption].apply(images, strength, rng).astype(np.float32)


# ------------------------------------------------------------------ results

@dataclasses.dataclass(frozen=True)
class ExperimentResult:
    name: str
    setting: str  # quick | full | custom
    seed: int
    rows: tuple[dict, ...]  # one measurement each: {"model": "ann", ..., "accuracy": 0.97}
    info: dict  # parameters, settings, what each model was
    seconds: float  # wall time of the whole experiment
    created: str  # ISO time
    versions: dict

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, **dataclasses.asdict(self)}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "ExperimentResult":
        data = json.loads(text)
        if data.pop("format", None) != FORMAT:
            raise ValueError("unknown format")
        data["rows"] = tuple(data["rows"])
        result = cls(**data)
        if result.name not in NAMES or not all(isinstance(r, dict) and "accuracy" in r for r in result.rows):
            raise ValueError("not an experiment's result")
        return result


def results_dir() -> Path:
    """Where results are read and written: MNIST_EXPERIMENTS_DIR, else trained_models/experiments."""
    return Path(os.environ.get("MNIST_EXPERIMENTS_DIR") or SHIPPED_DIR)


def result_path(name: str, quick: bool, directory: Path | None = None) -> Path:
    setting_for(name, quick)  # an unknown name fails here, not as a missing file
    return (directory or results_dir()) / f"{name}{'-quick' if quick else ''}.json"


def save_result(result: ExperimentResult, path: Path) -> Path:
    """Atomically: a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.partial")
    partial.write_text(result.to_json())
    os.replace(partial, path)
    return path


def load_result(path: Path) -> ExperimentResult | None:
    """None when there is no file; ExperimentFileError naming the fix when it is damaged."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return ExperimentResult.from_json(path.read_text())
    except (ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError) as exc:
        name = path.stem.removesuffix("-quick")
        flag = " --quick" if path.stem.endswith("-quick") else ""
        raise ExperimentFileError(
            f"The result file {path} is damaged ({type(exc).__name__}: {exc}). Delete it, or record it again "
            f"with `python -m mnist_core experiment {name}{flag}`.") from exc


# ------------------------------------------------------------------ running one (needs Keras)

@dataclasses.dataclass(frozen=True)
class ExperimentJob:
    """What the server sends a worker (`training.ExperimentRun`) to run one experiment."""
    name: str
    quick: bool
    seed: int
    result_path: str  # the worker writes the result here before it reports "done"
    setting: Setting | None = None
    data: tuple | None = None  # ((x_train, y_train), (x_test, y_test)); None: MNIST from the cache


@dataclasses.dataclass(frozen=True)
class ExperimentProgress:
    fraction: float  # of the whole experiment's work
    text: str  # what it is doing now
    seconds_left: float | None  # at the speed so far; None before there is a speed


# ------------------------------------------------------------------ reading a result

def few_examples_table(result: ExperimentResult) -> dict[str, list[tuple[int, float, float, float]]]:
    """kind → [(train size, mean, lowest, highest accuracy over the seeds)], by size."""
    table: dict[str, list] = {}
    for kind in MODEL_KINDS:
        sizes = sorted({r["train_size"] for r in result.rows if r["model"] == kind})
        for size in sizes:
            values = [r["accuracy"] for r in result.rows if r["model"] == kind and r["train_size"] == size]
            table.setdefault(kind, []).append((size, float(np.mean(values)), min(values), max(values)))
    return table


SAME_WITHIN = 0.01  # 1,000 test digits: a point apart is within the sample's noise


def shipped_shortfalls(rows: list[dict]) -> dict[str, list[str]]:
    """Robustness rows → for each model kind, the corruptions (labels, in CORRUPTIONS' order) under
    which the shipped model reads worse than its plain matched one by more than SAME_WITHIN at some
    strength: where its training taught it less than the architecture alone."""
    acc = {(r["model"], r["which"], r["corruption"], r["strength"]): r["accuracy"] for r in rows}
    shortfalls: dict[str, list[str]] = {}
    for kind in MODEL_KINDS:
        for name, corruption in CORRUPTIONS.items():
            if any(acc[kind, "shipped", name, s] < acc[kind, "matched", name, s] - SAME_WITHIN
                   for s in corruption.strengths
                   if (kind, "shipped", name, s) in acc and (kind, "matched", name, s) in acc):
                shortfalls.setdefault(kind, []).append(corruption.label.lower())
    return shortfalls


def shipped_caption(rows: list[dict]) -> str:
    """What the Robustness chart's dotted lines (the shipped models) show, from the rows and the
    models' cards: the augmentation they were trained with, and where one falls short of its pair."""
    from mnist_core.data import augment
    from mnist_core.models import registry

    shipped = sorted({r["model"] for r in rows if r["which"] == "shipped"})
    if not shipped:
        return ""
    kinds = {k for kind in shipped for k in registry.read_card(kind).get("hyperparameters", {}).get("augment", [])}
    text = (f"The dotted lines are the shipped models, trained with augmentation ({augment.describe(kinds)}): "
            "data taught them what the architecture does not assume. ")
    shortfalls = shipped_shortfalls(rows)
    if not shortfalls:
        return text + "Under every change here each reads at least as well as its plain pair (within a point)."
    return text + "Where a dotted line falls below its solid one, it met a change its training never showed it: " + \
        "; ".join(f"the shipped {kind.upper()} under {' and '.join(names)}" for kind, names in shortfalls.items()) + "."


def summary(result: ExperimentResult) -> list[str]:
    """The result's figures as short lines (the CLI prints them; docs/experiments.md quotes them)."""
    rows, pct = result.rows, (lambda a: f"{100 * a:.1f}%")
    if result.name == "shuffled_pixels":
        acc = {(r["model"], r["pixels"]): r["accuracy"] for r in rows}
        return [f"{kind.upper()}: original {pct(acc[kind, 'original'])}, shuffled {pct(acc[kind, 'shuffled'])}"
                for kind in MODEL_KINDS if (kind, "original") in acc]
    if result.name == "fair_fight":
        lines = []
        for budget in sorted({r["budget"] for r in rows}):
            last = {r["model"]: r for r in rows if r["budget"] == budget}  # rows are in epoch order
            lines.append(f"~{budget:,} weights: " + ", ".join(
                f"{kind.upper()} {pct(last[kind]['accuracy'])} after {last[kind]['epoch']} epochs "
                f"({last[kind]['seconds']:.0f} s)" for kind in MODEL_KINDS if kind in last))
        return lines
    if result.name == "few_examples":
        table = few_examples_table(result)
        return [f"{size:>6,} images: " + ", ".join(
            f"{kind.upper()} {pct(mean)} ({pct(low)}–{pct(high)})"
            for kind in MODEL_KINDS for s2, mean, low, high in table.get(kind, []) if s2 == size)
            for size, *_ in table.get("ann", [])]
    lines = []
    for name, corruption in CORRUPTIONS.items():
        cells = []
        for strength in corruption.strengths:
            acc = {(r["model"], r["which"]): r["accuracy"] for r in rows
                   if r["corruption"] == name and r["strength"] == strength}
            cells.append(f"{strength:g}: " + "/".join(pct(acc[kind, "matched"]) for kind in MODEL_KINDS if (kind, "matched") in acc))
        lines.append(f"{corruption.label} (ANN/CNN): " + ", ".join(cells))
    return lines
