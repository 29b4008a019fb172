"""Test-set predictions, confusion matrix, per-class metrics and the interesting errors.

Scoring the 10,000 test images with the NumPy forward pass takes ~0.1 s (ANN) and ~1.8 s (CNN)
here, so each model file's test-set probabilities are kept on disk (400 KB), keyed by the file's
SHA-256 and the test images' checksum: a fresh server shows the Confusion matrix page without
scoring again (a cache hit: 0.5–0.7 ms). A cache file that is not whole, finite probabilities of
the right shape is scored again and rewritten.
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mnist_core.data.mnist import MnistDataset, default_data_dir, write_atomic
from mnist_core.models import registry

if TYPE_CHECKING:  # pandas is imported where a table is built: Home renders without it (faster cold start)
    import pandas as pd

NUM_CLASSES = 10
# In every cache file's name: change it when the forward pass or the file layout changes, and
# every model is scored again.
PREDICTIONS_FORMAT = "numpy-v1"
TEST_IMAGES_FILE = "t10k-images-idx3-ubyte"


@dataclasses.dataclass(frozen=True)
class Evaluation:
    probabilities: np.ndarray  # (n, 10)
    labels: np.ndarray  # (n,)

    @property
    def predictions(self) -> np.ndarray:
        return np.argmax(self.probabilities, axis=1)

    @property
    def confidence(self) -> np.ndarray:
        """Probability given to the predicted class."""
        return self.probabilities.max(axis=1)

    @property
    def accuracy(self) -> float:
        return float(np.mean(self.predictions == self.labels))

    @property
    def errors(self) -> int:
        return int(np.sum(self.predictions != self.labels))

    @property
    def matrix(self) -> np.ndarray:
        return confusion_matrix(self.labels, self.predictions)


def confusion_matrix(labels, predictions, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """counts[actual, predicted]."""
    labels, predictions = np.asarray(labels, int), np.asarray(predictions, int)
    return np.bincount(labels * num_classes + predictions, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def row_normalised(matrix: np.ndarray) -> np.ndarray:
    """Each row divided by its total: the share of each actual digit given each prediction."""
    totals = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, totals, out=np.zeros(matrix.shape, float), where=totals > 0)


def per_class_metrics(matrix: np.ndarray) -> pd.DataFrame:
    """Precision, recall, F1 and support for each digit (0 where undefined, as scikit-learn does)."""
    import pandas as pd

    matrix = np.asarray(matrix, float)
    true_pos = np.diag(matrix)
    predicted, actual = matrix.sum(axis=0), matrix.sum(axis=1)
    precision = np.divide(true_pos, predicted, out=np.zeros_like(true_pos), where=predicted > 0)
    recall = np.divide(true_pos, actual, out=np.zeros_like(true_pos), where=actual > 0)
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros_like(true_pos), where=denominator > 0)
    return pd.DataFrame({"digit": np.arange(len(matrix)), "precision": precision, "recall": recall,
                         "f1": f1, "support": actual.astype(int)})


def cell_indices(result: Evaluation, actual: int, predicted: int) -> np.ndarray:
    """Test images in one confusion-matrix cell. The diagonal lists the least confident correct
    answers first; an error cell the most confident mistakes first."""
    idx = np.flatnonzero((result.labels == actual) & (result.predictions == predicted))
    order = np.argsort(result.confidence[idx])
    return idx[order] if actual == predicted else idx[order[::-1]]


def most_confident_mistakes(result: Evaluation, k: int = 20) -> np.ndarray:
    wrong = np.flatnonzero(result.predictions != result.labels)
    return wrong[np.argsort(-result.confidence[wrong], kind="stable")][:k]


def right_here_wrong_there(right: Evaluation, wrong: Evaluation, k: int | None = None) -> np.ndarray:
    """Images the first model classifies correctly and the second does not, the second's most
    confident mistakes first."""
    idx = np.flatnonzero((right.predictions == right.labels) & (wrong.predictions != wrong.labels))
    idx = idx[np.argsort(-wrong.confidence[idx], kind="stable")]
    return idx if k is None else idx[:k]


def evaluate(classifier, x_test: np.ndarray, y_test: np.ndarray) -> Evaluation:
    """Run a classifier over the test images (uint8 or float in [0, 1])."""
    x = x_test.astype(np.float32) / 255.0 if x_test.dtype == np.uint8 else x_test.astype(np.float32)
    return Evaluation(classifier.predict_proba(x), np.asarray(y_test))


def evaluate_model(name: str, x_test: np.ndarray, y_test: np.ndarray) -> Evaluation:
    from mnist_core.models.inference import load_classifier  # not at the top: it sets the process' BLAS threads

    return evaluate(load_classifier(name), x_test, y_test)


def predictions_dir() -> Path:
    """Where test-set probabilities are cached: beside MNIST in the data cache."""
    return default_data_dir() / "predictions"


def test_set_probabilities(name: str, dataset: MnistDataset, directory: Path | None = None,
                           cache_dir: Path | None = None) -> np.ndarray:
    """(10000, 10) probabilities of saved model NAME on the test images, read from the disk cache
    when this exact model file was scored before, else computed and cached. ModelLoadError when
    the model is missing or unreadable."""
    from mnist_core.models.inference import load_classifier

    cache_dir = cache_dir or predictions_dir()
    try:
        digest = registry.file_hash(name, directory)
    except (FileNotFoundError, registry.ModelNameError):
        digest = None  # load_classifier below raises the clear error
    # The test images are named by their verified SHA-256, the model by its file's.
    path = cache_dir / f"{digest}-{dataset.sha256[TEST_IMAGES_FILE][:16]}-{PREDICTIONS_FORMAT}.npy"
    expected_rows = len(dataset.x_test)
    if digest is not None:
        cached = _read_probabilities(path, expected_rows)
        if cached is not None:
            return cached
    probabilities = evaluate(load_classifier(name, directory), dataset.x_test, dataset.y_test).probabilities
    # Only if the file is still the one hashed: a model saved over it meanwhile gets its own entry.
    if digest is not None and registry.file_hash(name, directory) == digest:
        write_cached_array(path, probabilities)
    return probabilities


def _read_probabilities(path: Path, rows: int) -> np.ndarray | None:
    """The cached array if it is whole and plausible, else None (then it is scored again)."""
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):  # missing, truncated or not an .npy file
        return None
    if (not isinstance(array, np.ndarray) or array.dtype != np.float32 or array.shape != (rows, NUM_CLASSES)
            or not np.all(np.isfinite(array)) or not np.allclose(array.sum(axis=1), 1.0, atol=1e-3)):
        return None
    return array


def write_cached_array(path: Path, array: np.ndarray) -> None:
    """A float32 array into a disk cache (test-set probabilities, the learned space's hidden
    features), atomically: a reader never sees half a file. A cache that cannot be written only
    costs the next server computing it again."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array, dtype=np.float32), allow_pickle=False)
    try:
        write_atomic(path, buffer.getvalue())
    except OSError:
        pass
