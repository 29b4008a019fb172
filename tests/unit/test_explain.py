"""Explanations from the NumPy forward pass: the ops' backward passes against finite differences on
small random models of every layer kind, and occlusion on a model whose answer is known."""

import numpy as np
import pytest

from mnist_core.analysis import explain
from mnist_core.models.inference import classifier_from_spec, load_classifier
from mnist_core.models.model_file import LayerSpec, ModelSpec


def layer(kind, config=None, weights=(), shape=()):
    return LayerSpec(kind, f"{kind.lower()}_{np.random.default_rng().integers(1e9)}", config or {},
                     tuple(np.asarray(w, np.float32) for w in weights), shape)


def random_weights(rng, *shape, scale=None):
    scale = scale or 1 / np.sqrt(np.prod(shape[:-1]))
    return rng.normal(0, scale, shape).astype(np.float32)


def batch_norm(rng, channels):
    return layer("BatchNormalization", {"epsilon": 1e-3},
                 [rng.uniform(0.5, 1.5, channels), rng.normal(0, 0.1, channels),
                  rng.normal(0, 0.1, channels), rng.uniform(0.5, 1.5, channels)])


def dense_model(rng):
    """Flatten, Dense (relu, sigmoid, tanh, linear) and a softmax Activation layer."""
    return classifier_from_spec("dense", ModelSpec("dense", (
        layer("Flatten"),
        layer("Dense", {"activation": "relu"}, [random_weights(rng, 784, 16, scale=0.2), rng.normal(0, .1, 16)]),
        layer("Dense", {"activation": "sigmoid"}, [random_weights(rng, 16, 12), rng.normal(0, .1, 12)]),
        layer("Dense", {"activation": "tanh"}, [random_weights(rng, 12, 12), rng.normal(0, .1, 12)]),
        layer("Dense", {"activation": "linear"}, [random_weights(rng, 12, 10) * 3, np.zeros(10)]),
        layer("Activation", {"activation": "softmax"}),
    ), 1000))


def conv_model(rng):
    """Reshape, Conv2D same and valid (with and without bias), batch norm folded into a linear conv
    and on its own after a ReLU conv, ReLU, max-pooling over an odd size, Flatten, softmax Dense."""
    return classifier_from_spec("conv", ModelSpec("conv", (
        layer("Reshape", shape=(28, 28, 1)),
        layer("Conv2D", {"padding": "same", "activation": "linear", "use_bias": False}, [random_weights(rng, 3, 3, 1, 4)]),
        batch_norm(rng, 4),  # folded into the conv
        layer("ReLU"),
        layer("MaxPooling2D", {"pool_size": [2, 2]}),
        layer("Conv2D", {"padding": "valid", "activation": "relu"}, [random_weights(rng, 3, 3, 4, 3), rng.normal(0, .1, 3)]),
        batch_norm(rng, 3),  # after a ReLU: stays an op of its own
        layer("MaxPooling2D", {"pool_size": [2, 2]}),  # 12×12 → 6×6
        layer("Flatten"),
        layer("Dense", {"activation": "softmax"}, [random_weights(rng, 108, 10) * 3, rng.normal(0, .1, 10)]),
    ), 100_000))


@pytest.mark.parametrize("output", [explain.PROBABILITY, explain.SCORE])
@pytest.mark.parametrize("build", [dense_model, conv_model])
def test_input_gradients_equal_finite_differences(build, output):
    rng = np.random.default_rng(3)
    model = build(rng)
    image = rng.uniform(0, 1, (28, 28)).astype(np.float32)
    target = int(model.predict_proba(image[None])[0].argmax())
    gradient = explain.input_gradient(model, image, target, output)[0]
    assert gradient.shape == (28, 28) and np.abs(gradient).max() > 1e-4
    eps = 1e-3
    for row, column in rng.integers(0, 28, (40, 2)):
        up, down = image.copy(), image.copy()
        up[row, column] += eps
        down[row, column] -= eps
        p = explain.outputs_of(model, np.stack([up, down]), output)[:, target]
        numeric = (float(p[0]) - float(p[1])) / (2 * eps)
        assert gradient[row, column] == pytest.approx(numeric, rel=0.05, abs=2e-4), (row, column)


