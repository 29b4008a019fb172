"""The models stage: every architecture as a preset (`presets`), the `.keras` reader that needs no
Keras (`model_file`), the registry of saved models and their cards (`registry`), the NumPy
forward pass the server predicts with (`inference`), the seed write-ups' reported figures
(`writeups`), and the presets as Keras networks (`networks`, for the training worker).

`mnist_core.models.PRESETS` and `build_model(name)` are the names other code relies on. This
package's face lends `build_model` from `networks`, so the serving side imports
`mnist_core.models.presets` (or another module), never the package itself: the layer contracts
(`.importlinter`) check that."""

from mnist_core.models.networks import build_model, layer_table, matched_model
from mnist_core.models.presets import (
                                       INPUT_SHAPE,
                                       NUM_CLASSES,
                                       OPTIMIZERS,
                                       PRESETS,
                                       SHIPPED_AUGMENT,
                                       Preset,
                                       get_preset,
                                       matched_ann_hidden,
                                       matched_cnn_shape,
                                       matched_conv_parameters,
                                       matched_parameters,
)

__all__ = ["INPUT_SHAPE", "NUM_CLASSES", "OPTIMIZERS", "PRESETS", "SHIPPED_AUGMENT", "Preset", "build_model",
           "get_preset", "layer_table", "matched_ann_hidden", "matched_cnn_shape", "matched_conv_parameters",
           "matched_model", "matched_parameters"]
