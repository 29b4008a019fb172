"""The .keras format, read without Keras.

The server never imports TensorFlow or Keras (docs/architecture.md, "Two processes"), yet serves the models
the Train page saves as `.keras` files. A `.keras` file is a zip of `config.json` (the Keras 3
serialisation of the model), `metadata.json` (versions and date; not needed here) and
`model.weights.h5`. This module reads the first and the last with zipfile, json and h5py and
returns the layers as plain specs (class name, config, float32 weights) for the NumPy forward pass
in inference.py.

Where Keras 3 puts the weights (keras/src/saving/saving_lib.py: `_save_state` walks
`Sequential.layers`, which leaves out the InputLayer, through `_save_container_state`; that names
each layer by `naming.to_snake_case(type(layer).__name__)` plus `_1`, `_2` … per repeat, in layer
order; each layer's `save_own_variables` writes its variables as `vars/0`, `vars/1` …):

    layers/flatten/vars                      (no datasets)
    layers/dense/vars/0, layers/dense/vars/1 (kernel, bias)
    layers/conv2d_1/vars/0                   (kernel; no bias when use_bias is false)
    layers/batch_normalization/vars/0..3     (gamma, beta, moving_mean, moving_variance)
    layers/re_lu_2, layers/max_pooling2d …   (no datasets)

The `vars` group carries the layer's own name as an attribute, which is checked too.

Nothing in the config is executed or imported: only the layers the NumPy pass knows are accepted,
with the options it implements; each weight's shape is checked against its layer's config and the
shape flowing in before it is read; the model must map (28, 28) to a 10-way softmax. Links out of
the h5 file, external or virtual datasets, oversized members and absurd sizes are refused. Every
problem is a `registry.ModelLoadError` that names the file and the fix. Reading a shipped model,
checks included, takes 6 ms (ANN) and 16 ms (CNN) here, mostly h5py's per-object overhead;
`keras.saving.load_model` takes 50–60 and 160–210 ms, after a 2.6 s import of TensorFlow.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import re
import zipfile
from pathlib import Path
from typing import Callable

import h5py
import numpy as np

from mnist_core.models import layer_checks
from mnist_core.models.layer_checks import FOREIGN, MAX_BUFFER_PER_IMAGE, REWRITE, SERVABLE_LAYERS, Unservable


class ModelLoadError(RuntimeError):
    """A model file that is missing, corrupt or foreign; the message names the file."""


INPUT_SHAPE = (28, 28)
NUM_CLASSES = 10
# Bounds against hostile files (a real model of this app is 2–3 MB with ~1.5 M parameters).
MAX_CONFIG_BYTES = 1 << 20
MAX_WEIGHTS_BYTES = 512 << 20
MAX_LAYERS = 200
MAX_PARAMETERS = 100_000_000

@dataclasses.dataclass(frozen=True)
class LayerSpec:
    """One layer as the forward pass needs it. Its config is data, never code."""
    class_name: str
    name: str
    config: dict
    weights: tuple[np.ndarray, ...]  # float32, read-only, in Keras' `layer.weights` order
    output_shape: tuple[int, ...]  # of one image (no batch axis)

    @property
    def parameters(self) -> int:
        return sum(int(w.size) for w in self.weights)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A checked Sequential model: (28, 28) in, 10 probabilities out."""
    name: str
    layers: tuple[LayerSpec, ...]
    largest_buffer: int  # floats per image in the biggest intermediate array (im2col included)

    @property
    def parameter_count(self) -> int:
        return sum(layer.parameters for layer in self.layers)

    def layer_table(self) -> list[dict]:
        """One row per layer (name, type, output shape, parameters), as networks.layer_table gives
        for the Keras model."""
        return [{"layer": layer.name, "type": layer.class_name,
                 "output shape": " × ".join(str(d) for d in layer.output_shape),
                 "parameters": layer.parameters}
                for layer in self.layers]