@pytest.mark.parametrize("build", [dense_model, conv_model])
def test_integrated_gradients_add_up_to_the_change_of_the_score(build):
    model = build(np.random.default_rng(7))
    image = np.random.default_rng(8).uniform(0, 1, (28, 28)).astype(np.float32)
    scores = explain.outputs_of(model, np.stack([image, np.zeros_like(image)]), explain.SCORE)
    for target in range(10):  # ReLU and max-pool kinks on the path: many steps, a small absolute slack
        attributions = explain.integrated_gradients(model, image, target, steps=1024, output=explain.SCORE)
        assert attributions.sum() == pytest.approx(scores[0, target] - scores[1, target], abs=5e-3)


def test_gradients_of_a_batch_are_each_images_own():
    model = conv_model(np.random.default_rng(5))
    images = np.random.default_rng(6).uniform(0, 1, (3, 28, 28)).astype(np.float32)
    together = explain.input_gradient(model, images, [1, 2, 3])
    alone = [explain.input_gradient(model, images[i], t)[0] for i, t in enumerate([1, 2, 3])]
    np.testing.assert_allclose(together, np.stack(alone), rtol=1e-5, atol=1e-7)


def corner_model():
    """Class 0's logit is a quarter of the ink in the top-left 4×4 corner (4 when it is full: p ≈ 0.86,
    far from saturation); every other logit is 0."""
    weight = np.zeros((784, 10), np.float32)
    corner = np.zeros((28, 28), bool)
    corner[:4, :4] = True
    weight[corner.ravel(), 0] = 0.25
    return classifier_from_spec("corner", ModelSpec("corner", (
        layer("Flatten"), layer("Dense", {"activation": "softmax"}, [weight, np.zeros(10)])), 1000))


def test_occlusion_finds_the_only_place_that_speaks_for_the_answer():
    image = np.ones((28, 28), np.float32)
    occlusion = explain.occlusion_map(corner_model(), image, target=0, patch=4, stride=2)
    assert occlusion.shape == (28, 28)
    assert (occlusion[:4, :4] > 0.01).all()  # covering the corner with grey lowers the answer
    assert np.all(occlusion[6:, :] == 0) and np.all(occlusion[:, 6:] == 0)  # nowhere else matters
    assert occlusion[0, 0] > occlusion[4, 4] > 0  # covered fully vs only in part


def test_attributions_point_at_the_ink_that_decides():
    model, image = corner_model(), np.ones((28, 28), np.float32)
    attribution = explain.gradient_times_input(model, image, 0)
    assert (attribution[:4, :4] > 0).all() and np.all(attribution[4:, :] == 0) and np.all(attribution[:, 4:] == 0)
    integrated = explain.integrated_gradients(model, image, 0, steps=64)
    total_change = model.predict_proba(image[None])[0, 0] - model.predict_proba(np.zeros((1, 28, 28)))[0, 0]
    assert integrated.sum() == pytest.approx(total_change, rel=0.02)  # completeness


def test_the_shipped_models_explain_a_real_digit(mnist):
    (_, _), (x_test, y_test) = mnist
    image, label = x_test[0].astype(np.float32) / 255, int(y_test[0])
    for name in ("ann", "cnn"):
        model = load_classifier(name)
        outputs = explain.layer_outputs(model, image)
        np.testing.assert_allclose(outputs[-1], model.predict_proba(image[None]), rtol=1e-6)
        gradient = explain.input_gradient(model, image, label)[0]
        assert np.isfinite(gradient).all() and np.abs(gradient).max() > 0
        occlusion = explain.occlusion_map(model, image, label)
        assert occlusion.max() > 0 and np.isfinite(occlusion).all()


def ink_model():
    """Every pixel counts the same towards class 1: an answer that only depends on how much ink."""
    weight = np.zeros((784, 10), np.float32)
    weight[:, 1] = 0.05
    return classifier_from_spec("ink", ModelSpec("ink", (
        layer("Flatten"), layer("Dense", {"activation": "softmax"}, [weight, np.zeros(10)])), 1000))


