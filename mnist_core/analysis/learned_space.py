"""The learned space: where each network puts every digit. A network's last hidden layer (the
input to its final 10-way layer) is where the digits must already be sorted for one linear step to
read them; projected to 2-D, it shows which digits the network holds apart and which it mixes.

This module is NumPy only and runs in the server: the fixed sample of test digits, the hidden
features through the NumPy forward pass, placing a new digit into a map already drawn (its
nearest test digits in hidden space, and the mean of their places), aligning one epoch's map to
the last, the separation scores, and the map files. Drawing a map (openTSNE) happens in the
training worker or the CLI, `mnist_core.training.projection`: the server never imports it.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
from pathlib import Path

import numpy as np

from mnist_core.analysis import evaluation
from mnist_core.data.mnist import default_data_dir
from mnist_core.models import inference, registry
from mnist_core.models.inference import Classifier, _Affine

MAP_PER_DIGIT = 300  # a shipped model's map: 3,000 test digits, balanced
EPOCH_PER_DIGIT = 100  # a training run's map each epoch: the first 1,000 of the same digits
NEIGHBOURS = 10  # placing a digit, and the 2-D neighbour score
SAMPLE_SEED = 0
MAPS_SUBDIR = "maps"


class MapFileError(ValueError):
    """A map that is missing, damaged or drawn for another version of its model; the message names
    the command that draws it again."""


def map_sample(y_test: np.ndarray, per_digit: int = MAP_PER_DIGIT) -> np.ndarray:
    """Indices of test digits, `per_digit` of each digit, the same on every machine. The first
    EPOCH_PER_DIGIT of each digit here are the epoch maps' digits, so the two show the same points."""
    rng = np.random.default_rng(SAMPLE_SEED)
    y = np.asarray(y_test)
    chosen = [np.sort(rng.permutation(np.flatnonzero(y == digit))[:per_digit]) for digit in range(10)]
    return np.concatenate(chosen).astype(np.int32)


def epoch_sample(y_test: np.ndarray) -> np.ndarray:
    """The epoch maps' digits: the map sample's first EPOCH_PER_DIGIT of each digit."""
    sample = map_sample(y_test)
    labels = np.asarray(y_test)[sample]
    return np.concatenate([sample[labels == digit][:EPOCH_PER_DIGIT] for digit in range(10)])


def hidden_ops(classifier: Classifier) -> list:
    """The forward pass up to the last hidden layer: every op before the final dense layer."""
    last = max((i for i, op in enumerate(classifier.ops) if isinstance(op, _Affine) and not op.elementwise),
               default=None)
    if last is None:
        raise ValueError(f"{classifier.name}: no dense layer to read a hidden layer before")
    return classifier.ops[:last]


