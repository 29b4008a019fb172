from pathlib import Path

import numpy as np
import pytest

from mnist_core.analysis import evaluation


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


# ------------------------------------------------------------------ test-set predictions on disk


@pytest.fixture
def small_test_set(mnist):
    from mnist_core.data import MnistDataset
    (x_train, y_train), (x_test, y_test) = mnist
    return MnistDataset(x_train[:10], y_train[:10], x_test[:300], y_test[:300], "test", Path("."),
                        {"t10k-images-idx3-ubyte": "ab" * 32})


@pytest.fixture
def scorings(monkeypatch):
    """How many times a model really scored images."""
    from mnist_core.models import inference
    calls = []
    predict = inference.Classifier.predict_proba
    monkeypatch.setattr(inference.Classifier, "predict_proba", lambda self, x: calls.append(len(x)) or predict(self, x))
    return calls


def saved_model(name="scored", seed=0):
    import keras

    from mnist_core import models
    from mnist_core.models import networks, registry
    keras.utils.set_random_seed(seed)
    networks.save_model(models.build_model("seed002-ann"), name, {}, overwrite=True)


def test_predictions_are_cached_on_disk_by_the_model_file(models_dir, tmp_path, small_test_set, scorings):
    from mnist_core.models import inference
    saved_model()
    cache = tmp_path / "predictions"
    first = evaluation.test_set_probabilities("scored", small_test_set, cache_dir=cache)
    assert scorings == [300] and first.shape == (300, 10)
    np.testing.assert_allclose(first, inference.load_classifier("scored").predict_proba(small_test_set.x_test / 255))
    files = list(cache.iterdir())
    assert len(files) == 1 and evaluation.PREDICTIONS_FORMAT in files[0].name  # and no temp file left
    scorings.clear()
    second = evaluation.test_set_probabilities("scored", small_test_set, cache_dir=cache)  # a fresh server's read
    assert scorings == [] and np.array_equal(second, first)
    saved_model(seed=1)  # the same name, other weights: another file, scored again
    third = evaluation.test_set_probabilities("scored", small_test_set, cache_dir=cache)
    assert scorings == [300] and not np.allclose(third, first) and len(list(cache.iterdir())) == 2


@pytest.mark.parametrize("damage", [
    lambda path: path.write_bytes(b"not an npy file"),
    lambda path: path.write_bytes(path.read_bytes()[:200]),  # truncated
    lambda path: np.save(path, np.full((300, 10), np.nan, np.float32)),
    lambda path: np.save(path, np.full((299, 10), 0.1, np.float32)),  # wrong shape
    lambda path: np.save(path, np.full((300, 10), 0.1, np.float64)),  # wrong dtype
    lambda path: np.save(path, np.full((300, 10), 0.5, np.float32)),  # not probabilities
    lambda path: np.save(path, np.array([{"x": 1}], dtype=object), allow_pickle=True),  # a pickle
])
def test_a_damaged_cache_file_is_scored_again(models_dir, tmp_path, small_test_set, scorings, damage):
    saved_model()
    cache = tmp_path / "predictions"
    first = evaluation.test_set_probabilities("scored", small_test_set, cache_dir=cache)
    [path] = cache.iterdir()
    damage(path)
    scorings.clear()
    again = evaluation.test_set_probabilities("scored", small_test_set, cache_dir=cache)
    assert scorings == [300] and np.array_equal(again, first)
    scorings.clear()
    assert np.array_equal(evaluation.test_set_probabilities("scored", small_test_set, cache_dir=cache), first)
    assert scorings == []  # the rewritten file is whole again


def test_an_unwritable_cache_only_costs_a_rescoring(models_dir, tmp_path, small_test_set, scorings):
    saved_model()
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    result = evaluation.test_set_probabilities("scored", small_test_set, cache_dir=blocked / "predictions")
    assert result.shape == (300, 10) and scorings == [300]


def test_a_missing_model_is_the_clear_error_not_a_cache_miss(models_dir, tmp_path, small_test_set):
    from mnist_core.models import registry
    with pytest.raises(registry.ModelLoadError, match="Train page"):
        evaluation.test_set_probabilities("nothing-here", small_test_set, cache_dir=tmp_path)
