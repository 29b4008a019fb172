"""How stroke width, relative to the digit, changes what the models read: the figures behind the
Draw page's "thick strokes" tip (preprocess.HEAVY_STROKE).

Stroke width is measured on the 28×28 input the models get (preprocess.stroke_width: ink over
the length of the pen's path). Printed: its percentiles over MNIST's training digits, then the
shipped models' accuracy by width on canvas digits of every kind the handwriting benchmark draws
(MNIST test digits redrawn at every pen and small, and the 17 handwriting fonts).

Usage: python benchmarks/stroke_width_accuracy.py [--digits N]
"""

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import handwriting_accuracy as drawn  # noqa: E402
import numpy as np  # noqa: E402

from mnist_core.data import (
    handwriting,
    load_mnist,  # noqa: E402
    preprocess,  # noqa: E402
)
from mnist_core.models.inference import load_classifier  # noqa: E402

BINS = ((0, 2), (2, 3), (3, 4), (4, 5), (5, 6), (6, 7), (7, 9), (9, 99))  # px


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--digits", type=int, default=1000, help="MNIST test digits to redraw")
    args = parser.parse_args()
    handwriting.check_fonts()
    (x_train, _), (x_test, y_test) = load_mnist()
    mnist_widths = np.array([preprocess.stroke_width(im / 255.0) for im in x_train[::20]])
    print(f"MNIST training digits ({len(mnist_widths):,}), stroke width in px: " + ", ".join(
        f"{q}th percentile {np.percentile(mnist_widths, q):.2f}" for q in (50, 90, 99, 99.5)))
    over = np.mean(mnist_widths > preprocess.HEAVY_STROKE)
    print(f"  thicker than the tip's {preprocess.HEAVY_STROKE:.0f} px: {over:.2%}")

    pick = np.random.default_rng(0).permutation(len(x_test))[:args.digits]
    with ProcessPoolExecutor(drawn.WORKERS) as pool:
        sets = [drawn.redrawn(x_test[pick], y_test[pick], kind, pool) for kind in ("pens", "small")]
        sets += list(pool.map(handwriting.font_digits, [0]))
    canvases = drawn._joined(sets)
    widths = np.array([preprocess.stroke_width(im) for im in canvases.images])
    right = {kind: load_classifier(kind).predict(canvases.images) == canvases.labels for kind in ("ann", "cnn")}
    print(f"\nCanvas digits ({len(widths):,}: {args.digits:,} MNIST test digits at every pen and small, and the fonts)")
    print(f"{'stroke width':>16s}{'canvases':>10s}{'ann':>9s}{'cnn':>9s}")
    for lo, hi in BINS:
        at = (widths >= lo) & (widths < hi)
        if at.any():
            label = f"{lo}–{hi} px" if hi < 99 else f"≥ {lo} px"
            print(f"{label:>16s}{at.sum():10,d}{right['ann'][at].mean():9.2%}{right['cnn'][at].mean():9.2%}")
    heavy = widths > preprocess.HEAVY_STROKE
    for name, at in (("under the tip", ~heavy), ("over: the tip shows", heavy)):
        print(f"{name:>22s}: {at.mean():6.1%} of canvases, "
              f"ann {right['ann'][at].mean():.2%}, cnn {right['cnn'][at].mean():.2%}")


if __name__ == "__main__":
    main()
