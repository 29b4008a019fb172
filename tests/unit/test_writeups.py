"""The write-ups' figures, checked against what they published and against MNIST itself."""

import numpy as np

from mnist_core import charts, models
from mnist_core.models import writeups


def test_seed004_cnn_validation_accuracy_per_epoch_is_the_published_one():
    curve = writeups.WRITEUPS["seed004-cnn"].curve["test_accuracy"]
    assert list(curve) == list(range(2, 11))  # initial_epoch=1: epochs 2–10
    assert [round(v * 100, 2) for v in curve.values()] == [58.02, 79.90, 86.77, 89.04, 90.78, 91.85, 92.88, 93.50,
                                                           94.16]


def test_seed002_ann_reported_94_train_and_93_5_test_after_10_epochs():
    w = writeups.WRITEUPS["seed002-ann"]
    assert w.curve == {"accuracy": {10: 0.94}, "test_accuracy": {10: 0.935}}
    assert w.test_accuracy == 0.935 and w.train_accuracy == 0.94


def test_the_published_confusion_matrix_is_consistent_with_mnist(mnist):
    matrix = writeups.SEED004_CNN_CONFUSION
    _, (_, y_test) = mnist
    assert matrix.shape == (10, 10)
    assert matrix.sum(axis=1).tolist() == np.bincount(y_test).tolist()  # rows: each digit's test images
    assert np.trace(matrix) == 9416  # 94.16%, its last epoch's validation accuracy
    assert matrix[0].tolist() == [968, 0, 1, 0, 0, 1, 6, 1, 3, 0]
    assert matrix[9].tolist() == [12, 7, 5, 10, 14, 3, 0, 12, 14, 932]


def test_seed004_cnn_is_drawn_by_epochs_trained_and_seed002_ann_as_numbered():
    assert writeups.trained_epochs(writeups.WRITEUPS["seed004-cnn"], "test_accuracy")[1] == 0.5802
    assert writeups.trained_epochs(writeups.WRITEUPS["seed002-ann"], "test_accuracy") == {10: 0.935}
    assert writeups.trained_epochs(writeups.WRITEUPS["seed002-ann"], "val_accuracy") == {}


def test_write_ups_name_real_presets():
    assert set(writeups.WRITEUPS) <= set(models.PRESETS)
    assert writeups.for_preset("seed000-ann") is None and writeups.for_preset(None) is None


def test_the_curves_draw_a_write_up_as_stars_by_epoch_only():
    records = [{"epoch": e, "loss": 1 / e, "accuracy": 0.5 + e / 40, "val_loss": None, "val_accuracy": None,
                "seconds": 30.0, "test_accuracy": 0.55 + e / 40} for e in range(1, 11)]
    runs = [{"label": "seed004-cnn (ab12)", "color": "#4E79A7", "records": records}]
    w = writeups.WRITEUPS["seed004-cnn"]
    reported = [{"label": "seed004-cnn write-up", "numbers": {k: list(v) for k, v in w.curve.items()},
                 "points": {k: writeups.trained_epochs(w, k) for k in w.curve}}]
    fig = charts.training_curves(runs, writeups=reported)
    stars = [t for t in fig.data if t.marker.symbol == "star"]
    # initial_epoch=1: its epochs 2–10 are the nine it trained, drawn at 1–9 and named by its numbers in hovers
    assert len(stars) == 1 and list(stars[0].x) == list(range(1, 10)) and stars[0].y[-1] == 0.9416
    assert list(stars[0].customdata) == list(range(2, 11))
    assert stars[0].line.color == charts.WRITEUP_INK != "#4E79A7"
    tests = [t for t in fig.data if t.name == "seed004-cnn (ab12) · test"]
    assert tests and tests[0].line.dash == "dot"
    by_seconds = charts.training_curves(runs, x="seconds", writeups=reported)
    assert not [t for t in by_seconds.data if t.marker.symbol == "star"]  # no seconds in the write-ups
    assert list(by_seconds.data[0].x) == [30.0 * e for e in range(1, 11)]  # cumulative training seconds
