"""Server time for the Inside the models page, one digit, both shipped models.

Prints medians and 95th percentiles over test digits never seen before (nothing cached):
1. mnist_core.analysis.explain.explain_digit per model (occlusion, integrated gradients, the five sweeps, the
   ANN's unit evidence or the CNN's feature maps), as CPU time of the thread and wall time;
2. building every Plotly figure the page draws for that digit;
3. a whole run of the page script for a new test index (AppTest, in this process: Streamlit's
   script run without a browser; includes the harness's own work, so an upper bound).
Goal (issue 12): everything for one digit, both models, ≤ 0.3 s of server time.

    PYTHONPATH=. python benchmarks/explain_latency.py [--digits 30]
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mnist_core import charts, data
from mnist_core.analysis import explain  # noqa: E402
from mnist_core.models.inference import load_classifier  # noqa: E402


def summary(seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
    return f"median {statistics.median(ms):6.1f} ms · p95 {p95:6.1f} ms · max {ms[-1]:6.1f} ms"


def figures(image: np.ndarray, results: dict, cnn) -> None:
    """Every figure the page builds for one digit (as app_pages/inside.py does)."""
    maps = []
    for kind, result in results.items():
        maps += [(kind, explain.relative(result.occlusion)), (kind, explain.relative(result.integrated_gradients))]
    charts.attribution_maps(image, maps, columns=4, limit=1.0)
    units = results["ann"].units
    charts.diverging_grid(units.weights, [str(u) for u in units.units])
    charts.evidence_flow(units.shares, [str(u) for u in units.units], results["ann"].target)
    filters = explain.first_filters(cnn)
    charts.diverging_grid(filters, [str(i) for i in range(len(filters))], columns=16)
    for block in results["cnn"].feature_maps:
        charts.feature_map_grid(block.maps[:16], [str(c) for c in block.channels[:16]], columns=16)
    last = results["cnn"].feature_maps[-1]
    charts.clickable_map(last.maps[0], (0, 0), "map")
    charts.digit_with_box(image, explain.receptive_field(cnn, last.op_index, 0, 0), "field")
    lines = [{"label": k, "color": "#000000", "values": r.sweeps["shift_x"]} for k, r in results.items()]
    charts.sweep_lines(explain.SWEEPS["shift_x"], lines, 0, "shift", results["ann"].target)
    charts.image_strip(explain.transformed(image, "shift_x"))


def page_runs(indices: list[int]) -> tuple[list[float], list[float]]:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    at.run()
    at.switch_page("app_pages/inside.py").run()
    seconds, cpu = [], []
    for index in indices:
        at.number_input(key="inside_index").set_value(index)
        started, started_cpu = time.perf_counter(), time.process_time()
        at.run()
        seconds.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)  # every thread: the script runs in its own
        assert not at.exception, at.exception
    return seconds, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--digits", type=int, default=30)
    args = parser.parse_args()
    ds = data.load_mnist_dataset()
    models = {kind: load_classifier(kind) for kind in ("ann", "cnn")}
    rng = np.random.default_rng(0)
    indices = [int(i) for i in rng.choice(len(ds.x_test), args.digits, replace=False)]
    explain.explain_digit(models["cnn"], ds.x_test[0] / 255.0, 0)  # warm-up: imports, first allocations

    cpu = {kind: [] for kind in models}
    wall = {kind: [] for kind in models}
    both, drawing = [], []
    for index in indices:
        image, label = (ds.x_test[index] / 255.0).astype(np.float32), int(ds.y_test[index])
        results = {}
        for kind, model in models.items():
            started_cpu, started = time.thread_time(), time.perf_counter()
            results[kind] = explain.explain_digit(model, image, label)
            cpu[kind].append(time.thread_time() - started_cpu)
            wall[kind].append(time.perf_counter() - started)
        both.append(wall["ann"][-1] + wall["cnn"][-1])
        started = time.perf_counter()
        figures(image, results, models["cnn"])
        drawing.append(time.perf_counter() - started)

    print(f"Inside the models, {args.digits} MNIST test digits, both shipped models")
    for kind in models:
        print(f"  explain_digit {kind.upper()}: wall {summary(wall[kind])}  (CPU {summary(cpu[kind])})")
    print(f"  explain_digit both:  wall {summary(both)}")
    print(f"  the page's figures: wall {summary(drawing)}")
    total = [a + b for a, b in zip(both, drawing)]
    print(f"  computing + figures: wall {summary(total)}")
    runs, runs_cpu = page_runs(indices[:10])
    print(f"  whole page script run, new digit (AppTest, 10 digits): wall {summary(runs)}  (CPU {summary(runs_cpu)})")


if __name__ == "__main__":
    main()
