"""Accuracy on MNIST test digits redrawn as canvas strokes (random size, place and pen width):
MNIST-faithful preprocessing vs a naive resize, for the shipped ANN and CNN (or any models).
The same digits as `python -m mnist_core canvas`, which records the shipped models' figures for
the Draw page (mnist_core.analysis.canvas_reading).
Usage: python benchmarks/canvas_accuracy.py [--digits N] [--models ann cnn /dir/name ...]
A model is a name in trained_models/ or a path to a model file without .keras."""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from handwriting_accuracy import load  # noqa: E402  (a model name, or a path without .keras)

from mnist_core.analysis import canvas_reading  # noqa: E402
from mnist_core.data import load_mnist_dataset  # noqa: E402


def main(n: int, models: list[str]):
    start = time.perf_counter()
    inputs, labels = canvas_reading.redrawn(load_mnist_dataset(), n, seed=0)
    prep = (time.perf_counter() - start) / n * 1000
    print(f"{n} redrawn test digits (preprocessing {prep:.1f} ms per canvas incl. drawing)")
    width = max(6, *(len(m) for m in models))
    print(f"{'model':{width}s} {'clean':>8s} {'faithful':>9s} {'naive':>8s}")
    for name in models:
        c = load(name)
        acc = [float(np.mean(c.predict(inputs[way]) == labels)) for way in ("clean", "faithful", "naive")]
        print(f"{name:{width}s} {acc[0]:8.2%} {acc[1]:9.2%} {acc[2]:8.2%}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--digits", type=int, default=2000, help="MNIST test digits to redraw (of 10,000)")
    parser.add_argument("--models", nargs="+", default=["ann", "cnn"])
    args = parser.parse_args()
    main(args.digits, args.models)
