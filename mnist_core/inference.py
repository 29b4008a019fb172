"""Fast, thread-safe prediction for saved models.

`model.predict` spends ~35 ms of framework overhead per model on one image (measured here), and
the Draw page asks on every stroke. So a saved model is compiled once into a plain NumPy forward
pass (batch norm folded into the layer before it), which gives the Keras answer within 1e-5 in
0.04 ms (ANN) to 0.2 ms (CNN). Its weights are read-only arrays, so any number of threads may
call it at once. Batches of 1,000 images or more, and models with a layer this compiler does not
know, go to Keras under a lock.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Callable

import numpy as np
from numpy.lib.stride_tricks import as_strided
from threadpoolctl import threadpool_limits

from . import registry

Op = Callable[[np.ndarray], np.ndarray]
CHUNK = 500  # images per NumPy forward pass: bounds the im2col buffers to a few hundred MB
KERAS_FROM = 1000  # images; from here on Keras' oneDNN kernels, which use every core, are faster

# A few images make a few small matrix products, where BLAS worker threads only add wake-up
# latency: in the running app both models took 9.2 ms a stroke (61 ms worst) with OpenBLAS'
# threads and 0.66 ms (1.1 ms worst) with one. Big batches go to Keras instead (KERAS_FROM).
threadpool_limits(limits=1, user_api="blas")


class UnsupportedLayer(Exception):
    pass


def _activation(name: str) -> Op:
    if name == "linear":
        return lambda x: x
    if name == "relu":
        return lambda x: np.maximum(x, 0.0, dtype=np.float32)
    if name == "sigmoid":
        return lambda x: (1.0 / (1.0 + np.exp(-x))).astype(np.float32)
    if name == "tanh":
        return np.tanh
    if name == "softmax":
        def softmax(x):
            e = np.exp(x - x.max(axis=-1, keepdims=True))
            return e / e.sum(axis=-1, keepdims=True)
        return softmax
    raise UnsupportedLayer(f"activation {name}")


def _conv2d(kernel: np.ndarray, bias: np.ndarray, padding: str) -> Op:
    kh, kw, cin, cout = kernel.shape
    matrix = np.ascontiguousarray(kernel.reshape(kh * kw * cin, cout))

    def conv(x):
        if padding == "same":  # zeros around the image; np.pad costs 17 µs here, this 1 µs
            top, left = (kh - 1) // 2, (kw - 1) // 2
            n, h, w, c = x.shape
            padded = np.zeros((n, h + kh - 1, w + kw - 1, c), np.float32)
            padded[:, top:top + h, left:left + w] = x
            x = padded
        x = np.ascontiguousarray(x)
        n, h, w, c = x.shape
        oh, ow = h - kh + 1, w - kw + 1
        # im2col: a strided view of every kh×kw×c window, in the kernel's (kh, kw, c) order, copied
        # once into rows: for one image this conv and its matmul take 46 µs where a fancy-index gather
        # took 81 (measured on the shipped CNN's second layer).
        sn, sh, sw, sc = x.strides
        windows = as_strided(x, (n, oh, ow, kh, kw, c), (sn, sh, sw, sh, sw, sc), writeable=False)
        out = np.ascontiguousarray(windows).reshape(n * oh * ow, kh * kw * c) @ matrix
        out += bias
        return out.reshape(n, oh, ow, cout)
    return conv


def _max_pool(size: int) -> Op:
    def pool(x):
        n, h, w, c = x.shape
        oh, ow = h // size, w // size
        # Elementwise maxima of the size² strided views: no reshape-reduce, 3–4× faster for one image.
        out = x[:, 0:oh * size:size, 0:ow * size:size]
        for i in range(size):
            for j in range(size):
                if i or j:
                    out = np.maximum(out, x[:, i:oh * size:size, j:ow * size:size])
        return out
    return pool


def _affine_op(weight: np.ndarray, bias: np.ndarray) -> Op:
    def dense(x):
        out = x @ weight
        out += bias
        return out
    return dense


def compile_numpy(model) -> list[Op]:
    """The model as a list of NumPy ops; UnsupportedLayer for anything outside the presets' vocabulary."""
    ops: list[Op] = []
    # The last linear layer (conv/dense) whose weights batch norm may be folded into.
    pending: dict | None = None

    def flush():
        nonlocal pending
        if pending is not None:
            if pending["type"] == "dense":
                ops.append(_affine_op(pending["w"], pending["b"]))
            else:
                ops.append(_conv2d(pending["w"], pending["b"], pending["padding"]))
            if pending["activation"] != "linear":
                ops.append(_activation(pending["activation"]))
            pending = None

    for layer in model.layers:
        kind = type(layer).__name__
        cfg = layer.get_config()
        weights = [np.asarray(w, dtype=np.float32) for w in layer.get_weights()]
        if kind in ("Dropout", "InputLayer", "GaussianNoise", "GaussianDropout") or kind.startswith("Random"):
            continue  # identity at inference
        if kind in ("Dense", "Conv2D"):
            flush()
            if kind == "Conv2D" and (tuple(cfg["strides"]) != (1, 1) or tuple(cfg["dilation_rate"]) != (1, 1)
                                     or cfg.get("groups", 1) != 1 or cfg["data_format"] != "channels_last"):
                raise UnsupportedLayer(f"{layer.name}: strided/dilated/grouped conv")
            w = weights[0]
            b = weights[1] if cfg["use_bias"] else np.zeros(w.shape[-1], np.float32)
            pending = {"type": "dense" if kind == "Dense" else "conv", "w": w, "b": b,
                       "padding": cfg.get("padding", "valid"), "activation": cfg["activation"]}
            _activation(cfg["activation"])  # fail early on an unknown activation
        elif kind == "BatchNormalization":
            if not (cfg["scale"] and cfg["center"]) or cfg["axis"] not in (-1, [-1], [3], 3, [1], 1):
                raise UnsupportedLayer(f"{layer.name}: batch norm without scale/center or on another axis")
            gamma, beta, mean, var = weights
            scale = gamma / np.sqrt(var + cfg["epsilon"])
            shift = beta - mean * scale
            if pending is not None and pending["activation"] == "linear":
                pending["w"] = (pending["w"] * scale).astype(np.float32)
                pending["b"] = (pending["b"] * scale + shift).astype(np.float32)
            else:
                flush()
                ops.append(lambda x, s=scale.astype(np.float32), t=shift.astype(np.float32): x * s + t)
        else:
            flush()
            if kind == "Flatten":
                ops.append(lambda x: x.reshape(len(x), -1))
            elif kind == "Reshape":
                ops.append(lambda x, shape=tuple(cfg["target_shape"]): x.reshape((len(x),) + shape))
            elif kind == "MaxPooling2D":
                size = tuple(cfg["pool_size"])
                strides = tuple(cfg["strides"] or size)
                if size[0] != size[1] or strides != size or cfg["padding"] != "valid":
                    raise UnsupportedLayer(f"{layer.name}: pooling other than k×k stride k")
                ops.append(_max_pool(size[0]))
            elif kind == "ReLU":
                if cfg.get("max_value") is not None or cfg.get("negative_slope", 0) or cfg.get("threshold", 0):
                    raise UnsupportedLayer(f"{layer.name}: leaky or capped ReLU")
                ops.append(_activation("relu"))
            elif kind == "Activation":
                ops.append(_activation(cfg["activation"]))
            else:
                raise UnsupportedLayer(f"{layer.name}: {kind}")
    flush()
    return ops


