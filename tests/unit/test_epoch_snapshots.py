"""What a run knows at each epoch: the strip, the snapshots a worker takes, their bound, and races."""

import numpy as np
import pytest

from mnist_core import training
from mnist_core.training import TrainingConfig, TrainingRun, epoch_snapshots
from mnist_core.training.epoch_snapshots import EpochSnapshot


def small(mnist, n=2000, test=1000):
    (x, y), (xt, yt) = mnist
    return (x[:n], y[:n]), (xt[:test], yt[:test])


def test_the_strip_is_twenty_fixed_test_digits_two_of_each(mnist):
    _, (x_test, y_test) = mnist
    images, labels = epoch_snapshots.strip_digits(x_test, y_test)
    assert images.shape == (20, 28, 28)
    assert labels.tolist() == list(range(10)) * 2  # typical ones first, then hard ones
    again, _ = epoch_snapshots.strip_digits(x_test, y_test)
    assert np.array_equal(images, again)
    assert len(set(epoch_snapshots.STRIP_INDICES)) == 20


def test_a_smaller_test_set_gives_a_strip_spread_through_it(mnist):
    _, (x_test, y_test) = mnist
    images, labels = epoch_snapshots.strip_digits(x_test[:300], y_test[:300])
    assert len(images) == 20 and labels.tolist() == y_test[np.linspace(0, 299, 20).astype(int)].tolist()


def test_first_layer_images_of_dense_and_conv_kernels():
    dense = np.random.default_rng(0).normal(size=(784, 350))
    units = epoch_snapshots.first_layer_images(dense)
    assert units.shape == (epoch_snapshots.ANN_UNITS_KEPT, 28, 28) and units.dtype == np.float16
    assert np.allclose(units[3].ravel(), dense[:, 3], atol=1e-2)
    conv = np.random.default_rng(1).normal(size=(3, 3, 1, 32))
    filters = epoch_snapshots.first_layer_images(conv)
    assert filters.shape == (32, 3, 3) and np.allclose(filters[5], conv[:, :, 0, 5], atol=1e-2)
    with pytest.raises(ValueError, match="Dense"):
        epoch_snapshots.first_layer_images(np.zeros(10))


def test_scored_test_images_are_a_tenth_of_the_fitted_ones_fixed_and_bounded():
    assert len(epoch_snapshots.scored_test_images(10_000, 60_000)) == 6_000
    assert len(epoch_snapshots.scored_test_images(10_000, 9_000)) == 1_000  # the floor
    assert len(epoch_snapshots.scored_test_images(10_000, 500_000)) == 10_000  # all of them at most
    assert len(epoch_snapshots.scored_test_images(800, 9_000)) == 800
    first, again = (epoch_snapshots.scored_test_images(10_000, 60_000) for _ in range(2))
    assert np.array_equal(first, again) and len(np.unique(first)) == len(first)


def test_a_snapshot_is_within_its_stated_bound():
    shot = epoch_snapshots.take_snapshot(
        1, np.full((21, 10), 0.1), np.zeros(1000, int), np.arange(1000) % 10,
        np.zeros((784, 512)), 0.01)
    assert shot.nbytes <= epoch_snapshots.SNAPSHOT_BYTES
    assert training.MAX_EPOCHS * epoch_snapshots.SNAPSHOT_BYTES <= 6.5e6  # what the docstring promises a run
    assert shot.test_images == 1000 and shot.test_accuracy == pytest.approx(0.1)


def test_at_epoch_falls_back_to_the_last_snapshot_before():
    shots = [EpochSnapshot(e, np.zeros(20), np.zeros(20), np.eye(10, dtype=int), np.zeros((1, 3, 3)), 0.0)
             for e in (1, 2, 4)]
    assert epoch_snapshots.at_epoch(shots, 3).epoch == 2
    assert epoch_snapshots.at_epoch(shots, 4).epoch == 4
    assert epoch_snapshots.at_epoch(shots, 0) is None


def test_a_run_takes_a_snapshot_every_epoch_with_the_drawing_in_its_strip(mnist):
    drawing = mnist[1][0][0] / 255.0  # a 7, as the Draw page would hand it over
    run = TrainingRun(TrainingConfig("seed000-ann", epochs=3, train_size=2000, batch_size=64), data=small(mnist),
                      drawing=drawing)
    snap = run.run()
    assert snap.state == "finished", snap.message
    assert [s.epoch for s in snap.snapshots] == [1, 2, 3] == [r.epoch for r in snap.records]
    for shot in snap.snapshots:
        assert shot.answers.shape == (21,) and shot.confidence.shape == (21,)  # 20 test digits + the drawing
        assert shot.confusion.shape == (10, 10) and shot.test_images == 1000  # the run's whole (small) test set
        assert shot.first_layer.shape == (16, 28, 28)
        assert shot.seconds > 0 and shot.nbytes <= epoch_snapshots.SNAPSHOT_BYTES
    first, last = snap.snapshots[0], snap.snapshots[-1]
    assert not np.array_equal(first.first_layer, last.first_layer)  # the weights moved
    assert last.test_accuracy > 0.6
    assert 0 < epoch_snapshots.share_of_training(snap.snapshots, snap.records) < 1


def test_a_cnn_snapshot_keeps_its_first_layer_filters(mnist):
    run = TrainingRun(TrainingConfig("seed000-cnn", epochs=1, train_size=500), data=small(mnist, 1000, 300))
    snap = run.run()
    assert snap.state == "finished", snap.message
    (shot,) = snap.snapshots
    assert shot.first_layer.shape[0] == 32 and shot.first_layer.shape[1:] in ((3, 3), (5, 5))
    assert shot.answers.shape == (20,)


def test_a_race_runs_two_workers_at_once_and_both_finish(mnist):
    configs = [TrainingConfig("seed002-ann", epochs=2, train_size=2000, validation_split=0.1),
               TrainingConfig("seed000-cnn", epochs=2, train_size=2000, validation_split=0.1)]
    runs = training.start_race(configs, data=small(mnist))
    assert all(r.is_active for r in runs) and runs[0].pid != runs[1].pid  # two worker processes, together
    for run in runs:
        run.wait(180)
    snaps = [run.snapshot() for run in runs]
    assert [s.state for s in snaps] == ["finished", "finished"], [s.message for s in snaps]
    assert all(len(s.records) == 2 and len(s.snapshots) == 2 for s in snaps)


def test_a_race_refuses_networks_on_different_data(mnist):
    configs = [TrainingConfig("seed002-ann", epochs=1, train_size=1000),
               TrainingConfig("seed000-cnn", epochs=1, train_size=2000)]
    with pytest.raises(training.HyperparameterError, match="same images"):
        training.start_race(configs, data=small(mnist, 4000))
    assert not training.active_runs()  # nothing was started
