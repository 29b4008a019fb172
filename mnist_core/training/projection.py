"""Drawing the learned space's maps with openTSNE: for a saved model (the CLI, `python -m mnist_core
map NAME`) and for a training run at each epoch (the worker). Only the worker and the CLI import
this module; the server places digits into maps already drawn (`mnist_core.analysis.learned_space`).

Why openTSNE: measured here on 3,000 test digits' last hidden layers, it and UMAP (umap-learn 0.5.12)
separate the digits alike by their 2-D neighbours (ANN 0.986 both, CNN 0.997 and 0.995), openTSNE in
4.5–4.9 s against UMAP's 9–18 s, and `import umap` loads TensorFlow. PCA takes no time but mixes the
digits (0.77 and 0.82): it is what a page would fall back to, and none needs it.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from mnist_core.analysis import learned_space
from mnist_core.analysis.learned_space import ModelMap
from mnist_core.models import registry
from mnist_core.models.inference import Classifier

PERPLEXITY = 30
EXAGGERATED_ITERATIONS, ITERATIONS = 250, 500  # openTSNE's defaults: a model's map
FIRST_EPOCH_ITERATIONS = (125, 125)  # an epoch map from nothing: half the work, on a third of the digits
NEXT_EPOCH_ITERATIONS = 75  # from the last epoch's map: the digits move on from where they were
SNAPSHOT_BUDGET = 0.05  # of training time, for every snapshot together (epoch_snapshots)
FIRST_MAP_SECONDS = 0.6  # what the first epoch map is expected to cost (measured: 0.5 s, either shipped model)


def method() -> str:
    import openTSNE

    return f"openTSNE {openTSNE.__version__}, perplexity {PERPLEXITY}"


def tsne(features: np.ndarray, seed: int = 0, init: np.ndarray | None = None,
         iterations: tuple[int, int] = (EXAGGERATED_ITERATIONS, ITERATIONS)) -> np.ndarray:
    """(n, 2) float32: t-SNE of `features`, the same for the same seed. From `init` (an earlier map of
    the same digits) when given, else from the features' first two principal components."""
    import openTSNE

    features = np.asarray(features, np.float32)
    neighbours = "exact" if len(features) <= 1500 else "annoy"
    affinities = openTSNE.affinity.PerplexityBasedNN(features, perplexity=PERPLEXITY, method=neighbours,
                                                     random_state=seed, n_jobs=1)
    start = (openTSNE.initialization.pca(features, random_state=seed) if init is None
             else np.array(init, np.float64))  # at its own scale: the digits go on from where they were
    embedding = openTSNE.TSNEEmbedding(start, affinities, random_state=seed, n_jobs=1,
                                       negative_gradient_method="bh")
    exaggerated, plain = iterations
    if exaggerated:
        embedding = embedding.optimize(exaggerated, exaggeration=12, momentum=0.5)
    embedding = embedding.optimize(plain, momentum=0.8)
    return np.asarray(embedding, np.float32)


def draw_map(classifier: Classifier, x_test: np.ndarray, y_test: np.ndarray, seed: int = 0,
             directory=None) -> ModelMap:
    """A saved model's map of the 3,000 sampled test digits, with its separation scores."""
    started = time.perf_counter()
    indices = learned_space.map_sample(y_test)
    images = np.asarray(x_test)[indices].astype(np.float32) / 255.0
    coords = tsne(learned_space.hidden_features(classifier, images), seed)
    labels = np.asarray(y_test)[indices].astype(np.int8)
    return ModelMap(classifier.name, registry.file_hash(classifier.name, directory), indices, labels, coords,
                    method(), time.perf_counter() - started, *learned_space.separation(coords, labels))


class EpochMaps:
    """A training run's map at each epoch, on the epoch sample's 1,000 digits. Each map starts from
    the last one and is aligned to it, so the digits move rather than jump. A map is taken only while
    every snapshot together stays within SNAPSHOT_BUDGET of the training time so far: a run of quick
    epochs gets fewer maps, and the slider shows the last one taken."""

    def __init__(self, seed: int = 0):
        self.seed = seed
        self.last: np.ndarray | None = None
        self.last_cost: float | None = None

    def affordable(self, training_seconds: float, snapshot_seconds: float) -> bool:
        expected = 1.25 * self.last_cost if self.last_cost is not None else FIRST_MAP_SECONDS  # maps vary
        return snapshot_seconds + expected <= SNAPSHOT_BUDGET * training_seconds

    def take(self, hidden_features: Callable[[], np.ndarray]) -> np.ndarray:
        """This epoch's map of the epoch sample's hidden features (`hidden_features()`), float16."""
        started = time.perf_counter()
        features = hidden_features()
        if self.last is None:
            coords = tsne(features, self.seed, iterations=FIRST_EPOCH_ITERATIONS)
        else:
            coords = learned_space.align(tsne(features, self.seed, init=self.last,
                                              iterations=(0, NEXT_EPOCH_ITERATIONS)), self.last)
        self.last, self.last_cost = coords, time.perf_counter() - started
        return coords.astype(np.float16)
