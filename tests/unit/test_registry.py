import io
import json
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from mnist_core import models
from mnist_core.models import inference, model_file, networks, registry


@pytest.fixture
def model():
    return models.build_model("seed002-ann")


def test_saved_file_has_no_optimizer_state(models_dir, mnist):
    import keras
    model = models.build_model("seed000-ann")
    model.compile(optimizer=keras.optimizers.Adam(), loss="sparse_categorical_crossentropy")
    model.fit(mnist[0][0][:64] / 255, mnist[0][1][:64], epochs=1, verbose=0)
    assert model.optimizer.variables  # Adam's slots exist in memory …
    path = networks.save_model(model, "bare", {})
    with zipfile.ZipFile(path) as archive:
        weights = archive.getinfo("model.weights.h5").file_size
        assert not json.loads(archive.read("config.json")).get("compile_config")
    assert weights < model.count_params() * 4 * 1.2  # … but only the weights reach the file


def test_save_and_load_round_trip_with_card(models_dir, model):
    path = networks.save_model(model, "My First ANN!", {"preset": "seed002-ann", "kind": "ann", "test_accuracy": 0.9})
    assert path == models_dir / "my-first-ann.keras"
    assert registry.list_models() == ["my-first-ann"]
    loaded = networks.load_model("my-first-ann")
    x = np.random.default_rng(0).random((3, 28, 28), dtype=np.float32)
    np.testing.assert_allclose(loaded.predict_on_batch(x), model.predict_on_batch(x), atol=1e-6)
    card = registry.read_card("my-first-ann")
    assert card["preset"] == "seed002-ann" and card["test_accuracy"] == 0.9 and card["name"] == "my-first-ann"
    assert {"tensorflow", "keras", "numpy", "python"} <= set(card["versions"]) and card["saved"]
    assert not [p for p in models_dir.iterdir() if p.name.startswith(".")]  # no temp files left


@pytest.mark.parametrize("raw", ["../../etc/passwd", "a/b", "..", "   ", "!!!", ""])
def test_names_are_sanitised_or_refused(raw):
    try:
        name = registry.sanitize_name(raw)
    except registry.ModelNameError as exc:
        assert "usable model name" in str(exc)
    else:
        assert "/" not in name and ".." not in name and name


def test_path_separators_never_reach_the_file_system():
    assert registry.sanitize_name("../../etc/passwd") == "etc-passwd"
    with pytest.raises(registry.ModelNameError):
        registry.model_path("../x")


def test_existing_models_are_not_silently_overwritten(models_dir, model):
    networks.save_model(model, "mine", {})
    with pytest.raises(registry.ModelNameError, match="already exists"):
        networks.save_model(model, "mine", {})


def test_shipped_models_are_protected(models_dir, model):
    with pytest.raises(registry.ModelNameError, match="shipped"):
        networks.save_model(model, "cnn", {})
    with pytest.raises(registry.ModelNameError, match="shipped"):
        registry.delete_model("ann")


def test_a_failed_save_leaves_the_old_model_intact(models_dir, model, monkeypatch):
    networks.save_model(model, "keep", {"test_accuracy": 0.5})
    before = (models_dir / "keep.keras").read_bytes()

    class Exploding:
        def save(self, path):
            with open(path, "wb") as handle:
                handle.write(b"half a zip")
            raise KeyboardInterrupt  # a Stop or crash in the middle of writing

    Exploding.set_weights = lambda self, weights: None
    monkeypatch.setattr(type(model), "from_config", classmethod(lambda cls, config: Exploding()))
    with pytest.raises(KeyboardInterrupt):
        networks.save_model(model, "keep", {}, overwrite=True)
    assert (models_dir / "keep.keras").read_bytes() == before
    assert not [p for p in models_dir.iterdir() if p.name.startswith(".")]


# ------------------------------------------------------------------ reading without Keras


def saved_file(name="good", preset="seed002-ann") -> Path:
    networks.save_model(models.build_model(preset), name, {})
    return registry.model_path(name)


def rewrite_member(path: Path, member: str, change) -> None:
    """Replace one member of a .keras zip by change(its bytes); None drops the member."""
    with zipfile.ZipFile(path) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    replaced = change(members[member])
    if replaced is None:
        del members[member]
    else:
        members[member] = replaced
    with zipfile.ZipFile(path, "w") as archive:
        for n, raw in members.items():
            archive.writestr(n, raw)