def snake_case(class_name: str) -> str:
    """Keras' `naming.to_snake_case`, which names each layer's group in model.weights.h5."""
    name = re.sub(r"\W+", "", class_name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


# ------------------------------------------------------------------ reading a file


def read_model_file(path: Path) -> ModelSpec:
    """The model in a .keras file as checked specs; ModelLoadError naming the file on any problem."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            config = _json_member(archive, "config.json")
            weights_file = _member(archive, "model.weights.h5", MAX_WEIGHTS_BYTES)
        with h5py.File(io.BytesIO(weights_file), "r") as h5:
            return model_spec(config, lambda storage, layer, shapes: _read_vars(h5, storage, layer, shapes))
    except Unservable as exc:
        raise ModelLoadError(f"{path} {exc.reason}. {exc.fix}") from None
    except zipfile.BadZipFile as exc:
        raise ModelLoadError(f"{path} is not a Keras model file (not a readable zip archive: {exc}). "
                             f"{REWRITE}") from None
    except ModelLoadError:
        raise
    except Exception as exc:  # zlib, h5py and OS errors of a damaged file come in many types
        raise ModelLoadError(f"{path} is not a readable Keras model file ({type(exc).__name__}: "
                             f"{str(exc)[:200]}). {REWRITE}") from exc


def _member(archive: zipfile.ZipFile, member: str, limit: int) -> bytes:
    try:
        info = archive.getinfo(member)
    except KeyError:
        raise Unservable(f"is incomplete: it has no {member}") from None
    if info.file_size > limit:
        raise Unservable(f"has a {member} of {info.file_size:,} bytes, more than any model of this app")
    return archive.read(info)  # checks the CRC, reads no more than the declared size


def _json_member(archive: zipfile.ZipFile, member: str) -> dict:
    raw = _member(archive, member, MAX_CONFIG_BYTES)
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise Unservable(f"has an unreadable {member} ({exc})") from None
    if not isinstance(value, dict):
        raise Unservable(f"has a {member} that is not a JSON object")
    return value


def _child(group, key: str, kind):
    """group[key] if it is a hard link to a `kind` (Group or Dataset); None when absent."""
    if not isinstance(group, h5py.Group) or key not in group:
        return None
    link = group.get(key, getlink=True)
    if not isinstance(link, h5py.HardLink):  # a soft or external link could reach other files
        raise Unservable(f"has a {type(link).__name__} at {group.name}/{key} in model.weights.h5")
    item = group[key]
    if not isinstance(item, kind):
        raise Unservable(f"has a {type(item).__name__} where a {kind.__name__} belongs "
                          f"({item.name} in model.weights.h5)")
    return item


def _read_vars(h5: h5py.File, storage: str, layer_name: str, shapes: list[tuple]) -> list[np.ndarray]:
    """The datasets at layers/<storage>/vars/0..k, each checked against its expected shape before
    it is read."""
    variables = _child(_child(_child(h5, "layers", h5py.Group), storage, h5py.Group), "vars", h5py.Group)
    present = sorted(variables.keys()) if variables is not None else []
    where = f"layers/{storage}/vars in model.weights.h5"
    if present != sorted(str(i) for i in range(len(shapes))):
        raise Unservable(f"does not hold the weights of layer '{layer_name}': {where} has "
                          f"{present or 'nothing'}, expected {len(shapes)} arrays")
    stored_name = variables.attrs.get("name")
    if isinstance(stored_name, bytes):
        stored_name = stored_name.decode(errors="replace")
    if stored_name is not None and stored_name != layer_name:  # weights in another layer's place
        raise Unservable(f"stores the weights of layer '{stored_name}' where layer '{layer_name}' "
                          f"belongs ({where})")
    arrays = []
    for index, shape in enumerate(shapes):
        dataset = _child(variables, str(index), h5py.Dataset)
        if dataset.external or dataset.is_virtual:
            raise Unservable(f"has an external or virtual dataset in {where}")
        if dataset.dtype.kind != "f":
            raise Unservable(f"stores {dataset.dtype} weights for layer '{layer_name}', not floats")
        if tuple(dataset.shape) != shape:  # checked before reading: the size comes from the config
            raise Unservable(f"has weights of the wrong shape for layer '{layer_name}': "
                              f"vars/{index} is {tuple(dataset.shape)}, its config needs {shape}")
        arrays.append(np.asarray(dataset[()], dtype=np.float32))
    return arrays


# ------------------------------------------------------------------ checking a config


WeightReader = Callable[[str, str, list], list]  # (storage name, layer name, shapes) → arrays


def model_spec(serialised: dict, read_weights: WeightReader) -> ModelSpec:
    """Check a Keras 3 model serialisation (config.json's content) layer by layer and read each
    layer's weights through `read_weights`. Raises Unservable; read_model_file adds the path."""
    config, layer_configs = _sequential_layers(serialised)
    used_names: dict[str, int] = {}
    shape: tuple[int, ...] = INPUT_SHAPE
    largest = math.prod(INPUT_SHAPE)
    layers, parameters = [], 0
    last_activation = "linear"
    for entry in layer_configs:
        class_name, cfg, name = _servable_entry(entry)
        check = layer_checks.LayerCheck(name, cfg)
        check.float_policy()
        weight_shapes, out_shape, buffer, activation = layer_checks.CHECKS[class_name](check, shape)
        if any(d < 1 for d in out_shape):
            raise Unservable(f"has layer '{name}' whose output {out_shape} is empty", FOREIGN)
        largest = max(largest, buffer, math.prod(out_shape))
        parameters += sum(math.prod(s) for s in weight_shapes)
        if largest > MAX_BUFFER_PER_IMAGE or parameters > MAX_PARAMETERS:
            raise Unservable(f"is far larger than any model of this app (at layer '{name}')", FOREIGN)
        weights = read_weights(_storage_name(class_name, used_names), name, weight_shapes)
        _check_weights(class_name, name, cfg, weight_shapes, weights)
        if class_name != "Dropout":
            last_activation = activation
        layers.append(LayerSpec(class_name, name, cfg, tuple(weights), out_shape))
        shape = out_shape

    if shape != (NUM_CLASSES,) or last_activation != "softmax":
        raise Unservable(f"is a Keras model, but not an MNIST classifier of this app (output {shape}"
                          f"{'' if last_activation == 'softmax' else ' without a softmax'}; "
                          f"expected {INPUT_SHAPE} → ({NUM_CLASSES},) probabilities)", FOREIGN)
    return ModelSpec(str(config.get("name", "model"))[:100], tuple(layers), largest)


def _sequential_layers(serialised: dict) -> tuple[dict, list[dict]]:
    """The Sequential config and its layers after the input, once the input is MNIST's 28×28."""
    if serialised.get("class_name") != "Sequential" or not isinstance(serialised.get("config"), dict):
        raise Unservable(f"holds a Keras {str(serialised.get('class_name'))[:60]!s}, not a Sequential model", FOREIGN)
    config = serialised["config"]
    layer_configs = config.get("layers")
    if not isinstance(layer_configs, list) or not all(isinstance(c, dict) for c in layer_configs):
        raise Unservable("has a config.json without a list of layers")
    if len(layer_configs) > MAX_LAYERS:
        raise Unservable(f"has {len(layer_configs)} layers, more than any model of this app", FOREIGN)

    input_shape = None
    if layer_configs and layer_configs[0].get("class_name") == "InputLayer":
        cfg = layer_configs[0].get("config") if isinstance(layer_configs[0].get("config"), dict) else {}
        input_shape = cfg.get("batch_shape", cfg.get("batch_input_shape"))
        layer_configs = layer_configs[1:]
    elif config.get("build_input_shape") is not None:
        input_shape = config["build_input_shape"]
    input_shape = tuple(input_shape[1:]) if isinstance(input_shape, list) and input_shape else input_shape
    if input_shape != INPUT_SHAPE:
        raise Unservable(f"is a Keras model, but not an MNIST classifier of this app "
                          f"(input {str(input_shape)[:60]}; expected {INPUT_SHAPE} → ({NUM_CLASSES},))", FOREIGN)
    return config, layer_configs


def _servable_entry(entry: dict) -> tuple[str, dict, str]:
    """(class name, config, name) of a layer the NumPy pass implements, else Unservable."""
    class_name, cfg = entry.get("class_name"), entry.get("config")
    name = str(cfg.get("name", "?"))[:100] if isinstance(cfg, dict) else "?"
    if class_name not in SERVABLE_LAYERS or entry.get("module", "keras.layers") != "keras.layers" \
            or entry.get("registered_name") is not None:
        raise Unservable(f"has a layer '{name}' of type {str(class_name)[:60]}, which this app cannot serve", FOREIGN)
    if not isinstance(cfg, dict):
        raise Unservable(f"has layer '{name}' without a config")
    return class_name, cfg, name


def _storage_name(class_name: str, used_names: dict[str, int]) -> str:
    # Keras names the layer's h5 group by its class, counting repeats (saving_lib._get_unique_name).
    storage = snake_case(class_name)
    if storage in used_names:
        used_names[storage] += 1
        return f"{storage}_{used_names[storage]}"
    used_names[storage] = 0
    return storage


def _check_weights(class_name: str, name: str, cfg: dict, shapes: list, weights: list) -> None:
    if len(weights) != len(shapes):
        raise Unservable(f"does not hold the weights of layer '{name}'")
    for index, (array, expected) in enumerate(zip(weights, shapes)):
        if tuple(array.shape) != expected:
            raise Unservable(f"has weights of the wrong shape for layer '{name}': "
                              f"weight {index} is {tuple(array.shape)}, its config needs {expected}")
        if not np.all(np.isfinite(array)):
            raise Unservable(f"has non-finite weights (NaN or infinity) in layer '{name}'")
        array.setflags(write=False)  # shared by every thread that predicts
    if class_name == "BatchNormalization" and np.any(weights[-1] + cfg.get("epsilon", 1e-3) <= 0):
        raise Unservable(f"has a negative moving variance in layer '{name}'")


# Each check returns (weight shapes, output shape, largest buffer per image, activation it ends in).




# ------------------------------------------------------------------ from a Keras model in memory


