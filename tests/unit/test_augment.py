import numpy as np
import pytest

from mnist_core import training
from mnist_core.data import augment, canvas_pen, preprocess
from mnist_core.data.augment import AUGMENTATION_NAMES


@pytest.fixture(scope="module")
def digits(mnist):
    (x, _), _ = mnist
    return x[:64].astype(np.float32) / 255.0


def ink_width(images: np.ndarray) -> np.ndarray:
    """Mean stroke width per image, in px: inked area over skeleton-ish length (area / longest side)."""
    return (images > 0.5).sum(axis=(1, 2)) / np.maximum((images > 0.5).any(axis=2).sum(axis=1), 1)


@pytest.mark.parametrize("kinds", [[k] for k in AUGMENTATION_NAMES] + [list(AUGMENTATION_NAMES)])
def test_every_kind_keeps_shape_dtype_and_range_and_changes_the_digits(digits, kinds):
    out = augment.augment(digits, kinds, np.random.default_rng(0))
    assert out.shape == digits.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    changed = np.abs(out - digits).max(axis=(1, 2)) > 0.05
    # The pen redraws a share of the digits; blur and noise change a share, some only a little.
    share = {"pen": 0.9 * augment.PEN_SHARE, "blur": 0.5 * augment.BLUR_SHARE,
             "noise": 0.5 * augment.NOISE_SHARE}.get(kinds[0], 0.9) if len(kinds) == 1 else 0.9
    assert changed.mean() > share, f"{kinds} left {np.sum(~changed)} of 64 digits as they were"
    assert np.all(out.max(axis=(1, 2)) > 0.3), "a digit lost its ink"  # (a 2.5 px blur halves a thin stroke's peak)


@pytest.mark.parametrize("kinds", [[k] for k in AUGMENTATION_NAMES] + [list(AUGMENTATION_NAMES)])
def test_strength_zero_is_the_identity_and_a_tiny_strength_nearly_so(digits, kinds):
    assert np.array_equal(augment.augment(digits, kinds, np.random.default_rng(0), strength=0.0), digits)
    # The warp itself (not a shortcut) leaves an image in place: its centre and axes are right.
    tiny = augment.augment(digits, kinds, np.random.default_rng(0), strength=1e-6)
    assert np.abs(tiny - digits).max() < 1e-3


def test_no_kinds_is_the_identity(digits):
    assert np.array_equal(augment.augment(digits, [], np.random.default_rng(0)), digits)


def test_the_same_seed_gives_the_same_images_and_another_seed_others(digits):
    a = augment.augment(digits, AUGMENTATION_NAMES, np.random.default_rng(7))
    b = augment.augment(digits, AUGMENTATION_NAMES, np.random.default_rng(7))
    c = augment.augment(digits, AUGMENTATION_NAMES, np.random.default_rng(8))
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
    assert augment.kinds_from(True) == augment.LEGACY_AUGMENTATIONS  # cards saved before kinds could be chosen
    assert augment.kinds_from(False) == augment.kinds_from(None) == augment.kinds_from("none") == ()
    assert augment.kinds_from("all") == AUGMENTATION_NAMES
    assert augment.kinds_from("stroke, shift") == ("shift", "stroke")  # KINDS' order, whatever was typed
    assert augment.kinds_from(["elastic"]) == ("elastic",)
    with pytest.raises(augment.AugmentError, match="sparkle.*choose from shift, rotate"):
        augment.kinds_from("shift,sparkle")
    assert augment.describe(("shift", "elastic")) == "shift and elastic" and augment.describe(()) == "none"


def test_a_run_refuses_an_unknown_kind_and_resolves_the_presets_recipe():
    with pytest.raises(training.HyperparameterError, match="Unknown augmentation sparkle"):
        training.validate(training.TrainingConfig("ann", augment=("sparkle",)), 60_000)
    assert training.TrainingConfig("cnn").resolved().augment == AUGMENTATION_NAMES
    assert training.TrainingConfig("seed000-cnn").resolved().augment == ()
    assert training.TrainingConfig("ann", augment=True).resolved().augment == augment.LEGACY_AUGMENTATIONS


def test_the_workers_batches_repeat_for_a_seed_and_differ_each_epoch(digits):
    import tensorflow as tf

    from mnist_core.training.worker import _augmented

    def epochs(seed):
        batches = tf.data.Dataset.from_tensor_slices((digits, np.arange(len(digits)))).batch(16)
        ds = _augmented(batches, AUGMENTATION_NAMES, seed)
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
    """An upright "1", 3 px wide, pressed lighter (`pressure`) in its lower half, as MNIST's ink varies."""
    bar = np.zeros((1, 28, 28), np.float32)
    bar[0, 4:24, 13:16] = 1.0
    bar[0, 14:24, 13:16] = pressure
    return bar


