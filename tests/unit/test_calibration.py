"""Honest confidence: the reliability diagram's numbers, temperature scaling, the non-digits and
the unsure rule, on inputs whose answers are known."""

import numpy as np
import plotly.graph_objects as go
import pytest

from mnist_core.analysis import calibration as cal
from mnist_core.data import preprocess


def answers(confidences, correct, labels=None):
    """(n, 10) probabilities whose top class has the given confidence, right where `correct`."""
    n = len(confidences)
    labels = np.arange(n) % 10 if labels is None else np.asarray(labels)
    probabilities = np.zeros((n, 10))
    for i, (c, right) in enumerate(zip(confidences, correct)):
        top = labels[i] if right else (labels[i] + 1) % 10
        probabilities[i] = (1 - c) / 9
        probabilities[i, top] = c
    return probabilities, labels


# ------------------------------------------------------------------ the reliability diagram


def test_eighty_percent_sure_and_right_eight_times_in_ten_is_perfectly_calibrated():
    probabilities, labels = answers([0.8] * 10, [True] * 8 + [False] * 2)
    r = cal.reliability(probabilities, labels)
    assert r.counts.tolist() == [0, 0, 0, 0, 0, 0, 0, 10, 0, 0]  # (0.7, 0.8] holds 0.8
    assert r.accuracy[7] == pytest.approx(0.8) and r.confidence[7] == pytest.approx(0.8)
    assert r.ece == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(r.accuracy[[0, 1, 2, 3, 4, 5, 6, 8, 9]]).all()


def test_always_certain_and_half_wrong_has_an_ece_of_one_half():
    probabilities, labels = answers([1.0] * 10, [True, False] * 5)
    r = cal.reliability(probabilities, labels)
    assert r.counts[-1] == 10 and r.accuracy[-1] == pytest.approx(0.5)
    assert r.ece == pytest.approx(0.5)


def test_counts_per_bin_and_ece_weighted_by_them():
    # 0.15 right (in (0.1, 0.2]); 0.25 right and wrong; 0.95 three times, all right.
    probabilities, labels = answers([0.15, 0.25, 0.25, 0.95, 0.95, 0.95], [True, True, False, True, True, True])
    r = cal.reliability(probabilities, labels)
    assert r.counts.tolist() == [0, 1, 2, 0, 0, 0, 0, 0, 0, 3]
    assert r.total == 6
    expected = (1 * abs(1 - 0.15) + 2 * abs(0.5 - 0.25) + 3 * abs(1 - 0.95)) / 6
    assert r.ece == pytest.approx(expected)
    assert r.edges.tolist() == pytest.approx(np.linspace(0, 1, 11).tolist())


# ------------------------------------------------------------------ temperature scaling


def test_temperature_one_gives_the_probabilities_back_and_no_temperature_changes_the_answer():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (200, 10))
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert np.allclose(cal.with_temperature(p, 1.0), p, atol=1e-12)
    for t in (0.3, 2.5):
        scaled = cal.with_temperature(p, t)
        assert np.allclose(scaled.sum(axis=1), 1) and (scaled.argmax(axis=1) == p.argmax(axis=1)).all()
        expected = np.exp(logits / t) / np.exp(logits / t).sum(axis=1, keepdims=True)  # softmax(logits / T)
        assert np.allclose(scaled, expected, atol=1e-9)
    assert (cal.with_temperature(p, 2.5).max(axis=1) < p.max(axis=1) + 1e-12).all()  # T > 1 softens
    with pytest.raises(ValueError):
        cal.with_temperature(p, 0.0)


@pytest.mark.parametrize("true_t", [0.5, 2.0])
def test_fit_temperature_recovers_the_temperature_the_labels_were_drawn_with(true_t):
    # A model that says softmax(z) while the truth is softmax(z / T): fitting must find T.
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 2.5, (20000, 10))
    said = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    truth = np.exp(logits / true_t) / np.exp(logits / true_t).sum(axis=1, keepdims=True)
    labels = (truth.cumsum(axis=1) > rng.uniform(size=(len(truth), 1))).argmax(axis=1)
    fitted = cal.fit_temperature(said, labels)
    assert fitted == pytest.approx(true_t, rel=0.05)
    assert cal.nll(said, labels, fitted) < cal.nll(said, labels, 1.0)


# ------------------------------------------------------------------ things that are not digits


def test_non_digits_are_the_same_for_a_seed_and_differ_between_seeds():
    a, b = cal.non_digits.__wrapped__(0), cal.non_digits.__wrapped__(0)  # made twice, not from the cache
    assert np.array_equal(a.images, b.images) and a.names == b.names
    assert not np.array_equal(a.images, cal.non_digits.__wrapped__(1).images)


def test_non_digits_are_inputs_the_models_take():
    extra = cal.non_digits(0)
    assert extra.images.shape == (60, 28, 28) and extra.images.dtype == np.float32
    assert extra.images.min() >= 0 and extra.images.max() <= 1
    assert [extra.kinds.count(k) for k in cal.NON_DIGIT_KINDS] == [20, 20, 20]
    assert len(extra.names) == len(extra) == 60
    assert not set(cal.LETTERS) & set("OIlSZBGDTgqbo")  # none that passes for a digit
    for image, kind in zip(extra.images, extra.kinds):
        assert image.max() > 0.5  # real ink, not an empty frame
        if kind != "noise":  # drawn on a canvas and preprocessed as the Draw page does: centred by mass
            assert np.allclose(preprocess.center_of_mass(image), (14, 14), atol=1.0)
    with pytest.raises(ValueError):
        extra.images[0, 0, 0] = 1  # shared through the cache: read-only


