"""The learned space: the sample, hidden features, projection by seed, placing a digit, aligning
epochs, the scores, the map files, and what the serving process never imports."""

import subprocess
import sys

import numpy as np
import pytest

from mnist_core.analysis import learned_space
from mnist_core.models import registry
from mnist_core.models.inference import load_classifier
from mnist_core.training import projection


@pytest.fixture(scope="module")
def test_set(mnist):
    (_, _), (x_test, y_test) = mnist
    return x_test, y_test


def test_the_sample_is_balanced_fixed_and_holds_the_epoch_sample(test_set):
    _, y = test_set
    sample = learned_space.map_sample(y)
    assert len(sample) == 3000 and len(set(sample.tolist())) == 3000
    assert np.bincount(y[sample], minlength=10).tolist() == [300] * 10
    assert np.array_equal(sample, learned_space.map_sample(y))
    epoch = learned_space.epoch_sample(y)
    assert len(epoch) == 1000 and set(epoch.tolist()) <= set(sample.tolist())
    assert np.bincount(y[epoch], minlength=10).tolist() == [100] * 10


@pytest.mark.parametrize("name, units", [("ann", None), ("cnn", None)])
def test_hidden_features_are_the_final_layers_input(name, units, test_set):
    x, _ = test_set
    classifier = load_classifier(name)
    images = x[:7].astype(np.float32) / 255.0
    hidden = learned_space.hidden_features(classifier, images)
    final = classifier.ops[len(learned_space.hidden_ops(classifier))]
    scores = final(hidden)
    assert np.allclose(classifier.ops[-1](scores), classifier.predict_proba(images), atol=1e-5)


def test_projection_is_deterministic_by_seed():
    rng = np.random.default_rng(0)
    features = np.concatenate([rng.normal(c * 4, 1, (60, 16)) for c in range(3)]).astype(np.float32)
    first = projection.tsne(features, seed=3, iterations=(50, 50))
    assert np.array_equal(first, projection.tsne(features, seed=3, iterations=(50, 50)))
    assert not np.allclose(first, projection.tsne(features, seed=4, iterations=(50, 50)))


def test_alignment_undoes_a_turn_a_flip_a_scale_and_a_move():
    rng = np.random.default_rng(1)
    reference = rng.normal(size=(200, 2)).astype(np.float32)
    turn = np.array([[np.cos(1.1), -np.sin(1.1)], [np.sin(1.1), np.cos(1.1)]]) @ np.diag([1, -1])
    moved = 3.5 * reference @ turn + np.array([10.0, -4.0])
    assert np.allclose(learned_space.align(moved, reference), reference, atol=1e-4)


def test_each_epoch_map_starts_from_the_last_and_moves_less_than_a_fresh_one():
    rng = np.random.default_rng(2)
    centres = rng.normal(0, 6, (5, 12))
    labels = np.repeat(np.arange(5), 60)
    early = (centres[labels] * 0.6 + rng.normal(0, 1, (300, 12))).astype(np.float32)
    later = (centres[labels] + rng.normal(0, 1, (300, 12))).astype(np.float32)
    maps = projection.EpochMaps(seed=0)
    first = maps.take(lambda: early).astype(np.float32)
    second = maps.take(lambda: later).astype(np.float32)
    fresh = learned_space.align(projection.tsne(later, seed=5, iterations=(125, 125)), first)
    assert np.median(np.linalg.norm(second - first, axis=1)) < np.median(np.linalg.norm(fresh - first, axis=1))
    assert learned_space.neighbour_accuracy(second, labels) > 0.95


def test_the_budget_skips_a_map_that_would_pass_five_percent():
    maps = projection.EpochMaps()
    assert not maps.affordable(training_seconds=5.0, snapshot_seconds=0.0)  # the first map costs ~0.6 s
    assert maps.affordable(training_seconds=40.0, snapshot_seconds=1.0)
    maps.last_cost = 0.3
    assert not maps.affordable(training_seconds=40.0, snapshot_seconds=1.8)


def test_the_scores_tell_clean_clusters_from_mixed_ones():
    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(10), 30)
    clean = np.stack([np.cos(labels), np.sin(labels)], 1) * 20 + rng.normal(0, 1, (300, 2))
    mixed = rng.normal(0, 1, (300, 2))
    assert learned_space.neighbour_accuracy(clean, labels) > 0.99 > 0.5 > learned_space.neighbour_accuracy(mixed, labels)
    assert learned_space.silhouette(clean, labels) > 0.7 and abs(learned_space.silhouette(mixed, labels)) < 0.15