@dataclasses.dataclass
class Classifier:
    """A saved model ready to answer: `predict_proba((n,28,28) float32 in [0,1]) → (n,10)`."""
    name: str
    model: object  # the Keras model, for summaries and the reference path
    card: dict
    ops: list[Op] | None  # None: no NumPy path, use Keras
    _keras_lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    @property
    def kind(self) -> str:
        """'ann' or 'cnn' (from the card, else guessed from the layers)."""
        if self.card.get("kind") in ("ann", "cnn"):
            return self.card["kind"]
        return "cnn" if any(type(l).__name__ == "Conv2D" for l in self.model.layers) else "ann"

    @property
    def fast(self) -> bool:
        return self.ops is not None

    def predict_proba(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.shape == (28, 28):
            x = x[None]
        if x.ndim != 3 or x.shape[1:] != (28, 28):
            raise ValueError(f"expected images of shape (n, 28, 28), got {x.shape}")
        if self.ops is None or len(x) >= KERAS_FROM:
            with self._keras_lock:  # one Keras model is not safe to call from several threads
                out = (self.model.predict(x, batch_size=CHUNK, verbose=0) if len(x) > CHUNK
                       else self.model.predict_on_batch(x))
            return np.asarray(out, dtype=np.float32)
        parts = []
        for start in range(0, len(x), CHUNK):
            out = x[start: start + CHUNK]
            for op in self.ops:
                out = op(out)
            parts.append(out)
        return np.concatenate(parts) if parts else np.zeros((0, 10), np.float32)

    def predict(self, x) -> np.ndarray:
        return np.argmax(self.predict_proba(x), axis=1)


def build_classifier(name: str, model, card: dict | None = None) -> Classifier:
    try:
        ops = compile_numpy(model)
    except UnsupportedLayer:
        ops = None
    return Classifier(name, model, card or {}, ops)


_cache: dict[tuple, Classifier] = {}
_cache_lock = threading.Lock()


def load_classifier(name: str, directory: Path | None = None) -> Classifier:
    """The classifier for trained_models/NAME.keras, loaded once per file version."""
    try:
        key = registry.file_version(registry.model_path(name, directory))
    except OSError:
        key = None  # missing: load_model below raises the clear error
    with _cache_lock:
        if key is not None and key in _cache:
            return _cache[key]
        model = registry.load_model(name, directory)  # raises ModelLoadError with the fix
        classifier = build_classifier(name, model, registry.read_card(name, directory))
        if key is not None:
            _cache[key] = classifier
        return classifier
