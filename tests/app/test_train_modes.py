"""The Train page's strip and scrubbing, race and replay modes, and the write-ups beside our runs."""

import json

import pytest

from mnist_core import models, training
from mnist_core.data import augment
from mnist_core.models import registry
from mnist_core.training import replays
from tests.app.test_pages import metric, open_page, wait_for


def charts_of(at):
    return {chart.key if hasattr(chart, "key") else i: json.loads(chart.proto.spec)
            for i, chart in enumerate(at.get("plotly_chart"))}


def strip_texts(at, name: str) -> list[list[str]]:
    """The strip's text rows (each model's answers, then its confidences)."""
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        traces = spec["data"]
        if traces and traces[0].get("type") == "image" and any(t.get("mode") == "text" for t in traces):
            return [t["text"] for t in traces if t.get("mode") == "text"]
    raise AssertionError(f"no strip on the page ({name})")


def choose_mode(at, mode: str):
    at.segmented_control(key="train_mode").set_value(mode).run()
    assert not at.exception, at.exception
    return at


def test_replay_plays_to_its_end_and_the_slider_scrubs_the_strip():
    at = choose_mode(open_page("app_pages/train.py"), "replay")
    at.selectbox(key="replay_name").set_value("seed002-ann").run()
    at.segmented_control(key="replay_speed").set_value(20).run()
    [b for b in at.button if b.label == "Play"][0].click().run()
    assert wait_for(at, lambda a: any(m.label == "Test accuracy (recorded)" for m in a.metric), 30)
    recording = replays.load_recording(replays.replay_path("seed002-ann"))
    assert metric(at, "Test accuracy (recorded)").value == f"{recording.test_accuracy:.2%}"
    sliders = [s for s in at.select_slider if s.label == "Epoch"]
    assert sliders and sliders[0].value == len(recording.records)  # the slider ends on the last epoch
    last = strip_texts(at, "last epoch")
    sliders[0].set_value(1).run()
    first = strip_texts(at, "epoch 1")
    assert first != last  # the strip shows what the network knew then
    shot = recording.snapshots[0]
    assert first[0][:10] == [f"{a} {'✓' if a == d else '✗'}" for a, d in zip(shot.answers[:10].tolist(), range(10))]
    assert any("write-up" in t.get("name", "") for c in charts_of(at).values() for t in c["data"])


