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
