"""The presets as Keras networks, and Keras's own side of a model file: build a preset, save a
Keras model as NAME.keras + card, load one with Keras, read one's layers through the server's
checks. Keras is imported inside each function, and only the training worker, the CLI, tests
and benchmarks import this module: the server reads model files without Keras (`model_file`)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mnist_core.models import layer_checks, model_file, registry
from mnist_core.models.inference import Classifier, classifier_from_spec
from mnist_core.models.model_file import ModelLoadError
from mnist_core.models.presets import INPUT_SHAPE, NUM_CLASSES, get_preset, matched_ann_hidden, matched_cnn_shape

if TYPE_CHECKING:
    import keras


def _dense(units: int, activation: str, name: str) -> "keras.layers.Dense":
    from keras import layers

    return layers.Dense(units, activation=activation, name=name)



def _conv_bn(filters: int, padding: str, name: str) -> list[keras.layers.Layer]:
    # Bias is redundant before batch norm; BN's scale/shift take its place.
    from keras import layers

    return [
        layers.Conv2D(filters, 3, padding=padding, use_bias=False, name=name),
        layers.BatchNormalization(momentum=0.9, name=f"{name}_bn"),
        layers.ReLU(name=f"{name}_relu"),
    ]



def _ann_layers() -> list:
    from keras import layers

    return [
        layers.Flatten(name="flatten"),
        _dense(512, "relu", "hidden1_512"),
        layers.Dropout(0.2, name="dropout1"),
        _dense(512, "relu", "hidden2_512"),
        layers.Dropout(0.2, name="dropout2"),
        _dense(NUM_CLASSES, "softmax", "output"),
    ]



def _cnn_layers() -> list:
    # Three 3×3 conv blocks see strokes (3 px), parts (8 px) and whole digits (18 px); batch norm
    # lets a high learning rate reach 99% in two epochs on a CPU.
    from keras import layers

    return [
        layers.Reshape((28, 28, 1), name="add_channel"),
        *_conv_bn(32, "same", "conv1"),
        layers.MaxPooling2D(2, name="pool1"),
        *_conv_bn(64, "same", "conv2"),
        layers.MaxPooling2D(2, name="pool2"),
        *_conv_bn(128, "valid", "conv3"),
        layers.Flatten(name="flatten"),
        layers.Dense(128, use_bias=False, name="dense_128"),
        layers.BatchNormalization(momentum=0.9, name="dense_128_bn"),
        layers.ReLU(name="dense_128_relu"),
        layers.Dropout(0.3, name="dropout"),
        _dense(NUM_CLASSES, "softmax", "output"),
    ]



def _seed000_ann() -> list:
    from keras import layers

    return [
        layers.Flatten(name="flatten"),
        _dense(350, "relu", "hidden1_350"),
        _dense(50, "relu", "hidden2_50"),
        _dense(NUM_CLASSES, "softmax", "output"),
    ]



def _seed001_ann() -> list:
    from keras import layers

    return [
        layers.Flatten(name="flatten"),
        _dense(128, "relu", "hidden1_128"),
        _dense(32, "relu", "hidden2_32"),
        _dense(NUM_CLASSES, "softmax", "output"),
    ]



def _seed002_ann() -> list:
    from keras import layers

    return [
        layers.Flatten(name="flatten"),
        _dense(300, "sigmoid", "hidden_300"),
        _dense(NUM_CLASSES, "softmax", "output"),
    ]



def _seed000_cnn() -> list:
    from keras import layers

    return [
        layers.Reshape((28, 28, 1), name="add_channel"),
        layers.Conv2D(32, 3, activation="relu", name="conv1_32"),
        layers.MaxPooling2D(2, name="pool1"),
        layers.Dropout(0.25, name="dropout1"),
        layers.Conv2D(64, 3, activation="relu", name="conv2_64"),
        layers.MaxPooling2D(2, name="pool2"),
        layers.Dropout(0.25, name="dropout2"),
        layers.Flatten(name="flatten"),
        _dense(256, "relu", "dense_256"),
        _dense(NUM_CLASSES, "softmax", "output"),
    ]



def _seed004_cnn() -> list:
    # Pooling before the activation, as the write-up had it (equivalent for ReLU + max-pool).
    from keras import layers

    return [
        layers.Reshape((28, 28, 1), name="add_channel"),
        layers.Conv2D(64, 3, name="conv1_64"),
        layers.MaxPooling2D(2, name="pool1"),
        layers.ReLU(name="relu1"),
        layers.Dropout(0.25, name="dropout1"),
        layers.Conv2D(32, 3, name="conv2_32"),
        layers.MaxPooling2D(2, name="pool2"),
        layers.ReLU(name="relu2"),
        layers.Dropout(0.25, name="dropout2"),
        layers.Flatten(name="flatten"),
        _dense(512, "relu", "dense_512"),
        layers.Dropout(0.25, name="dropout3"),
        _dense(256, "relu", "dense_256"),
        _dense(NUM_CLASSES, "softmax", "output"),
    ]



LAYERS = {"ann": _ann_layers, "cnn": _cnn_layers, "seed000-ann": _seed000_ann, "seed001-ann": _seed001_ann,
          "seed002-ann": _seed002_ann, "seed000-cnn": _seed000_cnn, "seed004-cnn": _seed004_cnn}


def build_model(name: str) -> keras.Model:
    """A fresh, uncompiled model for preset `name`, with a clean model name and named layers."""
    import keras

    preset = get_preset(name)
    return keras.Sequential(
        [keras.Input(INPUT_SHAPE, name="pixels"), *LAYERS[preset.name]()],
        name=name.replace("-", "_"),
    )



def matched_model(kind: str, target: int) -> keras.Model:
    """A fresh, uncompiled ANN or CNN with about `target` parameters."""
    import keras
    from keras import layers

    if kind == "ann":
        body = [layers.Flatten(name="flatten"), _dense(matched_ann_hidden(target), "relu", "hidden")]
    else:
        filters, dense = matched_cnn_shape(target)
        body = [
            layers.Reshape((28, 28, 1), name="add_channel"),
            layers.Conv2D(filters, 3, activation="relu", name="conv1"),
            layers.MaxPooling2D(2, name="pool1"),
            layers.Conv2D(2 * filters, 3, activation="relu", name="conv2"),
            layers.MaxPooling2D(2, name="pool2"),
            layers.Flatten(name="flatten"),
            _dense(dense, "relu", "dense"),
        ]
    return keras.Sequential([keras.Input(INPUT_SHAPE, name="pixels"), *body,
                             _dense(NUM_CLASSES, "softmax", "output")], name=f"{kind}_{target}")



def layer_table(model: keras.Model) -> list[dict]:
    """One row per layer (name, type, output shape, parameters) for summaries in the UI."""
    rows = []
    for layer in model.layers:
        shape = getattr(layer, "output", None)
        shape = tuple(shape.shape[1:]) if shape is not None else ()
        rows.append({
            "layer": layer.name,
            "type": type(layer).__name__,
            "output shape": " × ".join(str(d) for d in shape),
            "parameters": int(layer.count_params()),
        })
    return rows


def load_model(name: str, directory: Path | None = None):
    """The Keras model, loaded with safe_mode; ModelLoadError naming the file on any problem.
    For tests and benchmarks that compare against Keras: the server reads models with read_model."""
    import keras

    path = registry.model_path(name, directory)
    if not path.is_file():
        raise registry.missing_model_error(name, path)
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types for bad zips, configs and weights
        raise ModelLoadError(
            f"{path} is not a readable Keras model ({type(exc).__name__}: {str(exc)[:200]}). "
            f"Delete it, or save it again from the Train page.") from exc
    shape = tuple(model.input_shape[1:]) if hasattr(model, "input_shape") else None
    if shape != (28, 28) or tuple(model.output_shape[1:]) != (10,):
        raise ModelLoadError(
            f"{path} is a Keras model, but not an MNIST classifier of this app "
            f"(input {shape}, output {model.output_shape[1:]}; expected (28, 28) → (10,)).")
    return model



def write_model_file(model, path: Path) -> None:
    """A Keras model to a .keras file, atomically and without optimizer state. Needs Keras: the
    training worker and tests call it, never the server."""
    # An uncompiled copy: Adam's two moment slots would triple the file for nothing
    # (keras.models.clone_model would compile the copy and keep them).
    bare = type(model).from_config(model.get_config())
    bare.set_weights(model.get_weights())
    path.parent.mkdir(parents=True, exist_ok=True)
    registry.atomic_write(path, lambda tmp: bare.save(tmp))



def save_model(model, name: str, card: dict, directory: Path | None = None,
               overwrite: bool = False, allow_shipped: bool = False) -> Path:
    """A Keras model saved as NAME.keras + NAME.json (tests and tools; the app saves worker files
    with save_model_file)."""
    import keras
    import tensorflow

    directory = directory or registry.models_dir()
    registry.check_new_name(name, directory, overwrite, allow_shipped)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "model.keras"
        write_model_file(model, source)
        versions = {"tensorflow": tensorflow.__version__, "keras": keras.__version__}
        return registry.save_model_file(source, name, {**card, "versions": versions}, directory, overwrite, allow_shipped)


def spec_from_keras(model) -> model_file.ModelSpec:
    """The same specs from a Keras model in memory (its serialisation and `get_weights()`), through
    the same checks: for tests and benchmarks, which may import Keras. The server never calls this."""
    import keras

    serialised = json.loads(json.dumps(keras.saving.serialize_keras_object(model)))  # as config.json holds it
    by_position = iter(model.layers)  # Sequential.layers: the InputLayer left out, as in the file

    def weights_of(storage: str, layer_name: str, shapes: list) -> list[np.ndarray]:
        layer = next(by_position)
        if layer.name != layer_name:
            raise layer_checks.Unservable(f"lists layer '{layer_name}' where the model has '{layer.name}'")
        return [np.asarray(w, dtype=np.float32) for w in layer.get_weights()]

    try:
        return model_file.model_spec(serialised, weights_of)
    except layer_checks.Unservable as exc:
        raise ModelLoadError(f"model '{model.name}' {exc.reason}. {exc.fix}") from None


def build_classifier(name: str, model, card: dict | None = None) -> Classifier:
    """A classifier from a Keras model in memory, through the same checks as a file (tests and
    benchmarks; ModelLoadError for a layer the NumPy pass does not know)."""
    return classifier_from_spec(name, spec_from_keras(model), card)
