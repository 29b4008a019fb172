"""The Experiments page's pieces: the pixel shuffle, the parameter-matched pair, the corruptions,
result files, and one quick experiment end to end through the worker on a small subset."""

import json

import numpy as np
import pytest

from mnist_core import models, training
from mnist_core.training import experiment_runner, experiments
from mnist_core.training.experiments import CORRUPTIONS, ExperimentResult, Setting

TINY = Setting(train_images=2_000, test_images=500, epochs=1)


@pytest.fixture(scope="module")
def small(mnist):
    (x, y), (xt, yt) = mnist
    return (x[:2_000], y[:2_000]), (xt[:500], yt[:500])


def test_permutation_is_a_bijection_fixed_by_its_seed():
    p = experiments.pixel_permutation(0)
    assert sorted(p.tolist()) == list(range(784))  # every pixel lands somewhere, once
    assert np.array_equal(p, experiments.pixel_permutation(0))
    assert not np.array_equal(p, experiments.pixel_permutation(1))
    assert (p != np.arange(784)).mean() > 0.99  # a real shuffle, not nearly the identity


def test_shuffled_pixels_are_the_same_pixels_moved_and_can_be_put_back(mnist):
    images = mnist[1][0][:20]
    p = experiments.pixel_permutation(3)
    shuffled = experiments.shuffle_pixels(images, p)
    assert shuffled.shape == images.shape and shuffled.dtype == images.dtype
    assert np.array_equal(np.sort(shuffled.reshape(20, -1), axis=1), np.sort(images.reshape(20, -1), axis=1))
    assert np.array_equal(experiments.shuffle_pixels(shuffled, np.argsort(p)), images)
    assert not np.array_equal(shuffled, images)


@pytest.mark.parametrize("target", [10_000, 30_000, 100_000, 300_000])
@pytest.mark.parametrize("kind", ["ann", "cnn"])
def test_parameter_matched_models_hit_their_budget_within_5_percent(kind, target):
    model = models.matched_model(kind, target)
    assert model.count_params() == models.matched_parameters(kind, target)  # the page's count is Keras's
    assert abs(model.count_params() - target) <= 0.05 * target
    assert model.output_shape == (None, 10)


def test_the_cnn_spends_a_small_share_of_its_weights_on_convolutions():
    model = models.matched_model("cnn", 100_000)
    conv = sum(layer.count_params() for layer in model.layers if "conv" in layer.name)
    assert conv == models.matched_conv_parameters(100_000)  # the count the page shows
    assert conv / model.count_params() < 0.1


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_each_corruption_is_the_identity_at_strength_zero_and_keeps_shape_and_range(name, mnist):
    images = mnist[1][0][:50].astype(np.float32) / 255
    corruption = CORRUPTIONS[name]
    assert np.allclose(experiments.corrupted(images, name, corruption.identity), images, atol=1e-6)
    strongest = max(corruption.strengths, key=lambda s: abs(s - corruption.identity))
    changed = experiments.corrupted(images, name, strongest, seed=4)
    assert changed.shape == images.shape and changed.dtype == np.float32
    assert changed.min() >= 0 and changed.max() <= 1
    assert np.abs(changed - images).mean() > 0.01  # the strongest change is visible
    assert np.array_equal(changed, experiments.corrupted(images, name, strongest, seed=4))  # reproducible


def test_balanced_subset_spreads_small_sets_over_all_ten_digits(mnist):
    y = mnist[0][1]
    chosen = experiment_runner._balanced_subset(y, 100, seed=1)
    assert len(set(chosen.tolist())) == 100
    assert np.bincount(y[chosen], minlength=10).tolist() == [10] * 10
    assert not np.array_equal(np.sort(chosen), np.sort(experiment_runner._balanced_subset(y, 100, seed=2)))


def _result(name="few_examples", rows=None) -> ExperimentResult:
    rows = rows or [{"model": kind, "train_size": size, "seed": seed, "accuracy": 0.5 + size / 1e4 + seed / 100}
                    for kind in ("ann", "cnn") for size in (100, 1000) for seed in (0, 1)]
    return ExperimentResult(name, "quick", 0, tuple(rows), {"setting": {"epochs": 2}}, 12.5,
                            "2026-11-22T08:00:00+00:00", {"tensorflow": "x"})


def test_result_files_round_trip(tmp_path):
    result = _result()
    path = experiments.save_result(result, tmp_path / "sub" / "few_examples.json")
    assert experiments.load_result(path) == result
    assert not list(path.parent.glob("*.partial"))
    assert experiments.load_result(tmp_path / "absent.json") is None


@pytest.mark.parametrize("text", ["{not json", json.dumps({"format": 99}), json.dumps({"format": 1, "name": "x"}),
                                  json.dumps([1, 2])])
def test_a_damaged_result_file_names_the_file_and_the_fix(tmp_path, text):
    path = tmp_path / "robustness-quick.json"
    path.write_text(text)
    with pytest.raises(experiments.ExperimentFileError) as error:
        experiments.load_result(path)
    assert str(path) in str(error.value) and "python -m mnist_core experiment robustness --quick" in str(error.value)


