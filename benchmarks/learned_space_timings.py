"""The learned space's figures: drawing each shipped map (openTSNE, as `python -m mnist_core map`
does), what the server does to show it and place a digit (NumPy only), and the Learned space
page in a real browser on a fresh server (first load, a re-render, a drawing placed).

Prints each shipped map's separation scores (10-nearest-neighbour agreement in 2-D, silhouette)
as its file records them. Needs the test tools (`make test`) and /usr/bin/chromium for the browser part.
"""

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import harness  # noqa: E402
from browser import LAPTOP, draw, launch, wait_for_verdicts, wait_until_idle  # noqa: E402

from mnist_core.analysis import learned_space  # noqa: E402
from mnist_core.charts import learned_space_map  # noqa: E402
from mnist_core.data import load_mnist_dataset  # noqa: E402
from mnist_core.models.inference import load_classifier  # noqa: E402

MAPS_DRAWN = """() => [...document.querySelectorAll("[data-testid='stPlotlyChart']")]
                  .filter(c => c.querySelector('.legendtitletext') && c.querySelector('.scatterlayer path.point')).length >= 2"""


def server_side() -> None:
    ds = load_mnist_dataset()
    rows = []
    for name in ("ann", "cnn"):
        classifier = load_classifier(name)
        started = time.perf_counter()
        space = learned_space.load_space(classifier, ds.x_test)
        loaded = time.perf_counter() - started
        drawing = ds.x_test[[11]].astype("float32") / 255.0
        places = []
        for _ in range(50):
            started = time.perf_counter()
            space.place(classifier, drawing)
            places.append(time.perf_counter() - started)
        m = space.model_map
        started = time.perf_counter()
        fig = learned_space_map(m.coords, m.labels, m.indices, [{"x": 0.0, "y": 0.0, "name": "drawing"}])
        built = time.perf_counter() - started
        rows.append([name, f"{m.seconds:.1f} s", f"{m.neighbour_accuracy:.1%}", f"{m.silhouette:.3f}",
                     f"{loaded:.2f} s", f"{statistics.median(places) * 1000:.1f} ms",
                     f"{built * 1000:.0f} ms, {len(fig.to_json()) / 1024:.0f} KB"])
    print(harness.table(["model", "drawing the map (CLI)", "10-NN in 2-D", "silhouette",
                         "map + features of 3,000 digits", "placing one digit (median of 50)",
                         "figure, JSON"], rows, "The learned space, server side (NumPy)"))


def in_browser() -> None:
    from playwright.sync_api import sync_playwright

    server = harness.start_server()
    try:
        with sync_playwright() as playwright:
            page = launch(playwright).new_page(viewport=LAPTOP)
            started = time.perf_counter()
            page.goto(f"{server.url}/space")
            page.wait_for_function(MAPS_DRAWN, timeout=120_000, polling=10)
            first = time.perf_counter() - started
            again = []
            for _ in range(3):
                started = time.perf_counter()
                page.reload()
                page.wait_for_function(MAPS_DRAWN, timeout=120_000, polling=10)
                again.append(time.perf_counter() - started)
            page.goto(f"{server.url}/draw")
            wait_until_idle(page)
            page.locator("canvas.upper-canvas").first.wait_for(timeout=60_000)
            draw(page, "7")
            wait_for_verdicts(page, "7")
            wait_until_idle(page)
            started = time.perf_counter()
            page.get_by_role("button", name="Where it lands").click()
            page.wait_for_function(MAPS_DRAWN, timeout=120_000, polling=10)
            wait_until_idle(page)
            placed = time.perf_counter() - started
            print(f"Learned space page, first load on a fresh server, until both maps are drawn: {first:.2f} s")
            print(f"Learned space page, reloaded: median {statistics.median(again):.2f} s")
            print(f"Draw page → Where it lands, until both maps with the drawing are drawn: {placed:.2f} s")
    finally:
        harness.stop_server(server)


if __name__ == "__main__":
    server_side()
    if "--no-browser" not in sys.argv:
        in_browser()
