"""Figures a page states come from a recorded result or a model card, never typed in: these fail
when a shown figure and its source differ, or when a source no longer belongs to the model files."""

import numpy as np

from mnist_core.analysis import canvas_reading
from mnist_core.data import synthetic
from mnist_core.models import registry
from tests.app.test_pages import fake_canvas, metric, open_page  # noqa: F401  (fake_canvas is a fixture)


def test_the_canvas_measure_belongs_to_the_shipped_model_files():
    result = canvas_reading.load(canvas_reading.result_path(registry.MODELS_DIR))
    assert result is not None, "record it with `python -m mnist_core canvas`"
    for name in ("ann", "cnn"):
        assert result["models"][name]["file_sha256"] == registry.file_hash(name, registry.MODELS_DIR), (
            f"trained_models/{name}.keras changed since its canvas figures were measured: "
            "run `python -m mnist_core canvas`")


def test_the_draw_page_states_the_recorded_canvas_figures(fake_canvas, mnist):
    result = canvas_reading.load(canvas_reading.result_path(registry.MODELS_DIR))
    fake_canvas["image"] = synthetic.redraw(mnist[1][0][1], np.random.default_rng(0))
    at = open_page("app_pages/draw.py")
    at.toggle(key="compare_naive").set_value(True).run()
    caption = next(c.value for c in at.caption if "naive resize" in c.value and "Measured on" in c.value)
    cnn, ann = result["models"]["cnn"], result["models"]["ann"]
    assert f"{result['digits']:,} MNIST test digits" in caption
    assert f"CNN from {cnn['faithful']:.1%} to {cnn['naive']:.0%}" in caption
    assert f"ANN from {ann['faithful']:.1%} to {ann['naive']:.0%}" in caption


def test_home_states_each_shipped_model_card(fake_canvas):
    at = open_page("app_pages/home.py")
    for kind in ("ann", "cnn"):
        card = registry.read_card(kind, registry.MODELS_DIR)
        assert metric(at, f"{kind.upper()} · test accuracy").value == f"{card['test_accuracy']:.2%}"
