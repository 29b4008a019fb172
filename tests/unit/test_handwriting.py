"""The held-out handwriting measure: digits repainted with the Draw page's pens, and digits in
handwriting fonts, sent through the app's preprocessing."""

import subprocess
import sys

import numpy as np
import pytest

from mnist_core.data import canvas_pen, handwriting, preprocess
from mnist_core.models.inference import load_classifier


def test_every_font_is_installed_and_writes_every_digit():
    handwriting.check_fonts()  # `make test` installs them (make fonts)
    for font in handwriting.FONTS:
        for digit in range(10):
            glyph = handwriting.glyph(font, digit)
            assert glyph.shape[0] > 60 and glyph.max() > 0.9, (font.name, digit)


def test_a_missing_font_names_the_package_that_installs_it(monkeypatch):
    gone = handwriting.Font("Gone", "/nowhere/Gone.ttf", "fonts-gone")
    monkeypatch.setattr(handwriting, "FONTS", handwriting.FONTS + (gone,))
    with pytest.raises(handwriting.FontMissingError, match=r"apt-get install fonts-gone.*make fonts"):
        handwriting.check_fonts()
    with pytest.raises(handwriting.FontMissingError, match="fonts-gone"):
        handwriting.font_digits(fonts=(gone,))
    out = subprocess.run([sys.executable, "-m", "mnist_core.data.handwriting", "--missing-packages"],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""  # what `make fonts` installs when something is missing: here, nothing


@pytest.mark.parametrize("pen", [8, 22, 40])
def test_a_repainted_digit_has_the_pens_stroke_width_and_stays_a_digit(mnist, pen):
    (_, _), (x_test, y_test) = mnist
    rgba = canvas_pen.redraw_mnist(x_test[0], pen)
    assert rgba.shape == (preprocess.DRAW_CANVAS, preprocess.DRAW_CANVAS, 4) and rgba.dtype == np.uint8
    assert (rgba[..., 3] == 255).all() and set(np.unique(rgba[..., 0])) >= {0, 255}
    width = canvas_pen.strokes_of(rgba[..., 0] / 255).width
    assert abs(width - pen) <= 2.5, width  # the typical stroke is the pen's width
    image = preprocess.canvas_to_mnist(rgba)
    assert image is not None and image.shape == (28, 28)


def test_thicker_pens_leave_more_ink_on_the_same_path(mnist):
    (_, _), (x_test, y_test) = mnist
    drawn = handwriting.mnist_at_pens(x_test[:3], y_test[:3], pens=(8, 22, 40))
    assert drawn.images.shape == (9, 28, 28) and drawn.labels.tolist() == [7, 7, 7, 2, 2, 2, 1, 1, 1]
    assert drawn.pen.tolist() == [8, 22, 40] * 3 and set(drawn.source) == {"MNIST"}
    ink = drawn.images.reshape(3, 3, -1).sum(axis=2)
    assert (np.diff(ink, axis=1) > 0).all()  # same digit, same place: only the pen changed


def test_off_centre_and_small_digits_are_where_they_say(mnist):
    (_, _), (x_test, y_test) = mnist
    strokes = [canvas_pen.place(x_test[0] / 255, *handwriting._random_pose(np.random.default_rng(s), 300,
                                                                            off_centre=True)) for s in range(4)]
    for ink in strokes:
        rows, cols = np.flatnonzero(ink.max(axis=1) > 0.1), np.flatnonzero(ink.max(axis=0) > 0.1)
        assert min(rows[0], 299 - rows[-1]) < 15 and min(cols[0], 299 - cols[-1]) < 60  # in a corner
    small = handwriting.mnist_at_pens(x_test[:2], y_test[:2], pens=(22,), small=True)
    assert small.images.shape == (2, 28, 28)


def test_the_font_set_is_the_same_for_a_seed_and_new_for_another():
    fonts = handwriting.FONTS[:2]
    a = handwriting.font_digits(seed=3, per_digit=1, fonts=fonts)
    b = handwriting.font_digits(seed=3, per_digit=1, fonts=fonts)
    c = handwriting.font_digits(seed=4, per_digit=1, fonts=fonts)
    assert a.images.shape == (20, 28, 28) and a.labels.tolist() == list(range(10)) * 2
    assert [str(s) for s in a.source] == [fonts[0].name] * 10 + [fonts[1].name] * 10
    assert np.array_equal(a.images, b.images) and np.array_equal(a.pen, b.pen)
    assert not np.array_equal(a.images, c.images)
    assert set(a.pen.tolist()) <= set(preprocess.PEN_WIDTHS)
    assert all(img.max() > 0.5 for img in a.images)  # every canvas preprocessed to a digit


def test_training_never_sees_the_held_out_handwriting():
    # Training draws with the same pen (mnist_core.data.canvas_pen) but never loads the held-out digits.
    code = ("import sys; import mnist_core.training.worker, mnist_core.training, mnist_core.data.augment; "
            "print('mnist_core.data.handwriting' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_the_shipped_models_read_new_handwriting_and_the_cnn_reads_it_better():
    digits = handwriting.font_digits(seed=7, per_digit=1)  # 170 canvases, one per font and digit
    accuracy = {name: float(np.mean(load_classifier(name).predict(digits.images) == digits.labels))
                for name in ("ann", "cnn")}
    assert accuracy["ann"] > 0.9 and accuracy["cnn"] > 0.95, accuracy
    assert accuracy["cnn"] >= accuracy["ann"], accuracy
