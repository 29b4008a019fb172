"""Recorded runs: the file round-trips, plays in order, and the shipped recordings are whole."""


import numpy as np
import pytest

from mnist_core.models import registry
from mnist_core import models, training
from mnist_core.training import EpochRecord, TrainingConfig, TrainingRun, epoch_snapshots, replays


def fake_recording(epochs=4, seconds=(10.0, 5.0, 5.0, 20.0)) -> replays.Recording:
    rng = np.random.default_rng(0)
    records = tuple(EpochRecord(e, 1.0 / e, 0.5 + e / 10, None, None, s, 6000 / s) for e, s in
                    zip(range(1, epochs + 1), seconds))
    shots = tuple(epoch_snapshots.EpochSnapshot(
        e, rng.integers(0, 10, 20).astype(np.int8), rng.random(20).astype(np.float16),
        rng.integers(0, 100, (10, 10)).astype(np.int32), rng.normal(size=(16, 28, 28)).astype(np.float16), 0.1)
        for e in range(1, epochs + 1))
    return replays.Recording("seed002-ann", "seed002-ann", replays.plain_config(TrainingConfig("seed002-ann").resolved()),
                             records, shots, tuple(range(10)) * 2, 0.93, 238_510, "2026-11-22", {"keras": "3"}, 2)


def assert_same(a: replays.Recording, b: replays.Recording) -> None:
    assert a.records == b.records
    assert (a.name, a.preset, a.config, a.strip_labels, a.test_accuracy, a.parameters, a.recorded_on, a.versions,
            a.cpus) == (b.name, b.preset, b.config, b.strip_labels, b.test_accuracy, b.parameters, b.recorded_on,
                        b.versions, b.cpus)
    assert len(a.snapshots) == len(b.snapshots)
    for x, y in zip(a.snapshots, b.snapshots):
        assert x.epoch == y.epoch and x.seconds == y.seconds
        for field in ("answers", "confidence", "confusion", "first_layer"):
            assert np.array_equal(getattr(x, field), getattr(y, field)) and getattr(x, field).dtype == getattr(y, field).dtype


def test_a_recording_round_trips_through_its_file(tmp_path):
    recording = fake_recording()
    path = replays.save_recording(recording, tmp_path / "seed002-ann.npz")
    assert_same(replays.load_recording(path), recording)
    assert replays.list_replays(tmp_path) == ["seed002-ann"]


def test_a_damaged_or_missing_recording_names_the_command_that_records_it(tmp_path):
    path = tmp_path / "cnn.npz"
    with pytest.raises(replays.ReplayFileError, match="python -m mnist_core record cnn"):
        replays.load_recording(path)
    path.write_bytes(b"not a zip file")
    with pytest.raises(replays.ReplayFileError, match="cannot be read.*python -m mnist_core record cnn"):
        replays.load_recording(path)


def test_a_replay_plays_its_epochs_in_order_at_its_speed():
    recording = fake_recording()  # epochs of 10, 5, 5 and 20 s: 40 s in all
    assert replays.frame_at(recording, 0, 1) == replays.ReplayFrame(0, 0.0, False)
    assert replays.frame_at(recording, 12, 1) == replays.ReplayFrame(1, 0.4, False)
    assert replays.frame_at(recording, 12 / 20, 20) == replays.ReplayFrame(1, pytest.approx(0.4), False)
    shown = [replays.frame_at(recording, t / 10, 5).epochs for t in range(0, 100)]
    assert shown == sorted(shown) and set(shown) == {0, 1, 2, 3, 4}  # every epoch, in order
    assert replays.frame_at(recording, 40 / 5, 5).finished  # 40 s of training in 8 s at 5×
    assert not replays.frame_at(recording, 39 / 5, 5).finished
    upto = recording.upto(2)
    assert [r.epoch for r in upto.records] == [1, 2] and [s.epoch for s in upto.snapshots] == [1, 2]


def test_record_writes_a_real_run_that_replays(tmp_path, mnist, monkeypatch):
    run = TrainingRun(TrainingConfig("seed002-ann", epochs=2, train_size=1000, batch_size=100))
    snap = run.run()
    assert snap.state == "finished", snap.message
    recording = replays.from_run("seed002-ann", run)
    path = replays.save_recording(recording, replays.replay_path("seed002-ann", tmp_path))
    back = replays.load_recording(path)
    assert_same(back, recording)
    assert [s.epoch for s in back.snapshots] == [1, 2] and back.test_accuracy == snap.test_accuracy
    assert back.strip_labels == tuple(range(10)) * 2 and back.kind == "ann"


