"""A saved model and what the app measures of it, reached in one trip.

`measured_model(name, dataset)` reads the model file once per version (the NumPy classifier and
its card, keyed by the file's hash) and measures, once each and only when asked: its probabilities
on the 10,000 test images (also cached on disk, `evaluation`), its scores, its calibration with
the *unsure* rule that every verdict uses, and its map of the learned space. A page or an audience worker asks once and reads
attributes; this module goes down to the registry, the reader and the measures, never back up.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from pathlib import Path

import numpy as np

from mnist_core.analysis import calibration, evaluation, learned_space, verdict
from mnist_core.data.mnist import MnistDataset
from mnist_core.models import registry
from mnist_core.models.inference import Classifier, load_classifier


@dataclasses.dataclass(eq=False)
class MeasuredModel:
    name: str
    file_hash: str  # SHA-256 of the model file: what every cached measure of it is keyed by
    classifier: Classifier
    card: dict
    dataset: MnistDataset
    directory: Path | None = None
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False)

    @property
    def kind(self) -> str:
        return self.classifier.kind

    @functools.cached_property
    def test_probabilities(self) -> np.ndarray:
        """(10000, 10): read from the disk cache when this file was scored before."""
        with self._lock:  # sessions asking at once score it once
            return evaluation.test_set_probabilities(self.name, self.dataset, self.directory)

    @functools.cached_property
    def evaluation(self) -> evaluation.Evaluation:
        return evaluation.Evaluation(self.test_probabilities, self.dataset.y_test)

    @functools.cached_property
    def calibration(self) -> calibration.Calibration:
        """Its temperature, its unsure threshold and what that threshold catches."""
        probabilities = self.test_probabilities
        with self._lock:
            return calibration.calibrate(self.classifier, probabilities, self.dataset.y_test)

    @functools.cached_property
    def space(self) -> learned_space.Space:
        """Its map of the learned space, with the hidden features that placing a digit needs.
        MapFileError (naming the command that draws it) when there is no map of this file version."""
        return learned_space.load_space(self.classifier, self.dataset.x_test, self.directory)

    @property
    def judge(self) -> verdict.Judge:
        """The model as the one verdict uses it: with its measured unsure rule."""
        return verdict.Judge(self.name, self.classifier, verdict.Rule.of(self.calibration))


_cache: dict[tuple, MeasuredModel] = {}
_cache_lock = threading.Lock()


def measured_model(name: str, dataset: MnistDataset, directory: Path | None = None) -> MeasuredModel:
    """The named model and its measures for the file as it is now; a file saved over the name is a
    new version, measured again. ModelLoadError (naming the file and the fix) when it is missing,
    corrupt or foreign."""
    try:
        digest = registry.file_hash(name, directory)
    except (FileNotFoundError, registry.ModelNameError):
        load_classifier(name, directory)  # raises the clear ModelLoadError
        raise
    key = (name, str(directory), digest, dataset.sha256.get(evaluation.TEST_IMAGES_FILE))
    with _cache_lock:
        if key not in _cache:
            _cache[key] = MeasuredModel(name, digest, load_classifier(name, directory),
                                        registry.read_card(name, directory), dataset, directory)
        return _cache[key]