def test_a_missing_or_damaged_recording_says_how_to_record_it(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_REPLAYS_DIR", str(tmp_path))
    at = choose_mode(open_page("app_pages/train.py"), "replay")
    assert "python -m mnist_core record --all" in at.warning[0].value
    (tmp_path / "cnn.npz").write_bytes(b"garbage")
    at.run()
    assert "python -m mnist_core record cnn" in at.error[0].value and not at.exception


def test_a_tiny_run_shows_the_strip_and_its_snapshot_cost(models_dir):
    at = open_page("app_pages/train.py")
    at.selectbox(key="train_preset").set_value("seed000-ann").run()
    at.number_input(key="train_epochs").set_value(2)
    at.select_slider(key="train_size").set_value(1000)
    [b for b in at.button if b.label == "Start training"][0].click().run()
    assert wait_for(at, lambda a: any(m.label == "Test accuracy" for m in a.metric))
    rows = strip_texts(at, "tiny run")  # two lines of ten: answers, then confidences
    assert [len(r) for r in rows] == [10, 10, 10, 10]
    assert all(t[-1] in "✓✗" for t in rows[0] + rows[2]) and all(t.endswith("%") for t in rows[1] + rows[3])
    assert any("snapshot cost" in c.value for c in at.caption)


def test_a_race_trains_an_ann_and_a_cnn_together():
    at = choose_mode(open_page("app_pages/train.py"), "race")
    at.selectbox(key="race_ann").set_value("seed002-ann")
    at.selectbox(key="race_cnn").set_value("seed000-cnn")
    at.number_input(key="race_epochs").set_value(1)
    at.select_slider(key="race_size").set_value(1000).run()
    [b for b in at.button if b.label == "Start the race"][0].click().run()
    assert not at.error, at.error[0].value
    runs = [training.find_run(i) for i in at.session_state["race_run_ids"]]
    assert [r.preset.kind for r in runs] == ["ann", "cnn"]
    assert wait_for(at, lambda a: len([m for m in a.metric if "·" in m.label]) == 2, 180)
    labels = [m.label for m in at.metric]
    assert any(label.startswith("ANN · seed002-ann") for label in labels)
    assert any(label.startswith("CNN · seed000-cnn") for label in labels)
    curves = [c for c in charts_of(at).values() if any(" · train" in t.get("name", "") for t in c["data"])]
    names = {t["name"].split(" (")[0] for t in curves[0]["data"] if "write-up" not in t["name"]}
    assert names == {"seed002-ann", "seed000-cnn"}  # one chart, both networks
    assert any(t["name"] == "seed002-ann write-up · test" for t in curves[0]["data"])  # beside its write-up
    assert len(strip_texts(at, "race")) == 8  # two lines, each with two rows of answers and two of confidences


@pytest.fixture
def fresh_model_list():
    """The pages cache the list of saved models for a few seconds: a test with its own models folder
    must not leave its list to the next test."""
    import streamlit as st
    st.cache_data.clear()
    yield
    st.cache_data.clear()


def test_the_confusion_page_shows_the_write_up_beside_a_seed004_cnn_model(models_dir, mnist, fresh_model_list):
    (x, y), test = mnist
    run = training.TrainingRun(training.TrainingConfig("seed004-cnn", epochs=1, train_size=500),
                               data=((x[:600], y[:600]), test))
    assert run.run().state == "finished"
    registry.save_model_file(run.model_file, "my-seed004", training.model_card(run))
    at = open_page("app_pages/confusion.py", toggle="CNN")
    assert any("beside the seed004-cnn write-up" in s.value for s in at.subheader)
    assert metric(at, "The write-up · seed004-cnn").value == "94.16%"
    assert "pts on the write-up" in metric(at, "Ours · my-seed004").delta


def test_augmentation_has_a_switch_per_kind_shows_its_effect_and_reaches_the_run(models_dir):
    at = open_page("app_pages/train.py")
    at.selectbox(key="train_preset").set_value("cnn").run()
    pills = at.pills(key="train_augment")
    assert list(pills.value) == list(models.SHIPPED_AUGMENT)  # the shipped recipe: every kind
    assert pills.options == [k.label for k in augment.AUGMENTATIONS]
    shown = len(at.image)
    pills.set_value(["stroke"]).run()
    assert not at.exception
    captions = [i.proto.imgs[0].caption for i in at.image if i.proto.imgs]
    assert "MNIST as it is" in captions and captions.count("Draw 1: stroke width") == 1
    at.pills(key="train_augment").set_value(["pen"]).run()
    assert "Draw 1: canvas pen" in [i.proto.imgs[0].caption for i in at.image if i.proto.imgs]
    at.pills(key="train_augment").set_value(["stroke"]).run()  # back to one kind for the draws below
    before = [i.proto.imgs[0].url for i in at.image]
    [b for b in at.button if b.label == "New random draws"][0].click().run()
    assert [i.proto.imgs[0].url for i in at.image] != before  # new changes, same originals
    at.pills(key="train_augment").set_value([]).run()
    assert any("exactly as MNIST has them" in c.value for c in at.caption) and len(at.image) < shown
    at.selectbox(key="train_preset").set_value("seed002-ann").run()
    at.pills(key="train_augment").set_value(["elastic", "shear"]).run()
    at.number_input(key="train_epochs").set_value(1)
    at.number_input(key="train_batch").set_value(100)
    at.select_slider(key="train_size").set_value(1000)
    [b for b in at.button if b.label == "Start training"][0].click().run()
    assert wait_for(at, lambda a: any(m.label == "Test accuracy" for m in a.metric))
    run = training.find_run(at.session_state["train_run_id"])
    assert run.config.augment == ("shear", "elastic")


def test_a_replays_map_moves_with_the_epoch_slider():
    recording = replays.load_recording(replays.replay_path("seed000-ann"))
    mapped = [s.epoch for s in recording.snapshots if s.map_points is not None]
    assert mapped and mapped[0] > 1  # the first epochs are too quick for a map within the budget
    at = choose_mode(open_page("app_pages/train.py"), "replay")
    at.selectbox(key="replay_name").set_value("seed000-ann").run()
    at.segmented_control(key="replay_speed").set_value(20).run()
    [b for b in at.button if b.label == "Play"][0].click().run()
    assert wait_for(at, lambda a: any(m.label == "Test accuracy (recorded)" for m in a.metric), 30)

    def shown_map():
        said = [m.value for m in at.markdown if " · map from epoch " in m.value]
        spec = next(c for key, c in charts_of(at).items() if str(key).startswith("replay_map_"))
        return said, spec["data"][0]["customdata"], spec["data"][0]["x"]

    said, _, last = shown_map()
    assert said and f"map from epoch {mapped[-1]}:" in said[0]
    slider = [s for s in at.select_slider if s.label == "Epoch"][0]
    slider.set_value(1).run()
    assert any("no map yet" in c.value for c in at.caption)
    [s for s in at.select_slider if s.label == "Epoch"][0].set_value(mapped[0]).run()
    said, _, first = shown_map()
    assert f"map from epoch {mapped[0]}:" in said[0] and first != last  # the same digits, elsewhere
    assert not at.exception
