"""The Experiments page through AppTest: the shipped results in each toggle state, missing and damaged
result files, and a quick run live in the training worker drawn over the recorded result."""

import json
import shutil
import time

import pytest

from mnist_core import training
from mnist_core.training import experiments
from tests.app.test_pages import image_captions, metric, open_page

PAGE = "app_pages/experiments.py"
CHART_TITLES = ["Test accuracy: original vs shuffled pixels", "Test accuracy of parameter-matched networks",
                "Test accuracy against training images", "Accuracy as the test digits change"]


def charts(at) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def trace_names(chart: dict) -> list[str]:
    return [trace.get("name", "") for trace in chart["data"]]


@pytest.fixture
def results_dir(tmp_path, monkeypatch):
    """A copy of the shipped results in a folder the test may write to."""
    directory = tmp_path / "experiments"
    shutil.copytree(experiments.SHIPPED_DIR, directory)
    monkeypatch.setenv("MNIST_EXPERIMENTS_DIR", str(directory))
    return directory


def test_the_page_shows_every_recorded_experiment(results_dir):
    at = open_page(PAGE, toggle="Both")
    assert [tab.label for tab in at.tabs] == [experiments.TITLES[name] for name in experiments.NAMES]
    figures = charts(at)
    assert [any(f["layout"]["title"]["text"].startswith(t) for f in figures) for t in CHART_TITLES] == [True] * 4
    for figure in figures:  # every chart draws the recorded result of both models, none a quick run
        names = trace_names(figure)
        for family in ("ANN", "CNN"):
            assert any(n.startswith(family) and n.endswith("· recorded") for n in names), names
        assert not any("quick run" in n for n in names)
    assert not at.warning and not at.error
    for label in ("shuffled pixels", "~100k weights", "100 images", "moved 3 px"):
        assert metric(at, f"ANN · {label}").value.endswith("%") and metric(at, f"CNN · {label}").value.endswith("%")
    # The shuffled-pixel metric is the shuffled accuracy, with the change from the original digits.
    recorded = experiments.load_result(results_dir / "shuffled_pixels.json")
    acc = {(r["model"], r["pixels"]): r["accuracy"] for r in recorded.rows}
    cnn = metric(at, "CNN · shuffled pixels")
    assert cnn.value == f"{acc['cnn', 'shuffled']:.1%}"
    assert cnn.proto.delta == f"{100 * (acc['cnn', 'shuffled'] - acc['cnn', 'original']):+.1f} pts"
    assert len([c for c in at.caption if "Look at" in c.value or "Read the" in c.value or "Compare" in c.value
                or "Solid lines" in c.value]) == 4  # each chart says what to look for
    captions = image_captions(at)
    assert "The same digits, pixels shuffled" in captions and any(c.startswith("One test digit untouched") for c in captions)


def test_the_robustness_caption_says_from_the_recorded_rows_where_a_shipped_model_falls_short(results_dir):
    recorded = experiments.load_result(results_dir / "robustness.json")
    caption = next(c.value for c in open_page(PAGE, toggle="Both").caption if "dotted lines are the shipped" in c.value)
    shortfalls = experiments.shipped_shortfalls(recorded.rows)
    for kind, names in shortfalls.items():
        assert f"the shipped {kind.upper()} under {' and '.join(names)}" in caption
    assert ("at least as well as its plain pair" in caption) == (not shortfalls)

    # A shipped CNN that reads blurred digits far worse than its plain pair: the caption says so.
    data = json.loads((results_dir / "robustness.json").read_text())
    for row in data["rows"]:
        if row["which"] == "shipped" and row["corruption"] == "blur" and row["strength"] == 2.0:
            row["accuracy"] = 0.1
    (results_dir / "robustness.json").write_text(json.dumps(data))
    caption = next(c.value for c in open_page(PAGE, toggle="Both").caption if "dotted lines are the shipped" in c.value)
    assert "the shipped ANN under blur" in caption and "the shipped CNN under blur" in caption


def test_the_toggle_shows_one_model_and_says_how_to_compare(results_dir):
    at = open_page(PAGE, toggle="CNN")
    assert any("choose **Both**" in c.value for c in at.caption)
    for figure in charts(at):
        assert not any(name.startswith("ANN") for name in trace_names(figure))
    assert metric(at, "CNN · shuffled pixels") is not None
    with pytest.raises(AssertionError):
        metric(at, "ANN · shuffled pixels")


def test_missing_results_say_how_to_record_them(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_EXPERIMENTS_DIR", str(tmp_path / "empty"))
    at = open_page(PAGE, toggle="Both")
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 4
    assert all("python -m mnist_core experiment" in w for w in warnings)
    assert len(at.button) >= 4  # each experiment can still be run live


def test_a_damaged_result_file_is_named_with_its_fix(results_dir):
    (results_dir / "robustness.json").write_text("{ half a file")
    at = open_page(PAGE, toggle="Both")
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "robustness.json" in errors[0] and "python -m mnist_core experiment robustness" in errors[0]
    assert len(charts(at)) == 4  # the other experiments are untouched


def test_a_quick_run_goes_live_and_is_drawn_over_the_record(results_dir, monkeypatch):
    tiny = experiments.Setting(train_images=2_000, test_images=500, epochs=1)
    monkeypatch.setitem(experiments.SETTINGS["shuffled_pixels"], "quick", tiny)
    at = open_page(PAGE, toggle="Both")
    at.button(key="shuffled_pixels_start").click().run()
    run = training.find_run(at.session_state["experiment_run_shuffled_pixels"])
    assert run is not None and isinstance(run, training.ExperimentRun)
    assert at.button(key="shuffled_pixels_stop").disabled is False
    deadline = time.time() + 120
    while run.is_active and time.time() < deadline:
        time.sleep(0.5)
    at.run()
    assert run.snapshot().state == "finished", run.snapshot().message
    assert any("Your quick run took" in s.value for s in at.success)
    quick = experiments.load_result(results_dir / "shuffled_pixels-quick.json")
    assert quick is not None and quick.setting == "custom" and len(quick.rows) == 4
    bars = charts(at)[0]
    names = trace_names(bars)
    assert any("quick run" in n for n in names) and any("recorded" in n for n in names)
    # the other experiments have no quick run yet
    assert all("quick run" not in " ".join(trace_names(f)) for f in charts(at)[1:])
