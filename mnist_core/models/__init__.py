"""The models stage: every architecture as a preset (`presets`), the `.keras` reader that needs no
Keras (`model_file`, its layer checks in `layer_checks`), the registry of saved models and their
cards (`registry`), the NumPy forward pass the server predicts with (`inference`), the seed
write-ups' reported figures (`writeups`), and the presets as Keras networks (`networks`, for the
training worker).

`mnist_core.models.PRESETS` and `build_model(name)` are the names other code relies on. The
package's face lends them (and the rest of `presets` and `networks`) only when asked, so importing
any module of this package costs that module alone. The serving side imports
`mnist_core.models.presets` (or another module), never the face, which reaches Keras through
`networks`: the layer contracts (`.importlinter`) check that."""

_PRESETS_NAMES = {"INPUT_SHAPE", "NUM_CLASSES", "OPTIMIZERS", "MODEL_KINDS", "PRESETS", "SHIPPED_AUGMENT", "Preset",
                  "get_preset", "matched_ann_hidden", "matched_cnn_shape", "matched_conv_parameters",
                  "matched_parameters"}
_NETWORKS_NAMES = {"build_model", "layer_table", "matched_model"}
__all__ = sorted(_PRESETS_NAMES | _NETWORKS_NAMES)


def __getattr__(name: str):
    # PEP 562: a module's attribute asked for and not found. Imported here, on first use.
    if name in _PRESETS_NAMES:
        from mnist_core.models import presets

        return getattr(presets, name)
    if name in _NETWORKS_NAMES:
        from mnist_core.models import networks

        return getattr(networks, name)
    raise AttributeError(f"module 'mnist_core.models' has no attribute {name!r}")
