"""One-image latency of the shipped models: our NumPy path vs Keras predict vs predict_on_batch."""

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from mnist_core.data import load_mnist  # noqa: E402
from mnist_core.inference import load_classifier  # noqa: E402


def median_ms(fn, repeats):
    fn()  # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main():
    (_, _), (x_test, _) = load_mnist()
    image = x_test[:1].astype(np.float32) / 255
    classifiers = [load_classifier(name) for name in ("ann", "cnn")]
    rows = {}
    for c in classifiers:
        rows[c.name] = (median_ms(lambda: c.predict_proba(image), 2000),
                        median_ms(lambda: c.model.predict(image, verbose=0), 30),
                        median_ms(lambda: c.model.predict_on_batch(image), 300))
    both = (median_ms(lambda: [c.predict_proba(image) for c in classifiers], 2000),
            median_ms(lambda: [c.model.predict(image, verbose=0) for c in classifiers], 30),
            median_ms(lambda: [c.model.predict_on_batch(image) for c in classifiers], 300))
    # As on the Draw page: one call per stroke, the machine idle in between (caches cool, threads asleep).
    idle_calls = []
    for _ in range(40):
        time.sleep(0.2)
        start = time.perf_counter()
        [c.predict_proba(image) for c in classifiers]
        idle_calls.append(time.perf_counter() - start)
    after_idle = statistics.median(idle_calls) * 1000
    print(f"{'model':6s} {'ours ms':>9s} {'predict ms':>11s} {'on_batch ms':>12s} {'× predict':>10s} {'× on_batch':>11s}")
    for name, (ours, predict, on_batch) in [*rows.items(), ("both", both)]:
        print(f"{name:6s} {ours:9.3f} {predict:11.1f} {on_batch:12.2f} {predict / ours:10.0f} {on_batch / ours:11.0f}")
    print(f"both, one call after 0.2 s idle (as per stroke): {after_idle:.3f} ms median")


if __name__ == "__main__":
    main()
