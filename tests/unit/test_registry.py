import json
import zipfile

import numpy as np
import pytest

from mnist_core import models, registry


@pytest.fixture
def model():
    return models.build_model("seed002-ann")


def test_saved_file_has_no_optimizer_state(models_dir, mnist):
    import zipfile
    from mnist_core import training
    run = training.TrainingRun(training.TrainingConfig("seed000-ann", epochs=1, train_size=200),
                               data=mnist, evaluate_test=False)
    run.run()
    assert run.model.optimizer.variables  # Adam's slots exist in memory …
    path = registry.save_model(run.model, "bare", {})
    with zipfile.ZipFile(path) as archive:
        weights = archive.getinfo("model.weights.h5").file_size
        assert not json.loads(archive.read("config.json")).get("compile_config")
    assert weights < run.model.count_params() * 4 * 1.2  # … but only the weights reach the file


def test_save_and_load_round_trip_with_card(models_dir, model):
    path = registry.save_model(model, "My First ANN!", {"preset": "seed002-ann", "kind": "ann", "test_accuracy": 0.9})
    assert path == models_dir / "my-first-ann.keras"
    assert registry.list_models() == ["my-first-ann"]
    loaded = registry.load_model("my-first-ann")
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
    registry.save_model(model, "mine", {})
    with pytest.raises(registry.ModelNameError, match="already exists"):
        registry.save_model(model, "mine", {})


def test_shipped_models_are_protected(models_dir, model):
    with pytest.raises(registry.ModelNameError, match="shipped"):
        registry.save_model(model, "cnn", {})
    with pytest.raises(registry.ModelNameError, match="shipped"):
        registry.delete_model("ann")


def test_a_failed_save_leaves_the_old_model_intact(models_dir, model, monkeypatch):
    registry.save_model(model, "keep", {"test_accuracy": 0.5})
    before = (models_dir / "keep.keras").read_bytes()

    class Exploding:
        def save(self, path):
            with open(path, "wb") as handle:
                handle.write(b"half a zip")
            raise KeyboardInterrupt  # a Stop or crash in the middle of writing

    Exploding.set_weights = lambda self, weights: None
    monkeypatch.setattr(type(model), "from_config", classmethod(lambda cls, config: Exploding()))
    with pytest.raises(KeyboardInterrupt):
        registry.save_model(model, "keep", {}, overwrite=True)
    assert (models_dir / "keep.keras").read_bytes() == before
    assert not [p for p in models_dir.iterdir() if p.name.startswith(".")]


def test_corrupt_file_gives_a_clear_error_naming_the_file(models_dir):
    (models_dir / "broken.keras").write_bytes(b"this is not a zip file")
    with pytest.raises(registry.ModelLoadError) as info:
        registry.load_model("broken")
    assert str(models_dir / "broken.keras") in str(info.value) and "Delete it" in str(info.value)


def test_foreign_keras_model_is_refused(models_dir):
    import keras
    foreign = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
    foreign.save(models_dir / "foreign.keras")
    with pytest.raises(registry.ModelLoadError, match="not an MNIST classifier"):
        registry.load_model("foreign")


def test_lambda_layers_are_refused_by_safe_mode(models_dir):
    import keras
    sneaky = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                               keras.layers.Lambda(lambda x: x * 2), keras.layers.Dense(10)])
    sneaky.save(models_dir / "sneaky.keras")
    with pytest.raises(registry.ModelLoadError, match="sneaky.keras"):
        registry.load_model("sneaky")


def test_missing_model_names_the_fix(models_dir):
    with pytest.raises(registry.ModelLoadError, match="Train page"):
        registry.load_model("nothing-here")


def test_unreadable_card_does_not_stop_the_model_loading(models_dir, model):
    registry.save_model(model, "cardless", {"kind": "ann"})
    (models_dir / "cardless.json").write_text("{not json")
    assert registry.read_card("cardless") == {}
    assert registry.load_model("cardless") is not None


def test_shipped_models_exist_are_small_and_carry_measured_cards():
    for name in registry.SHIPPED:
        path = registry.MODELS_DIR / f"{name}.keras"
        assert path.stat().st_size <= 5 * 1024 * 1024, f"{path} is over 5 MB"
        card = json.loads(path.with_suffix(".json").read_text())
        assert card["preset"] == name and 0.98 < card["test_accuracy"] <= 1.0
        assert zipfile.is_zipfile(path)
