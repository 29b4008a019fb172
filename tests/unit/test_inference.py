import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from mnist_core import models
from mnist_core.models import inference, networks, registry

ROOT = Path(__file__).resolve().parents[2]


def random_images(n, seed=0):
    return np.random.default_rng(seed).random((n, 28, 28), dtype=np.float32)


def mnist_digits(mnist, n):
    return mnist[1][0][:n].astype(np.float32) / 255


def keras_layer_table(model):
    """What Home showed when it had the Keras model: name, type, output shape, parameters."""
    return [{"layer": layer.name, "type": type(layer).__name__,
             "output shape": " × ".join(str(d) for d in layer.output.shape[1:]),
             "parameters": layer.count_params()} for layer in model.layers]


def trained_like(name):
    """A preset with non-trivial weights everywhere, batch-norm statistics included."""
    model = models.build_model(name)
    rng = np.random.default_rng(1)
    weights = []
    for w in model.get_weights():
        if w.ndim == 1 and np.all(w == 1):  # BN gamma / moving variance: keep positive
            weights.append(rng.uniform(0.5, 1.5, w.shape).astype(np.float32))
        elif w.ndim == 1:  # biases, BN beta and moving mean: well away from their initial zeros
            weights.append(rng.normal(0, 0.2, w.shape).astype(np.float32))
        else:
            weights.append((w + rng.normal(0, 0.05, w.shape)).astype(np.float32))
    model.set_weights(weights)
    return model


@pytest.mark.parametrize("name", list(models.PRESETS))
def test_every_preset_saved_and_read_without_keras_answers_as_keras(name, models_dir, mnist):
    model = trained_like(name)
    networks.save_model(model, f"saved-{name}", {})
    classifier = inference.load_classifier(f"saved-{name}")
    x = mnist_digits(mnist, 200)
    expected = model.predict_on_batch(x)
    got = classifier.predict_proba(x)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert np.mean(np.argmax(got, 1) == np.argmax(expected, 1)) == 1.0
    # Home's summary, from the file alone, matches what Keras reports for the model.
    assert classifier.parameter_count == model.count_params()
    assert classifier.layer_table() == keras_layer_table(model)
    assert classifier.kind == models.PRESETS[name].kind  # no card: guessed from the layers


@pytest.mark.parametrize("name", list(models.PRESETS))
def test_a_keras_model_in_memory_gives_the_same_classifier(name):
    model = trained_like(name)
    classifier = networks.build_classifier(name, model)
    x = random_images(16)
    np.testing.assert_allclose(classifier.predict_proba(x), model.predict_on_batch(x), atol=1e-5)


@pytest.mark.parametrize("name", registry.SHIPPED)
def test_shipped_models_answer_as_keras_on_real_digits(name, mnist):
    keras_model = networks.load_model(name, registry.MODELS_DIR)
    classifier = inference.load_classifier(name, registry.MODELS_DIR)
    x = mnist_digits(mnist, 500)
    got = classifier.predict_proba(x)
    np.testing.assert_allclose(got, keras_model.predict_on_batch(x), atol=1e-5)
    assert got.shape == (500, 10) and np.allclose(got.sum(axis=1), 1, atol=1e-5)
    assert classifier.parameter_count == keras_model.count_params() == classifier.card["parameters"]
    assert classifier.kind == name


def test_big_batches_run_in_parallel_and_agree_with_keras(mnist, monkeypatch):
    classifier = inference.load_classifier("cnn", registry.MODELS_DIR)
    x = mnist_digits(mnist, inference.PARALLEL_FROM + 100)
    one_by_one = np.concatenate([classifier.predict_proba(x[i:i + 100]) for i in range(0, len(x), 100)])
    threads = set()
    forward = inference.Classifier._forward
    monkeypatch.setattr(inference.Classifier, "_forward",
                        lambda self, x: threads.add(threading.current_thread().name) or forward(self, x))
    got = classifier.predict_proba(x)
    np.testing.assert_allclose(got, one_by_one, atol=1e-6)
    assert all(name.startswith("numpy-forward") for name in threads) and len(threads) == 2
    keras_model = networks.load_model("cnn", registry.MODELS_DIR)
    np.testing.assert_allclose(got[-200:], keras_model.predict_on_batch(x[-200:]), atol=1e-5)