def test_results_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_EXPERIMENTS_DIR", str(tmp_path))
    assert experiments.result_path("robustness", quick=True) == tmp_path / "robustness-quick.json"
    with pytest.raises(KeyError, match="shuffled_pixels"):
        experiments.result_path("nonsense", quick=False)


def test_few_examples_table_and_summary():
    table = experiments.few_examples_table(_result())
    assert table["ann"][0] == (100, pytest.approx(0.515), pytest.approx(0.51), pytest.approx(0.52))
    lines = experiments.summary(_result())
    assert lines[0].strip().startswith("100 images: ANN 51.5%")


def test_small_sets_are_repeated_to_the_images_a_run_must_see():
    s = experiments.setting_for("few_examples", quick=True)
    for size in s.train_sizes:
        assert size * experiment_runner._repeats_for(size, s) * s.epochs >= s.min_images_seen
    assert experiment_runner._repeats_for(s.train_sizes[-1], s) == 1


def test_the_shipped_results_are_full_runs_of_every_experiment():
    for name in experiments.NAMES:
        result = experiments.load_result(experiments.result_path(name, quick=False, directory=experiments.SHIPPED_DIR))
        assert result is not None, f"{name} has no shipped result"
        assert result.name == name and result.setting == "full"
        assert all(0 <= row["accuracy"] <= 1 for row in result.rows)
        assert experiments.summary(result)


def test_an_experiment_reproduces_from_its_seed(small):
    first = experiment_runner.run_experiment("shuffled_pixels", setting=TINY, data=small)
    again = experiment_runner.run_experiment("shuffled_pixels", setting=TINY, data=small)
    assert first.setting == "custom" and len(first.rows) == 4
    for a, b in zip(first.rows, again.rows):
        assert a["model"] == b["model"] and abs(a["accuracy"] - b["accuracy"]) <= 0.01


def test_a_quick_experiment_runs_end_to_end_in_the_worker(small, tmp_path):
    path = tmp_path / "fair_fight-quick.json"
    seen = []
    run = training.ExperimentRun("fair_fight", setting=Setting(2_000, 500, 2, budgets=(30_000, 100_000)),
                                 data=small, result_file=path).start()
    while not run.wait(0.1):
        seen.append(run.snapshot().progress)
    snap = run.snapshot()
    assert snap.state == "finished", snap.message
    assert experiments.load_result(path) == snap.result
    fractions = [p.fraction for p in seen if p is not None]
    assert fractions and fractions == sorted(fractions) and fractions[-1] > 0.9
    rows = snap.result.rows
    assert {(r["model"], r["budget"]) for r in rows} == {(k, b) for k in ("ann", "cnn") for b in (30_000, 100_000)}
    assert [r["epoch"] for r in rows if r["model"] == "cnn" and r["budget"] == 30_000] == [1, 2]
    assert all(0.3 < r["accuracy"] <= 1 for r in rows)  # 2,000 images are enough to learn something
    seconds = [r["seconds"] for r in rows if r["model"] == "ann" and r["budget"] == 100_000]
    assert 0 < seconds[0] < seconds[1]


def test_stop_ends_an_experiment_and_keeps_the_old_result(small, tmp_path):
    path = experiments.save_result(_result(), tmp_path / "few_examples-quick.json")
    run = training.ExperimentRun("few_examples", data=small, result_file=path,
                                 setting=Setting(2_000, 500, 3, train_sizes=(100, 2_000), min_images_seen=20_000))
    run.start()
    while run.snapshot().progress is None and run.is_active:
        run.wait(0.1)
    run.stop()
    run.wait(60)
    snap = run.snapshot()
    assert snap.state == "stopped" and "nothing was recorded" in snap.message
    assert experiments.load_result(path) == _result()


def test_a_failing_experiment_is_reported(tmp_path):
    bad = ((np.zeros((200, 28, 28), np.uint8), np.full(200, 12)), (np.zeros((50, 28, 28), np.uint8), np.zeros(50)))
    run = training.ExperimentRun("shuffled_pixels", data=bad, result_file=tmp_path / "r.json",
                                 setting=Setting(200, 50, 1))
    snap = run.run()
    assert snap.state == "failed" and snap.message.startswith("The experiment failed:")
    assert not (tmp_path / "r.json").exists()


def test_shipped_shortfalls_name_where_a_shipped_model_reads_worse_than_its_plain_pair():
    def row(model, which, corruption, strength, accuracy):
        return {"model": model, "which": which, "corruption": corruption, "strength": strength, "accuracy": accuracy}

    rows = [row("cnn", "matched", "blur", 2.0, 0.88), row("cnn", "shipped", "blur", 2.0, 0.32),
            row("cnn", "matched", "noise", 0.3, 0.96), row("cnn", "shipped", "noise", 0.3, 0.951),  # within a point
            row("ann", "matched", "shift", 3, 0.48), row("ann", "shipped", "shift", 3, 0.97),
            row("ann", "matched", "rotate", 60, 0.25)]  # no shipped row: nothing to compare
    assert experiments.shipped_shortfalls(rows) == {"cnn": ["blur"]}
    rows.append(row("ann", "shipped", "rotate", 60, 0.20))
    assert experiments.shipped_shortfalls(rows) == {"ann": ["rotation"], "cnn": ["blur"]}
