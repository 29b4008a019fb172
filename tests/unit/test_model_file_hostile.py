"""The .keras reader (mnist_core.models.model_file) under hostile files: property-based tests that
build zips from the shipped CNN's real members with random and adversarial changes. Every file
either reads as a working classifier or ends in ModelLoadError naming the file, never another
exception, within a time and memory bound; every cap in model_file.py is exercised."""

import io
import json
import struct
import time
import tracemalloc
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mnist_core.models import inference, layer_checks, model_file
from mnist_core.models.model_file import ModelLoadError

SHIPPED = Path(__file__).resolve().parents[2] / "trained_models" / "cnn.keras"
SECONDS = 2.0  # per read: the shipped CNN reads in ~16 ms
PEAK_BYTES = 64 << 20  # Python-side allocations while reading (the CNN's weights are 2 MB)
RUNS = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

with zipfile.ZipFile(SHIPPED) as _archive:
    MEMBERS = {name: _archive.read(name) for name in _archive.namelist()}
CONFIG = json.loads(MEMBERS["config.json"])
LAYERS = CONFIG["config"]["layers"]  # InputLayer, Reshape, Conv2D, BatchNormalization, …


def write(path: Path, members: dict) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, raw in members.items():
            archive.writestr(name, raw)
    return path


def with_config(layers: list) -> dict:
    config = json.loads(json.dumps(CONFIG))
    config["config"]["layers"] = layers
    return {**MEMBERS, "config.json": json.dumps(config).encode()}


def with_weights(change) -> dict:
    buffer = io.BytesIO(MEMBERS["model.weights.h5"])
    with h5py.File(buffer, "r+") as h5:
        change(h5)
    return {**MEMBERS, "model.weights.h5": buffer.getvalue()}


