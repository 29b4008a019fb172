"""The app in a real browser, for the benchmarks that time what a person sees: headless Chromium
driven by Playwright (installed with the test tools, `make test`), the Draw page's canvas drawn
with the mouse and its verdicts read off the page; and, without a browser, what in a page would
make a browser fetch more."""

from __future__ import annotations

import html.parser
import math
import os
import re
import time

# The system's Chromium (`make chromium`): Playwright's own browser builds are not installed.
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
LAPTOP = {"width": 1440, "height": 900}


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def wait_until_idle(page, timeout=120_000):
    """Streamlit has finished running the script (and drawn what it produced)."""
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout)


# ── the Draw page with the mouse ──────────────────────────────────────────────────────────────

def digit_strokes(digit: str, left: float, top: float, size: float):
    """Polylines (in page pixels) that draw a digit the way a person would."""
    def at(u, v):
        return left + u * size, top + v * size
    if digit == "1":
        return [[at(0.45, 0.22), at(0.55, 0.12), at(0.55, 0.88)]]
    if digit == "0":
        return [[at(0.5 + 0.22 * math.sin(t / 24 * 2 * math.pi), 0.5 - 0.36 * math.cos(t / 24 * 2 * math.pi))
                 for t in range(25)]]
    if digit == "7":
        return [[at(0.25, 0.15), at(0.75, 0.15), at(0.45, 0.88)]]
    raise ValueError(digit)


def draw(page, digit: str) -> None:
    canvas = page.locator("canvas.upper-canvas").first
    box = canvas.bounding_box()
    for stroke in digit_strokes(digit, box["x"], box["y"], min(box["width"], box["height"])):
        page.mouse.move(*stroke[0])
        page.mouse.down()
        for point in stroke[1:]:
            page.mouse.move(*point, steps=8)
        page.mouse.up()


def verdict(page, family: str) -> str:
    """What the ANN's or the CNN's metric shows: a digit, or "—" on an empty canvas."""
    metric = page.locator("[data-testid='stMetric']").filter(has_text=re.compile(family + " ·"))
    return metric.locator("[data-testid='stMetricValue']").first.inner_text().strip()


def wait_for_verdicts(page, expected: str, timeout: float = 30) -> bool:
    """Whether both verdicts showed `expected` within `timeout` s."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if verdict(page, "ANN") == expected and verdict(page, "CNN") == expected:
                return True
        except Exception:  # the metric may be mid-redraw
            pass
        page.wait_for_timeout(25)
    return False


# ── what a page would make a browser fetch ────────────────────────────────────────────────────

class _References(html.parser.HTMLParser):
    URL_ATTRS = {"src", "href", "srcset", "poster", "data", "action", "formaction", "background", "manifest"}

    def __init__(self):
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.styles: list[str] = []
        self.scripts: list[str] = []
        self._in = None

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in self.URL_ATTRS and value is not None:
                self.refs.append((tag, name, value))
            if name == "style" and value:
                self.styles.append(value)
            if tag == "meta" and name == "http-equiv" and (value or "").lower() == "refresh":
                self.refs.append((tag, "http-equiv=refresh", dict(attrs).get("content", "")))
        self._in = tag if tag in ("style", "script") else None

    def handle_endtag(self, tag):
        self._in = None

    def handle_data(self, data):
        if self._in == "style":
            self.styles.append(data)
        elif self._in == "script":
            self.scripts.append(data)


def page_references(page: str) -> dict:
    """What in the page would make a browser request something more: src/href-like attributes and
    CSS url()/@import (a data: URL, an anchor or javascript: makes no request), and the paths its
    scripts fetch (the token and the Send, not assets)."""
    parser = _References()
    parser.feed(page)
    css = "\n".join(parser.styles)
    refs = parser.refs + [("style", "url()", u.strip("'\" ")) for u in re.findall(r"url\(([^)]*)\)", css)]
    refs += [("style", "@import", u) for u in re.findall(r"@import\s+([^;]+);", css)]
    requesting = [r for r in refs if r[2].strip() and not r[2].strip().lower().startswith(("data:", "#", "javascript:", "about:"))]
    fetched = sorted(set(re.findall(r"""(?:fetch|post)\(\s*["'](/[^"']*)["']""", "\n".join(parser.scripts))))
    return {"found": refs, "requesting": requesting, "script_paths": fetched}
