import math
import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

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
    assert run.model_file.is_file() and zipfile.is_zipfile(run.model_file)  # the worker wrote the model
    assert run.parameters == 784 * 300 + 300 + 300 * 10 + 10


def test_the_server_side_of_a_run_never_imports_tensorflow():
    code = ("import sys; from mnist_core import training; "
            "run = training.TrainingRun(training.TrainingConfig('seed002-ann', epochs=1, train_size=1000)); "
            "snap = run.run(); assert snap.state == 'finished', snap.message; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            cwd=str(Path(__file__).resolve().parents[2]))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_cnn_preset_with_one_hot_labels_trains(mnist):
    run = TrainingRun(TrainingConfig("seed004-cnn", epochs=1, train_size=500, learning_rate=0.05),
                      data=small(mnist), evaluate_test=False)
    snap = run.run()
    assert snap.state == "finished", snap.message
    assert 0 <= snap.records[0].accuracy <= 1 and math.isfinite(snap.records[0].loss)


def test_stop_ends_the_run_within_one_batch_and_keeps_the_model(mnist):
    # Batches of 1,000 images through the slowest CNN take ~0.4 s here, longer than the worker's
    # 0.2 s between progress reports, so every batch is reported and the one running when Stop
    # arrives is known.
    seen, stopped_after = [], []

    def on_batch(progress):
        seen.append(progress)
        if progress.batch >= 2 and not stopped_after:
            stopped_after.append(progress.batch)
            run.stop()

    run = TrainingRun(TrainingConfig("seed004-cnn", epochs=3, train_size=6000, batch_size=1000),
                      data=small(mnist, 3000), on_batch=on_batch)
    snap = run.run()
    assert snap.state == "stopped", snap.message
    assert len(snap.records) == 1 and snap.records[0].partial
    assert seen[-1].batch <= stopped_after[0] + 1  # the batch that was running, not one more
    assert run.model_file.is_file() and snap.test_accuracy is not None
    assert "Stopped" in snap.message


def wait_for_progress(run, seconds=90):
    deadline = time.time() + seconds
    while run.snapshot().progress is None and time.time() < deadline:
        time.sleep(0.05)
    assert run.snapshot().progress is not None, run.snapshot()


def test_background_run_can_be_read_while_it_runs_and_stopped(mnist):
    run = TrainingRun(TrainingConfig("seed000-ann", epochs=50, train_size=4000, batch_size=32), data=small(mnist))
    run.start()
    assert training.find_run(run.id) is run  # a reloaded page finds it by id
    wait_for_progress(run)
    assert run.is_active and run.snapshot().state == "running"
    run.stop()
    assert run.wait(60)
    snap = run.snapshot()
    assert snap.state == "stopped" and len(snap.records) < 50
    assert training.find_run(run.id) is run


def test_a_killed_worker_ends_as_a_failed_run_and_frees_its_slot(mnist, monkeypatch):
    monkeypatch.setattr(training.worker_process, "_run_slots", threading.BoundedSemaphore(1))
    run = TrainingRun(TrainingConfig("seed000-ann", epochs=50, train_size=4000, batch_size=32), data=small(mnist))
    run.start()
    wait_for_progress(run)
    os.kill(run.pid, signal.SIGKILL)  # as the kernel's out-of-memory killer would
    assert run.wait(30)
    snap = run.snapshot()
    assert snap.state == "failed"
    assert "killed (SIGKILL)" in snap.message and "out of memory" in snap.message and "try again" in snap.message
    assert run.model_file is None
    # The slot is free again: the next run starts and finishes.
    again = TrainingRun(TrainingConfig("seed002-ann", epochs=1, train_size=200, batch_size=50), data=small(mnist))
    assert again.run().state == "finished"


def test_an_error_inside_the_worker_is_reported(mnist):
    (x, y), test = small(mnist)
    bad = ((x[:, :27, :27], y), test)  # not 28×28: Keras refuses the first batch
    snap = TrainingRun(TrainingConfig("seed002-ann", epochs=1, train_size=1000), data=bad).run()
    assert snap.state == "failed" and snap.message.startswith("Training failed:")


def test_the_worker_exits_when_the_server_is_gone(mnist):
    run = TrainingRun(TrainingConfig("seed000-ann", epochs=50, train_size=4000, batch_size=32), data=small(mnist))
    run.start()
    wait_for_progress(run)
    run._control.close()  # what the worker sees when the server process dies
    assert run.wait(30) and run.snapshot().state == "failed"
    assert run._process.poll() is not None  # no orphan left training


def test_server_cap_refuses_a_run_beyond_it(mnist, monkeypatch):
    monkeypatch.setattr(training.worker_process, "_run_slots", threading.BoundedSemaphore(1))
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
        run = TrainingRun(TrainingConfig("seed001-ann", epochs=1, train_size=1000, seed=7), data=small(mnist))
        snap = run.run()
        return snap.records[0].loss, snap.test_accuracy

    (loss_a, test_a), (loss_b, test_b) = once(), once()
    assert loss_a == pytest.approx(loss_b, rel=1e-6) and test_a == test_b


def test_model_card_records_the_run(mnist):
    run = TrainingRun(TrainingConfig("seed002-ann", epochs=1, train_size=500, batch_size=50), data=small(mnist))
    run.run()
    card = training.model_card(run)
    assert card["preset"] == "seed002-ann" and card["kind"] == "ann" and card["epochs_run"] == 1
    assert card["hyperparameters"]["batch_size"] == 50 and card["hyperparameters"]["train_size"] == 500
    assert 0 < card["test_accuracy"] <= 1 and len(card["history"]) == 1 and card["data_sha256"]
    assert card["parameters"] == 238_510 and {"tensorflow", "keras"} <= set(card["versions"])


def test_a_trained_run_is_saved_under_its_name(mnist, models_dir):
    from mnist_core.models import registry

    run = TrainingRun(TrainingConfig("seed002-ann", epochs=1, train_size=500, batch_size=50), data=small(mnist))
    run.run()
    path = registry.save_model_file(run.model_file, "My Run!", training.model_card(run))
    assert path == models_dir / "my-run.keras" and path.read_bytes() == run.model_file.read_bytes()
    card = registry.read_card("my-run")
    assert card["name"] == "my-run" and card["preset"] == "seed002-ann" and "tensorflow" in card["versions"]
    with pytest.raises(registry.ModelNameError, match="already exists"):
        registry.save_model_file(run.model_file, "my-run", training.model_card(run))
