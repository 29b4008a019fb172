"""Inside the models through AppTest: a test image by index or address, the last drawing from the
Draw page, each state of the global toggle, and the ways in from the Draw and Confusion pages."""

import json

import numpy as np
import pytest

from mnist_core.data import synthetic
from mnist_core.models.inference import load_classifier
from tests.app.test_pages import fake_canvas, metric, open_page  # noqa: F401 (a fixture)

PAGE = "app_pages/inside.py"
SECTIONS = {"both": "Where each model looks", "ann": "Inside the ANN", "cnn": "Inside the CNN",
            "sweep": "Push the digit around"}


def subheaders(at) -> list[str]:
    return [s.value for s in at.subheader]


def chart_titles(at) -> list[str]:
    titles = []
    for chart in at.get("plotly_chart"):
        layout = json.loads(chart.proto.spec).get("layout", {})
        titles.append((layout.get("title") or {}).get("text", ""))
    return titles


def caption_texts(at) -> list[str]:
    return [c.value for c in at.caption]


@pytest.mark.parametrize("toggle, shown, hidden", [("Both", ["ANN", "CNN"], []), ("ANN", ["ANN"], ["CNN"]),
                                                   ("CNN", ["CNN"], ["ANN"])])
def test_a_test_image_by_index_in_each_toggle_state(toggle, shown, hidden, mnist):
    (_, _), (x_test, y_test) = mnist
    at = open_page(PAGE, toggle=toggle, query={"index": "8"})
    assert at.number_input(key="inside_index").value == 8
    assert "The input: test image #8, a **5**" in caption_texts(at)
    for name in shown:
        answer = load_classifier(name.lower()).predict(x_test[8][None] / 255.0)[0]
        assert metric(at, f"{name} · {name.lower()}").value == str(answer)
        assert any(h.startswith(SECTIONS[name.lower()]) for h in subheaders(at))
    for name in hidden:
        assert not any(name in m.label for m in at.metric)
        assert not any(h.startswith(SECTIONS[name.lower()]) for h in subheaders(at))
    assert SECTIONS["both"] in subheaders(at) and SECTIONS["sweep"] in subheaders(at)
    assert any("how sure each model stays that it is a 5" in t for t in chart_titles(at))
    assert not at.exception


def test_choosing_another_index_another_digit_and_another_change(mnist):
    (_, _), (_, y_test) = mnist
    at = open_page(PAGE)
    at.number_input(key="inside_index").set_value(3).run()
    label = int(y_test[3])
    assert f"p({label})" in metric(at, "CNN").delta
    at.selectbox(key=next(s.key for s in at.selectbox if s.key.startswith("inside_target"))).set_value(9).run()
    assert "p(9)" in metric(at, "CNN").delta
    at.segmented_control(key="inside_sweep").set_value("rotate").run()
    assert any(t.startswith("Rotate: how sure each model stays that it is a 9") for t in chart_titles(at))
    assert not at.exception


def test_an_address_with_a_bad_index_says_so_and_still_shows_a_digit():
    at = open_page(PAGE, query={"index": "seven"})
    assert any("not a whole number" in w.value for w in at.warning)
    assert SECTIONS["both"] in subheaders(at) and not at.exception


def test_the_last_drawing_opens_from_the_draw_page(fake_canvas, mnist):
    (_, _), (x_test, y_test) = mnist
    fake_canvas["image"] = synthetic.redraw(x_test[0], np.random.default_rng(0))  # a 7
    at = open_page("app_pages/draw.py")
    at.button(key="draw_look_inside").click().run()
    assert not at.exception, at.exception
    assert at.segmented_control(key="inside_source").value == "Your last drawing"
    assert metric(at, "CNN").value == "7" and "p(7)" in metric(at, "CNN").delta
    assert SECTIONS["cnn"] in " ".join(subheaders(at))
    # the drawing stays the page's digit after a visit elsewhere
    at.switch_page("app_pages/home.py").run()
    at.switch_page(PAGE).run()
    assert at.segmented_control(key="inside_source").value == "Your last drawing"


def test_a_mistake_opens_from_the_confusion_page():
    at = open_page("app_pages/confusion.py")
    picker = at.selectbox(key="inside_pick_cell")
    index = picker.options[1]
    picker.set_value(int(index.lstrip("#"))).run()
    at.button(key="inside_open_cell").click().run()
    assert not at.exception, at.exception
    assert at.number_input(key="inside_index").value == int(index.lstrip("#"))
    assert SECTIONS["both"] in subheaders(at)


def test_a_clicked_cell_moves_the_receptive_field():
    at = open_page(PAGE, toggle="CNN", query={"index": "0"})
    titles = chart_titles(at)
    assert any(t.startswith("Row ") and "px of the input" in t for t in titles)
    first = next(t for t in titles if t.startswith("Row "))
    at.selectbox(key="inside_rf_block").set_value(1).run()  # conv 1: a 3×3 window, 'same' padding
    assert any(t.endswith("sees 3×3 px of the input") or "sees 2×" in t or "×2 px" in t
               for t in chart_titles(at) if t.startswith("Row ")), chart_titles(at)
    assert first != next(t for t in chart_titles(at) if t.startswith("Row "))
