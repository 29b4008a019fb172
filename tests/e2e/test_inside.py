"""Inside the models as a presenter uses it on a 1920×1080 projector: draw a digit with the mouse,
open it in Inside the models, read the charts, click a feature-map cell."""

import re

import pytest

from .conftest import assert_no_exception, screenshot, wait_until_idle
from .test_browser import draw, open_page, wait_for_verdicts

pytestmark = pytest.mark.e2e

# Every chart the page draws with both models shown (the Honest confidence section adds its own).
CHART_TITLES = ["How these units' evidence flows", "First layer:", "conv 1 ·", "conv 2 ·", "conv 3 ·",
                "click a cell", "px of the input", "how sure each model stays"]


@pytest.fixture
def projector_page(browser):
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    page.problems = []
    page.on("pageerror", lambda e: page.problems.append(f"page error: {str(e)[:500]}"))
    yield page
    context.close()


def chart_text(page) -> str:
    return " ".join(page.locator(".js-plotly-plot").all_inner_texts())


def test_a_drawn_digit_opens_inside_the_models_with_every_chart(projector_page, server):
    page = projector_page
    open_page(page, server, "draw")
    page.locator("canvas.upper-canvas").first.wait_for(timeout=60_000)
    draw(page, "7")
    assert wait_for_verdicts(page, "7"), "the drawn 7 was not read as a 7 by both models"
    wait_until_idle(page)
    page.get_by_role("button", name=re.compile("Look inside the models")).click()
    page.get_by_role("heading", name=re.compile("Inside the models")).first.wait_for(timeout=60_000)
    wait_until_idle(page)
    page.get_by_text(re.compile("The input: your last drawing")).wait_for(timeout=30_000)
    for title in CHART_TITLES:
        page.get_by_text(re.compile(re.escape(title))).first.wait_for(timeout=30_000)
    texts = chart_text(page)
    for title in ("ANN · covering a patch", "CNN · integrated gradients", "unit "):
        assert title in texts, f"no {title!r} on the page's charts"
    assert page.locator(".js-plotly-plot").count() >= 11
    assert_no_exception(page)
    assert not page.problems, page.problems
    screenshot(page, "inside-drawing", height=6400)

    # A click on a feature-map cell frames what that cell sees on the digit.
    field = page.get_by_text(re.compile(r"Row \d+, column \d+ sees")).first
    before = field.text_content()
    plot = page.locator(".js-plotly-plot").filter(has_text="click a cell").locator(".nsewdrag").first
    plot.scroll_into_view_if_needed()
    box = plot.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.5 / 5, box["y"] + box["height"] * 4.5 / 5)  # row 4, column 0
    page.get_by_text(re.compile(r"Row 4, column 0 sees")).first.wait_for(timeout=30_000)
    wait_until_idle(page)
    assert before != page.get_by_text(re.compile(r"Row \d+, column \d+ sees")).first.text_content()
    assert_no_exception(page)
    screenshot(page, "inside-receptive-field")