def edit_config(path: Path, change) -> None:
    def edit(raw):
        config = json.loads(raw)
        change(config["config"]["layers"])
        return json.dumps(config)
    rewrite_member(path, "config.json", edit)


def edit_weights(path: Path, change) -> None:
    def edit(raw):
        buffer = io.BytesIO(raw)
        with h5py.File(buffer, "r+") as h5:
            change(h5)
        return buffer.getvalue()
    rewrite_member(path, "model.weights.h5", edit)


def keras_saved(name, *layers, input_shape=(28, 28)):
    import keras
    keras.Sequential([keras.Input(input_shape), *layers]).save(registry.model_path(name))


def refused(name) -> str:
    """The message both Keras-free readers give; it names the file and the fix."""
    with pytest.raises(registry.ModelLoadError) as info:
        registry.read_model(name)
    with pytest.raises(registry.ModelLoadError):
        inference.load_classifier(name)
    message = str(info.value)
    assert str(registry.model_path(name)) in message and "Delete it" in message, message
    return message


def test_a_saved_model_reads_back_without_keras(models_dir):
    spec = registry.read_model(saved_file("good").stem)
    assert [layer.class_name for layer in spec.layers] == ["Flatten", "Dense", "Dense"]
    assert [w.shape for w in spec.layers[1].weights] == [(784, 300), (300,)]
    assert all(w.dtype == np.float32 and not w.flags.writeable for layer in spec.layers for w in layer.weights)


def test_h5_group_names_are_keras_own(models_dir):
    """model_file finds each layer's weights under the name Keras' saving code gives its group."""
    from keras.src.utils import naming
    for class_name in (*model_file.SERVABLE_LAYERS, "LayerNormalization", "Conv2DTranspose", "PReLU"):
        assert model_file.snake_case(class_name) == naming.to_snake_case(class_name)
    path = saved_file("cnn-like", "seed004-cnn")
    with zipfile.ZipFile(path) as archive, h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r") as h5:
        groups = sorted(h5["layers"])
    assert groups == sorted(["reshape", "conv2d", "max_pooling2d", "re_lu", "dropout", "conv2d_1",
                             "max_pooling2d_1", "re_lu_1", "dropout_1", "flatten", "dense", "dropout_2",
                             "dense_1", "dense_2"])


def test_not_a_zip(models_dir):
    (models_dir / "broken.keras").write_bytes(b"this is not a zip file")
    assert "not a Keras model file" in refused("broken")


def test_truncated_file(models_dir):
    path = saved_file("cut")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    refused("cut")


def test_missing_member(models_dir):
    rewrite_member(saved_file("hollow"), "model.weights.h5", lambda raw: None)
    assert "has no model.weights.h5" in refused("hollow")


def test_unreadable_config(models_dir):
    rewrite_member(saved_file("garbled"), "config.json", lambda raw: raw[:40])
    assert "unreadable config.json" in refused("garbled")


def test_lambda_layer_is_refused_and_never_run(models_dir, tmp_path):
    import keras
    marker = tmp_path / "ran"
    # Self-contained, so that Keras can serialise it: it would leave a file behind if ever run.
    leaves_a_mark = eval(f"lambda x: __import__('pathlib').Path({str(marker)!r}).write_text('ran') and x * 2")
    keras_saved("sneaky", keras.layers.Flatten(), keras.layers.Lambda(leaves_a_mark),
                keras.layers.Dense(10, activation="softmax"))
    marker.unlink(missing_ok=True)  # Keras traced the lambda while building
    message = refused("sneaky")
    assert "Lambda, which this app cannot serve" in message and "Conv2D" in message
    assert not marker.exists()


def test_foreign_layer_names_what_the_app_serves(models_dir):
    import keras
    keras_saved("odd", keras.layers.Flatten(), keras.layers.LayerNormalization(),
                keras.layers.Dense(10, activation="softmax"))
    message = refused("odd")
    assert "LayerNormalization" in message and "BatchNormalization" in message and "Train page" in message


