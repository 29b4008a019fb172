"""How many of a model's mistakes at one pen would a person read right? A blind reading sheet.

The model's mistakes on MNIST's test digits redrawn at one pen (the same canvases as
handwriting_accuracy.py) are mixed with as many digits it reads right and shuffled, so the reader
cannot tell which is which. The sheet shows only what the model gets (the preprocessed 28×28).

  python benchmarks/readability_sheet.py --model cnn --pen 40 --out /tmp/sheet
      writes sheet-0.png, sheet-1.png, … (numbered digits, 84 a sheet) and prints the counts
  python benchmarks/readability_sheet.py --model cnn --pen 40 --readings benchmarks/readings/cnn-pen40.txt
      scores a reader's answers: one token per numbered digit, a digit or ? (can't tell); lines
      starting with # are comments, and "# sheet: <fingerprint>" names the sheet they read
"""

import argparse
import hashlib
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from handwriting_accuracy import WORKERS, load, redrawn, test_sample  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from mnist_core.data import (
    handwriting,  # noqa: E402
    load_mnist,  # noqa: E402
)

PER_SHEET, COLUMNS, CELL = 84, 14, 70


def sheet_digits(model: str, pen: int, digits: int):
    """The canvases (as handwriting_accuracy.py draws them), labels, the model's answers, and the
    sheet's order: every mistake and as many right answers, shuffled (fixed seed)."""
    (_, _), (x_test, y_test) = load_mnist()
    x, y = test_sample(x_test, y_test, digits)
    with ProcessPoolExecutor(WORKERS) as pool:
        images = redrawn(x, y, "pens", pool, pens=(pen,)).images
    classifier = load(model)
    answers = classifier.predict(images)
    clean_wrong = classifier.predict(x.astype(np.float32) / 255) != y
    wrong, right = np.flatnonzero(answers != y), np.flatnonzero(answers == y)
    rng = np.random.default_rng(7)
    order = np.concatenate([wrong, rng.choice(right, min(len(wrong), len(right)), replace=False)])
    rng.shuffle(order)
    return images, y, answers, clean_wrong, order


def write_sheets(images, order, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for start in range(0, len(order), PER_SHEET):
        chunk = order[start:start + PER_SHEET]
        rows = -(-len(chunk) // COLUMNS)
        sheet = Image.new("RGB", (COLUMNS * (CELL + 6), rows * (CELL + 14)), "white")
        draw = ImageDraw.Draw(sheet)
        for k, i in enumerate(chunk):
            r, c = divmod(k, COLUMNS)
            ink = Image.fromarray((255 - images[i] * 255).astype(np.uint8)).resize((CELL, CELL), Image.BILINEAR)
            sheet.paste(ink, (c * (CELL + 6), r * (CELL + 14)))
            draw.text((c * (CELL + 6) + 2, r * (CELL + 14) + CELL + 1), str(start + k), fill="blue")
        paths.append(out / f"sheet-{start // PER_SHEET}.png")
        sheet.save(paths[-1])
    return paths


def score(readings: list[str], labels, answers, order) -> None:
    if len(readings) != len(order):
        sys.exit(f"{len(readings)} readings for {len(order)} digits on the sheet")
    for title, chosen in (("the model's mistakes", answers[order] != labels[order]),
                          ("digits the model reads right", answers[order] == labels[order])):
        read = [readings[k] for k in np.flatnonzero(chosen)]
        truth, said = labels[order][chosen], answers[order][chosen]
        as_truth = sum(r == str(t) for r, t in zip(read, truth))
        unsure = read.count("?")
        as_model = sum(r == str(m) and m != t for r, t, m in zip(read, truth, said))
        print(f"{title}: {len(read)}; read as written {as_truth}, can't tell {unsure}, "
              f"read as the model did {as_model}, other {len(read) - as_truth - unsure - as_model}")


def fingerprint(labels, answers, order) -> str:
    """Names a sheet: the same digits in the same order, with the model giving the same answers."""
    return hashlib.sha256(np.concatenate([order, labels[order], answers[order]]).astype(np.int64).tobytes()).hexdigest()[:12]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="cnn")
    parser.add_argument("--pen", type=int, default=max(handwriting.PEN_WIDTHS))
    parser.add_argument("--digits", type=int, default=10000)
    parser.add_argument("--out", type=Path, help="folder for the sheets")
    parser.add_argument("--readings", type=Path, help="a reader's answers to score")
    args = parser.parse_args()
    images, labels, answers, clean_wrong, order = sheet_digits(args.model, args.pen, args.digits)
    wrong = answers != labels
    print(f"{args.model} at pen {args.pen} px: {wrong.sum()} mistakes in {len(labels):,} "
          f"({1 - wrong.mean():.2%}); {int((wrong & clean_wrong).sum())} of them also misread as MNIST has them")
    sheet = fingerprint(labels, answers, order)
    print(f"sheet: {sheet}")
    if args.out:
        for path in write_sheets(images, order, args.out):
            print(f"wrote {path}")
    if args.readings:
        lines = args.readings.read_text().splitlines()
        named = [line.split(":", 1)[1].strip() for line in lines if line.startswith("# sheet:")]
        if named and named[0] != sheet:
            sys.exit(f"{args.readings} reads sheet {named[0]}, not this one ({sheet}): the model or its "
                     "canvases changed. Write the sheets again (--out) and read them.")
        tokens = [t for line in lines if not line.startswith("#") for t in line.split()]
        score(tokens, labels, answers, order)


if __name__ == "__main__":
    main()
