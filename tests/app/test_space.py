"""The Learned space page through AppTest: both maps with their scores from the files, a test digit,
a mistake and your drawing placed, the ways in from the Draw and Confusion pages, and the toggle."""

import base64
import json

import numpy as np
import pytest

from mnist_core.analysis import learned_space
from mnist_core.data import synthetic
from tests.app.test_pages import fake_canvas, open_page  # noqa: F401 (a fixture)

PAGE = "app_pages/space.py"


def maps(at) -> dict:
    """Each map's figure as its spec, by chart key."""
    return {chart.proto.id: json.loads(chart.proto.spec) for chart in at.get("plotly_chart")}


def placed_points(at) -> list[dict]:
    return [trace for spec in maps(at).values() for trace in spec["data"] if trace.get("name") == "placed"]


def points(trace: dict) -> int:
    """How many points a trace draws (plotly sends long arrays as base64 typed arrays)."""
    data = trace["customdata"]
    return len(np.frombuffer(base64.b64decode(data["bdata"]), data["dtype"])) if isinstance(data, dict) else len(data)


def markdown(at) -> str:
    return " ".join(m.value for m in at.markdown)


@pytest.mark.parametrize("toggle, shown", [("Both", ["ANN", "CNN"]), ("CNN", ["CNN"]), ("ANN", ["ANN"])])
def test_the_maps_follow_the_toggle_and_state_their_scores_from_the_files(toggle, shown):
    at = open_page(PAGE, toggle=toggle)
    assert len(maps(at)) == len(shown)
    for label in shown:
        assert f"**{label} · {label.lower()}** reads" in markdown(at)
        model_map = learned_space.read_map(label.lower())
        caption = " ".join(c.value for c in at.caption)
        assert f"{model_map.neighbour_accuracy:.1%}" in caption and f"{model_map.silhouette:.2f}" in caption
    for spec in maps(at).values():
        digits = [t for t in spec["data"] if t.get("name") in [str(d) for d in range(10)]]
        assert len(digits) == 10 and sum(points(t) for t in digits) == 3000
    assert not at.exception


def test_a_test_digit_lands_among_its_own_digits(mnist):
    (_, _), (_, y_test) = mnist
    at = open_page(PAGE)
    at.number_input(key="space_index").set_value(3).run()
    label = int(y_test[3])
    assert len(placed_points(at)) == 2
    assert markdown(at).count(f"in its last hidden layer are **{label}s**") == 2
    assert not at.exception


def test_a_mistake_where_the_networks_disagree_is_placed_in_both():
    at = open_page(PAGE)
    at.segmented_control(key="space_source").set_value("A mistake").run()
    picker = at.selectbox(key="space_mistake")
    assert picker.value is not None and "read as ANN" in picker.format_func(picker.value)
    assert len(placed_points(at)) == 2 and not at.exception


def test_your_drawing_lands_in_the_maps_from_the_draw_page(fake_canvas, mnist):
    (_, _), (x_test, _) = mnist
    fake_canvas["image"] = synthetic.redraw(x_test[0], np.random.default_rng(0))  # a 7
    at = open_page("app_pages/draw.py")
    at.button(key="draw_open_space").click().run()
    assert not at.exception, at.exception
    assert at.segmented_control(key="space_source").value == "Your last drawing"
    assert markdown(at).count("nearest your drawing in its last hidden layer are **7s**") == 2
    assert [p["text"] for p in placed_points(at)] == [["your drawing: read as 7"]] * 2


def test_a_mistake_opens_from_the_confusion_page():
    at = open_page("app_pages/confusion.py")
    picker = at.selectbox(key="inside_pick_cell")
    index = int(picker.options[1].lstrip("#"))
    picker.set_value(index).run()
    at.button(key="space_open_cell").click().run()
    assert not at.exception, at.exception
    assert at.number_input(key="space_index").value == index


def test_a_model_without_a_map_names_the_command(monkeypatch, tmp_path):
    import shutil

    from mnist_core.analysis import measured
    from mnist_core.models import registry

    for name in registry.SHIPPED:
        for suffix in (".keras", ".json"):
            shutil.copy(registry.model_path(name).with_suffix(suffix), tmp_path / f"{name}{suffix}")
    monkeypatch.setenv("MNIST_MODELS_DIR", str(tmp_path))
    monkeypatch.setattr(measured, "_cache", {})  # the same files were measured, map and all, by other tests
    at = open_page(PAGE, toggle="CNN")
    assert any("python -m mnist_core map cnn" in i.value for i in at.info)
    assert not at.exception


def test_the_picked_digit_is_kept_across_pages():
    at = open_page(PAGE)
    at.number_input(key="space_index").set_value(42).run()
    at.segmented_control(key="space_source").set_value("A mistake").run()
    at.switch_page("app_pages/home.py").run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    assert at.segmented_control(key="space_source").value == "A mistake"
    at.segmented_control(key="space_source").set_value("A test image").run()
    assert at.number_input(key="space_index").value == 42 and not at.exception
