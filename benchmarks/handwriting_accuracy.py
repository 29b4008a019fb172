"""How the models read digits drawn on the canvas, MNIST's and new writers': every figure of
README's "Reading new handwriting" table.

- Clean: MNIST's 10,000 test digits as they are (and the redrawn sample's digits as they are,
  so what the canvas costs reads off one column).
- Canvas-redrawn MNIST: each test digit's pen path painted again at every pen width the Draw
  page offers (8–40 px on its 300 px canvas), then the app's preprocessing; also off-centre
  (pressed into a corner) and small (20–35% of the canvas tall) at the default pen.
- New handwriting: every digit in 17 handwriting fonts from Debian packages, drawn as pen
  strokes at random pens, sizes, places and slants (mnist_core.data.handwriting): writers MNIST
  never had, and never used in training.

Usage: python benchmarks/handwriting_accuracy.py [--digits N] [--models ann cnn /dir/name ...]
A model is a name in trained_models/ or a path to a model file without .keras (to compare
with an older model, e.g. from `git show`).
"""

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from mnist_core.data import (
    handwriting,  # noqa: E402
    load_mnist,  # noqa: E402
)
from mnist_core.models.inference import load_classifier  # noqa: E402

WORKERS = 2  # the machine's cores: drawing and preprocessing canvases is the slow part
CHUNK = 250


def _redrawn(args):
    digits, labels, seed, kind, pens = args
    if kind == "pens":
        return handwriting.mnist_at_pens(digits, labels, pens, seed=seed)
    pens = (handwriting.DEFAULT_PEN,)
    return handwriting.mnist_at_pens(digits, labels, pens, seed=seed, small=kind == "small",
                                     off_centre=kind == "off-centre")


def _joined(sets):
    return handwriting.DigitSet(*(np.concatenate([getattr(s, f) for s in sets])
                                  for f in ("images", "labels", "source", "pen")))


def redrawn(x, y, kind, pool, pens=handwriting.PEN_WIDTHS):
    """x's digits redrawn ("pens": at each of `pens`; "off-centre", "small": at the default pen),
    each placed as it is whatever the pens, so a subset of pens draws the same canvases."""
    jobs = [(x[i:i + CHUNK], y[i:i + CHUNK], 1000 + i, kind, pens) for i in range(0, len(x), CHUNK)]
    return _joined(list(pool.map(_redrawn, jobs)))


def test_sample(x_test, y_test, digits: int):
    """The test digits redrawn: a fixed random `digits` of them (all 10,000 in a fixed order)."""
    pick = np.random.default_rng(0).permutation(len(x_test))[:digits]
    return x_test[pick], y_test[pick]


def load(spec: str):
    path = Path(spec)
    if path.parent != Path("."):
        return load_classifier(path.name, path.parent)
    return load_classifier(spec)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--digits", type=int, default=2000, help="MNIST test digits to redraw (of 10,000; all: ≈ 7 min here)")
    parser.add_argument("--models", nargs="+", default=["ann", "cnn"])
    args = parser.parse_args()
    handwriting.check_fonts()
    (_, _), (x_test, y_test) = load_mnist()
    x, y = test_sample(x_test, y_test, args.digits)

    started = time.perf_counter()
    with ProcessPoolExecutor(WORKERS) as pool:
        pens = redrawn(x, y, "pens", pool)
        corner = redrawn(x, y, "off-centre", pool)
        small = redrawn(x, y, "small", pool)
        fonts = _joined(list(pool.map(handwriting.font_digits, [0])))
    canvases = len(pens.labels) + len(corner.labels) + len(small.labels) + len(fonts.labels)
    drawing = time.perf_counter() - started

    classifiers = {spec: load(spec) for spec in args.models}
    rows: list[tuple[str, dict]] = []

    def row(label, images, labels):
        rows.append((label, {m: float(np.mean(c.predict(images) == labels)) for m, c in classifiers.items()}))

    def section(title):
        rows.append((title, {}))

    row(f"MNIST test, clean ({len(x_test):,})", x_test.astype(np.float32) / 255, y_test)
    section(f"Canvas-redrawn MNIST test ({args.digits:,} digits, 300 px canvas)")
    row("  the same digits, clean (no canvas)", x.astype(np.float32) / 255, y)
    pen_start = len(rows)
    for pen in handwriting.PEN_WIDTHS:
        at = pens.pen == pen
        row(f"  pen {pen} px" + (" (default)" if pen == handwriting.DEFAULT_PEN else ""), pens.images[at], pens.labels[at])
    pen_rows = rows[pen_start:]
    row("  every pen, 8–40 px", pens.images, pens.labels)
    rows.append(("  worst pen", {m: min(a[m] for _, a in pen_rows) for m in classifiers}))
    row(f"  off-centre, pen {handwriting.DEFAULT_PEN}", corner.images, corner.labels)
    row(f"  small (20–35% of the canvas), pen {handwriting.DEFAULT_PEN}", small.images, small.labels)
    section(f"New handwriting: {len(handwriting.FONTS)} fonts × 10 digits × 12 ({len(fonts.labels):,})")
    row("  all", fonts.images, fonts.labels)
    for lo, hi, name in ((8, 16, "thin"), (18, 28, "medium"), (30, 40, "thick")):
        at = (fonts.pen >= lo) & (fonts.pen <= hi)
        row(f"  {name} pens, {lo}–{hi} px", fonts.images[at], fonts.labels[at])
    for font in handwriting.FONTS:
        at = fonts.source == font.name
        row(f"  {font.name}", fonts.images[at], fonts.labels[at])

    width = max(len(label) for label, _ in rows) + 2
    print(f"{canvases:,} canvases drawn and preprocessed in {drawing:.0f} s "
          f"({drawing / canvases * 1000 * WORKERS:.1f} ms each per core)")
    print(f"{'':{width}s}" + "".join(f"{m:>12s}" for m in args.models))
    for label, accs in rows:
        print(f"{label:{width}s}" + "".join(f"{accs[m]:12.2%}" for m in args.models) if accs else label)


if __name__ == "__main__":
    main()
