"""Training speed of every preset: one epoch on 12,000 images, scaled to seconds per 60,000-image epoch."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mnist_core import models, training  # noqa: E402


def main():
    print(f"{'preset':12s} {'batch':>6s} {'samples/s':>10s} {'s/epoch (60k)':>14s}")
    for name, preset in models.PRESETS.items():
        run = training.TrainingRun(training.TrainingConfig(name, epochs=2, train_size=12_000, validation_split=0.0),
                                   evaluate_test=False)  # in a worker process, as the Train page runs it
        record = run.run().records[-1]  # the second epoch: no tracing or warm-up in it
        print(f"{name:12s} {preset.batch_size:6d} {record.samples_per_second:10,.0f} "
              f"{60_000 / record.samples_per_second:14.1f}")


if __name__ == "__main__":
    main()
