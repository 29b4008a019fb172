"""The Experiments page as a presenter uses it on a 1920×1080 projector: read each recorded
experiment, then run the shuffled-pixels experiment live and see it drawn over the record."""

import re

import pytest

from .conftest import assert_no_exception, screenshot, wait_until_idle
from .test_browser import open_page
from .test_inside import chart_text, projector_page  # noqa: F401 (a fixture)

pytestmark = pytest.mark.e2e

TABS = {"Shuffled pixels": "original vs shuffled", "A fair fight": "parameter-matched",
        "Learning from few examples": "against training images", "Robustness": "as the test digits change"}


# A bar's colour as a person sees it: its fill, or a hatched bar's pattern background.
BAR_COLOUR = """e => {
    const fill = getComputedStyle(e).fill, id = fill.match(/url\\("?#([^")]+)"?\\)/);
    if (!id) return fill;
    const background = document.getElementById(id[1])?.querySelector("rect");
    return background ? getComputedStyle(background).fill : "none";
}"""


def visible_panel(page):
    return page.locator("[role='tabpanel']:visible")


def test_each_recorded_experiment_is_drawn(projector_page, server):
    page = projector_page
    open_page(page, server, "experiments")
    page.get_by_role("heading", name=re.compile("Experiments")).first.wait_for(timeout=60_000)
    for tab, title in TABS.items():
        page.get_by_role("tab", name=tab).click()
        panel = visible_panel(page)
        panel.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
        page.wait_for_timeout(400)
        text = chart_text(panel)
        assert title in text, f"{tab}: chart title missing in {text[:300]!r}"
        assert re.search(r"ANN[^·]*· recorded", text) and re.search(r"CNN[^·]*· recorded", text)  # both in the legend
        assert panel.locator("[data-testid='stMetric']").count() >= 2
        assert_no_exception(page)
        screenshot(page, f"experiments-{tab.split()[-1].lower()}", height=1800)


def test_a_quick_run_goes_live_with_progress_and_is_drawn_dashed(projector_page, server):
    page = projector_page
    open_page(page, server, "experiments")
    panel = visible_panel(page)
    panel.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    panel.get_by_role("button", name=re.compile("Run the quick version live")).click()
    page.locator("[data-testid='stProgress']").first.wait_for(timeout=30_000)  # progress while it trains
    assert panel.get_by_role("button", name=re.compile("Stop")).is_enabled()
    screenshot(page, "experiments-running")
    panel.get_by_text(re.compile("Your quick run took")).wait_for(timeout=150_000)
    wait_until_idle(page)
    page.wait_for_timeout(800)
    panel = visible_panel(page)
    assert "quick run" in chart_text(panel)  # the fresh bars beside the recorded ones, in the legend
    bars = panel.locator(".js-plotly-plot .trace.bars")
    assert bars.count() == 4
    fills = [bars.nth(i).locator("path").first.evaluate(BAR_COLOUR) for i in range(4)]
    assert fills[2] == fills[0] and fills[3] == fills[1], fills  # each quick run's bars in its model's colour
    assert_no_exception(page)
    screenshot(page, "experiments-quick-run", height=1800)
