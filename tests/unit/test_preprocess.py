import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from mnist_core.data import preprocess, synthetic
from mnist_core.data.preprocess import canvas_to_mnist


def canvas(size=320, background=(0, 0, 0, 255)):
    return Image.new("RGBA", (size, size), background)


def as_array(image):
    return np.asarray(image, dtype=np.uint8).copy()


def stroke(points, width=20, size=320, color=(255, 255, 255, 255), background=(0, 0, 0, 255)):
    image = canvas(size, background)
    ImageDraw.Draw(image).line(points, fill=color, width=width, joint="curve")
    return as_array(image)


def test_result_is_28x28_float_in_unit_range_with_mnist_geometry(mnist):
    rgba = synthetic.redraw(mnist[1][0][0], np.random.default_rng(0))
    image = canvas_to_mnist(rgba)
    assert image.shape == (28, 28) and image.dtype == np.float32
    assert 0.0 <= image.min() and image.max() == pytest.approx(1.0)
    rows, cols = np.flatnonzero(image.max(1) > 0), np.flatnonzero(image.max(0) > 0)
    assert max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1) <= 21  # fits MNIST's 20 px box
    cy, cx = preprocess.center_of_mass(image)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5  # centred by mass like MNIST


def test_small_digit_in_a_corner_equals_large_digit_in_the_middle(mnist):
    digit = mnist[1][0][3]
    rng = np.random.default_rng(0)
    small = canvas_to_mnist(synthetic.redraw(digit, rng, size=70, center=(45, 40), pen=0))
    large = canvas_to_mnist(synthetic.redraw(digit, rng, size=270, center=(160, 160), pen=0))
    assert np.abs(small - large).mean() < 0.05
    assert np.corrcoef(small.ravel(), large.ravel())[0, 1] > 0.9


def test_preprocessed_redrawn_digit_resembles_the_original(mnist):
    digit = mnist[1][0][1]
    got = canvas_to_mnist(synthetic.redraw(digit, np.random.default_rng(1), pen=0))
    assert np.corrcoef(got.ravel(), digit.ravel().astype(float))[0, 1] > 0.75


@pytest.mark.parametrize("rgba, why", [
    (as_array(canvas()), "empty opaque black"),
    (np.zeros((400, 600, 4), np.uint8), "empty transparent, the canvas before any stroke"),
    (stroke([(100, 100), (101, 101)], width=8), "a dot"),
    (stroke([(200, 50), (203, 52)], width=3), "a speck"),
])
def test_nothing_digit_like_gives_none(rgba, why):
    assert canvas_to_mnist(rgba) is None, why
    assert preprocess.naive_resize(rgba) is None


def test_flood_of_ink_does_not_crash_and_is_flagged():
    for flood in (stroke([(0, 160), (320, 160)], width=300), stroke([(0, 160), (320, 160)], width=400)):
        image = canvas_to_mnist(flood)
        assert image.shape == (28, 28) and np.isfinite(image).all()
        assert preprocess.ink_fraction(flood) > 0.5


def test_transparent_background_with_white_strokes_works():
    transparent = stroke([(160, 40), (160, 280)], width=22, background=(0, 0, 0, 0))
    opaque = stroke([(160, 40), (160, 280)], width=22)
    np.testing.assert_allclose(canvas_to_mnist(transparent), canvas_to_mnist(opaque), atol=1e-6)


def test_any_canvas_size_and_a_thin_tall_one():
    for size in (100, 280, 600):
        one = stroke([(size // 2, size // 8), (size // 2, size * 7 // 8)], width=max(4, size // 15), size=size)
        image = canvas_to_mnist(one)
        assert image is not None and image.shape == (28, 28)
        rows = np.flatnonzero(image.max(1) > 0.1)
        assert rows[-1] - rows[0] + 1 >= 18  # a "1" stays tall: aspect ratio kept


def test_several_digits_do_not_crash(mnist):
    rng = np.random.default_rng(2)
    a = synthetic.redraw(mnist[1][0][0], rng, size=120, center=(100, 80))
    b = synthetic.redraw(mnist[1][0][1], rng, size=120, center=(220, 240))
    both = np.maximum(a, b)
    image = canvas_to_mnist(both)
    assert image.shape == (28, 28) and 0 <= image.min() and image.max() <= 1


def test_bad_array_shapes_are_refused_clearly():
    with pytest.raises(ValueError, match="RGBA"):
        canvas_to_mnist(np.zeros((28, 28), np.uint8))


@settings(max_examples=60, deadline=None)
@given(
    strokes=st.lists(st.lists(st.tuples(st.integers(-20, 300), st.integers(-20, 300)), min_size=1, max_size=6),
                     min_size=0, max_size=5),
    width=st.integers(1, 60),
    size=st.sampled_from([64, 200, 280]),
    alpha=st.sampled_from([0, 255]),
)
def test_random_strokes_never_crash_and_stay_in_range(strokes, width, size, alpha):
    image = canvas(size, (0, 0, 0, alpha))
    draw = ImageDraw.Draw(image)
    for points in strokes:
        draw.line(points if len(points) > 1 else points * 2, fill=(255, 255, 255, 255), width=width)
    result = canvas_to_mnist(as_array(image))
    if result is not None:
        assert result.shape == (28, 28) and result.dtype == np.float32
        assert np.isfinite(result).all() and result.min() >= 0 and result.max() <= 1
    naive = preprocess.naive_resize(as_array(image))
    assert naive is None or (naive.min() >= 0 and naive.max() <= 1)


# ------------------------------------------------------------------ stroke width, the thick-strokes tip

def test_stroke_width_of_mnist_digits_is_mnist_like_and_of_nothing_zero(mnist):
    (x_train, _), _ = mnist
    widths = [preprocess.stroke_width(im / 255.0) for im in x_train[:300]]
    assert 2.0 < np.median(widths) < 3.5
    assert np.mean(np.array(widths) > preprocess.HEAVY_STROKE) < 0.02  # MNIST itself almost never trips the tip
    assert preprocess.stroke_width(np.zeros((28, 28), np.float32)) == 0.0


def test_a_small_digit_drawn_with_a_wide_pen_has_heavy_strokes_and_a_big_one_does_not(mnist):
    from mnist_core.data import canvas_pen

    _, (x_test, _) = mnist
    for digit in x_test[:5]:
        big = preprocess.preprocess_steps(canvas_pen.redraw_mnist(digit, pen=canvas_pen.DEFAULT_PEN))
        small = preprocess.preprocess_steps(canvas_pen.redraw_mnist(digit, pen=40, height=70))
        assert not preprocess.heavy_strokes(big)
        assert preprocess.heavy_strokes(small)
        assert preprocess.stroke_width(small.result) > 2 * preprocess.stroke_width(big.result)
    assert not preprocess.heavy_strokes(None)
    assert not preprocess.heavy_strokes(preprocess.preprocess_steps(np.zeros((50, 50, 4), np.uint8)))
