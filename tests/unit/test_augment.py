import numpy as np
import pytest

from mnist_core import augment, preprocess, training
from mnist_core.augment import KIND_NAMES


@pytest.fixture(scope="module")
def digits(mnist):
    (x, _), _ = mnist
    return x[:64].astype(np.float32) / 255.0


def ink_width(images: np.ndarray) -> np.ndarray:
    """Mean stroke width per image, in px: inked area over skeleton-ish length (area / longest side)."""
    return (images > 0.5).sum(axis=(1, 2)) / np.maximum((images > 0.5).any(axis=2).sum(axis=1), 1)


@pytest.mark.parametrize("kinds", [[k] for k in KIND_NAMES] + [list(KIND_NAMES)])
def test_every_kind_keeps_shape_dtype_and_range_and_changes_the_digits(digits, kinds):
    out = augment.augment(digits, kinds, np.random.default_rng(0))
    assert out.shape == digits.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    changed = np.abs(out - digits).max(axis=(1, 2)) > 0.05
    share = augment.PEN_SHARE if kinds == ["pen"] else 1.0  # the pen redraws a share of the digits
    assert changed.mean() > 0.9 * share, f"{kinds} left {np.sum(~changed)} of 64 digits as they were"
    assert np.all(out.max(axis=(1, 2)) > 0.5), "a digit lost its ink"


@pytest.mark.parametrize("kinds", [[k] for k in KIND_NAMES] + [list(KIND_NAMES)])
def test_strength_zero_is_the_identity_and_a_tiny_strength_nearly_so(digits, kinds):
    assert np.array_equal(augment.augment(digits, kinds, np.random.default_rng(0), strength=0.0), digits)
    # The warp itself (not a shortcut) leaves an image in place: its centre and axes are right.
    tiny = augment.augment(digits, kinds, np.random.default_rng(0), strength=1e-6)
    assert np.abs(tiny - digits).max() < 1e-3


def test_no_kinds_is_the_identity(digits):
    assert np.array_equal(augment.augment(digits, [], np.random.default_rng(0)), digits)


def test_the_same_seed_gives_the_same_images_and_another_seed_others(digits):
    a = augment.augment(digits, KIND_NAMES, np.random.default_rng(7))
    b = augment.augment(digits, KIND_NAMES, np.random.default_rng(7))
    c = augment.augment(digits, KIND_NAMES, np.random.default_rng(8))
    assert np.array_equal(a, b)
    assert np.abs(a - c).max() > 0.5


def test_strength_scales_how_far_digits_move(digits):
    moved = [np.abs(augment.augment(digits, ["rotate"], np.random.default_rng(0), s) - digits).mean()
             for s in (0.25, 0.5, 1.0)]
    assert moved[0] < moved[1] < moved[2]


def test_shift_moves_the_centre_of_mass_by_at_most_two_pixels_and_rotation_keeps_it(digits):
    def centres(images):
        return np.array([preprocess.center_of_mass(im) for im in images])

    shifted = centres(augment.augment(digits, ["shift"], np.random.default_rng(0))) - centres(digits)
    assert np.abs(shifted).max() <= augment.MAX_SHIFT + 0.3 and np.abs(shifted).mean() > 0.5
    turned = centres(augment.augment(digits, ["rotate"], np.random.default_rng(0))) - centres(digits)
    assert np.abs(turned).max() < 1.5  # turned about the image centre, near where MNIST puts the mass


def test_stroke_width_makes_some_digits_thinner_and_some_thicker(digits):
    out = augment.augment(digits, ["stroke"], np.random.default_rng(0))
    change = ink_width(out) - ink_width(digits)
    assert (change < -0.3).sum() >= 10 and (change > 0.3).sum() >= 10
    # A thin pen still inks at full strength, as the canvas does.
    assert np.allclose(out.max(axis=(1, 2)), digits.max(axis=(1, 2)), atol=1e-5)


def test_zoom_changes_the_digits_size_and_shear_slants_it():
    bar = np.zeros((1, 28, 28), np.float32)
    bar[0, 4:24, 13:15] = 1.0  # an upright "1"
    heights = [(augment.augment(bar, ["zoom"], np.random.default_rng(s)) > 0.5).any(axis=2).sum() for s in range(20)]
    assert min(heights) <= 18 and max(heights) >= 22
    slants = []
    for s in range(20):
        sheared = augment.augment(bar, ["shear"], np.random.default_rng(s))[0]
        cols = [np.average(np.arange(28), weights=sheared[r] + 1e-9) for r in (6, 21)]
        slants.append(cols[1] - cols[0])
    assert min(slants) < -2 and max(slants) > 2  # both ways, several pixels over the bar's height