def hidden_features(classifier: Classifier, images) -> np.ndarray:
    """(n, units) float32: each image's last hidden layer, in chunks of the classifier's size (a
    chunk per core from inference.PARALLEL_FROM images, as predict_proba does)."""
    x = np.asarray(images, np.float32)
    if x.ndim == 2:
        x = x[None]
    ops = hidden_ops(classifier)

    def forward(part):
        for op in ops:
            part = op(part)
        return part.reshape(len(part), -1)

    chunks = [x[start:start + classifier.chunk] for start in range(0, len(x), classifier.chunk)]
    if not chunks:
        return np.zeros((0, 0), np.float32)
    parts = list(inference._parallel_pool().map(forward, chunks)) if len(x) >= inference.PARALLEL_FROM \
        else [forward(chunk) for chunk in chunks]
    return np.concatenate(parts)


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances between the rows of `a` and of `b`, (len(a), len(b))."""
    squared = (a * a).sum(1)[:, None] - 2 * a @ b.T + (b * b).sum(1)[None, :]
    return np.sqrt(np.maximum(squared, 0))


def nearest(features: np.ndarray, sample_features: np.ndarray, k: int = NEIGHBOURS) -> tuple[np.ndarray, np.ndarray]:
    """For each row of `features`, its k nearest sample rows (Euclidean, nearest first): indices
    into the sample, and distances."""
    distances = _distances(np.asarray(features, np.float32), np.asarray(sample_features, np.float32))
    order = np.argsort(distances, axis=1)[:, :k]
    return order, np.take_along_axis(distances, order, axis=1)


def place(features: np.ndarray, sample_features: np.ndarray, coords: np.ndarray,
          k: int = NEIGHBOURS) -> tuple[np.ndarray, np.ndarray]:
    """Where new digits land in a drawn map, without the projection library: the mean of their k
    nearest test digits' places (nearest in the network's hidden space), weighted by closeness.
    A digit between two clusters in the network's eyes lands between them. Returns ((m, 2) places,
    (m, k) neighbour indices into the sample)."""
    order, distances = nearest(features, sample_features, k)
    weights = 1.0 / (distances + 1e-6 + 0.05 * distances[:, :1])  # an exact match does not take all
    weights /= weights.sum(1, keepdims=True)
    return (np.asarray(coords, np.float32)[order] * weights[:, :, None]).sum(1), order


def align(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """`points` turned, flipped, scaled and moved to lie as close as they can to `reference` (the
    same digits' places in the map before): orthogonal Procrustes. A map's orientation and scale
    mean nothing, so the epoch maps differ only in what the network learned."""
    p, r = np.asarray(points, np.float64), np.asarray(reference, np.float64)
    p_mean, r_mean = p.mean(0), r.mean(0)
    pc, rc = p - p_mean, r - r_mean
    u, s, vt = np.linalg.svd(pc.T @ rc)
    rotation = u @ vt
    scale = s.sum() / max((pc * pc).sum(), 1e-12)
    return (scale * pc @ rotation + r_mean).astype(np.float32)


def _pairwise(coords: np.ndarray) -> np.ndarray:
    c = np.asarray(coords, np.float64)
    return _distances(c, c)


def neighbour_accuracy(coords: np.ndarray, labels: np.ndarray, k: int = NEIGHBOURS,
                       distances: np.ndarray | None = None) -> float:
    """How often a point's k nearest others in the map (itself left out) mostly share its digit."""
    labels = np.asarray(labels)
    distances = _pairwise(coords) if distances is None else distances.copy()
    np.fill_diagonal(distances, np.inf)
    votes = labels[np.argsort(distances, axis=1)[:, :k]]
    counts = np.stack([(votes == digit).sum(1) for digit in range(10)], axis=1)
    return float(np.mean(counts.argmax(1) == labels))


def silhouette(coords: np.ndarray, labels: np.ndarray, distances: np.ndarray | None = None) -> float:
    """The mean silhouette score in the map: per point, (b − a) / max(a, b), with a the mean distance
    to its own digit's points and b to the nearest other digit's. 1 is tight, far-apart clusters."""
    labels = np.asarray(labels)
    distances = _pairwise(coords) if distances is None else distances
    digits = np.unique(labels)
    means = np.stack([distances[:, labels == d].sum(1) for d in digits], axis=1)
    sizes = np.array([(labels == d).sum() for d in digits], np.float64)
    own = np.searchsorted(digits, labels)
    a = means[np.arange(len(labels)), own] / np.maximum(sizes[own] - 1, 1)
    means /= sizes
    means[np.arange(len(labels)), own] = np.inf
    b = means.min(1)
    return float(np.mean((b - a) / np.maximum(np.maximum(a, b), 1e-12)))


def separation(coords: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Both scores of a map, (neighbour_accuracy, silhouette), from one distance matrix."""
    distances = _pairwise(coords)
    return neighbour_accuracy(coords, labels, distances=distances), silhouette(coords, labels, distances)


@dataclasses.dataclass(frozen=True, eq=False)
class ModelMap:
    """One model's map: where its last hidden layer puts each sampled test digit."""
    name: str
    sha256: str  # of the model file it was drawn from
    indices: np.ndarray  # (n,) test-set indices
    labels: np.ndarray  # (n,) their digits
    coords: np.ndarray  # (n, 2) float32
    method: str  # e.g. "openTSNE 1.0.4, perplexity 30"
    seconds: float  # drawing it, in the worker or the CLI
    neighbour_accuracy: float
    silhouette: float
    drawn_on: str = dataclasses.field(default_factory=lambda: datetime.date.today().isoformat())


def maps_dir(directory: Path | None = None) -> Path:
    return (directory or registry.models_dir()) / MAPS_SUBDIR


def map_path(name: str, directory: Path | None = None) -> Path:
    return maps_dir(directory) / f"{registry.sanitize_name(name)}.npz"


def write_map(model_map: ModelMap, directory: Path | None = None) -> Path:
    path = map_path(model_map.name, directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {f.name: getattr(model_map, f.name) for f in dataclasses.fields(ModelMap)
            if f.name not in ("indices", "labels", "coords")}
    registry.atomic_write(path, lambda tmp: np.savez_compressed(
        tmp, meta=np.array(json.dumps(meta)), indices=model_map.indices.astype(np.int32),
        labels=model_map.labels.astype(np.int8), coords=model_map.coords.astype(np.float32)))
    return path


def read_map(name: str, directory: Path | None = None, sha256: str | None = None) -> ModelMap:
    """`name`'s map; MapFileError naming the fix when it is missing, damaged, or (given the model
    file's `sha256`) drawn for another version of the model."""
    path = map_path(name, directory)
    again = f"Draw it with: python -m mnist_core map {registry.sanitize_name(name)}"
    if not path.is_file():
        raise MapFileError(f"No map of `{name}` yet. {again} (a few seconds).")
    try:
        with np.load(path, allow_pickle=False) as stored:
            meta = json.loads(str(stored["meta"]))
            arrays = {key: stored[key] for key in ("indices", "labels", "coords")}
        model_map = ModelMap(**meta, **arrays)
        n = len(model_map.indices)
        if model_map.coords.shape != (n, 2) or model_map.labels.shape != (n,) or not np.isfinite(model_map.coords).all():
            raise ValueError(f"shapes {model_map.coords.shape} and {model_map.labels.shape} for {n} digits")
    except Exception as exc:  # a damaged zip, JSON, fields or shapes: all end the same way
        raise MapFileError(f"The map {path.name} cannot be read ({type(exc).__name__}: {exc}). {again}") from exc
    if sha256 is not None and model_map.sha256 != sha256:
        raise MapFileError(f"The map of `{name}` was drawn for an earlier version of the model. {again}")
    return model_map


def most_like(neighbour_labels: np.ndarray) -> tuple[int, int]:
    """The digit most of a placed digit's nearest test digits are, and how many of them are."""
    counts = np.bincount(np.asarray(neighbour_labels, int), minlength=10)
    return int(counts.argmax()), int(counts.max())


def separation_line(maps: dict[str, ModelMap]) -> str:
    """What the maps' scores say, from the files: each model's scores, then which separates the digits
    more cleanly, only where both scores agree."""
    parts = [f"{label}: {m.neighbour_accuracy:.1%} of its {len(m.indices):,} digits share the digit of most of "
             f"their {NEIGHBOURS} nearest in the map, silhouette {m.silhouette:.2f}" for label, m in maps.items()]
    line = "; ".join(parts) + "."
    if len(maps) == 2:
        (a, first), (b, second) = maps.items()
        if first.neighbour_accuracy > second.neighbour_accuracy and first.silhouette > second.silhouette:
            line += f" By both scores the {a} separates the digits more cleanly."
        elif second.neighbour_accuracy > first.neighbour_accuracy and second.silhouette > first.silhouette:
            line += f" By both scores the {b} separates the digits more cleanly."
        else:
            line += " The two scores do not agree on which separates the digits more cleanly."
    return line


@dataclasses.dataclass(frozen=True, eq=False)
class Space:
    """A drawn map with its model's hidden features of the same digits: what placing needs."""
    model_map: ModelMap
    features: np.ndarray  # (n, units) float32

    def place(self, classifier: Classifier, images) -> tuple[np.ndarray, np.ndarray]:
        """Where `images` ((m, 28, 28) in [0, 1]) land, and each one's nearest sample digits."""
        return place(hidden_features(classifier, images), self.features, self.model_map.coords)


def features_dir() -> Path:
    """Where the maps' hidden features are cached: beside MNIST in the data cache."""
    return default_data_dir() / "hidden"


def load_space(classifier: Classifier, x_test: np.ndarray, directory: Path | None = None,
               cache_dir: Path | None = None) -> Space:
    """The model's map (checked against its file) and its hidden features of the map's digits, read
    from the disk cache when this model file and these digits were read before (the CNN's 3,000
    take ~1 s to compute on this machine, a fresh server's first Learned space page). MapFileError
    when there is no current map."""
    digest = registry.file_hash(classifier.name, directory)
    model_map = read_map(classifier.name, directory, digest)
    images = np.asarray(x_test)[model_map.indices]
    key = hashlib.sha256(images.tobytes()).hexdigest()[:16]
    path = (cache_dir or features_dir()) / f"{digest}-{key}.npy"
    try:
        features = np.load(path, allow_pickle=False)
        if features.dtype == np.float32 and features.ndim == 2 and len(features) == len(images) \
                and np.isfinite(features).all():
            return Space(model_map, features)
    except (OSError, ValueError, EOFError):  # not cached yet, or a damaged file: computed again
        pass
    features = hidden_features(classifier, images.astype(np.float32) / 255.0)
    evaluation.write_cached_array(path, features)
    return Space(model_map, features)
