import numpy as np
import pytest

from mnist_core import evaluation


def hand_made():
    # Three classes only, so the expected figures can be worked out by hand:
    #   actual 0: predicted 0, 0, 1     actual 1: predicted 1, 1     actual 2: predicted 0, 2, 2, 2
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    predictions = np.array([0, 0, 1, 1, 1, 0, 2, 2, 2])
    return labels, predictions


def test_confusion_matrix_matches_the_hand_count():
    labels, predictions = hand_made()
    matrix = evaluation.confusion_matrix(labels, predictions, num_classes=3)
    assert matrix.tolist() == [[2, 1, 0], [0, 2, 0], [1, 0, 3]]


def test_per_class_metrics_match_the_hand_calculation():
    labels, predictions = hand_made()
    metrics = evaluation.per_class_metrics(evaluation.confusion_matrix(labels, predictions, 3))
    # class 0: TP 2, predicted 3, actual 3 → P 2/3, R 2/3; class 1: P 2/3, R 1; class 2: P 1, R 3/4
    np.testing.assert_allclose(metrics["precision"], [2 / 3, 2 / 3, 1.0])
    np.testing.assert_allclose(metrics["recall"], [2 / 3, 1.0, 0.75])
    np.testing.assert_allclose(metrics["f1"], [2 / 3, 0.8, 2 * 0.75 / 1.75])
    assert metrics["support"].tolist() == [3, 2, 4]


def test_class_never_predicted_has_zero_precision_not_nan():
    metrics = evaluation.per_class_metrics(evaluation.confusion_matrix([0, 1], [0, 0], 2))
    assert metrics["precision"].tolist() == [0.5, 0.0] and not metrics.isna().any().any()


def test_row_normalised_rows_sum_to_one():
    labels, predictions = hand_made()
    rates = evaluation.row_normalised(evaluation.confusion_matrix(labels, predictions, 3))
    np.testing.assert_allclose(rates.sum(axis=1), 1.0)


def result_from(labels, predicted, confidence):
    probabilities = np.full((len(labels), 10), 0.0)
    for i, (p, c) in enumerate(zip(predicted, confidence)):
        probabilities[i] = (1 - c) / 9
        probabilities[i, p] = c
    return evaluation.Evaluation(probabilities, np.array(labels))


def test_cell_lists_the_right_images_in_a_useful_order():
    r = result_from([4, 4, 4, 4, 9], [9, 4, 9, 4, 9], [0.6, 0.7, 0.95, 0.5, 0.99])
    assert evaluation.cell_indices(r, 4, 9).tolist() == [2, 0]  # mistakes: most confident first
    assert evaluation.cell_indices(r, 4, 4).tolist() == [3, 1]  # correct: least confident first
    assert evaluation.cell_indices(r, 9, 4).tolist() == []
    assert r.accuracy == pytest.approx(3 / 5) and r.errors == 2


def test_most_confident_mistakes_and_disagreements():
    ann = result_from([1, 2, 3, 4], [7, 2, 5, 9], [0.9, 0.8, 0.99, 0.6])
    cnn = result_from([1, 2, 3, 4], [1, 2, 3, 1], [0.9, 0.9, 0.9, 0.7])
    assert evaluation.most_confident_mistakes(ann, 2).tolist() == [2, 0]
    assert evaluation.right_here_wrong_there(cnn, ann).tolist() == [2, 0]
    assert evaluation.right_here_wrong_there(ann, cnn).tolist() == []
