"""The honest-confidence figures of README (and mnist_core.analysis.calibration's docstring) for the shipped
models: ECE before and after temperature scaling, the unsure threshold, the mistakes it catches,
the right answers and non-digits it flags, on the held-out odd half of the test set; and the same
rule on 1,000 test digits redrawn as canvas strokes.
Usage: python benchmarks/calibration_figures.py [model ...]"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from mnist_core.analysis import calibration
from mnist_core.data import (
    load_mnist,  # noqa: E402
    preprocess,
    synthetic,  # noqa: E402
)
from mnist_core.models.inference import load_classifier  # noqa: E402


def main(names):
    (_, _), (x_test, y_test) = load_mnist()
    rng = np.random.default_rng(0)
    pick = rng.choice(len(x_test), 1000, replace=False)
    canvases = np.stack([preprocess.canvas_to_mnist(synthetic.redraw(x_test[i], rng)) for i in pick])
    for name in names:
        classifier = load_classifier(name)
        probabilities = classifier.predict_proba(x_test.astype(np.float32) / 255)
        started = time.perf_counter()
        c = calibration.calibrate(classifier, probabilities, y_test)
        seconds = time.perf_counter() - started
        print(f"{name}: ECE {c.ece_before:.2%}; fitted T = {c.fitted_temperature:.2f} gives {c.ece_scaled:.2%}"
              f" ({'applied' if c.temperature != 1.0 else 'not applied'}); unsure below {c.threshold:.1%}: "
              f"catches {round(c.caught_mistakes * c.mistakes)} of its {c.mistakes} mistakes "
              f"({c.caught_mistakes:.0%}), flags {c.flagged_correct:.1%} of its right answers and "
              f"{round(c.flagged_non_digits * 60)} of the 60 non-digits ({seconds:.2f} s)")
        redrawn = classifier.predict_proba(canvases)
        right = redrawn.argmax(axis=1) == y_test[pick]
        unsure = calibration.is_unsure(redrawn, c)
        confident_non_digits = int((c.non_digit_probabilities.max(axis=1) >= 0.9).sum())
        print(f"  1,000 redrawn canvas digits: flags {unsure[right].mean():.1%} of its right answers and "
              f"{int(unsure[~right].sum())} of its {int((~right).sum())} mistakes; "
              f"≥ 90% sure of a digit for {confident_non_digits} of the 60 non-digits")


if __name__ == "__main__":
    main(sys.argv[1:] or ["ann", "cnn"])
