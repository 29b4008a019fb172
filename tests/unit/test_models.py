import numpy as np
import pytest

from mnist_core import models

EXPECTED = {
    "seed000-ann": ["Flatten", "Dense:350:relu", "Dense:50:relu", "Dense:10:softmax"],
    "seed001-ann": ["Flatten", "Dense:128:relu", "Dense:32:relu", "Dense:10:softmax"],
    "seed002-ann": ["Flatten", "Dense:300:sigmoid", "Dense:10:softmax"],
    "seed000-cnn": ["Reshape", "Conv2D:32:relu", "MaxPooling2D", "Dropout:0.25", "Conv2D:64:relu",
                    "MaxPooling2D", "Dropout:0.25", "Flatten", "Dense:256:relu", "Dense:10:softmax"],
    "seed004-cnn": ["Reshape", "Conv2D:64:linear", "MaxPooling2D", "ReLU", "Dropout:0.25", "Conv2D:32:linear",
                    "MaxPooling2D", "ReLU", "Dropout:0.25", "Flatten", "Dense:512:relu", "Dropout:0.25",
                    "Dense:256:relu", "Dense:10:softmax"],
}


def signature(layer):
    kind = type(layer).__name__
    cfg = layer.get_config()
    if kind == "Dense":
        return f"Dense:{cfg['units']}:{cfg['activation']}"
    if kind == "Conv2D":
        assert tuple(cfg["kernel_size"]) == (3, 3)
        return f"Conv2D:{cfg['filters']}:{cfg['activation']}"
    if kind == "Dropout":
        return f"Dropout:{cfg['rate']}"
    if kind == "MaxPooling2D":
        assert tuple(cfg["pool_size"]) == (2, 2)
    return kind


@pytest.mark.parametrize("name", list(EXPECTED))
def test_seed_presets_are_layer_for_layer_as_written_up(name):
    model = models.build_model(name)
    assert [signature(layer) for layer in model.layers] == EXPECTED[name]
    assert model.input_shape == (None, 28, 28) and model.output_shape == (None, 10)


def test_seed_presets_keep_their_write_ups_training_recipe():
    p = models.PRESETS
    assert (p["seed000-ann"].optimizer, p["seed000-ann"].epochs) == ("adam", 10)
    assert (p["seed001-ann"].epochs, p["seed001-ann"].validation_split) == (25, 0.2)
    assert (p["seed002-ann"].batch_size, p["seed002-ann"].epochs) == (1000, 10)
    s4 = p["seed004-cnn"]
    assert (s4.optimizer, s4.learning_rate, s4.nesterov, s4.batch_size, s4.epochs, s4.loss) == (
        "sgd", 0.001, True, 32, 10, "categorical_crossentropy")
    assert s4.one_hot


def test_every_preset_has_a_description_clean_name_and_named_layers():
    for name, preset in models.PRESETS.items():
        assert preset.kind in ("ann", "cnn") and len(preset.description) > 20
        model = models.build_model(name)
        assert model.name == name.replace("-", "_")
        names = [layer.name for layer in model.layers]
        assert len(set(names)) == len(names)
        assert not any(n.startswith(("dense_1", "conv2d", "flatten_")) and n[-1].isdigit() and "_" in n[-3:]
                       for n in names if n not in ("dense_128", "dense_128_bn", "dense_128_relu"))
        assert model.predict_on_batch(np.zeros((2, 28, 28), np.float32)).shape == (2, 10)


def test_unknown_preset_lists_the_choices():
    with pytest.raises(KeyError, match="seed000-ann"):
        models.build_model("resnet")


def test_layer_table_counts_parameters():
    model = models.build_model("seed002-ann")
    rows = models.layer_table(model)
    assert sum(r["parameters"] for r in rows) == model.count_params() == 784 * 300 + 300 + 3010
