"""Why a model answers as it does, from the NumPy forward pass (no TensorFlow in the server).

- `layer_outputs`: what every op made of the images (the CNN's feature maps, the ANN's units).
- `input_gradient`: how the answer's probability changes with each pixel, by the ops' own backward
  passes (inference's ops each have `backward`), checked against finite differences in the tests.
- `gradient_times_input` and `integrated_gradients`: pixel attributions from those gradients.
- `occlusion_map`: the drop of the answer's probability while a grey patch covers each place.

Every function that needs many images (integrated gradients' steps, the occluded copies) batches
them into one pass per model.
"""

from __future__ import annotations

import numpy as np

from .inference import Classifier

OCCLUSION_GREY = 0.5  # neither ink (1) nor background (0): covering a place hides what was there
IG_STEPS = 32


def _batch(images) -> np.ndarray:
    x = np.asarray(images, np.float32)
    x = x[None] if x.shape == (28, 28) else x
    if x.ndim != 3 or x.shape[1:] != (28, 28):
        raise ValueError(f"expected images of shape (n, 28, 28) or (28, 28), got {x.shape}")
    return x


def layer_outputs(classifier: Classifier, images) -> list[np.ndarray]:
    """[input, output of op 1, …, probabilities]: one entry per op of the forward pass."""
    outputs = [_batch(images)]
    for op in classifier.ops:
        outputs.append(op(outputs[-1]))
    return outputs


def input_gradient(classifier: Classifier, images, target) -> np.ndarray:
    """d probability[target] / d pixel, shape (n, 28, 28); `target` one class or one per image."""
    outputs = layer_outputs(classifier, images)
    probabilities = outputs[-1]
    grad = np.zeros_like(probabilities)
    grad[np.arange(len(grad)), np.broadcast_to(np.asarray(target), len(grad))] = 1.0
    for op, x, y in zip(reversed(classifier.ops), reversed(outputs[:-1]), reversed(outputs[1:])):
        grad = op.backward(x, y, grad)
    return grad.reshape(outputs[0].shape)


def gradient_times_input(classifier: Classifier, image, target: int) -> np.ndarray:
    """(28, 28): each pixel's value times the gradient there; zero where there is no ink."""
    x = _batch(image)
    return (input_gradient(classifier, x, target) * x)[0]


def integrated_gradients(classifier: Classifier, image, target: int, steps: int = IG_STEPS) -> np.ndarray:
    """(28, 28) attributions along the straight path from a black image to this one (Sundararajan
    et al. 2017, midpoint rule); they add up to roughly p(image) − p(black)."""
    x = _batch(image)[0]
    alphas = (np.arange(steps, dtype=np.float32) + 0.5) / steps
    gradients = input_gradient(classifier, alphas[:, None, None] * x, target)
    return gradients.mean(axis=0) * x


def occlusion_map(classifier: Classifier, image, target: int, patch: int = 4, stride: int = 2,
                  fill: float = OCCLUSION_GREY) -> np.ndarray:
    """(28, 28): how much the target's probability drops, on average, while a patch×patch grey
    square covers each pixel (positive: that place speaks for the answer). One pass for all places."""
    x = _batch(image)[0]
    starts = range(0, 28 - patch + 1, stride)
    places = [(top, left) for top in starts for left in starts]
    occluded = np.repeat(x[None], len(places), axis=0)
    for k, (top, left) in enumerate(places):
        occluded[k, top:top + patch, left:left + patch] = fill
    base = classifier.predict_proba(x[None])[0, target]
    drops = base - classifier.predict_proba(occluded)[:, target]
    total, covered = np.zeros((28, 28), np.float64), np.zeros((28, 28), np.float64)
    for drop, (top, left) in zip(drops, places):
        total[top:top + patch, left:left + patch] += drop
        covered[top:top + patch, left:left + patch] += 1
    return (total / np.maximum(covered, 1)).astype(np.float32)


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
