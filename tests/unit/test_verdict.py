"""One verdict on a drawing: preprocessing, each model, its unsure rule, and what the two say together."""

import numpy as np
import pytest

from mnist_core.analysis import verdict
from mnist_core.data import preprocess, synthetic


class Model:
    """Says `digit` with probability `p`, the rest spread evenly."""

    def __init__(self, digit: int, p: float):
        self.digit, self.p, self.seen = digit, p, []

    def predict_proba(self, x):
        self.seen.append(np.array(x))
        out = np.full((len(x), 10), (1 - self.p) / 9, np.float32)
        out[:, self.digit] = self.p
        return out


RULE = verdict.Rule(temperature=1.0, threshold=0.9)


def judges(ann=(7, 0.99), cnn=(7, 0.99)):
    return {"ann": verdict.Judge("ann", Model(*ann), RULE), "cnn": verdict.Judge("cnn", Model(*cnn), RULE)}


@pytest.fixture(scope="module")
def drawing(mnist):
    return synthetic.redraw(mnist[1][0][0], np.random.default_rng(0), canvas=300)


def test_the_models_see_the_one_preprocessing(drawing):
    chosen = judges()
    judged = verdict.judge(drawing, chosen)
    expected = preprocess.canvas_to_mnist(drawing)
    assert np.array_equal(judged.image, expected)
    assert np.array_equal(chosen["cnn"].model.seen[0][0], expected)
    assert judged.problem is None and set(judged.answers) == {"ann", "cnn"}


@pytest.mark.parametrize("ann, cnn, tone, words", [
    ((7, 0.99), (7, 0.99), "agree", "Both models say **7**."),
    ((7, 0.99), (1, 0.99), "disagree", "They disagree: the ANN says **7**, the CNN says **1**."),
    ((7, 0.50), (1, 0.99), "one_unsure", "Only the CNN is sure: it says **1**. The ANN is unsure (best guess 7)."),
    ((7, 0.99), (1, 0.50), "one_unsure", "Only the ANN is sure: it says **7**. The CNN is unsure (best guess 1)."),
    ((7, 0.50), (1, 0.40), "both_unsure", "Neither model is sure: is it a digit? Best guesses: the ANN **7**, the CNN **1**."),
])
def test_what_the_two_say_together(drawing, ann, cnn, tone, words):
    judged = verdict.judge(drawing, judges(ann, cnn))
    assert judged.agreement == (tone, words)
    assert judged.answers["ann"].unsure == (ann[1] < RULE.threshold)


def test_a_temperature_softens_what_is_shown_and_the_threshold_applies_after_it(drawing):
    soft = verdict.Rule(temperature=3.0, threshold=0.5)
    judged = verdict.judge(drawing, {"cnn": verdict.Judge("cnn", Model(3, 0.9), soft)})
    answer = judged.answers["cnn"]
    assert answer.digit == 3 and answer.raw[3] == pytest.approx(0.9)
    assert answer.confidence < 0.5 and answer.unsure and answer.probabilities.sum() == pytest.approx(1.0)


def test_no_rule_means_never_unsure_and_nothing_drawn_means_no_answers():
    rgba = np.zeros((300, 300, 4), np.uint8)
    rgba[..., 3] = 255
    assert verdict.judge(None, judges()).problem == preprocess.BLANK_MESSAGE
    blank = verdict.judge(rgba, judges())
    assert blank.problem == preprocess.BLANK_MESSAGE and blank.answers == {} and blank.agreement is None
    assert not verdict.answer("ann", "ann", [0.15] + [0.85 / 9] * 9, None).unsure
