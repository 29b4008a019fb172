"""The Experiments page's quick runs as the page starts them (a worker process, from the button
press to the result), each with its figures beside the shipped full result's.

    python benchmarks/experiment_times.py               every quick run (about 2 minutes)
    python benchmarks/experiment_times.py --reproduce [NAME ...]
        also the full runs again (all four: about 25 minutes), compared with the shipped ones row by row
Results go to a temporary folder: the shipped files and the page's quick overlay stay as they are."""

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mnist_core import training
from mnist_core.training import experiments  # noqa: E402


def timed_run(name: str, quick: bool, folder: Path) -> tuple[float, experiments.ExperimentResult | None, str]:
    started = time.perf_counter()
    run = training.ExperimentRun(name, quick=quick, result_file=folder / f"{name}-{'quick' if quick else 'full'}.json")
    snap = run.run()
    return time.perf_counter() - started, snap.result, snap.message


def differences(fresh: experiments.ExperimentResult, shipped: experiments.ExperimentResult) -> list[float]:
    """Accuracy differences, in points, between rows that measured the same thing."""
    def key(row):
        return tuple(sorted((k, v) for k, v in row.items() if k not in ("accuracy", "seconds")))
    recorded = {key(row): row["accuracy"] for row in shipped.rows}
    return [100 * (row["accuracy"] - recorded[key(row)]) for row in fresh.rows if key(row) in recorded]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reproduce", nargs="*", choices=experiments.NAMES, metavar="NAME",
                        help="run these full settings (none named: all) again and compare with the shipped results")
    parser.add_argument("--skip-quick", action="store_true")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="experiments-"))
    print("Quick runs, as the page starts them (button press to result, worker start-up included):")
    for name in [] if args.skip_quick else experiments.NAMES:
        seconds, result, message = timed_run(name, True, folder)
        if result is None:
            print(f"  {name:16s} FAILED: {message}")
            continue
        print(f"  {name:16s} {seconds:5.1f} s (experiment {result.seconds:.1f} s)")
        for line in experiments.summary(result):
            print(f"      {line}")
    if args.reproduce is None:
        return
    print("\nFull runs again, compared with the shipped results (points of accuracy):")
    for name in args.reproduce or experiments.NAMES:
        shipped = experiments.load_result(experiments.result_path(name, False, experiments.SHIPPED_DIR))
        seconds, result, message = timed_run(name, False, folder)
        if result is None or shipped is None:
            print(f"  {name:16s} {'FAILED: ' + message if result is None else 'no shipped result'}")
            continue
        diff = differences(result, shipped)
        worst = max(diff, key=abs, default=0.0)
        print(f"  {name:16s} {seconds:5.0f} s; {len(diff)} figures, mean |difference| "
              f"{sum(map(abs, diff)) / max(1, len(diff)):.2f} pts, largest {worst:+.2f} pts")


if __name__ == "__main__":
    main()
