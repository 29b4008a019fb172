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


def test_each_shipped_model_file_scores_what_its_card_says(mnist):
    """The card is the source of every accuracy shown: score the very file on the 10,000 test
    images with the server's NumPy path (about 2 s) and hold the card to it."""
    from mnist_core.models.inference import load_classifier

    (_, _), (x_test, y_test) = mnist
    for name in ("ann", "cnn"):
        card = registry.read_card(name, registry.MODELS_DIR)
        predicted = load_classifier(name, registry.MODELS_DIR).predict(x_test.astype(np.float32) / 255)
        right = int((predicted == y_test).sum())
        assert right == round(card["test_accuracy"] * len(y_test)), (
            f"trained_models/{name}.keras scores {right / len(y_test):.2%} on MNIST's test set, its card says "
            f"{card['test_accuracy']:.2%}: the card no longer belongs to the file (retrain with `train --record`)")


def test_the_docs_state_the_shipped_cards():
    """README and docs/models.md name the shipped models' test accuracy: the cards' figures."""
    root = registry.MODELS_DIR.parent
    for doc in ("README.md", "docs/models.md"):
        text = (root / doc).read_text(encoding="utf-8")
        for name in ("ann", "cnn"):
            card = registry.read_card(name, registry.MODELS_DIR)
            assert f"**{card['test_accuracy']:.2%}** (`{name}`)" in text, f"{doc} does not state {name}'s card"


def test_the_recorded_robustness_belongs_to_the_shipped_model_files():
    """The Experiments page's Robustness tab shows the shipped models beside a plain pair: the
    recorded result must have measured the very files that ship."""
    from mnist_core.training import experiments

    result = experiments.load_result(experiments.result_path("robustness", quick=False,
                                                             directory=experiments.SHIPPED_DIR))
    measured = result.info.get("shipped_sha256", {})
    for name in ("ann", "cnn"):
        assert measured.get(name) == registry.file_hash(name, registry.MODELS_DIR), (
            f"trained_models/{name}.keras changed since the Robustness result was recorded: "
            "run `python -m mnist_core experiment robustness`")


def test_each_shipped_replay_is_the_run_that_made_the_model():
    """`train --record` writes the replay of the very run: its test accuracy is the card's."""
    from mnist_core.training import replays

    for name in ("ann", "cnn"):
        card = registry.read_card(name, registry.MODELS_DIR)
        recording = replays.load_recording(replays.replay_path(name, replays.SHIPPED_DIR))
        assert recording.test_accuracy == card["test_accuracy"] and len(recording.records) == card["epochs_run"], (
            f"the replay of {name} is not the run that made trained_models/{name}.keras: retrain with `train --record`")


def test_readme_states_the_learned_space_scores_of_the_map_files():
    """README's learned-space table is the shipped maps' recorded scores, and the maps are of the shipped files."""
    from mnist_core.analysis import learned_space

    shipped = registry.MODELS_DIR
    maps = [learned_space.read_map(name, shipped, registry.file_hash(name, shipped)) for name in ("ann", "cnn")]
    readme = (shipped.parent / "README.md").read_text(encoding="utf-8")
    assert ("| digits whose 10 nearest in the map are mostly their own digit | "
            + " | ".join(f"{m.neighbour_accuracy:.1%}" for m in maps) + " |") in readme
    assert "| silhouette (1: tight clusters far apart) | " + " | ".join(f"{m.silhouette:.2f}" for m in maps) + " |" in readme
    line = learned_space.separation_line({"ANN": maps[0], "CNN": maps[1]})
    assert "By both scores the CNN separates the digits more cleanly." in line
    assert "By both scores the CNN separates the digits more cleanly." in readme
