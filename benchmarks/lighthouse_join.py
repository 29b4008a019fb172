"""Lighthouse on the phones' page: the mobile preset (a simulated mid-range phone on slow 4G), as
a person in the room meets /join. Starts a talk-mode server of its own (benchmarks/harness.py),
installs Lighthouse from the npm registry into the per-user cache the first time, runs it in the
machine's Chromium and prints the category scores and the load's figures.

    .venv/bin/python benchmarks/lighthouse_join.py

Goals (issue: a lecture hall): Performance ≥ 95, Largest Contentful Paint ≤ 2.5 s,
Accessibility 100, at most 100 KB. Loopback only; it asserts nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import browser  # noqa: E402
import harness  # noqa: E402

LIGHTHOUSE_VERSION = "13.5.0"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mnist-ann-vs-cnn" / f"lighthouse-{LIGHTHOUSE_VERSION}"
CHROME_FLAGS = " ".join(["--headless=new", *browser.CHROMIUM_ARGS])
FIGURES = ("largest-contentful-paint", "first-contentful-paint", "speed-index", "total-blocking-time",
           "cumulative-layout-shift", "total-byte-weight")


def lighthouse() -> Path:
    binary = CACHE / "node_modules" / ".bin" / "lighthouse"
    if not binary.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        print(f"installing lighthouse@{LIGHTHOUSE_VERSION} into {CACHE} …", flush=True)
        subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", f"lighthouse@{LIGHTHOUSE_VERSION}"],
                       cwd=CACHE, check=True)
    return binary


def main() -> None:
    binary = lighthouse()
    server = harness.start_talk_server()
    try:
        with tempfile.TemporaryDirectory() as folder:
            report = Path(folder) / "join.json"
            subprocess.run([str(binary), f"{server.url}/join", "--output=json", f"--output-path={report}",
                            f"--chrome-flags={CHROME_FLAGS}", "--quiet"],
                           env=dict(os.environ, CHROME_PATH=browser.CHROMIUM), check=True, timeout=300)
            result = json.loads(report.read_text())
    finally:
        harness.stop_server(server)
    settings = result["configSettings"]
    print(f"Lighthouse {result['lighthouseVersion']} on /join: {settings['formFactor']}, "
          f"{settings['throttlingMethod']} throttling ({settings['throttling']['rttMs']:.0f} ms RTT, "
          f"{settings['throttling']['throughputKbps']:.0f} Kbps, CPU ×{settings['throttling']['cpuSlowdownMultiplier']:.0f})")
    print("scores: " + ", ".join(f"{c['title']} {round(c['score'] * 100)}" for c in result["categories"].values()
                                 if c.get("score") is not None))
    for key in FIGURES:
        audit = result["audits"][key]
        print(f"  {audit['title']}: {audit.get('displayValue', audit.get('numericValue'))}")
    requests = result["audits"]["network-requests"]["details"]["items"]
    print(f"  requests: {len(requests)} ({', '.join(Path(r['url']).name or r['url'] for r in requests)})")


if __name__ == "__main__":
    main()
