"""What a training worker is asked to do and what it says back: the settings a run accepts (and
their checks), the job sent down the pipe, and the messages that come up. No TensorFlow: the
server builds jobs and reads messages; the worker (`training.worker`) only imports them."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from mnist_core.data import augment
from mnist_core.models import presets

MAX_EPOCHS = 200



MAX_LEARNING_RATE = 1.0



MIN_TRAIN_SIZE = 100



MAX_VALIDATION_SPLIT = 0.5



MNIST_TRAIN_IMAGES = 60_000



class HyperparameterError(ValueError):
    """A setting outside what can train; the message says the allowed range."""



@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    preset: str
    epochs: int | None = None  # None: the preset's default
    batch_size: int | None = None
    learning_rate: float | None = None
    optimizer: str | None = None
    validation_split: float | None = None
    train_size: int | None = None  # None: all 60,000
    augment: tuple[str, ...] | bool | None = None  # mnist_core.data.augment's kinds (True: the old three); None: the preset's
    seed: int = 0
    start_from: str | None = None  # a saved model (same preset) whose weights the run fine-tunes; None: fresh

    def __post_init__(self):
        if isinstance(self.augment, list):  # as a card or a recording's JSON stores the kinds
            object.__setattr__(self, "augment", tuple(self.augment))

    def resolved(self) -> "TrainingConfig":
        """Every None replaced by the preset's default."""
        p = presets.get_preset(self.preset)
        return dataclasses.replace(
            self,
            epochs=p.epochs if self.epochs is None else self.epochs,
            batch_size=p.batch_size if self.batch_size is None else self.batch_size,
            learning_rate=p.learning_rate if self.learning_rate is None else self.learning_rate,
            optimizer=p.optimizer if self.optimizer is None else self.optimizer,
            validation_split=p.validation_split if self.validation_split is None else self.validation_split,
            augment=augment.kinds_from(p.augment if self.augment is None else self.augment),
        )



def validate(config: TrainingConfig, available: int) -> TrainingConfig:
    """The resolved config, or HyperparameterError naming the setting and its allowed range."""
    try:
        c = config.resolved()
    except augment.AugmentError as exc:
        raise HyperparameterError(str(exc)) from None
    train_size = available if c.train_size is None else c.train_size
    if not isinstance(train_size, (int, np.integer)) or not MIN_TRAIN_SIZE <= train_size <= available:
        raise HyperparameterError(
            f"Training-set size must be between {MIN_TRAIN_SIZE} and {available:,} images; got {train_size}.")
    if not isinstance(c.epochs, (int, np.integer)) or not 1 <= c.epochs <= MAX_EPOCHS:
        raise HyperparameterError(f"Epochs must be a whole number from 1 to {MAX_EPOCHS}; got {c.epochs}.")
    if not isinstance(c.validation_split, (int, float)) or not 0 <= c.validation_split <= MAX_VALIDATION_SPLIT:
        raise HyperparameterError(
            f"Validation split must be between 0 and {MAX_VALIDATION_SPLIT}; got {c.validation_split}.")
    fit_size = train_size - int(round(train_size * c.validation_split))
    if not isinstance(c.batch_size, (int, np.integer)) or not 1 <= c.batch_size <= fit_size:
        raise HyperparameterError(
            f"Batch size must be between 1 and the {fit_size:,} images left for training; got {c.batch_size}.")
    lr = c.learning_rate
    if not isinstance(lr, (int, float)) or not math.isfinite(lr) or not 0 < lr <= MAX_LEARNING_RATE:
        raise HyperparameterError(
            f"Learning rate must be above 0 and at most {MAX_LEARNING_RATE:g} "
            f"(0.001 suits Adam, 0.01–0.1 suits SGD); got {lr}.")
    if c.optimizer not in presets.OPTIMIZERS:
        raise HyperparameterError(f"Optimiser must be one of {', '.join(presets.OPTIMIZERS)}; got {c.optimizer!r}.")
    if c.start_from is not None:
        _check_start_from(c)
    return dataclasses.replace(c, train_size=int(train_size))



def _check_start_from(config: TrainingConfig) -> None:
    """A fine-tune starts from a saved model of the same preset: its layers are what the preset builds."""
    from mnist_core.models import registry

    name = config.start_from
    try:
        exists = registry.model_path(name).is_file()
    except (registry.ModelNameError, TypeError):
        exists = False
    if not exists:
        raise HyperparameterError(f"There is no saved model {name!r} to start from; pick one of "
                                  f"{', '.join(registry.list_models())}.")
    preset = registry.read_card(name).get("preset")
    if preset != config.preset:
        raise HyperparameterError(f"The saved model {name!r} was trained from preset {preset!r}, not "
                                  f"{config.preset!r}: fine-tune it with its own preset.")



@dataclasses.dataclass(frozen=True)
class EpochRecord:
    epoch: int  # 1-based
    loss: float
    accuracy: float
    val_loss: float | None
    val_accuracy: float | None
    seconds: float
    samples_per_second: float
    partial: bool = False  # the run was stopped during this epoch



@dataclasses.dataclass(frozen=True)
class BatchProgress:
    epoch: int  # 1-based
    batch: int  # batches done in this epoch
    batches: int  # batches per epoch
    samples_per_second: float
    seconds_left: float  # for the whole run, at the current speed



@dataclasses.dataclass(frozen=True)
class TrainingJob:
    """What the server sends a training worker."""
    config: TrainingConfig
    data: tuple | None  # ((x_train, y_train), (x_test, y_test)) uint8; None: the worker loads MNIST itself
    evaluate_test: bool
    model_path: str
    drawing: np.ndarray | None = None  # a 28×28 image in [0, 1] the strip shows after its 20 test digits


@dataclasses.dataclass(frozen=True)
class Outcome:
    state: str  # finished | stopped | failed
    message: str
    test_accuracy: float | None = None
    parameters: int | None = None
    versions: dict | None = None
    model_written: bool = False
