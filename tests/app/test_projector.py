"""The projector preset through AppTest: `?projector=1`, the sidebar's toggle, the address kept in
step with it, the Talk page's default, and the projector colours on the Draw page."""

import json

import numpy as np
from streamlit.testing.v1 import AppTest

from app_pages import projector
from mnist_core import charts
from mnist_core.data import synthetic

from .test_pages import fake_canvas, open_page  # noqa: F401 (fake_canvas is a fixture)
from .test_talk_page import open_talk, store  # noqa: F401 (store is a fixture)

HOME = "app_pages/home.py"


def projector_style(at: AppTest) -> str | None:
    """The preset's style block on the page, or None."""
    return next((h.proto.body for h in at.get("html") if projector.PROJECTOR_RULES in h.proto.body), None)


def projector_style_shown(at: AppTest) -> bool:
    """The preset's style block with its larger type (the 1.25× root) is on the page."""
    return projector.PROJECTOR_SCALE in (projector_style(at) or "")


def projector_switch(at: AppTest):
    return at.toggle(key=projector.PROJECTOR_KEY)


def test_off_by_default():
    at = open_page(HOME)
    assert not projector_switch(at).value and projector_style(at) is None
    assert "projector" not in at.query_params


def test_the_address_turns_it_on_for_every_page():
    at = open_page(HOME, query={"projector": "1"})
    assert projector_switch(at).value and projector_style_shown(at)
    at.switch_page("app_pages/dataset.py").run()
    assert not at.exception
    assert projector_switch(at).value and projector_style_shown(at)
    assert at.query_params["projector"] == "1"


def test_the_toggle_turns_it_off_and_on_and_the_address_follows():
    at = open_page(HOME, query={"projector": "1"})
    projector_switch(at).set_value(False).run()
    assert not projector_switch(at).value and projector_style(at) is None
    assert "projector" not in at.query_params  # a reload opens without the preset
    projector_switch(at).set_value(True).run()
    assert projector_style_shown(at) and at.query_params["projector"] == "1"  # a reload keeps it


def bar_colors(at: AppTest) -> set[str]:
    colors = set()
    for chart in at.get("plotly_chart"):
        for trace in json.loads(chart.proto.spec)["data"]:
            colors.update(trace["marker"]["color"])
    return colors


def test_draw_page_bars_use_the_projector_colours_when_on(fake_canvas, mnist):  # noqa: F811
    fake_canvas["image"] = synthetic.redraw(mnist[1][0][0], np.random.default_rng(0))  # a 7
    default = bar_colors(open_page("app_pages/draw.py"))
    projector = bar_colors(open_page("app_pages/draw.py", query={"projector": "1"}))
    families = ("ann", "cnn")
    assert {charts.kind_color(k) for k in families} <= default
    assert {charts.kind_color(k, projector=True) for k in families} <= projector
    assert not {charts.kind_color(k) for k in families} & projector


def test_talk_page_turns_it_on_unless_the_presenter_turned_it_off(store):  # noqa: F811
    at = open_talk()
    style = projector_style(at)  # contrast and colours; no 1.25× root: talk.STYLE sizes this page
    assert projector_switch(at).value and style and projector.PROJECTOR_SCALE not in style
    assert at.query_params["projector"] == "1"
    projector_switch(at).set_value(False).run()
    at.switch_page("app_pages/home.py").run()
    at.switch_page("app_pages/talk.py").run()
    assert not at.exception
    assert not projector_switch(at).value and projector_style(at) is None