def blob():
    image = np.zeros((28, 28), np.float32)
    image[11:17, 12:16] = 1.0  # small and central: no shift of up to 8 px leaves the frame
    return image


@pytest.mark.parametrize("sweep", ["shift_x", "shift_y"])
def test_the_shift_sweep_of_a_translation_invariant_model_is_flat(sweep):
    probabilities = explain.sweep_probabilities(ink_model(), blob(), 1, sweep)
    assert len(probabilities) == 17 and np.ptp(probabilities) < 1e-6
    untouched = explain.SWEEPS[sweep].index(explain.UNTOUCHED[sweep])
    assert probabilities[untouched] == pytest.approx(ink_model().predict_proba(blob()[None])[0, 1])


def test_a_position_bound_model_breaks_when_the_digit_moves():
    model, image = corner_model(), np.zeros((28, 28), np.float32)
    image[:4, :4] = 1.0
    probabilities = explain.sweep_probabilities(model, image, 0, "shift_x")
    assert probabilities[8] > 0.8 and probabilities[-1] < 0.2  # 8 px right: the ink left the corner


def test_each_sweep_changes_the_digit_as_named():
    image = blob()
    moved = explain.transformed(image, "shift_x")
    assert moved[explain.SWEEPS["shift_x"].index(3)][11:17, 15:19].all()  # 3 px to the right
    down = explain.transformed(image, "shift_y")[explain.SWEEPS["shift_y"].index(-2)]
    assert down[9:15, 12:16].all() and not down[15:17].any()  # 2 px up
    quarter = explain.rotated(image, 90)
    assert quarter.sum() == pytest.approx(image.sum(), rel=0.1) and quarter[12:16, 11:17].mean() > 0.8
    assert explain.scaled(image, 0.5).sum() == pytest.approx(image.sum() / 4, rel=0.25)
    assert explain.stroke_changed(image, 1).sum() == 8 * 6 and explain.stroke_changed(image, -1).sum() == 4 * 2
    for sweep, amounts in explain.SWEEPS.items():
        batch = explain.transformed(image, sweep)
        assert batch.shape == (len(amounts), 28, 28) and batch.dtype == np.float32
        np.testing.assert_allclose(batch[amounts.index(explain.UNTOUCHED[sweep])], image, atol=1e-6)


# ------------------------------------------------------------------ inside the ANN and the CNN


def one_hidden_layer_model(rng):
    return classifier_from_spec("one", ModelSpec("one", (
        layer("Flatten"),
        layer("Dense", {"activation": "relu"}, [random_weights(rng, 784, 20, scale=0.2), rng.normal(0, .1, 20)]),
        layer("Dense", {"activation": "softmax"}, [random_weights(rng, 20, 10), rng.normal(0, .5, 10)]),
    ), 1000))


def test_unit_shares_add_up_to_each_digits_score():
    rng = np.random.default_rng(11)
    model = one_hidden_layer_model(rng)
    image = rng.uniform(0, 1, (28, 28)).astype(np.float32)
    evidence = explain.unit_evidence(model, image, target=3, top=20)
    scores = explain.layer_outputs(model, image)[-2][0]  # the softmax's input
    bias = model.ops[3].bias  # reshape, dense, relu, dense, softmax
    np.testing.assert_allclose(evidence.shares.sum(axis=0), scores - bias, rtol=1e-4, atol=1e-4)
    assert np.all(np.diff(evidence.shares[:, 3]) <= 0)  # strongest for the answer first
    first = model.ops[1].weight
    np.testing.assert_array_equal(evidence.weights[0], first[:, evidence.units[0]].reshape(28, 28))
    assert explain.unit_evidence(conv_model(rng), image, 3) is None


