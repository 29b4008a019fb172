import math
import threading
import time

import numpy as np
import pytest

from mnist_core import training
from mnist_core.training import HyperparameterError, TrainingConfig, TrainingRun


def small(mnist, n=2000):
    (x, y), (xt, yt) = mnist
    return (x[:n * 2], y[:n * 2]), (xt[:1000], yt[:1000])


def test_one_epoch_on_a_subset_learns_and_reports_records(mnist):
    epochs, batches = [], []
    run = TrainingRun(TrainingConfig("seed002-ann", epochs=1, train_size=2000, batch_size=100,
                                     validation_split=0.1), data=small(mnist),
                      on_epoch=epochs.append, on_batch=batches.append)
    snap = run.run()
    assert snap.state == "finished", snap.message
    assert len(epochs) == 1 and epochs[0].epoch == 1 and not epochs[0].partial
    record = epochs[0]
    assert record.accuracy > 0.5 and record.val_accuracy > 0.5  # chance is 0.1
    assert record.loss > 0 and record.val_loss > 0 and record.seconds > 0 and record.samples_per_second > 0
    assert batches[-1].batch == batches[-1].batches == 18  # 1800 training images / 100
    assert snap.test_accuracy > 0.5


def test_cnn_preset_with_one_hot_labels_trains(mnist):
    run = TrainingRun(TrainingConfig("seed004-cnn", epochs=1, train_size=500, learning_rate=0.05),
                      data=small(mnist), evaluate_test=False)
    snap = run.run()
    assert snap.state == "finished", snap.message
    assert 0 <= snap.records[0].accuracy <= 1 and math.isfinite(snap.records[0].loss)


def test_stop_ends_the_run_within_one_batch_and_keeps_the_model(mnist):
    seen = []
    stop_after = 5
    run = TrainingRun(TrainingConfig("seed000-ann", epochs=3, train_size=4000, batch_size=32),
                      data=small(mnist), on_batch=lambda p: (seen.append(p), p.batch == stop_after and run.stop()))
    snap = run.run()
    assert snap.state == "stopped"
    assert len(snap.records) == 1 and snap.records[0].partial
    assert seen[-1].batch == stop_after  # not one batch more
    assert run.model is not None and snap.test_accuracy is not None
    assert "Stopped" in snap.message


def test_background_thread_can_be_read_while_it_runs_and_stopped(mnist):
    run = TrainingRun(TrainingConfig("seed000-ann", epochs=50, train_size=4000, batch_size=32), data=small(mnist))
    run.start()
    deadline = time.time() + 60
    while run.snapshot().progress is None and time.time() < deadline:
        time.sleep(0.05)
    assert run.is_active and run.snapshot().state == "running"
    run.stop()
    assert run.wait(60)
    snap = run.snapshot()
    assert snap.state == "stopped" and len(snap.records) < 50
    assert training.find_run(run.id) is run


def test_server_cap_refuses_a_run_beyond_it(mnist, monkeypatch):
    monkeypatch.setattr(training, "_run_slots", threading.BoundedSemaphore(1))
    first = TrainingRun(TrainingConfig("seed000-ann", epochs=50, train_size=4000), data=small(mnist)).start()
    try:
        with pytest.raises(training.TrainingBusyError, match="cap"):
            TrainingRun(TrainingConfig("seed002-ann", epochs=1, train_size=200, batch_size=50), data=small(mnist)).start()
    finally:
        first.stop()
        first.wait(60)


@pytest.mark.parametrize("overrides, message", [
    ({"batch_size": 0}, "Batch size must be between 1 and the 1,000 images"),
    ({"batch_size": 5000}, "Batch size must be between 1"),
    ({"learning_rate": 0.0}, "Learning rate must be above 0"),
    ({"learning_rate": -1e-3}, "Learning rate must be above 0"),
    ({"learning_rate": 50.0}, "at most 1"),
    ({"learning_rate": float("nan")}, "Learning rate"),
    ({"epochs": 0}, "Epochs must be a whole number from 1"),
    ({"epochs": -3}, "Epochs"),
    ({"epochs": 1000}, "Epochs"),
    ({"train_size": 10}, "Training-set size must be between 100"),
    ({"validation_split": 0.9}, "Validation split must be between 0 and 0.5"),
    ({"optimizer": "lbfgs"}, "Optimiser must be one of adam, sgd, rmsprop"),
])
def test_absurd_hyperparameters_are_refused_with_the_allowed_range(mnist, overrides, message):
    config = TrainingConfig("seed002-ann", **{"train_size": 1000, **overrides})
    with pytest.raises(HyperparameterError, match=message):
        TrainingRun(config, data=small(mnist))


def test_nan_loss_stops_the_run_with_a_clear_message(mnist):
    (x, y), test = small(mnist)
    x = x.astype(np.float32)
    x[:] = np.nan  # poisoned inputs make the loss NaN on the first batch
    run = TrainingRun(TrainingConfig("seed002-ann", epochs=3, train_size=1000), data=((x, y), test))
    snap = run.run()
    assert snap.state == "failed"
    assert "loss became nan" in snap.message and "lower it" in snap.message
    assert len(snap.records) == 0


def test_same_seed_gives_the_same_run(mnist):
    def once():
        run = TrainingRun(TrainingConfig("seed001-ann", epochs=1, train_size=1000, seed=7), data=small(mnist),
                          evaluate_test=False)
        return run.run().records[0].loss, run.model.get_weights()[0]

    (loss_a, w_a), (loss_b, w_b) = once(), once()
    assert loss_a == pytest.approx(loss_b, rel=1e-6)
    np.testing.assert_allclose(w_a, w_b, atol=1e-6)


def test_model_card_records_the_run(mnist):
    run = TrainingRun(TrainingConfig("seed002-ann", epochs=1, train_size=500, batch_size=50), data=small(mnist))
    run.run()
    card = training.model_card(run)
    assert card["preset"] == "seed002-ann" and card["kind"] == "ann" and card["epochs_run"] == 1
    assert card["hyperparameters"]["batch_size"] == 50 and card["hyperparameters"]["train_size"] == 500
    assert 0 < card["test_accuracy"] <= 1 and len(card["history"]) == 1 and card["data_sha256"]
