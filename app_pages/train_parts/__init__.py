"""The Train page's parts: `shared` (what every mode shows: settings, curves, the epoch strip and
slider, progress), and one module per mode (`one`, `race`, `replay`). The rules they follow are
in mnist_core.training.tracks."""
