"""Why the shipped CNN collapses under noise and blur where a plain CNN does not: its accuracy on
1,000 corrupted test digits (the Robustness experiment's corruptions, mnist_core.training.experiments)
with the batch-norm statistics it learned, and with each batch-norm layer using the corrupted
batch's own statistics instead (AdaBN, Li et al. 2016). If the second recovers, the weights read
the digits fine and the learned statistics are what no longer fit: the background of MNIST is
exactly 0, and noise (clipped at 0) or blur moves every channel's mean.

    .venv/bin/python benchmarks/robustness_diagnosis.py [--models cnn ann]

Keras is imported here (a measuring script, not the server)."""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from harness import ROOT, table

sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

CASES = [("noise", 0.0), ("noise", 0.1), ("noise", 0.2), ("noise", 0.3), ("noise", 0.5),
         ("blur", 1.0), ("blur", 2.0), ("blur", 2.5)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["cnn", "ann"])
    parser.add_argument("--images", type=int, default=1000)
    args = parser.parse_args(argv)

    import keras

    from mnist_core.data import load_mnist
    from mnist_core.models import registry
    from mnist_core.training.experiments import corrupted

    (_, _), (x, y) = load_mnist()
    chosen = np.random.default_rng(0).choice(len(x), args.images, replace=False)
    x, y = x[chosen].astype(np.float32) / 255, y[chosen]
    rows = []
    for name in args.models:
        model = keras.models.load_model(registry.models_dir() / f"{name}.keras")  # MNIST_MODELS_DIR: a candidate
        has_bn = any(layer.__class__.__name__ == "BatchNormalization" for layer in model.layers)
        for corruption, strength in CASES:
            images = corrupted(x, corruption, strength)
            learned = (model.predict(images, verbose=0).argmax(1) == y).mean()
            # A fresh copy each time: a call with training=True also moves the layers' statistics.
            copy = keras.models.clone_model(model)
            copy.set_weights(model.get_weights())
            own = (np.asarray(copy(images, training=True)).argmax(1) == y).mean() if has_bn else float("nan")
            share = np.bincount(model.predict(images, verbose=0).argmax(1), minlength=10).max() / len(y)
            rows.append([name, corruption, strength, f"{learned:.1%}", "—" if own != own else f"{own:.1%}",
                         f"{share:.0%}"])
    print(table(["model", "corruption", "strength", "learned BN statistics", "the batch's own statistics",
                 "most common answer's share"], rows, title="accuracy on corrupted test digits"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
