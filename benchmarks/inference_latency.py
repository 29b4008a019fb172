"""The shipped models served by our NumPy path vs Keras: reading a model file, one image (as on the
Draw page), the 10,000 test images (as on the Confusion page), and the disk cache of those scores.

Every NumPy figure is taken before Keras is imported (the server never imports it); Keras is then
loaded with `keras.saving.load_model` as the reference.
"""

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from mnist_core.analysis import evaluation
from mnist_core.data import load_mnist_dataset  # noqa: E402
from mnist_core.models import (
    inference,
    registry,  # noqa: E402
)

NAMES = ("ann", "cnn")


def median_s(fn, repeats):
    fn()  # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    ds = load_mnist_dataset()
    x_test = ds.x_test.astype(np.float32) / 255
    image = x_test[:1]

    # Reading and compiling a model file, as load_classifier does once per file version.
    load = {name: median_s(lambda: inference.classifier_from_spec(name, registry.read_model(name)), 20)
            for name in NAMES}
    classifiers = [inference.load_classifier(name) for name in NAMES]

    ours = {c.name: median_s(lambda: c.predict_proba(image), 2000) for c in classifiers}
    ours["both"] = median_s(lambda: [c.predict_proba(image) for c in classifiers], 2000)
    # As on the Draw page: one call per stroke, the machine idle in between (caches cool, threads asleep).
    idle_calls = []
    for _ in range(40):
        time.sleep(0.2)
        start = time.perf_counter()
        [c.predict_proba(image) for c in classifiers]
        idle_calls.append(time.perf_counter() - start)
    after_idle = statistics.median(idle_calls)

    # The 10,000 test images: one thread (chunk after chunk) and the served path (a chunk per core).
    one_thread = {c.name: median_s(lambda: np.concatenate([c.predict_proba(x_test[i:i + inference.CHUNK])
                                                            for i in range(0, len(x_test), inference.CHUNK)]), 3)
                  for c in classifiers}
    served = {c.name: median_s(lambda: c.predict_proba(x_test), 3) for c in classifiers}

    # The Confusion page's scores: first scoring (and writing) vs a fresh server reading them.
    with tempfile.TemporaryDirectory() as cache:
        miss, hit = {}, {}
        for name in NAMES:
            start = time.perf_counter()
            evaluation.test_set_probabilities(name, ds, cache_dir=Path(cache))
            miss[name] = time.perf_counter() - start
            hit[name] = median_s(lambda: evaluation.test_set_probabilities(name, ds, cache_dir=Path(cache)), 20)

    import keras  # only now: the figures above are the server's, without Keras in the process

    keras_load = {name: median_s(lambda: keras.saving.load_model(registry.model_path(name), compile=False), 5)
                  for name in NAMES}
    references = {name: keras.saving.load_model(registry.model_path(name), compile=False) for name in NAMES}
    predict = {name: median_s(lambda: m.predict(image, verbose=0), 30) for name, m in references.items()}
    on_batch = {name: median_s(lambda: m.predict_on_batch(image), 300) for name, m in references.items()}
    predict["both"] = median_s(lambda: [m.predict(image, verbose=0) for m in references.values()], 30)
    on_batch["both"] = median_s(lambda: [m.predict_on_batch(image) for m in references.values()], 300)
    keras_10k = {name: median_s(lambda: m.predict(x_test, batch_size=inference.CHUNK, verbose=0), 3)
                 for name, m in references.items()}
    worst = max(float(np.abs(c.predict_proba(x_test[:2000]) - references[c.name].predict_on_batch(x_test[:2000])).max())
                for c in classifiers)

    print("Reading a model file (zip + JSON + h5, checked, compiled) vs keras.saving.load_model:")
    for name in NAMES:
        print(f"  {name}: {load[name] * 1000:.1f} ms vs {keras_load[name] * 1000:.0f} ms")
    print("\nOne image:")
    print(f"{'model':6s} {'ours ms':>9s} {'predict ms':>11s} {'on_batch ms':>12s} {'× predict':>10s} {'× on_batch':>11s}")
    for name in (*NAMES, "both"):
        o, p, b = ours[name] * 1000, predict[name] * 1000, on_batch[name] * 1000
        print(f"{name:6s} {o:9.3f} {p:11.1f} {b:12.2f} {p / o:10.0f} {b / o:11.0f}")
    print(f"both, one call after 0.2 s idle (as per stroke): {after_idle * 1000:.3f} ms median")
    print("\nThe 10,000 test images (s):")
    print(f"{'model':6s} {'1 thread':>9s} {'2 threads':>10s} {'Keras':>7s}")
    for name in NAMES:
        print(f"{name:6s} {one_thread[name]:9.2f} {served[name]:10.2f} {keras_10k[name]:7.2f}")
    print("\nConfusion page scores, disk cache: first scoring incl. write / a fresh server's read (ms):")
    for name in NAMES:
        print(f"  {name}: {miss[name] * 1000:.0f} / {hit[name] * 1000:.1f}")
    print(f"\nLargest difference from Keras on 2,000 test digits: {worst:.1e}")


if __name__ == "__main__":
    main()