def read_within_bounds(path: Path):
    """read_model_file(path) under the time and memory bound: its spec, or the ModelLoadError."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        try:
            return model_file.read_model_file(path)
        except ModelLoadError as exc:
            assert str(path) in str(exc), f"the message does not name the file: {exc}"
            return exc
    finally:
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert seconds < SECONDS, f"reading took {seconds:.1f} s"
        assert peak < PEAK_BYTES, f"reading allocated {peak / 1e6:.0f} MB"


def refused(path: Path, *words: str) -> str:
    outcome = read_within_bounds(path)
    assert isinstance(outcome, ModelLoadError), f"{path.name} was read as a model"
    for word in words:
        assert word in str(outcome), str(outcome)
    return str(outcome)


def served_or_refused(path: Path) -> None:
    """A harmless change reads as a classifier whose answers are probabilities; anything else is refused."""
    outcome = read_within_bounds(path)
    if isinstance(outcome, model_file.ModelSpec):
        probabilities = inference.classifier_from_spec("probe", outcome).predict_proba(np.zeros((2, 28, 28), np.float32))
        assert probabilities.shape == (2, 10) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-4)


def test_the_untouched_shipped_file_reads(tmp_path):
    assert isinstance(read_within_bounds(write(tmp_path / "cnn.keras", MEMBERS)), model_file.ModelSpec)


# ------------------------------------------------------------------ random damage


@RUNS
@given(st.binary(max_size=4096))
def test_random_bytes_are_refused(tmp_path, raw):
    path = tmp_path / "random.keras"
    path.write_bytes(raw)
    refused(path)


@RUNS
@given(st.floats(0.0, 0.999))
def test_a_file_cut_anywhere_is_refused(tmp_path, where):
    whole = SHIPPED.read_bytes()
    path = tmp_path / "cut.keras"
    path.write_bytes(whole[:int(len(whole) * where)])
    refused(path)


@RUNS
@given(st.floats(0.0, 0.999), st.integers(1, 255))
def test_a_flipped_byte_anywhere_is_served_or_refused(tmp_path, where, mask):
    whole = bytearray(SHIPPED.read_bytes())
    whole[int(len(whole) * where)] ^= mask
    path = tmp_path / "flipped.keras"
    path.write_bytes(bytes(whole))
    served_or_refused(path)


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False)
                           | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                           max_leaves=12)


@RUNS
@given(st.integers(0, len(LAYERS) - 1), st.sampled_from(["class_name", "config", "module", "registered_name"]), JSON_VALUES)
def test_a_layer_entry_changed_at_random_is_served_or_refused(tmp_path, index, key, value):
    layers = json.loads(json.dumps(LAYERS))
    layers[index][key] = value
    served_or_refused(write(tmp_path / "entry.keras", with_config(layers)))


@RUNS
@given(st.integers(1, len(LAYERS) - 1), st.sampled_from(["units", "filters", "kernel_size", "strides", "padding",
                                                         "activation", "target_shape", "pool_size", "epsilon",
                                                         "use_bias", "axis", "dtype", "data_format"]), JSON_VALUES)
def test_a_layer_option_changed_at_random_is_served_or_refused(tmp_path, index, key, value):
    layers = json.loads(json.dumps(LAYERS))
    layers[index]["config"][key] = value
    served_or_refused(write(tmp_path / "option.keras", with_config(layers)))


# ------------------------------------------------------------------ the weights file


def variables(h5) -> list[str]:
    found = []
    h5.visititems(lambda name, item: found.append(name) if isinstance(item, h5py.Dataset) else None)
    return sorted(found)


WEIGHTS = variables(h5py.File(io.BytesIO(MEMBERS["model.weights.h5"]), "r"))


def replaced(h5, name: str, make) -> None:
    del h5[name]
    make(h5, name)


@RUNS
@given(st.sampled_from(WEIGHTS), st.sampled_from(["i1", "i4", "u1", "u8", "?", "c8", "S4"]))
def test_weights_that_are_not_floats_are_refused(tmp_path, name, dtype):
    def change(h5):
        shape = h5[name].shape
        replaced(h5, name, lambda h, n: h.create_dataset(n, data=np.zeros(shape, dtype=dtype)))
    refused(write(tmp_path / "dtype.keras", with_weights(change)), "not floats")


@RUNS
@given(st.sampled_from(WEIGHTS), st.sampled_from(["soft", "external"]))
def test_links_in_place_of_weights_are_refused(tmp_path, name, kind):
    def change(h5):
        def link(h, n):
            h[n] = h5py.SoftLink("/layers") if kind == "soft" else h5py.ExternalLink("/etc/hostname", "/x")
        replaced(h5, name, link)
    refused(write(tmp_path / "link.keras", with_weights(change)), "Link")


@RUNS
@given(st.sampled_from(WEIGHTS), st.sampled_from(["virtual", "external"]))
def test_virtual_and_external_datasets_are_refused(tmp_path, name, kind):
    outside = tmp_path / "outside.bin"
    outside.write_bytes(bytes(1 << 16))

    def change(h5):
        shape, dtype = h5[name].shape, h5[name].dtype

        def make(h, n):
            if kind == "external":
                h.create_dataset(n, shape=shape, dtype=dtype, external=[(str(outside), 0, h5py.h5f.UNLIMITED)])
            else:
                layout = h5py.VirtualLayout(shape=shape, dtype=dtype)
                layout[...] = h5py.VirtualSource(str(outside), "data", shape=shape, dtype=dtype)
                h.create_virtual_dataset(n, layout)
        replaced(h5, name, make)
    refused(write(tmp_path / "virtual.keras", with_weights(change)), "external or virtual")


@RUNS
@given(st.sampled_from(WEIGHTS), st.integers(0, 2), st.integers(1, 9))
def test_weights_of_another_shape_are_refused_before_they_are_read(tmp_path, name, axis, grow):
    def change(h5):
        shape = list(h5[name].shape)
        shape[min(axis, len(shape) - 1)] += grow
        replaced(h5, name, lambda h, n: h.create_dataset(n, data=np.zeros(shape, np.float32)))
    refused(write(tmp_path / "shape.keras", with_weights(change)), "wrong shape")


BATCH_NORM_VARIANCES = [n for n in WEIGHTS if "batch_normalization" in n and n.endswith("/3")]


@RUNS
@given(st.sampled_from(BATCH_NORM_VARIANCES), st.floats(-1e6, -0.01), st.integers(0, 1000))
def test_a_negative_moving_variance_is_refused(tmp_path, name, value, where):
    def change(h5):
        data = h5[name][()]
        data.flat[where % data.size] = value
        h5[name][...] = data
    refused(write(tmp_path / "variance.keras", with_weights(change)), "negative moving variance")


@RUNS
@given(st.lists(st.integers(1, 800), min_size=1, max_size=3).filter(lambda s: int(np.prod(s)) != 784))
def test_a_reshape_that_does_not_hold_the_image_is_refused(tmp_path, target):
    layers = json.loads(json.dumps(LAYERS))
    reshape = next(layer for layer in layers if layer["class_name"] == "Reshape")
    reshape["config"]["target_shape"] = target
    refused(write(tmp_path / "reshape.keras", with_config(layers)))


@RUNS
@given(st.sampled_from(sorted(MEMBERS)), st.floats(0.05, 0.95))
def test_a_truncated_member_is_refused(tmp_path, member, keep):
    raw = MEMBERS[member]
    cut = {**MEMBERS, member: raw[:int(len(raw) * keep)]}
    outcome = read_within_bounds(write(tmp_path / "member.keras", cut))
    if member != "metadata.json":  # not read: metadata.json holds versions and a date only
        assert isinstance(outcome, ModelLoadError)


# ------------------------------------------------------------------ every cap


def test_a_config_past_its_cap_is_refused_without_parsing_it(tmp_path):
    padded = MEMBERS["config.json"] + b" " * model_file.MAX_CONFIG_BYTES
    refused(write(tmp_path / "config.keras", {**MEMBERS, "config.json": padded}), "config.json of")


def test_a_weights_member_claiming_more_than_its_cap_is_refused_before_it_is_read(tmp_path):
    """The zip's directory says 600 MB (a zip bomb's claim); the reader believes the claim and stops."""
    path = write(tmp_path / "bomb.keras", MEMBERS)
    whole = bytearray(path.read_bytes())
    name = b"model.weights.h5"
    claimed = struct.pack("<I", 600 << 20)
    at = 0
    while (at := whole.find(b"PK\x01\x02", at)) != -1:  # each central directory entry
        length = struct.unpack_from("<H", whole, at + 28)[0]
        if whole[at + 46: at + 46 + length] == name:
            whole[at + 24: at + 28] = claimed  # its uncompressed size
        at += 4
    path.write_bytes(bytes(whole))
    refused(path, "model.weights.h5 of 629,145,600 bytes")


def test_more_layers_than_the_cap_are_refused(tmp_path):
    dropout = {"module": "keras.layers", "class_name": "Dropout", "config": {"name": "d", "rate": 0.1}}
    layers = [LAYERS[0]] + [json.loads(json.dumps(dropout)) for _ in range(model_file.MAX_LAYERS + 1)]
    refused(write(tmp_path / "deep.keras", with_config(layers)), "layers, more than any model")


@pytest.mark.parametrize("key, value, words", [
    ("units", model_file.MAX_PARAMETERS // 1000, "far larger"),  # a Dense layer past MAX_PARAMETERS (>1,000 inputs)
    ("filters", layer_checks.MAX_BUFFER_PER_IMAGE // 100, "far larger"),  # a Conv2D past MAX_BUFFER_PER_IMAGE
])
def test_layers_past_the_size_caps_are_refused_from_their_config_alone(tmp_path, key, value, words):
    layers = json.loads(json.dumps(LAYERS))
    layer = next(entry for entry in layers if key in entry["config"])
    layer["config"][key] = value
    refused(write(tmp_path / "huge.keras", with_config(layers)), words)
