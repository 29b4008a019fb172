"""Accuracy on MNIST test digits redrawn as canvas strokes (random size, place and pen width):
MNIST-faithful preprocessing vs a naive resize, for the shipped ANN and CNN.
Usage: python benchmarks/canvas_accuracy.py [N images, default 2000]"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from mnist_core import preprocess, synthetic  # noqa: E402
from mnist_core.data import load_mnist  # noqa: E402
from mnist_core.inference import load_classifier  # noqa: E402


def main(n: int):
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
    print(f"{'model':6s} {'clean':>8s} {'faithful':>9s} {'naive':>8s}")
    for name in ("ann", "cnn"):
        c = load_classifier(name)
        acc = [float(np.mean(c.predict(np.stack(xs)) == labels)) for xs in (clean, faithful, naive)]
        print(f"{name:6s} {acc[0]:8.2%} {acc[1]:9.2%} {acc[2]:8.2%}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
