"""The Join page's logic without Streamlit: tokens, prompts, what is not a digit, and Send."""

import numpy as np
import pytest

from mnist_core import crowd, join, preprocess, synthetic


def canvas(fill=None) -> np.ndarray:
    rgba = np.zeros((340, 340, 4), np.uint8)
    rgba[..., 3] = 255
    if fill is not None:
        rgba[fill[0], fill[1], :3] = 255
    return rgba


def test_drawing_problem_names_blank_dot_and_flood_and_passes_a_digit(mnist):
    assert preprocess.drawing_problem(None) == preprocess.BLANK_MESSAGE
    assert preprocess.drawing_problem(preprocess.preprocess_steps(canvas())) == preprocess.BLANK_MESSAGE
    dot = canvas((slice(165, 172), slice(165, 172)))
    assert preprocess.drawing_problem(preprocess.preprocess_steps(dot)) == preprocess.DOT_MESSAGE
    flood = canvas((slice(10, 330), slice(10, 330)))
    assert preprocess.drawing_problem(preprocess.preprocess_steps(flood)) == preprocess.FLOOD_MESSAGE
    digit = synthetic.redraw(mnist[1][0][0], np.random.default_rng(0), canvas=340)
    assert preprocess.drawing_problem(preprocess.preprocess_steps(digit)) is None


def test_person_token_keeps_a_good_one_and_replaces_anything_else():
    good = crowd.new_person_token()
    assert join.person_token(good) == good
    for bad in (None, "", "short", good + "\n", "a" * 65, "x'; DROP TABLE digits; --", ["list"]):
        fresh = join.person_token(bad)
        assert fresh != bad and crowd.is_person_token(fresh)


def test_new_prompt_is_a_digit_and_never_the_one_just_drawn():
    assert all(join.new_prompt(previous=7) != 7 for _ in range(200))
    assert {join.new_prompt() for _ in range(500)} == set(range(10))


class Model:
    def __init__(self, digit):
        self.digit = digit

    def predict_proba(self, x):
        assert x.shape == (1, 28, 28) and x.dtype == np.float32
        p = np.full((1, 10), 0.01, np.float32)
        p[0, self.digit] = 0.91
        return p


def test_send_stores_the_digit_before_returning_and_refuses_what_is_not_one(tmp_path, mnist):
    import io

    from PIL import Image

    def png(rgba):
        buffer = io.BytesIO()
        Image.fromarray(rgba, "RGBA").save(buffer, format="PNG")
        return buffer.getvalue()

    fake_hash = lambda name: "ab" * 32  # noqa: E731
    person = crowd.new_person_token()
    with crowd.CrowdStore(tmp_path / "crowd.sqlite3") as store:
        models = {"ann": Model(7), "cnn": Model(1)}
        with pytest.raises(join.NotADigit, match="Draw a digit"):
            join.send(store, person, 7, None, models, file_hash=fake_hash)
        with pytest.raises(join.NotADigit, match="dot"):
            join.send(store, person, 7, png(canvas((slice(165, 172), slice(165, 172)))), models, file_hash=fake_hash)
        with pytest.raises(crowd.CrowdInputError, match="not a PNG"):
            join.send(store, person, 7, b"GIF89a...", models, file_hash=fake_hash)
        assert store.count(store.current_talk()) == 0
        digit = synthetic.redraw(mnist[1][0][0], np.random.default_rng(0), canvas=340)
        sent = join.send(store, person, 7, png(digit), models, file_hash=fake_hash)
        assert sent.predictions == {"ann": 7, "cnn": 1} and sent.correct == {"ann": True, "cnn": False}
        row = store.digit(sent.digit_id)
        assert row.label == 7 and row.person == person and row.model_files["cnn"] == ("cnn", "ab" * 32)
        with pytest.raises(crowd.RateLimited):
            join.send(store, person, 7, png(digit), models, file_hash=fake_hash)
        assert store.count(store.current_talk()) == 1