def test_train_record_keeps_a_candidates_replay_beside_it(tmp_path, mnist, monkeypatch):
    """A model trained into MNIST_MODELS_DIR (a candidate) keeps its replay in that folder and
    never overwrites the shipped recording of the same name."""
    from mnist_core.__main__ import main

    shipped = replays.replay_path("seed002-ann", replays.SHIPPED_DIR)
    before = shipped.read_bytes()
    monkeypatch.setenv("MNIST_MODELS_DIR", str(tmp_path))
    monkeypatch.delenv("MNIST_REPLAYS_DIR", raising=False)
    assert main(["train", "--preset", "seed002-ann", "--epochs", "1", "--train-size", "1000", "--record"]) == 0
    back = replays.load_recording(tmp_path / "replays" / "seed002-ann.npz")
    assert back.name == "seed002-ann" and [r.epoch for r in back.records] == [1]
    assert (tmp_path / "seed002-ann.keras").is_file() and shipped.read_bytes() == before


def test_recipes_are_the_shipped_cards_or_the_presets_own():
    shipped = replays.recipe("cnn")  # the shipped card's recipe (the kinds it was trained with), 30 epochs
    card = registry.read_card("cnn", registry.MODELS_DIR)
    assert shipped.resolved().augment == tuple(card["hyperparameters"]["augment"]) and shipped.epochs == 30
    assert set(shipped.resolved().augment) <= set(models.SHIPPED_AUGMENT)  # the preset's own: those and any since
    assert replays.recipe("seed004-cnn") == TrainingConfig("seed004-cnn")
    with pytest.raises(KeyError):
        replays.recipe("no-such-preset")


@pytest.mark.parametrize("name", replays.RECORDED)
def test_every_shipped_recording_is_whole(name, mnist):
    recording = replays.load_recording(replays.replay_path(name, replays.SHIPPED_DIR))
    # validate() spells an older card's augment=False as (), the same run
    config = training.validate(training.TrainingConfig(**recording.config), training.MNIST_TRAIN_IMAGES)
    assert config == training.validate(replays.recipe(name), training.MNIST_TRAIN_IMAGES)  # the recipe it names
    assert [r.epoch for r in recording.records] == list(range(1, config.epochs + 1))
    assert [s.epoch for s in recording.snapshots] == list(range(1, config.epochs + 1))
    _, (x_test, y_test) = mnist
    assert recording.strip_labels == tuple(epoch_snapshots.strip_digits(x_test, y_test)[1].tolist())
    assert recording.test_accuracy > 0.9 and recording.seconds > 0
    assert replays.replay_path(name, replays.SHIPPED_DIR).stat().st_size < 1_000_000  # small files


def test_the_epochs_maps_round_trip_and_bad_ones_are_refused(tmp_path):
    import dataclasses

    recording = fake_recording()
    points = np.random.default_rng(1).normal(size=(epoch_snapshots.MAP_POINTS, 2)).astype(np.float16)
    shots = tuple(dataclasses.replace(s, map_points=points * s.epoch) if s.epoch in (2, 4) else s
                  for s in recording.snapshots)
    path = replays.save_recording(dataclasses.replace(recording, snapshots=shots), tmp_path / "seed002-ann.npz")
    loaded = replays.load_recording(path)
    assert [s.map_points is not None for s in loaded.snapshots] == [False, True, False, True]
    assert np.array_equal(loaded.snapshots[3].map_points, points * 4)
    assert epoch_snapshots.at_map(loaded.snapshots, 3).epoch == 2 and epoch_snapshots.at_map(loaded.snapshots, 1) is None
    bad = tuple(dataclasses.replace(s, map_points=points[:10]) if s.epoch == 2 else s for s in recording.snapshots)
    path = replays.save_recording(dataclasses.replace(recording, snapshots=bad), tmp_path / "seed002-ann.npz")
    with pytest.raises(replays.ReplayFileError, match="cannot be read.*maps.*record seed002-ann"):
        replays.load_recording(path)