def test_one_image_and_batch_give_the_same_answer():
    classifier = networks.build_classifier("cnn", trained_like("cnn"))
    x = random_images(5)
    batch = classifier.predict_proba(x)
    single = np.concatenate([classifier.predict_proba(x[i]) for i in range(5)])
    np.testing.assert_allclose(single, batch, atol=1e-6)


def test_wrong_shapes_are_refused():
    classifier = networks.build_classifier("seed002-ann", models.build_model("seed002-ann"))
    with pytest.raises(ValueError, match=r"\(n, 28, 28\)"):
        classifier.predict_proba(np.zeros((2, 784), np.float32))


def test_concurrent_callers_get_the_right_answers():
    classifier = networks.build_classifier("cnn", trained_like("cnn"))
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


def test_other_servable_layers_answer_as_keras():
    """Options the presets do not use but the NumPy pass implements: an Activation layer, tanh,
    batch norm that cannot be folded (after an activation, without scale), a conv without bias
    and with valid padding, a non-square pool, a Reshape with -1, a Dense on a 2-D input."""
    import keras
    from keras import layers
    model = keras.Sequential([
        keras.Input((28, 28)),
        layers.Dense(12, activation="tanh"),
        layers.BatchNormalization(scale=False),
        layers.Reshape((28, -1, 1)),
        layers.Conv2D(6, (3, 5), use_bias=False),
        layers.MaxPooling2D((2, 1)),
        layers.Activation("sigmoid"),
        layers.Flatten(),
        layers.Dense(10),
        layers.Activation("softmax"),
    ])
    rng = np.random.default_rng(2)
    model.set_weights([w + rng.normal(0, 0.3, w.shape).astype(np.float32) if w.ndim > 1
                       else rng.uniform(0.5, 1.5, w.shape).astype(np.float32) for w in model.get_weights()])
    classifier = networks.build_classifier("odd", model)
    x = random_images(8)
    np.testing.assert_allclose(classifier.predict_proba(x), model.predict_on_batch(x), atol=1e-5)
    assert classifier.layer_table() == keras_layer_table(model)


def test_unknown_layer_is_refused_not_served():
    import keras
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                              keras.layers.LayerNormalization(), keras.layers.Dense(10, activation="softmax")])
    with pytest.raises(registry.ModelLoadError, match="LayerNormalization.*cannot serve"):
        networks.build_classifier("odd", model)


def test_load_classifier_caches_per_file_version(models_dir):
    model = models.build_model("seed002-ann")
    networks.save_model(model, "cached", {"kind": "ann"})
    first = inference.load_classifier("cached")
    assert inference.load_classifier("cached") is first
    assert first.kind == "ann"
    networks.save_model(trained_like("seed002-ann"), "cached", {"kind": "ann"}, overwrite=True)
    second = inference.load_classifier("cached")
    assert second is not first
    assert not np.allclose(second.predict_proba(random_images(2)), first.predict_proba(random_images(2)))


def test_serving_never_imports_tensorflow_or_keras(tmp_path):
    """A fresh interpreter loads both shipped classifiers, answers one image, scores a batch and
    computes an evaluation (through the disk cache), and has imported neither TensorFlow nor Keras."""
    script = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
import numpy as np
from pathlib import Path
from mnist_core import charts, data
from mnist_core.analysis import evaluation
from mnist_core.models import inference
from mnist_core.models import model_file
from mnist_core.data import preprocess
from mnist_core.models import registry
ds = data.load_mnist_dataset()
for name in registry.SHIPPED:
    classifier = inference.load_classifier(name)
    assert classifier.predict_proba(ds.x_test[0] / 255.0).shape == (1, 10)
    assert classifier.predict(ds.x_test[:1200] / 255.0).shape == (1200,)
    probabilities = evaluation.test_set_probabilities(name, ds, cache_dir=Path({str(tmp_path)!r}))
    result = evaluation.Evaluation(probabilities, ds.y_test)
    assert result.accuracy > 0.98, result.accuracy
    evaluation.per_class_metrics(result.matrix)
    assert classifier.layer_table() and classifier.parameter_count > 100_000
heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'))
print('imported:', heavy)
assert not heavy
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "imported: []" in done.stdout