def test_a_canvas_scribble_goes_through_the_draw_pages_preprocessing():
    rgba = cal.scribble_canvas("zigzag", np.random.default_rng(0))
    assert rgba.shape == (cal.CANVAS, cal.CANVAS, 4) and rgba.dtype == np.uint8 and (rgba[..., 3] == 255).all()
    assert preprocess.drawing_problem(preprocess.preprocess_steps(rgba)) is None


# ------------------------------------------------------------------ the unsure rule


def test_unsure_threshold_flags_at_most_the_allowed_share():
    confidence = np.linspace(0.5, 1.0, 1000)
    threshold = cal.unsure_threshold(confidence, rate=0.01)
    assert (confidence < threshold).sum() == 10  # 1% of 1,000, not one more
    assert cal.unsure_threshold(confidence, rate=0.0) == pytest.approx(0.5)  # flags none


class Constant:
    """A 'model' giving the same answer to anything."""
    def __init__(self, row):
        self.row = np.asarray(row, np.float32)

    def predict_proba(self, x):
        return np.tile(self.row, (len(x), 1))


def synthetic_test_set(sharpen: float, n: int = 10000, seed: int = 0):
    """A model calibrated by construction, or over-confident (sharpen > 1: it says softmax(k·z))."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2.0, (n, 10))
    truth = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = (truth.cumsum(axis=1) > rng.uniform(size=(n, 1))).argmax(axis=1)
    said = np.exp(sharpen * logits) / np.exp(sharpen * logits).sum(axis=1, keepdims=True)
    return said, labels


def test_calibrate_flags_what_it_says_on_the_half_it_did_not_choose_with():
    probabilities, labels = synthetic_test_set(sharpen=1.0)
    result = cal.calibrate(Constant(np.full(10, 0.1)), probabilities, labels)
    held_p, held_y = probabilities[1::2], labels[1::2]
    unsure = cal.is_unsure(held_p, result)
    right = held_p.argmax(axis=1) == held_y
    assert result.flagged_correct == pytest.approx(unsure[right].mean())
    assert result.caught_mistakes == pytest.approx(unsure[~right].mean())
    assert result.mistakes == int((~right).sum()) and result.measured_on == 5000
    assert 0.005 < result.flagged_correct < 0.02  # chosen for 1% on the other half
    assert result.caught_mistakes > result.flagged_correct  # low confidence means more mistakes here
    assert result.flagged_non_digits == 1.0  # "10% each" is below any threshold
    assert result.non_digit_probabilities.shape == (60, 10)
    # Calibrated by construction: T near 1 is no clear gain, so it is not applied.
    assert result.temperature == 1.0 and result.ece_after == result.ece_before
    assert cal.is_unsure(np.eye(10)[3], result) is False


def test_calibrate_applies_temperature_to_an_over_confident_model_and_it_lowers_the_ece():
    probabilities, labels = synthetic_test_set(sharpen=3.0)
    certain = np.eye(10)[4]
    result = cal.calibrate(Constant(certain), probabilities, labels)
    assert result.fitted_temperature == pytest.approx(3.0, rel=0.1)
    assert result.temperature == result.fitted_temperature
    assert result.ece_after < result.ece_before - cal.MIN_ECE_GAIN
    assert result.flagged_non_digits == 0.0  # a model certain of everything flags nothing
    # The threshold is on the scaled confidence: the same vector is judged after T.
    borderline = cal.with_temperature(probabilities[:500], result.temperature).max(axis=1)
    assert np.array_equal(cal.is_unsure(probabilities[:500], result), borderline < result.threshold)


# ------------------------------------------------------------------ its charts


def test_reliability_diagram_shows_filled_bins_with_their_counts():
    from mnist_core import charts

    probabilities, labels = answers([0.15, 0.25, 0.25, 0.95, 0.95, 0.95], [True, True, False, True, True, True])
    fig = charts.reliability_diagram([{"label": "ANN", "color": "#F28E2B", "reliability": cal.reliability(probabilities, labels)}],
                                     title="How often it is right")
    diagonal, model = fig.data
    assert list(diagonal.x) == [0, 1] and list(diagonal.y) == [0, 1]
    assert list(model.y) == pytest.approx([1.0, 0.5, 1.0]) and list(model.x) == pytest.approx([0.15, 0.25, 0.95])
    assert [row[2] for row in model.customdata] == [1, 2, 3]  # images per bin, for the hover
    assert model.line.color == "#F28E2B" and fig.layout.xaxis.title.text and fig.layout.yaxis.title.text
    go.Figure(charts.projector_figure(fig).to_dict())


def test_non_digit_answers_puts_one_labelled_dot_per_image_and_model():
    from mnist_core import charts

    extra = cal.non_digits(0)
    rows = slice(0, 20)
    p = np.eye(10)[np.arange(20) % 10] * 0.9 + 0.01
    fig = charts.non_digit_answers(extra.images[rows], list(cal.LETTERS), extra.names[rows],
                                   [{"label": "ANN", "color": "#F28E2B", "probabilities": p, "threshold": 0.8},
                                    {"label": "CNN", "color": "#4E79A7", "probabilities": p}], axis_title="letter")
    dots = [t for t in fig.data if t.type == "scatter"]
    assert [len(t.x) for t in dots] == [20, 20]
    assert list(dots[0].text) == [str(d % 10) for d in range(20)] and list(dots[0].y) == pytest.approx([0.91] * 20)
    assert len(fig.layout.shapes) == 1 and fig.layout.shapes[0].y0 == 0.8  # only the ANN has a threshold here
    assert fig.layout.yaxis2.title.text and fig.layout.xaxis2.title.text == "letter"
    go.Figure(charts.projector_figure(fig).to_dict())
