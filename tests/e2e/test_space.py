"""The learned space in a real browser: both maps render, a digit drawn with the mouse lands among
its own digits, and the Train page's epoch slider moves a replay's map."""

import re
import time

import pytest

from tests.e2e.conftest import assert_no_exception, screenshot, wait_until_idle
from tests.e2e.test_browser import draw, open_page, wait_for_verdicts
from tests.e2e.test_train_epochs import slider_value

pytestmark = pytest.mark.e2e


def map_charts(page):
    """The plotted maps: charts with a legend titled "digit"."""
    return page.locator("[data-testid='stPlotlyChart']").filter(has=page.locator(".legendtitletext", has_text="digit"))


def test_a_drawn_7_lands_among_the_7s_in_both_maps(page, server):
    open_page(page, server, "draw")
    page.locator("canvas.upper-canvas").first.wait_for(timeout=60_000)
    draw(page, "7")
    assert wait_for_verdicts(page, "7"), "both models should read the drawn 7"
    page.get_by_role("button", name="Where it lands").click()
    page.get_by_role("heading", name="The learned space").wait_for(timeout=30_000)
    wait_until_idle(page)
    map_charts(page).nth(1).locator(".scatterlayer").wait_for(timeout=30_000)
    assert map_charts(page).count() == 2
    said = page.locator("[data-testid='stMarkdownContainer']").filter(has_text="nearest your drawing")
    assert said.count() == 2
    assert all(re.search(r"(\d+) of the 10 test digits nearest your drawing in its last hidden layer are 7s", text)
               for text in said.all_inner_texts()), said.all_inner_texts()
    # each map: 3,000 test digits, the 10 nearest ringed, and the drawing's star
    points = map_charts(page).first.locator(".scatterlayer path.point").count()
    assert points == 3000 + 10 + 1, points
    assert_no_exception(page)
    screenshot(page, "space-drawing", height=1800)
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"{server}/space?projector=1")
    wait_until_idle(page)
    map_charts(page).first.locator(".scatterlayer").wait_for(timeout=30_000)
    assert_no_exception(page)
    screenshot(page, "space-projector", height=1400)


def map_points(page) -> list[str]:
    """The first digit's points in the Train page's map, as drawn (their transforms)."""
    chart = map_charts(page).first
    return chart.evaluate("c => [...c.querySelectorAll('.scatterlayer .trace:first-child path.point')]"
                          ".map(p => p.getAttribute('transform'))")


def test_the_epoch_slider_moves_a_replays_map(page, server):
    open_page(page, server, "train")
    page.get_by_role("radio", name="Replay a recording").click()
    wait_until_idle(page)
    page.locator("[data-testid='stSelectbox']").filter(has_text="Recording").click()
    page.get_by_role("option", name=re.compile("^seed000-ann")).click()
    wait_until_idle(page)
    page.get_by_role("button", name="Play").click()
    page.get_by_text("Replay of seed000-ann · all 10 epochs played").wait_for(timeout=60_000)
    wait_until_idle(page)
    assert slider_value(page) == "10"
    page.get_by_text(re.compile(r"seed000-ann.* · map from epoch 10: ")).wait_for(timeout=15_000)
    last = map_points(page)
    assert len(last) == 100  # a hundred 0s of the thousand digits
    thumb = page.locator("[data-testid='stSlider']").filter(has_text="Epoch").get_by_role("slider")
    thumb.focus()
    page.keyboard.press("Home")  # epoch 1: before the first map
    deadline = time.time() + 20
    while time.time() < deadline and slider_value(page) != "1":
        page.wait_for_timeout(200)
    wait_until_idle(page)
    page.get_by_text(re.compile("no map yet")).wait_for(timeout=15_000)
    for _ in range(9):  # and back up to the first map's epoch
        thumb.focus()
        page.keyboard.press("ArrowRight")
        wait_until_idle(page)
        if page.get_by_text(re.compile(r" · map from epoch \d+")).count():
            break
    first_map = page.get_by_text(re.compile(r" · map from epoch \d+")).inner_text()
    assert int(re.search(r"map from epoch (\d+)", first_map).group(1)) < 10
    earlier = map_points(page)
    assert len(earlier) == 100 and earlier != last  # the same digits, elsewhere
    assert_no_exception(page)
    screenshot(page, "train-replay-map", height=3000)