def test_custom_class_with_a_keras_name_is_refused(models_dir):
    def relabel(layers):
        layers[-1]["module"] = "my_package.layers"
    edit_config(saved_file("impostor"), relabel)
    assert "cannot serve" in refused("impostor")


@pytest.mark.parametrize("shape, layers", [((5,), lambda k: [k.layers.Dense(10, activation="softmax")]),
                                           ((28, 28), lambda k: [k.layers.Flatten(), k.layers.Dense(7, activation="softmax")]),
                                           ((28, 28), lambda k: [k.layers.Flatten(), k.layers.Dense(10)])])
def test_foreign_shapes_are_refused(models_dir, shape, layers):
    import keras
    keras_saved("foreign", *layers(keras), input_shape=shape)
    assert "not an MNIST classifier" in refused("foreign")


def test_functional_model_is_refused(models_dir):
    import keras
    inputs = keras.Input((28, 28))
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(inputs))
    keras.Model(inputs, outputs).save(models_dir / "functional.keras")
    assert "not a Sequential model" in refused("functional")


def test_weights_of_the_wrong_shape(models_dir):
    def shrink(h5):
        del h5["layers/dense/vars/0"]
        h5["layers/dense/vars/0"] = np.zeros((784, 299), np.float32)
    edit_weights(saved_file("warped"), shrink)
    assert "wrong shape for layer 'hidden_300'" in refused("warped")


def test_config_that_does_not_match_its_weights(models_dir):
    def widen(layers):
        layers[2]["config"]["units"] = 301
    edit_config(saved_file("widened"), widen)
    assert "wrong shape" in refused("widened")


def test_missing_weight(models_dir):
    edit_weights(saved_file("bald"), lambda h5: h5.__delitem__("layers/dense_1/vars/1"))
    assert "does not hold the weights of layer 'output'" in refused("bald")


def test_weights_moved_to_another_layer(models_dir):
    def swap(h5):
        h5["layers/dense/vars"].attrs["name"] = "output"
    edit_weights(saved_file("swapped"), swap)
    assert "where layer 'hidden_300' belongs" in refused("swapped")


def test_links_out_of_the_weights_file_are_refused(models_dir):
    def link_out(h5):
        del h5["layers/dense/vars/0"]
        h5["layers/dense/vars/0"] = h5py.ExternalLink("/etc/passwd", "/weights")
    edit_weights(saved_file("linked"), link_out)
    assert "ExternalLink" in refused("linked")


def test_non_finite_weights(models_dir):
    def poison(h5):
        h5["layers/dense/vars/1"][3] = np.nan
    edit_weights(saved_file("nan"), poison)
    assert "non-finite" in refused("nan")


def test_unknown_activation(models_dir):
    def gelu(layers):
        layers[2]["config"]["activation"] = "gelu"
    edit_config(saved_file("gelu"), gelu)
    assert "activation = gelu" in refused("gelu")


def test_missing_model_names_the_fix(models_dir):
    for read in (registry.read_model, inference.load_classifier, networks.load_model):
        with pytest.raises(registry.ModelLoadError, match="Train page"):
            read("nothing-here")


def test_keras_loader_still_refuses_corrupt_files(models_dir):
    (models_dir / "broken.keras").write_bytes(b"this is not a zip file")
    with pytest.raises(registry.ModelLoadError, match="Delete it"):
        networks.load_model("broken")


def test_unreadable_card_does_not_stop_the_model_loading(models_dir, model):
    networks.save_model(model, "cardless", {"kind": "ann"})
    (models_dir / "cardless.json").write_text("{not json")
    assert registry.read_card("cardless") == {}
    assert registry.read_model("cardless") is not None
    assert inference.load_classifier("cardless").kind == "ann"  # from the layers, without a card


def test_shipped_models_exist_are_small_and_carry_measured_cards():
    for name in registry.SHIPPED:
        path = registry.MODELS_DIR / f"{name}.keras"
        assert path.stat().st_size <= 5 * 1024 * 1024, f"{path} is over 5 MB"
        card = json.loads(path.with_suffix(".json").read_text())
        assert card["preset"] == name and 0.98 < card["test_accuracy"] <= 1.0
        assert zipfile.is_zipfile(path)