def test_elastic_bends_strokes_but_keeps_the_ink_in_place(digits):
    out = augment.augment(digits, ["elastic"], np.random.default_rng(0))
    assert np.abs(out - digits).mean() > 0.02
    ink_kept = out.sum(axis=(1, 2)) / digits.sum(axis=(1, 2))
    assert 0.7 < np.median(ink_kept) < 1.3


def test_kinds_are_read_from_lists_strings_and_old_cards():
    assert augment.kinds_from(True) == augment.LEGACY_KINDS  # cards saved before kinds could be chosen
    assert augment.kinds_from(False) == augment.kinds_from(None) == augment.kinds_from("none") == ()
    assert augment.kinds_from("all") == KIND_NAMES
    assert augment.kinds_from("stroke, shift") == ("shift", "stroke")  # KINDS' order, whatever was typed
    assert augment.kinds_from(["elastic"]) == ("elastic",)
    with pytest.raises(augment.AugmentError, match="blur.*choose from shift, rotate"):
        augment.kinds_from("shift,blur")
    assert augment.describe(("shift", "elastic")) == "shift and elastic" and augment.describe(()) == "none"


def test_a_run_refuses_an_unknown_kind_and_resolves_the_presets_recipe():
    with pytest.raises(training.HyperparameterError, match="Unknown augmentation sparkle"):
        training.validate(training.TrainingConfig("ann", augment=("sparkle",)), 60_000)
    assert training.TrainingConfig("cnn").resolved().augment == tuple(k for k in KIND_NAMES if k != "pen")
    assert training.TrainingConfig("seed000-cnn").resolved().augment == ()
    assert training.TrainingConfig("ann", augment=True).resolved().augment == augment.LEGACY_KINDS


def test_the_workers_batches_repeat_for_a_seed_and_differ_each_epoch(digits):
    import tensorflow as tf

    from mnist_core.training_worker import _augmented

    def epochs(seed):
        batches = tf.data.Dataset.from_tensor_slices((digits, np.arange(len(digits)))).batch(16)
        ds = _augmented(batches, KIND_NAMES, seed)
        return [np.concatenate([x.numpy() for x, _ in ds]) for _ in range(2)]

    first, again = epochs(3), epochs(3)
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    assert np.abs(first[0] - first[1]).max() > 0.5  # new changes each epoch
    assert np.abs(first[0] - epochs(4)[0]).max() > 0.5
    assert np.abs(first[0] - digits).mean() > 0.01


def test_the_pen_redraws_about_half_the_digits_and_leaves_the_rest_untouched(digits):
    out = augment.augment(digits, ["pen"], np.random.default_rng(0))
    redrawn = np.abs(out - digits).max(axis=(1, 2)) > 0
    assert 0.3 < redrawn.mean() < 0.7
    assert np.array_equal(out[~redrawn], digits[~redrawn])


def _bar(pressure=1.0):
    """An upright "1", 3 px wide, pressed lightly (`pressure`) in its lower half, as MNIST's ink varies."""
    bar = np.zeros((1, 28, 28), np.float32)
    bar[0, 4:24, 13:16] = 1.0
    bar[0, 14:24, 13:16] = pressure
    return bar


def test_the_pen_paints_its_own_width_with_even_ink_along_the_same_path():
    bar = _bar()
    widths = {}
    for pen in (augment.MIN_PEN, 2.0, augment.MAX_PEN):
        out = augment._pen(bar, np.array([True]), np.array([pen]))[0]
        widths[pen] = out[8:20].sum(axis=1).mean()  # ink across a row, in px of full ink
        assert out.max() == pytest.approx(1.0)
        assert preprocess.center_of_mass(out)[1] == pytest.approx(preprocess.center_of_mass(bar[0])[1], abs=0.3)
    assert widths[augment.MIN_PEN] < widths[2.0] < widths[augment.MAX_PEN]
    assert widths[2.0] == pytest.approx(2.0, abs=0.4)
    assert widths[augment.MAX_PEN] == pytest.approx(augment.MAX_PEN, abs=0.6)


def test_the_pen_inks_evenly_where_the_writer_pressed_lightly():
    out = augment._pen(_bar(pressure=0.5), np.array([True]), np.array([3.0]))[0]
    upper, lower = out[6:12, 14].mean(), out[16:22, 14].mean()
    assert upper == pytest.approx(lower, abs=0.02) and upper > 0.95


def test_the_pen_leaves_a_blank_image_blank():
    blank = np.zeros((2, 28, 28), np.float32)
    assert np.array_equal(augment._pen(blank, np.array([True, True]), np.array([2.0, 4.0])), blank)