@pytest.mark.parametrize("name", registry.SHIPPED)
def test_a_known_digit_lands_among_its_own_digits(name, test_set):
    x, y = test_set
    classifier = load_classifier(name)
    space = learned_space.load_space(classifier, x)
    outside = np.setdiff1d(np.arange(len(y)), space.model_map.indices)[:200]
    places, order = space.place(classifier, x[outside].astype(np.float32) / 255.0)
    coords, labels = space.model_map.coords, space.model_map.labels
    landed = []
    for place, label in zip(places, y[outside]):
        nearest_in_map = np.argsort(np.linalg.norm(coords - place, axis=1))[:10]
        landed.append(learned_space.most_like(labels[nearest_in_map])[0] == label)
    assert np.mean(landed) > 0.95
    assert np.mean(labels[order[:, 0]] == y[outside]) > 0.95


@pytest.mark.parametrize("name", registry.SHIPPED)
def test_the_shipped_maps_belong_to_the_shipped_files_and_state_their_scores(name):
    model_map = learned_space.read_map(name, sha256=registry.file_hash(name))
    assert len(model_map.indices) == 3000 and model_map.method.startswith("openTSNE")
    assert model_map.neighbour_accuracy == pytest.approx(
        learned_space.neighbour_accuracy(model_map.coords, model_map.labels))
    assert model_map.silhouette == pytest.approx(learned_space.silhouette(model_map.coords, model_map.labels))


def test_a_missing_damaged_or_stale_map_names_the_command(tmp_path):
    with pytest.raises(learned_space.MapFileError, match="python -m mnist_core map mine"):
        learned_space.read_map("mine", tmp_path)
    path = learned_space.map_path("mine", tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a zip")
    with pytest.raises(learned_space.MapFileError, match="cannot be read.*map mine"):
        learned_space.read_map("mine", tmp_path)
    shipped = learned_space.read_map("cnn")
    learned_space.write_map(learned_space.ModelMap(**{**vars(shipped), "name": "mine"}), tmp_path)
    assert learned_space.read_map("mine", tmp_path).coords.shape == (3000, 2)
    with pytest.raises(learned_space.MapFileError, match="earlier version.*map mine"):
        learned_space.read_map("mine", tmp_path, sha256="0" * 64)


def test_the_serving_side_imports_neither_tensorflow_nor_the_projection_library():
    code = ("import sys; import mnist_core.analysis.learned_space, mnist_core.analysis.measured, "
            "mnist_core.charts, app_pages.common; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'openTSNE', 'umap', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_hidden_features_are_cached_per_model_file_and_a_damaged_cache_is_recomputed(tmp_path, test_set):
    x, _ = test_set
    classifier = load_classifier("ann")
    first = learned_space.load_space(classifier, x, cache_dir=tmp_path)
    cached = list(tmp_path.glob("*.npy"))
    assert len(cached) == 1 and cached[0].name.startswith(registry.file_hash("ann"))
    assert np.array_equal(learned_space.load_space(classifier, x, cache_dir=tmp_path).features, first.features)
    cached[0].write_bytes(b"not an array")
    assert np.array_equal(learned_space.load_space(classifier, x, cache_dir=tmp_path).features, first.features)
    assert np.load(cached[0]).shape == first.features.shape  # written again, whole


@pytest.mark.parametrize("name", registry.SHIPPED)
def test_the_workers_hidden_layer_is_the_one_the_server_places_digits_in(name, test_set):
    """The epoch maps (Keras, in the worker) and placing a digit (NumPy, in the server) read the same layer."""
    import types

    from mnist_core.models.networks import load_model
    from mnist_core.training.worker import KerasRun

    x, _ = test_set
    images = x[:50].astype(np.float32) / 255.0
    run = types.SimpleNamespace(model=load_model(name))
    keras_side = KerasRun.hidden_features(run, images)
    numpy_side = learned_space.hidden_features(load_classifier(name), images)
    assert keras_side.shape == numpy_side.shape
    assert np.allclose(keras_side, numpy_side, atol=1e-3 * max(1.0, float(np.abs(numpy_side).max())))