def test_the_receptive_field_holds_every_pixel_that_moves_the_cell():
    rng = np.random.default_rng(12)
    model = conv_model(rng)
    image = rng.uniform(0, 1, (28, 28)).astype(np.float32)
    outputs = explain.layer_outputs(model, image)
    for op_index in explain.conv_outputs(model):
        conv = op_index - 1 if isinstance(model.ops[op_index], type(model.ops[2])) else op_index  # before its ReLU
        h, w = outputs[conv + 1].shape[1:3]
        for row, column in ((0, 0), (h // 2, w // 2), (h - 1, w - 1)):
            grad = np.zeros_like(outputs[conv + 1])
            grad[0, row, column] = 1.0  # every channel of that cell
            for index in range(conv, -1, -1):
                grad = model.ops[index].backward(outputs[index], outputs[index + 1], grad)
            moved = np.argwhere(np.abs(grad.reshape(28, 28)) > 0)
            top, left, bottom, right = explain.receptive_field(model, op_index, row, column)
            assert len(moved) and moved[:, 0].min() >= top and moved[:, 0].max() <= bottom
            assert moved[:, 1].min() >= left and moved[:, 1].max() <= right
    # same 3×3 → pool 2 → valid 3×3: a cell of the second block sees an 8×8 square
    second = explain.conv_outputs(model)[1]
    assert explain.receptive_field(model, second, 2, 2) == (3, 3, 10, 10)


def test_feature_maps_come_strongest_first_with_their_channel_numbers():
    rng = np.random.default_rng(13)
    model = conv_model(rng)
    image = rng.uniform(0, 1, (28, 28)).astype(np.float32)
    blocks = explain.feature_maps(model, image)
    assert [b.block for b in blocks] == [1, 2] and blocks[0].maps.shape == (4, 28, 28)
    for block in blocks:
        means = block.maps.mean(axis=(1, 2))
        assert np.all(np.diff(means) <= 1e-6) and sorted(block.channels) == list(range(len(means)))
        raw = np.moveaxis(explain.layer_outputs(model, image)[block.op_index + 1][0], -1, 0)
        np.testing.assert_array_equal(block.maps, raw[block.channels])
    assert explain.first_filters(model).shape == (4, 3, 3)
    assert explain.first_filters(one_hidden_layer_model(rng)) is None


@pytest.mark.parametrize("build", [dense_model, conv_model])
def test_explain_digit_gives_every_view_of_one_model(build):
    model = build(np.random.default_rng(14))
    image = blob()
    result = explain.explain_digit(model, image, target=2)
    assert result.occlusion.shape == result.integrated_gradients.shape == (28, 28)
    assert {name: len(p) for name, p in result.sweeps.items()} == {n: len(a) for n, a in explain.SWEEPS.items()}
    assert (result.units is None) == (build is conv_model) and bool(result.feature_maps) == (build is conv_model)
    assert result.probabilities.sum() == pytest.approx(1, abs=1e-5)


def test_a_block_that_pools_before_its_relu_shows_the_maps_after_the_relu():
    """seed004-cnn's order: Conv (no activation) → MaxPool → ReLU; max and ReLU commute, so the maps
    after the ReLU are the block's, not the signed conv outputs."""
    rng = np.random.default_rng(15)
    model = classifier_from_spec("pool-first", ModelSpec("pool-first", (
        layer("Reshape", shape=(28, 28, 1)),
        layer("Conv2D", {"padding": "valid", "activation": "linear"}, [random_weights(rng, 3, 3, 1, 4), np.zeros(4)]),
        layer("MaxPooling2D", {"pool_size": [2, 2]}),
        layer("ReLU"),
        layer("Flatten"),
        layer("Dense", {"activation": "softmax"}, [random_weights(rng, 13 * 13 * 4, 10), np.zeros(10)]),
    ), 100_000))
    assert explain.conv_outputs(model) == [3]
    block = explain.feature_maps(model, rng.uniform(0, 1, (28, 28)).astype(np.float32))[0]
    assert block.maps.shape == (4, 13, 13) and block.maps.min() >= 0
    assert explain.receptive_field(model, 3, 0, 0) == (0, 0, 3, 3)  # a pooled cell: 2×2 windows of 3×3
