"""Page timings in a real browser: a real Streamlit server on a fresh port, headless Chromium.

Prints, as medians of several clicks: the Dataset page re-rendering after a digit filter, the
Confusion matrix page's first load on a fresh server (the 10,000 test images scored for both
models) against a cached re-render, and the Draw page from the end of a stroke to both verdicts
and the models' own time inside the app. Needs the test tools (`make test` installs them) and /usr/bin/chromium.
"""

import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, launch_server, wait_until_idle  # noqa: E402
from tests.e2e.test_browser import draw, wait_for_verdicts  # noqa: E402


def timed(page, action, done_js: str, arg=None) -> float:
    """Seconds from an action until the page shows its result (`done_js`, a JS predicate)."""
    started = time.perf_counter()
    action()
    page.wait_for_function(done_js, arg=arg, timeout=60_000, polling=10)
    return time.perf_counter() - started


FIRST_CAPTION_ENDS = """d => { const c = document.querySelector("[data-testid='stImageCaption']");
                               return c && (d === 'all' ? c.innerText.trim() === '#0 · 5' : c.innerText.trim().endsWith(' · ' + d)); }"""
MATRIX_SHOWS_RATES = """rates => { const t = document.querySelector('.js-plotly-plot .heatmaplayer').textContent;
                                   return t.includes('%') === rates; }"""


def main():
    from playwright.sync_api import sync_playwright

    process, url = launch_server(dict(os.environ), subprocess.DEVNULL)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 900})

            # Confusion matrix first, while nothing is cached on the fresh server.
            started = time.perf_counter()
            page.goto(f"{url}/confusion")
            page.locator(".js-plotly-plot .heatmaplayer").first.wait_for(timeout=180_000)
            wait_until_idle(page)
            first = time.perf_counter() - started
            switch = [timed(page, lambda n=name: page.get_by_text(n, exact=True).first.click(),
                            MATRIX_SHOWS_RATES, name == "row %") for name in ("row %", "counts") * 3]
            print(f"confusion matrix, first load on a fresh server (both models score 10,000 images): {first:.2f} s")
            print(f"confusion matrix, cached re-render (counts ↔ row %): median {statistics.median(switch):.2f} s")

            page.goto(f"{url}/dataset")
            wait_until_idle(page)
            filters = [timed(page, lambda d=d: page.get_by_text(d, exact=True).first.click(),
                             FIRST_CAPTION_ENDS, d) for d in ("3", "7", "all", "0", "9", "all")]
            print(f"dataset, digit filter → grid re-rendered: median {statistics.median(filters):.2f} s")

            page.goto(f"{url}/draw")
            wait_until_idle(page)
            page.locator("canvas.upper-canvas").first.wait_for(timeout=60_000)
            strokes, model_ms = [], []
            for digit in ("1", "0", "7") * 2:
                draw(page, digit)
                started = time.perf_counter()
                if wait_for_verdicts(page, digit):
                    strokes.append(time.perf_counter() - started)
                    wait_until_idle(page)
                    caption = page.get_by_text(re.compile(r"model\(s\) [0-9.]+ ms")).first.inner_text()
                    model_ms.append(float(re.search(r"model\(s\) ([0-9.]+) ms", caption).group(1)))
                page.get_by_role("button", name=re.compile("Clear")).click()
                wait_for_verdicts(page, "—", timeout=10)
                wait_until_idle(page)
                page.wait_for_timeout(800)
            print(f"draw, stroke end → both verdicts: median {statistics.median(strokes):.2f} s "
                  f"({len(strokes)} of 6 digits read right); both models inside the app: median "
                  f"{statistics.median(model_ms):.2f} ms, max {max(model_ms):.2f} ms")
            browser.close()
    finally:
        process.terminate()
        process.wait(10)


if __name__ == "__main__":
    main()
