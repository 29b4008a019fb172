"""Why a model answers as it does, from the NumPy forward pass (no TensorFlow in the server).

- `layer_outputs`: what every op made of the images (the CNN's feature maps, the ANN's units).
- `input_gradient`: how the answer's probability changes with each pixel, by the ops' own backward
  passes (inference's ops each have `backward`), checked against finite differences in the tests.
- `gradient_times_input` and `integrated_gradients`: pixel attributions from those gradients.
- `occlusion_map`: the drop of the answer's probability while a grey patch covers each place.
- `SWEEPS`: the digit pushed around (shifted, rotated, scaled, thinner, thicker), without re-centring.
- `unit_evidence`: the ANN's first hidden units that carry the answer, and their share of each output.
- `feature_maps`, `first_filters`, `receptive_field`: the CNN's blocks on this digit.
- `explain_digit`: all of it for one model and one digit.

Every function that needs many images (integrated gradients' steps, the occluded copies) batches
them into one pass per model.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from mnist_core.models.inference import Classifier, _Activation, _Affine, _Conv2D, _MaxPool

OCCLUSION_GREY = 0.5  # neither ink (1) nor background (0): covering a place hides what was there
IG_STEPS = 32


def _batch(images) -> np.ndarray:
    x = np.asarray(images, np.float32)
    x = x[None] if x.shape == (28, 28) else x
    if x.ndim != 3 or x.shape[1:] != (28, 28):
        raise ValueError(f"expected images of shape (n, 28, 28) or (28, 28), got {x.shape}")
    return x


def layer_outputs(classifier: Classifier, images, ops: list | None = None) -> list[np.ndarray]:
    """[input, output of op 1, …, probabilities]: one entry per op of the forward pass (of `ops`,
    the first of the classifier's ops, when given)."""
    outputs = [_batch(images)]
    for op in classifier.ops if ops is None else ops:
        outputs.append(op(outputs[-1]))
    return outputs


# What a map follows: the target's probability, or its score (the softmax's input). A model that
# is 100.0% sure (the shipped ones are, on most digits) has a flat probability: covering a patch or
# following the gradient changes it by ~0 and the map is blank; the score still moves.
PROBABILITY, SCORE = "probability", "score"


def _ops_for(classifier: Classifier, output: str) -> list:
    if output == PROBABILITY:
        return classifier.ops
    if output == SCORE:
        return classifier.ops[:_softmax_index(classifier)]
    raise ValueError(f"output must be {PROBABILITY!r} or {SCORE!r}, not {output!r}")


def outputs_of(classifier: Classifier, images, output: str = PROBABILITY) -> np.ndarray:
    """(n, 10) probabilities or scores, in chunks of the classifier's size."""
    x, ops = _batch(images), _ops_for(classifier, output)
    if output == PROBABILITY:
        return classifier.predict_proba(x)
    parts = []
    for start in range(0, len(x), classifier.chunk):
        part = x[start:start + classifier.chunk]
        for op in ops:
            part = op(part)
        parts.append(part)
    return np.concatenate(parts)


def input_gradient(classifier: Classifier, images, target, output: str = PROBABILITY) -> np.ndarray:
    """d output[target] / d pixel, shape (n, 28, 28); `target` one class or one per image."""
    ops = _ops_for(classifier, output)
    outputs = layer_outputs(classifier, images, ops)
    grad = np.zeros_like(outputs[-1])
    grad[np.arange(len(grad)), np.broadcast_to(np.asarray(target), len(grad))] = 1.0
    for op, x, y in zip(reversed(ops), reversed(outputs[:-1]), reversed(outputs[1:])):
        grad = op.backward(x, y, grad)
    return grad.reshape(outputs[0].shape)


def gradient_times_input(classifier: Classifier, image, target: int, output: str = PROBABILITY) -> np.ndarray:
    """(28, 28): each pixel's value times the gradient there; zero where there is no ink."""
    x = _batch(image)
    return (input_gradient(classifier, x, target, output) * x)[0]


def integrated_gradients(classifier: Classifier, image, target: int, steps: int = IG_STEPS,
                         output: str = PROBABILITY) -> np.ndarray:
    """(28, 28) attributions along the straight path from a black image to this one (Sundararajan
    et al. 2017, midpoint rule); they add up to roughly output(image) − output(black)."""
    x = _batch(image)[0]
    alphas = (np.arange(steps, dtype=np.float32) + 0.5) / steps
    gradients = input_gradient(classifier, alphas[:, None, None] * x, target, output)
    return gradients.mean(axis=0) * x


def occlusion_map(classifier: Classifier, image, target: int, patch: int = 4, stride: int = 2,
                  fill: float = OCCLUSION_GREY, output: str = PROBABILITY) -> np.ndarray:
    """(28, 28): how much the target's output drops, on average, while a patch×patch grey square
    covers each pixel (positive: that place speaks for the answer). One pass for all places."""
    x = _batch(image)[0]
    starts = range(0, 28 - patch + 1, stride)
    places = [(top, left) for top in starts for left in starts]
    occluded = np.repeat(x[None], len(places) + 1, axis=0)  # the last one stays whole: the baseline
    for k, (top, left) in enumerate(places):
        occluded[k, top:top + patch, left:left + patch] = fill
    values = outputs_of(classifier, occluded, output)[:, target]
    drops = values[-1] - values[:-1]
    total, covered = np.zeros((28, 28), np.float64), np.zeros((28, 28), np.float64)
    for drop, (top, left) in zip(drops, places):
        total[top:top + patch, left:left + patch] += drop
        covered[top:top + patch, left:left + patch] += 1
    return (total / np.maximum(covered, 1)).astype(np.float32)


def relative(values: np.ndarray) -> np.ndarray:
    """The map divided by its largest |value|: ±1 at its strongest place, so maps in different
    units (score drops, attributions) and of different models share one colour scale."""
    top = float(np.abs(values).max())
    return (values / top).astype(np.float32) if top > 0 else np.zeros_like(values, np.float32)


# ------------------------------------------------------------------ push the digit around
# The model input is changed directly, without the Draw page's re-centring: that is the point.

SWEEPS = {  # name → the amounts tried (the untouched digit is the one at 0, or 1 for scale)
    "shift_x": tuple(range(-8, 9)),  # px, right is positive
    "shift_y": tuple(range(-8, 9)),  # px, down is positive
    "rotate": tuple(range(-60, 61, 10)),  # degrees, counter-clockwise is positive
    "scale": tuple(round(0.5 + 0.1 * i, 1) for i in range(11)),  # × about the centre
    "stroke": (-2, -1, 0, 1, 2),  # px thinner (−) or thicker (+)
}
UNTOUCHED = {"shift_x": 0, "shift_y": 0, "rotate": 0, "scale": 1.0, "stroke": 0}


def shifted(image: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """Moved by whole pixels; what leaves the frame is lost, what comes in is background."""
    out = np.zeros_like(image)
    h, w = image.shape
    src = image[max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
    out[max(0, dy):max(0, dy) + src.shape[0], max(0, dx):max(0, dx) + src.shape[1]] = src
    return out


def _affine(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Pillow's bilinear affine warp about the image's centre; `matrix` maps output to input."""
    from PIL import Image

    centre = np.array([14.0, 14.0])
    offset = centre - matrix @ centre
    coefficients = (matrix[0, 0], matrix[0, 1], offset[0], matrix[1, 0], matrix[1, 1], offset[1])
    warped = Image.fromarray(image.astype(np.float32), mode="F").transform(
        (28, 28), Image.Transform.AFFINE, coefficients, resample=Image.Resampling.BILINEAR, fillcolor=0.0)
    return np.clip(np.asarray(warped, np.float32), 0, 1)


def rotated(image: np.ndarray, degrees: float) -> np.ndarray:
    t = np.deg2rad(degrees)  # (x, y) with y down: counter-clockwise on screen
    return _affine(image, np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]))


def scaled(image: np.ndarray, factor: float) -> np.ndarray:
    return _affine(image, np.eye(2) / factor)


def stroke_changed(image: np.ndarray, pixels: int) -> np.ndarray:
    """Thicker (grey-level dilation with a 3×3 square, `pixels` times) or thinner (erosion)."""
    out = image.copy()
    for _ in range(abs(pixels)):
        padded = np.pad(out, 1)
        windows = [padded[i:i + 28, j:j + 28] for i in range(3) for j in range(3)]
        out = np.max(windows, axis=0) if pixels > 0 else np.min(windows, axis=0)
    return out


def transformed(image, sweep: str) -> np.ndarray:
    """(len(SWEEPS[sweep]), 28, 28): the digit under each amount of one sweep."""
    x = _batch(image)[0]
    change = {"shift_x": lambda a: shifted(x, a, 0), "shift_y": lambda a: shifted(x, 0, a),
              "rotate": lambda a: rotated(x, a), "scale": lambda a: scaled(x, a),
              "stroke": lambda a: stroke_changed(x, a)}[sweep]
    return np.stack([change(amount) for amount in SWEEPS[sweep]]).astype(np.float32)


def sweep_probabilities(classifier: Classifier, image, target: int, sweep: str) -> np.ndarray:
    """The target's probability under each amount of the sweep, one pass for all of them."""
    return classifier.predict_proba(transformed(image, sweep))[:, target]


# ------------------------------------------------------------------ inside the ANN
# How the first hidden layer's units carry the evidence: unit j's share of output k's score is its
# activation times d score_k / d activation_j (the score: the output's input to softmax). For a
# single hidden layer under a linear output layer the shares add up exactly to the score minus its
# bias; deeper, it is the first-order (gradient × activation) account of the same thing.

@dataclasses.dataclass(frozen=True)
class UnitEvidence:
    units: np.ndarray  # (k,) indices of the first hidden layer's units, strongest for the answer first
    activations: np.ndarray  # (k,) their activations on this digit
    weights: np.ndarray  # (k, 28, 28) each unit's incoming weights as an image
    shares: np.ndarray  # (k, 10) each unit's share of each digit's score
    layer_size: int  # units in the first hidden layer


def _first_dense(classifier: Classifier) -> int | None:
    """Index of the op that is the first dense layer reading the 784 pixels, or None (a CNN)."""
    for index, op in enumerate(classifier.ops):
        if isinstance(op, _Conv2D):
            return None
        if isinstance(op, _Affine) and not op.elementwise:
            return index if op.weight.shape[0] == 784 else None
    return None


def _softmax_index(classifier: Classifier) -> int:
    last = classifier.ops[-1]
    if not (isinstance(last, _Activation) and last.name == "softmax"):
        raise ValueError(f"{classifier.name}: the last op is not a softmax")
    return len(classifier.ops) - 1


def unit_evidence(classifier: Classifier, image, target: int, top: int = 8) -> UnitEvidence | None:
    """The `top` units of the first hidden layer with the largest share of the target's score
    (None for a model without a dense first layer). One pass: ten copies of the digit, one per
    output, so one backward pass gives every output's gradient at once."""
    dense = _first_dense(classifier)
    if dense is None:
        return None
    ops = classifier.ops
    hidden = dense + 1 if dense + 1 < len(ops) and isinstance(ops[dense + 1], _Activation) else dense
    outputs = layer_outputs(classifier, np.repeat(_batch(image), 10, axis=0))
    grad = np.eye(10, dtype=np.float32)  # row k: d score_k
    last = _softmax_index(classifier)
    for index in range(last - 1, hidden, -1):
        grad = ops[index].backward(outputs[index], outputs[index + 1], grad)
    activations = outputs[hidden + 1][0]
    shares = (grad * activations).T  # (units, 10)
    units = np.argsort(-shares[:, target], kind="stable")[:top]
    weights = ops[dense].weight[:, units].T.reshape(-1, 28, 28)
    return UnitEvidence(units, activations[units], weights, shares[units], len(activations))


# ------------------------------------------------------------------ inside the CNN

@dataclasses.dataclass(frozen=True)
class FeatureMaps:
    op_index: int  # the op whose output these are (a conv's activation, or the conv when linear)
    block: int  # 1, 2, … in the order of the conv layers
    maps: np.ndarray  # (channels, h, w), most active channel first
    channels: np.ndarray  # (channels,) each map's channel number in the layer

    @property
    def label(self) -> str:
        return f"conv {self.block} · {len(self.channels)} channels · {self.maps.shape[1]}×{self.maps.shape[2]}"


def conv_outputs(classifier: Classifier) -> list[int]:
    """The op after each conv whose output is the block's feature maps: the conv's activation when
    it has one right after it (what the next layer sees), or right after its max-pooling (seed004-cnn
    pools before its ReLU), else the conv itself."""
    ops, picked = classifier.ops, []

    def activation(at: int) -> bool:
        return at < len(ops) and isinstance(ops[at], _Activation)

    for index, op in enumerate(ops):
        if isinstance(op, _Conv2D):
            if activation(index + 1):
                picked.append(index + 1)
            elif index + 2 < len(ops) and isinstance(ops[index + 1], _MaxPool) and activation(index + 2):
                picked.append(index + 2)
            else:
                picked.append(index)
    return picked


def feature_maps(classifier: Classifier, image) -> list[FeatureMaps]:
    """Every conv block's maps for this digit, channels ordered by mean activation, strongest first."""
    outputs = layer_outputs(classifier, image)
    blocks = []
    for block, index in enumerate(conv_outputs(classifier), start=1):
        maps = np.moveaxis(outputs[index + 1][0], -1, 0)  # (channels, h, w)
        order = np.argsort(-maps.mean(axis=(1, 2)), kind="stable")
        blocks.append(FeatureMaps(index, block, maps[order], order))
    return blocks


def first_filters(classifier: Classifier) -> np.ndarray | None:
    """(channels, kh, kw): the first conv layer's kernels on the one grey input channel (None: no conv)."""
    for op in classifier.ops:
        if isinstance(op, _Conv2D):
            return np.moveaxis(op.matrix.reshape(op.kh, op.kw, op.cin, op.cout)[:, :, 0, :], -1, 0)
    return None


def receptive_field(classifier: Classifier, op_index: int, row: int, column: int) -> tuple[int, int, int, int]:
    """(top, left, bottom, right), inclusive, of the input pixels that can change cell (row, column)
    of op `op_index`'s output: back through each conv (its kernel, shifted by 'same' padding) and
    each pooling (its window), clipped to the 28×28 image."""
    top, bottom, left, right = row, row, column, column
    for op in reversed(classifier.ops[:op_index + 1]):
        if isinstance(op, _Conv2D):
            pad_y, pad_x = ((op.kh - 1) // 2, (op.kw - 1) // 2) if op.padding == "same" else (0, 0)
            top, bottom = top - pad_y, bottom - pad_y + op.kh - 1
            left, right = left - pad_x, right - pad_x + op.kw - 1
        elif isinstance(op, _MaxPool):
            top, bottom = top * op.ph, bottom * op.ph + op.ph - 1
            left, right = left * op.pw, right * op.pw + op.pw - 1
    return max(top, 0), max(left, 0), min(bottom, 27), min(right, 27)


# ------------------------------------------------------------------ everything for one digit

@dataclasses.dataclass(frozen=True)
class DigitExplanation:
    probabilities: np.ndarray  # (10,)
    target: int  # the digit the maps and sweeps follow
    occlusion: np.ndarray  # (28, 28) drop of the target's score under a grey patch
    integrated_gradients: np.ndarray  # (28, 28) each pixel's share of the target's score
    sweeps: dict  # sweep name → (len(SWEEPS[name]),) p(target)
    units: UnitEvidence | None  # the ANN's view (None for a CNN)
    feature_maps: list  # the CNN's view (empty for an ANN)


def explain_digit(classifier: Classifier, image, target: int) -> DigitExplanation:
    """All the Inside the models page shows of one model for one digit (timed in
    benchmarks/explain_latency.py)."""
    x = _batch(image)[0]
    return DigitExplanation(
        probabilities=classifier.predict_proba(x[None])[0], target=int(target),
        occlusion=occlusion_map(classifier, x, target, output=SCORE),
        integrated_gradients=integrated_gradients(classifier, x, target, output=SCORE),
        sweeps={name: sweep_probabilities(classifier, x, target, name) for name in SWEEPS},
        units=unit_evidence(classifier, x, target),
        feature_maps=feature_maps(classifier, x))
