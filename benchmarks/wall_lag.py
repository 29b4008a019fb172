"""How far behind the room the presenter's wall runs: the Talk page in a real Chromium (1920×1080,
projector mode, as on stage) beside a running hall, reading its "Digits received" every 0.5 s and
the database's count at the same moment. Prints how many digits and how many seconds the wall
was behind (the goal: never more than 2 s), how often the counter moved, and saves a screenshot.

    .venv/bin/python benchmarks/wall_lag.py --host http://127.0.0.1:8501 --key KEY --db PATH --seconds 60

Run it beside `benchmarks/hall_load.py --host … --db … --steady` against the same talk-mode server.
Loopback only; bounded; it asserts nothing."""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import time
from pathlib import Path

import browser
import harness

SHOT = Path(__file__).resolve().parent / "wall_lag.png"


def db_counts(db: str) -> tuple[int, float]:
    """(visible digits in the newest talk, the newest one's time)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        n, newest = conn.execute("SELECT count(*), max(created) FROM digits WHERE hidden = 0 AND talk_id = "
                                 "(SELECT max(id) FROM talks)").fetchone()
    return int(n), float(newest or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    if not harness.is_loopback(args.host):
        parser.error("loopback only")
    seconds = min(max(args.seconds, 5), 600)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = browser.launch(playwright)
        page = chromium.new_page(viewport={"width": 1920, "height": 1080})
        page.goto(f"{args.host}/talk?key={args.key}")
        page.get_by_text("Digits received").wait_for(timeout=60_000)
        samples = []  # (wall clock, shown, stored)
        end = time.time() + seconds
        while time.time() < end:
            shown = page.evaluate("""() => { const m = [...document.querySelectorAll("[data-testid='stMetric']")]
                .find(m => m.innerText.includes("Digits received"));
                return m ? m.querySelector("[data-testid='stMetricValue']").innerText : null; }""")
            stored, _ = db_counts(args.db)
            if shown:
                samples.append((time.time(), int(shown.replace(",", "")), stored))
            time.sleep(0.5)
        page.screenshot(path=str(SHOT))
        chromium.close()
    if not samples:
        print("no samples: the Talk page showed no counter")
        return
    behind = [stored - shown for _, shown, stored in samples]
    # Seconds behind: how long ago the database first held a digit the wall does not count yet.
    lag_s = []
    for t, shown, stored in samples:
        first_missing = next((t0 for t0, _, stored0 in samples if stored0 > shown), t) if stored > shown else t
        lag_s.append(max(0.0, t - first_missing))
    changes = sum(1 for a, b in zip(samples, samples[1:]) if a[1] != b[1])
    q = statistics.quantiles(behind, n=20) if len(behind) > 1 else behind * 19
    ql = statistics.quantiles(lag_s, n=20) if len(lag_s) > 1 else lag_s * 19
    print(f"{len(samples)} samples over {seconds:.0f} s; the counter moved {changes} times")
    print(f"digits behind the database: median {statistics.median(behind):.0f}, p95 {q[18]:.0f}, max {max(behind)}")
    print(f"seconds behind (since the first digit the wall does not count yet was stored): median {statistics.median(lag_s):.1f}, "
          f"p95 {ql[18]:.1f}, max {max(lag_s):.1f} (goal: never more than 2 s)")
    print(f"screenshot: {SHOT}")


if __name__ == "__main__":
    main()