def _on_the_draw_page(digit, pen, height):
    """`digit` drawn on the Draw page's own 300 px canvas with a `pen` px pen, `height` of it tall,
    as the app preprocesses it."""
    canvas = preprocess.DRAW_CANVAS
    return preprocess.canvas_to_mnist(canvas_pen.redraw_mnist(digit, pen, canvas, height * canvas))


def test_the_pen_draws_what_the_draw_page_would_draw(digits):
    chosen = digits[:24]
    for pen, height in ((8.0, 0.5), (22.0, 0.7), (40.0, 0.5), (40.0, 0.85)):
        out = augment._pen(chosen, np.ones(len(chosen), bool), np.full(len(chosen), pen), np.full(len(chosen), height))
        drawn = np.stack([_on_the_draw_page(digit, pen, height) for digit in chosen])
        # The small canvas the pen draws on looks, once preprocessed, like the Draw page's own
        assert np.abs(out - drawn).mean() < 0.05
        widths = [np.mean([preprocess.stroke_width(im) for im in images]) for images in (out, drawn)]
        assert widths[0] == pytest.approx(widths[1], rel=0.12)
        for got in out:  # ... preprocessed as a drawing is: fitted into 20 px, centred by its centre of mass
            rows, cols = np.flatnonzero(got.max(axis=1) > 0.05), np.flatnonzero(got.max(axis=0) > 0.05)
            assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 in (19, 20, 21, 22)
            assert np.allclose(preprocess.center_of_mass(got), (13.5, 13.5), atol=1.0)


def test_a_wider_pen_or_a_smaller_digit_draws_thicker_strokes():
    bar = _bar()
    def width(pen, height):
        return preprocess.stroke_width(augment._pen(bar, np.array([True]), np.array([pen]), np.array([height]))[0])
    assert width(8, 0.7) < width(22, 0.7) < width(40, 0.7)
    assert width(22, 0.85) < width(22, 0.5)


def test_the_pen_inks_evenly_where_the_writer_pressed_lighter():
    out = augment._pen(_bar(pressure=0.7), np.array([True]), np.array([22.0]), np.array([0.7]))[0]
    column = out[:, 12:17].max(axis=1)
    inked = np.flatnonzero(column > 0.5)
    assert len(inked) > 16 and column[inked[1]:inked[-1]].min() > 0.95  # the whole stroke at full ink, but its soft ends


def test_the_pen_leaves_a_blank_image_blank():
    blank = np.zeros((2, 28, 28), np.float32)
    assert np.array_equal(augment._pen(blank, np.array([True, True]), np.array([8.0, 40.0]), np.array([0.7, 0.7])), blank)


def test_a_digit_the_pen_draws_reaches_the_model_as_preprocessed_and_the_rest_are_changed(digits):
    everything = augment.augment(digits, AUGMENTATION_NAMES, np.random.default_rng(3))
    pen_only = augment.augment(digits, ["pen"], np.random.default_rng(3))
    others = augment.augment(digits, [k for k in AUGMENTATION_NAMES if k != "pen"], np.random.default_rng(3))
    drawn = np.abs(pen_only - digits).max(axis=(1, 2)) > 0
    assert 0.3 < drawn.mean() < 0.7
    assert np.array_equal(everything[drawn], pen_only[drawn])  # no warp or stroke change on a drawn digit
    assert np.array_equal(everything[~drawn], others[~drawn])  # MNIST's own digits: the other kinds as ever


def test_blur_and_noise_change_a_share_of_mnists_digits_as_the_robustness_experiment_corrupts_them(digits):
    rng = np.random.default_rng(5)
    many = np.concatenate([digits] * 8)  # 512 digits
    blurred = augment.augment(many, ["blur"], rng)
    softened = np.abs(blurred - many).max(axis=(1, 2)) > 0.05
    assert 0.15 < softened.mean() < 0.3  # about BLUR_SHARE, the weakest blurs barely showing
    assert (blurred[softened].max(axis=(1, 2)) < many[softened].max(axis=(1, 2)) + 1e-6).all()  # softer, never brighter
    noised = augment.augment(many, ["noise"], np.random.default_rng(5))
    speckled = (noised[:, :3, :] > 0).any(axis=(1, 2))  # MNIST's top rows are blank: ink there is noise
    assert 0.15 < speckled.mean() < 0.3
    assert (noised[~speckled] == many[~speckled]).all()
