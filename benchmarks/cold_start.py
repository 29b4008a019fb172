"""Cold start: from `streamlit run` to Home rendered in headless Chromium, against a one-line
Streamlit app started the same way in the same run (the floor any Streamlit app pays here).

Each round starts a fresh server, opens it in a fresh browser page and stops the clock when the
script has finished and the page shows what a person came for: for the app, Home's title and both
shipped models' test accuracy; for the one-liner, its one line. Rounds alternate the two apps so
machine noise hits both alike. Prints each round, the medians and their ratio. Needs the test tools
(`make test` installs them) and /usr/bin/chromium.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import browser
import harness

ONE_LINER = 'import streamlit as st\nst.write("Hello, room")\n'
APP_READY = "[data-testid='stMetric']:has-text('CNN · test accuracy')"
ONE_LINER_READY = "text=Hello, room"


def seconds_to_first_render(chromium, script: Path, ready_selector: str) -> float:
    started = time.perf_counter()
    server = harness.start_server(script)
    try:
        page = chromium.new_page(viewport=browser.LAPTOP)
        page.goto(server.url)
        page.wait_for_selector(ready_selector, timeout=120_000)
        browser.wait_until_idle(page)
        elapsed = time.perf_counter() - started
        page.close()
        return elapsed
    finally:
        harness.stop_server(server)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        one_liner = Path(tmp) / "one_line_app.py"
        one_liner.write_text(ONE_LINER)
        chromium = browser.launch(playwright)
        app, floor = [], []
        for round_ in range(1, args.rounds + 1):
            floor.append(seconds_to_first_render(chromium, one_liner, ONE_LINER_READY))
            app.append(seconds_to_first_render(chromium, harness.APP, APP_READY))
            print(f"round {round_}: one-line app {floor[-1]:.2f} s, this app's Home {app[-1]:.2f} s")
        chromium.close()
    print(f"streamlit run → first page rendered, median of {args.rounds}: one-line app "
          f"{statistics.median(floor):.2f} s, Home {statistics.median(app):.2f} s "
          f"({statistics.median(app) / statistics.median(floor):.2f}×)")


if __name__ == "__main__":
    main()
