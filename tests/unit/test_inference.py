import threading

import numpy as np
import pytest

from mnist_core import inference, models, registry


def random_images(n, seed=0):
    return np.random.default_rng(seed).random((n, 28, 28), dtype=np.float32)


def trained_like(name):
    """A preset with non-trivial weights everywhere, batch-norm statistics included."""
    model = models.build_model(name)
    rng = np.random.default_rng(1)
    weights = []
    for w in model.get_weights():
        if w.ndim == 1 and np.all(w == 1):  # BN gamma / moving variance: keep positive
            weights.append(rng.uniform(0.5, 1.5, w.shape).astype(np.float32))
        else:
            weights.append((w + rng.normal(0, 0.05, w.shape)).astype(np.float32))
    model.set_weights(weights)
    return model


@pytest.mark.parametrize("name", list(models.PRESETS))
def test_numpy_path_equals_keras_for_every_preset(name):
    model = trained_like(name)
    classifier = inference.build_classifier(name, model)
    assert classifier.fast
    x = random_images(64)
    np.testing.assert_allclose(classifier.predict_proba(x), model.predict_on_batch(x), atol=1e-5)


@pytest.mark.parametrize("name", registry.SHIPPED)
def test_shipped_models_fast_path_equals_keras_on_real_digits(name, mnist):
    classifier = inference.load_classifier(name, registry.MODELS_DIR)
    assert classifier.fast
    x = mnist[1][0][:500].astype(np.float32) / 255
    expected = classifier.model.predict(x, verbose=0)
    got = classifier.predict_proba(x)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert got.shape == (500, 10) and np.allclose(got.sum(axis=1), 1, atol=1e-5)


def test_large_batches_go_to_keras_and_agree_with_the_numpy_pass(mnist, monkeypatch):
    classifier = inference.load_classifier("cnn", registry.MODELS_DIR)
    x = mnist[1][0][: inference.KERAS_FROM].astype(np.float32) / 255
    numpy_pass = np.concatenate([classifier.predict_proba(x[i:i + 500]) for i in range(0, len(x), 500)])
    sizes = []
    keras_predict = classifier.model.predict
    monkeypatch.setattr(classifier.model, "predict", lambda x, **kw: sizes.append(len(x)) or keras_predict(x, **kw))
    np.testing.assert_allclose(classifier.predict_proba(x), numpy_pass, atol=1e-5)
    assert sizes == [inference.KERAS_FROM]


def test_one_image_and_batch_give_the_same_answer():
    classifier = inference.build_classifier("cnn", trained_like("cnn"))
    x = random_images(5)
    batch = classifier.predict_proba(x)
    single = np.concatenate([classifier.predict_proba(x[i]) for i in range(5)])
    np.testing.assert_allclose(single, batch, atol=1e-6)


def test_wrong_shapes_are_refused():
    classifier = inference.build_classifier("seed002-ann", models.build_model("seed002-ann"))
    with pytest.raises(ValueError, match=r"\(n, 28, 28\)"):
        classifier.predict_proba(np.zeros((2, 784), np.float32))


def test_concurrent_callers_get_the_right_answers():
    classifier = inference.build_classifier("cnn", trained_like("cnn"))
    x = random_images(40, seed=3)
    expected = classifier.predict_proba(x)
    errors = []

    def worker(offset):
        for _ in range(25):
            i = (offset * 7) % 40
            got = classifier.predict_proba(x[i:i + 1])[0]
            if not np.allclose(got, expected[i], atol=1e-6):
                errors.append(i)
            offset += 1

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_unknown_layer_falls_back_to_keras():
    import keras
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                              keras.layers.LayerNormalization(), keras.layers.Dense(10, activation="softmax")])
    classifier = inference.build_classifier("odd", model)
    assert not classifier.fast
    x = random_images(3)
    np.testing.assert_allclose(classifier.predict_proba(x), model.predict_on_batch(x), atol=1e-6)


def test_load_classifier_caches_per_file_version(models_dir):
    model = models.build_model("seed002-ann")
    registry.save_model(model, "cached", {"kind": "ann"})
    first = inference.load_classifier("cached")
    assert inference.load_classifier("cached") is first
    assert first.kind == "ann"
