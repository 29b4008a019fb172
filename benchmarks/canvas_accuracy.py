"""Accuracy on MNIST test digits redrawn as canvas strokes (random size, place and pen width):
MNIST-faithful preprocessing vs a naive resize, for the shipped ANN and CNN (or any models).
Usage: python benchmarks/canvas_accuracy.py [--digits N] [--models ann cnn /dir/name ...]
A model is a name in trained_models/ or a path to a model file without .keras."""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from mnist_core.data import preprocess
from mnist_core.data import synthetic  # noqa: E402
from mnist_core.data import load_mnist  # noqa: E402
from handwriting_accuracy import load  # noqa: E402  (a model name, or a path without .keras)


def main(n: int, models: list[str]):
    (_, _), (x_test, y_test) = load_mnist()
    rng = np.random.default_rng(0)
    pick = rng.choice(len(x_test), n, replace=False)
    start = time.perf_counter()
    faithful, naive, clean = [], [], []
    for i in pick:
        rgba = synthetic.redraw(x_test[i], rng)
        f, v = preprocess.canvas_to_mnist(rgba), preprocess.naive_resize(rgba)
        faithful.append(f if f is not None else np.zeros((28, 28), np.float32))
        naive.append(v if v is not None else np.zeros((28, 28), np.float32))
        clean.append(x_test[i].astype(np.float32) / 255)
    prep = (time.perf_counter() - start) / n * 1000
    labels = y_test[pick]
    print(f"{n} redrawn test digits (preprocessing {prep:.1f} ms per canvas incl. drawing)")
    width = max(6, *(len(m) for m in models))
    print(f"{'model':{width}s} {'clean':>8s} {'faithful':>9s} {'naive':>8s}")
    for name in models:
        c = load(name)
        acc = [float(np.mean(c.predict(np.stack(xs)) == labels)) for xs in (clean, faithful, naive)]
        print(f"{name:{width}s} {acc[0]:8.2%} {acc[1]:9.2%} {acc[2]:8.2%}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--digits", type=int, default=2000, help="MNIST test digits to redraw (of 10,000)")
    parser.add_argument("--models", nargs="+", default=["ann", "cnn"])
    args = parser.parse_args()
    main(args.digits, args.models)
