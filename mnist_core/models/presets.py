"""Every architecture the demo can train, each a preset with the defaults its write-up used.

Each preset's layers are in `networks` (Keras); this module has no Keras, so the server reads
presets freely. All models take (n, 28, 28) float32 in [0, 1] and end in a 10-way softmax, so every page,
the registry and the fast inference path treat them alike.
"""

from __future__ import annotations

import dataclasses

from mnist_core.data import augment

INPUT_SHAPE = (28, 28)
NUM_CLASSES = 10
OPTIMIZERS = ("adam", "sgd", "rmsprop")
MODEL_KINDS = ("ann", "cnn")  # the two families every page compares (a preset's `kind`)


@dataclasses.dataclass(frozen=True)
class Preset:
    name: str
    kind: str  # "ann" or "cnn": what the global ANN/CNN toggle filters on
    description: str  # one line, shown in the UI
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    batch_size: int = 32
    epochs: int = 10
    validation_split: float = 0.0
    loss: str = "sparse_categorical_crossentropy"  # or "categorical_crossentropy" (one-hot labels)
    nesterov: bool = False
    momentum: float = 0.0
    augment: tuple[str, ...] = ()  # mnist_core.data.augment's kinds applied while training; () none
    cosine_decay: bool = False  # learning rate follows a cosine from its start value to ~0

    @property
    def one_hot(self) -> bool:
        return self.loss == "categorical_crossentropy"

    def hyperparameters(self) -> dict:
        return {
            "optimizer": self.optimizer, "learning_rate": self.learning_rate,
            "batch_size": self.batch_size, "epochs": self.epochs,
            "validation_split": self.validation_split, "loss": self.loss,
            "nesterov": self.nesterov, "momentum": self.momentum,
            "augment": self.augment, "cosine_decay": self.cosine_decay,
        }


SHIPPED_AUGMENT = augment.AUGMENTATION_NAMES  # every kind: docs/handwriting.md says what each gained

PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in [
        Preset("ann", "ann",
               "Our best plain network: 784 → 512 → 512 → 10 with dropout, trained on digits shifted, "
               "turned, scaled, slanted, bent, drawn thinner or thicker, redrawn with the Draw page's pens, "
               "blurred and speckled.",
               batch_size=128, epochs=30, augment=SHIPPED_AUGMENT, cosine_decay=True),
        Preset("cnn", "cnn",
               "Our best convolutional network: three 3×3 conv blocks (32, 64, 128 filters) with batch "
               "norm and max-pool, a 128-unit dense layer, trained on digits shifted, turned, scaled, "
               "slanted, bent, drawn thinner or thicker, redrawn with the Draw page's pens, blurred and speckled.",
               learning_rate=2e-3, batch_size=128, epochs=30, augment=SHIPPED_AUGMENT,
               cosine_decay=True),
        Preset("seed000-ann", "ann",
               "Classic MLP: Dense 350 ReLU → 50 ReLU → softmax, Adam, 10 epochs "
               "(the write-up fed raw 0–255 pixels; we normalise)."),
        Preset("seed001-ann", "ann",
               "Small MLP: 128 ReLU → 32 ReLU → softmax, Adam, 25 epochs, 20% held out for validation.",
               epochs=25, validation_split=0.2),
        Preset("seed002-ann", "ann",
               "One hidden layer of 300 sigmoid units, Adam, batch 1000, 10 epochs (write-up: 93.5%).",
               batch_size=1000),
        Preset("seed000-cnn", "cnn",
               "Conv 32 → pool → conv 64 → pool (dropout .25 each) → Dense 256 → softmax, Adam, 10 epochs."),
        Preset("seed004-cnn", "cnn",
               "Conv 64 → pool → conv 32 → pool → Dense 512 → 256, plain SGD lr 0.001 with Nesterov, "
               "one-hot labels, batch 32 (write-up: 94.16%).",
               optimizer="sgd", learning_rate=0.001, nesterov=True,
               loss="categorical_crossentropy"),
    ]
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"Unknown preset {name!r}. Choose one of: {', '.join(PRESETS)}") from None


# ------------------------------------------------------------------ parameter-matched pairs
# The Experiments page's fair fight: an ANN and a CNN with the same number of weights, so any gap is
# what the architecture assumes, not its size. Counts are worked out here (and checked against
# Keras in the tests) so the server can show them without building a model.

def matched_ann_hidden(target: int) -> int:
    """Hidden units h of Flatten → Dense h ReLU → Dense 10: 785h + 10(h + 1) weights."""
    return max(1, round((target - 10) / 795))


def matched_cnn_shape(target: int) -> tuple[int, int]:
    """(filters f, dense units d) of Conv f → pool → Conv 2f → pool → Dense d → 10 (3×3 valid convs,
    so the 28 px digit becomes 5×5×2f). f grows with the square root of the budget; d takes the rest.
    The convolutions hold a few percent of the weights: sharing them is what makes them cheap."""
    filters = max(2, round(target ** 0.5 / 20))
    conv = 10 * filters + 18 * filters ** 2 + 2 * filters + 10  # both convs and the output bias
    dense = max(1, round((target - conv) / (50 * filters + 11)))
    return filters, dense


def matched_conv_parameters(target: int) -> int:
    """The weights in the matched CNN's two convolutions (3×3×1×f + f, then 3×3×f×2f + 2f)."""
    filters, _ = matched_cnn_shape(target)
    return 10 * filters + 18 * filters ** 2 + 2 * filters


def matched_parameters(kind: str, target: int) -> int:
    if kind == "ann":
        hidden = matched_ann_hidden(target)
        return 795 * hidden + 10
    filters, dense = matched_cnn_shape(target)
    return matched_conv_parameters(target) + (50 * filters + 11) * dense + 10


