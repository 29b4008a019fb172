"""Test-set predictions, confusion matrix, per-class metrics and the interesting errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

NUM_CLASSES = 10


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
    from .inference import load_classifier

    return evaluate(load_classifier(name), x_test, y_test)
