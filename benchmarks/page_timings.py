"""Page timings in a real browser: a real Streamlit server on a fresh port, headless Chromium.

Prints, as medians of several clicks: the Dataset page re-rendering after a digit filter, the
Confusion matrix page's first load on a fresh server (the 10,000 test images scored for both
models) against a cached re-render, and the Draw page from the end of a stroke to both verdicts
and the CPU time the app reports for preprocessing and both models. Needs the test tools (`make test`
installs them) and /usr/bin/chromium.
"""

import re
import statistics
import time

import harness
from browser import LAPTOP, draw, launch, wait_for_verdicts, wait_until_idle


def timed(page, action, done_js: str, arg=None) -> float:
    """Seconds from an action until the page shows its result (`done_js`, a JS predicate)."""
    started = time.perf_counter()
    action()
    page.wait_for_function(done_js, arg=arg, timeout=60_000, polling=10)
    return time.perf_counter() - started


FIRST_CAPTION_ENDS = """d => { const c = document.querySelector("[data-testid='stImageCaption']");
                               return c && (d === 'all' ? c.innerText.trim() === '#0 · 5' : c.innerText.trim().endsWith(' · ' + d)); }"""
# The Draw page's caption: "Preprocessing and 2 model(s): 1.4 ms of CPU time".
APP_MS = re.compile(r"model\(s\): ([0-9.]+) ms")
MATRIX_SHOWS_RATES = """rates => { const t = document.querySelector('.js-plotly-plot .heatmaplayer').textContent;
                                   return t.includes('%') === rates; }"""


def main():
    from playwright.sync_api import sync_playwright

    server = harness.start_server()
    url = server.url
    try:
        with sync_playwright() as playwright:
            chromium = launch(playwright)
            page = chromium.new_page(viewport=LAPTOP)

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
            strokes, app_ms = [], []
            for digit in ("1", "0", "7") * 2:
                draw(page, digit)
                started = time.perf_counter()
                if wait_for_verdicts(page, digit):
                    strokes.append(time.perf_counter() - started)
                    wait_until_idle(page)
                    caption = page.get_by_text(APP_MS).first.inner_text()
                    app_ms.append(float(APP_MS.search(caption).group(1)))
                page.get_by_role("button", name=re.compile("Clear")).click()
                wait_for_verdicts(page, "—", timeout=10)
                wait_until_idle(page)
                page.wait_for_timeout(800)
            print(f"draw, stroke end → both verdicts: median {statistics.median(strokes):.2f} s "
                  f"({len(strokes)} of 6 digits read right); preprocessing and both models inside the app "
                  f"(CPU time): median {statistics.median(app_ms):.2f} ms, max {max(app_ms):.2f} ms")
            chromium.close()
    finally:
        harness.stop_server(server)


if __name__ == "__main__":
    main()
