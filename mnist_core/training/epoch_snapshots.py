"""What a network knows at each epoch, taken by the training worker when an epoch ends: its answers
on a strip of 20 fixed test digits (and the Draw page's last drawing), its confusion matrix on the
test images and its first-layer weights. The Train page scrubs through them; replays ship them.

Memory bound: a snapshot keeps the strip's answers, a 10×10 matrix and at most ANN_UNITS_KEPT
first-layer units (784 weights each) or MAX_FILTERS_KEPT small filters and 1,000 map points, as
float16: at most SNAPSHOT_BYTES (≈ 30 KB), so a run of MAX_EPOCHS epochs keeps at most ≈ 6 MB. Whole models per
epoch are not kept: seed000-ann's first layer alone is 1.1 MB, the shipped CNN 2 MB in all.
"""

from __future__ import annotations

import dataclasses

import numpy as np

# Two per digit from MNIST's test set, the same for every run: first a typical one (nearest its
# digit's mean image, and both shipped models ≥ 99.9% sure), then a hard one (the shipped CNN reads it,
# the shipped ANN gives the right digit under 40%). Early epochs get the first ten and miss the others.
STRIP_EASY = (4542, 6407, 208, 6365, 7662, 9331, 2458, 6586, 3588, 4901)
STRIP_HARD = (6651, 6783, 9664, 5955, 3490, 1299, 2422, 1226, 6755, 2387)
STRIP_INDICES = STRIP_EASY + STRIP_HARD
MNIST_TEST_IMAGES = 10_000
ANN_UNITS_KEPT = 16  # the same 16 units every epoch: watch them turn from noise into templates
MAX_FILTERS_KEPT = 64  # every first-layer filter of every preset (3×3 or 5×5)
MAP_POINTS = 1000  # learned_space.epoch_sample
SNAPSHOT_BYTES = ANN_UNITS_KEPT * 784 * 2 + 100 * 4 + 21 * 3 + 64 + MAP_POINTS * 2 * 2


def strip_digits(x_test: np.ndarray, y_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The strip's images and labels: STRIP_INDICES of MNIST's test set, or, for a smaller test set
    (a subset given to a run), 20 images spread evenly through it."""
    if len(x_test) == MNIST_TEST_IMAGES:
        where = np.array(STRIP_INDICES)
    else:
        where = np.linspace(0, len(x_test) - 1, min(len(STRIP_INDICES), len(x_test))).astype(int)
    return np.asarray(x_test)[where], np.asarray(y_test)[where].astype(int)


def scored_test_images(test_images: int, fit_images: int) -> np.ndarray:
    """Which test images a run's per-epoch confusion matrix counts: a fixed random sample a tenth the
    size of the images it fits (at least 1,000, at most all). Scoring an image forward costs about a
    third of training on it (measured here for seed002-ann's batches of 1,000, the cheapest epochs),
    so scoring stays near 3% of an epoch's time."""
    n = min(test_images, max(1000, fit_images // 10 // 500 * 500))
    if n >= test_images:
        return np.arange(test_images)
    return np.sort(np.random.default_rng(0).permutation(test_images)[:n])


def first_layer_images(kernel: np.ndarray) -> np.ndarray:
    """The first weighted layer's kernel as small images, float16: a Dense kernel (784, units) gives
    its first ANN_UNITS_KEPT units as 28×28 templates, a Conv2D kernel (h, w, channels, filters) its
    filters on the first input channel."""
    kernel = np.asarray(kernel, np.float32)
    if kernel.ndim == 2:
        units = kernel[:, :ANN_UNITS_KEPT].T
        return units.reshape(len(units), 28, 28).astype(np.float16)
    if kernel.ndim == 4:
        return np.moveaxis(kernel[:, :, 0, :MAX_FILTERS_KEPT], -1, 0).astype(np.float16)
    raise ValueError(f"A first layer's kernel is a Dense (2-D) or Conv2D (4-D) kernel; got shape {kernel.shape}.")


@dataclasses.dataclass(frozen=True, eq=False)
class EpochSnapshot:
    epoch: int  # 1-based, as EpochRecord.epoch
    answers: np.ndarray  # (n,) int8: the digit read in each strip image (20, then the drawing if there was one)
    confidence: np.ndarray  # (n,) float16: its probability
    confusion: np.ndarray  # (10, 10) int32 on scored_test_images: rows actual, columns predicted
    first_layer: np.ndarray  # float16 (k, h, w), first_layer_images
    seconds: float  # what taking it cost the run
    map_points: np.ndarray | None = None  # (1000, 2) float16: the learned space (learned_space.epoch_sample), when taken

    @property
    def test_images(self) -> int:
        return int(self.confusion.sum())

    @property
    def test_accuracy(self) -> float:
        return float(np.trace(self.confusion) / max(1, self.test_images))

    @property
    def nbytes(self) -> int:
        arrays = (self.answers, self.confidence, self.confusion, self.first_layer, self.map_points)
        return sum(a.nbytes for a in arrays if a is not None)


def take_snapshot(epoch: int, strip_probabilities: np.ndarray, test_predictions: np.ndarray, y_test: np.ndarray,
                  first_kernel: np.ndarray, seconds: float, map_points: np.ndarray | None = None) -> EpochSnapshot:
    from mnist_core.analysis.evaluation import confusion_matrix

    probabilities = np.asarray(strip_probabilities, np.float32)
    answers = probabilities.argmax(axis=1)
    return EpochSnapshot(epoch, answers.astype(np.int8), probabilities.max(axis=1).astype(np.float16),
                         confusion_matrix(y_test, test_predictions).astype(np.int32),
                         first_layer_images(first_kernel), float(seconds), map_points)


def at_epoch(snapshots, epoch: int) -> EpochSnapshot | None:
    """The snapshot of `epoch`, or the last one before it (a stopped epoch takes none)."""
    before = [s for s in snapshots if s.epoch <= epoch]
    return before[-1] if before else None


def at_map(snapshots, epoch: int) -> EpochSnapshot | None:
    """The last snapshot at or before `epoch` that has a map (maps are taken within a time budget)."""
    return at_epoch([s for s in snapshots if s.map_points is not None], epoch)


def share_of_training(snapshots, records) -> float:
    """What the snapshots cost as a share of the training seconds they accompany."""
    training_seconds = sum(r.seconds for r in records)
    return sum(s.seconds for s in snapshots) / training_seconds if training_seconds else 0.0
