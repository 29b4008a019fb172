"""Fast, thread-safe prediction for saved models, with NumPy only.

`model.predict` spends ~35–75 ms of framework overhead per model on one image (measured here), the
Draw page asks on every stroke, and the server never imports Keras (docs/architecture.md, "Two processes").
So a saved model, read by model_file as plain layer specs, is compiled once into a NumPy forward
pass (batch norm folded into the layer before it) that gives the Keras answer within 1e-5 (tested
for every preset): one image in 0.04–0.08 ms (ANN) and 0.2–0.37 ms (CNN), this machine on
different days. Its weights are read-only arrays, so any number of threads may call it at once.

Batches of 1,000 images or more run their 500-image chunks on two threads (NumPy lets go of the
GIL in BLAS, copies and ufuncs): the 10,000 test images in 0.08 s (ANN) and 1.7–1.8 s (CNN), where
one thread takes 0.15 s and 3.4 s and Keras' `predict` 0.2 s and 2.1–2.6 s. Two BLAS threads
instead took 2.6 s for the CNN (only the matrix products share the work) and would change a
process-wide setting under the Draw page's one-image calls.
"""

from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np
from numpy.lib.stride_tricks import as_strided
from threadpoolctl import threadpool_limits

from mnist_core.models import model_file, registry

Op = Callable[[np.ndarray], np.ndarray]
CHUNK = 500  # images per NumPy forward pass: bounds the im2col buffers to a few hundred MB
BUFFER_BUDGET = 32_000_000  # floats in the largest buffer of one pass (the shipped CNN: 28 M at CHUNK)
PARALLEL_FROM = 1000  # images; from here on chunks run on PARALLEL_THREADS threads at once
PARALLEL_THREADS = 2  # the machine's cores

# A few images make a few small matrix products, where BLAS worker threads only add wake-up
# latency: in the running app both models took 9.2 ms a stroke (61 ms worst) with OpenBLAS'
# threads and 0.66 ms (1.1 ms worst) with one. Big batches get more threads (PARALLEL_FROM).
threadpool_limits(limits=1, user_api="blas")


# Each op is a callable (the forward pass) with `backward(x, y, g)`: given its input x, its output
# y = op(x) and g, the gradient of a scalar with respect to y, the gradient with respect to x. The
# explanations (mnist_core.analysis.explain) need input gradients, and the server has no autodiff.


class _Activation:
    def __init__(self, name: str):
        if name not in ("linear", "relu", "sigmoid", "tanh", "softmax"):
            raise ValueError(f"activation {name}")  # model_file lets no other through
        self.name = name

    def __call__(self, x):
        if self.name == "relu":
            return np.maximum(x, 0.0, dtype=np.float32)
        if self.name == "sigmoid":
            return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)
        if self.name == "tanh":
            return np.tanh(x)
        if self.name == "softmax":
            e = np.exp(x - x.max(axis=-1, keepdims=True))
            return e / e.sum(axis=-1, keepdims=True)
        return x

    def backward(self, x, y, g):
        if self.name == "relu":
            return g * (x > 0)
        if self.name == "sigmoid":
            return g * y * (1 - y)
        if self.name == "tanh":
            return g * (1 - y * y)
        if self.name == "softmax":
            return y * (g - (g * y).sum(axis=-1, keepdims=True))
        return g


class _Conv2D:
    def __init__(self, kernel: np.ndarray, bias: np.ndarray, padding: str):
        self.kh, self.kw, self.cin, self.cout = kernel.shape
        self.matrix = np.ascontiguousarray(kernel.reshape(self.kh * self.kw * self.cin, self.cout))
        self.bias, self.padding = bias, padding

    def _padded(self, x):
        if self.padding != "same":
            return np.ascontiguousarray(x)
        # zeros around the image; np.pad costs 17 µs here, this 1 µs
        top, left = (self.kh - 1) // 2, (self.kw - 1) // 2
        n, h, w, c = x.shape
        padded = np.zeros((n, h + self.kh - 1, w + self.kw - 1, c), np.float32)
        padded[:, top:top + h, left:left + w] = x
        return padded

    def __call__(self, x):
        kh, kw = self.kh, self.kw
        x = self._padded(x)
        n, h, w, c = x.shape
        oh, ow = h - kh + 1, w - kw + 1
        # im2col: a strided view of every kh×kw×c window, in the kernel's (kh, kw, c) order, copied
        # once into rows: for one image this conv and its matmul take 46 µs where a fancy-index gather
        # took 81 (measured on the shipped CNN's second layer).
        sn, sh, sw, sc = x.strides
        windows = as_strided(x, (n, oh, ow, kh, kw, c), (sn, sh, sw, sh, sw, sc), writeable=False)
        out = np.ascontiguousarray(windows).reshape(n * oh * ow, kh * kw * c) @ self.matrix
        out += self.bias
        return out.reshape(n, oh, ow, self.cout)

    def backward(self, x, y, g):
        kh, kw = self.kh, self.kw
        n, oh, ow, _ = g.shape
        columns = (g.reshape(-1, self.cout) @ self.matrix.T).reshape(n, oh, ow, kh, kw, self.cin)
        grad = np.zeros((n, oh + kh - 1, ow + kw - 1, self.cin), np.float32)
        for i in range(kh):  # col2im: each window position adds its share back
            for j in range(kw):
                grad[:, i:i + oh, j:j + ow] += columns[:, :, :, i, j]
        if self.padding == "same":
            top, left = (kh - 1) // 2, (kw - 1) // 2
            grad = grad[:, top:top + x.shape[1], left:left + x.shape[2]]
        return grad


class _MaxPool:
    def __init__(self, ph: int, pw: int):
        self.ph, self.pw = ph, pw

    def __call__(self, x):
        ph, pw = self.ph, self.pw
        n, h, w, c = x.shape
        oh, ow = h // ph, w // pw
        # Elementwise maxima of the ph×pw strided views: no reshape-reduce, 3–4× faster for one image.
        out = x[:, 0:oh * ph:ph, 0:ow * pw:pw]
        for i in range(ph):
            for j in range(pw):
                if i or j:
                    out = np.maximum(out, x[:, i:oh * ph:ph, j:ow * pw:pw])
        return out

    def backward(self, x, y, g):
        ph, pw = self.ph, self.pw
        oh, ow = y.shape[1:3]
        grad = np.zeros_like(x, dtype=np.float32)
        taken = np.zeros(y.shape, bool)  # a tie sends the gradient to the first maximum only, as Keras
        for i in range(ph):
            for j in range(pw):
                hit = (x[:, i:oh * ph:ph, j:ow * pw:pw] == y) & ~taken
                grad[:, i:oh * ph:ph, j:ow * pw:pw] += g * hit
                taken |= hit
        return grad


class _Affine:
    """x @ weight + bias (a dense layer), or x * scale + shift (a batch norm that could not be folded)."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray, elementwise: bool = False):
        self.weight, self.bias, self.elementwise = weight, bias, elementwise

    def __call__(self, x):
        if self.elementwise:
            return x * self.weight + self.bias
        out = x @ self.weight
        out += self.bias
        return out

    def backward(self, x, y, g):
        return g * self.weight if self.elementwise else g @ self.weight.T


class _Reshape:
    def __init__(self, shape: tuple[int, ...] | None):  # None: flatten
        self.shape = shape

    def __call__(self, x):
        return x.reshape((len(x),) + (self.shape if self.shape is not None else (-1,)))

    def backward(self, x, y, g):
        return g.reshape(x.shape)


def compile_numpy(spec: model_file.ModelSpec) -> list[Op]:
    """The model's layer specs (checked by model_file) as a list of NumPy ops."""
    ops: list[Op] = []
    # The last linear layer (conv/dense) whose weights batch norm may be folded into.
    pending: dict | None = None

    def flush():
        nonlocal pending
        if pending is not None:
            if pending["type"] == "dense":
                ops.append(_Affine(pending["w"], pending["b"]))
            else:
                ops.append(_Conv2D(pending["w"], pending["b"], pending["padding"]))
            if pending["activation"] != "linear":
                ops.append(_Activation(pending["activation"]))
            pending = None

    for layer in spec.layers:
        kind, cfg, weights = layer.class_name, layer.config, layer.weights
        if kind == "Dropout":
            continue  # identity at inference
        if kind in ("Dense", "Conv2D"):
            flush()
            w = weights[0]
            b = weights[1] if cfg.get("use_bias", True) else np.zeros(w.shape[-1], np.float32)
            pending = {"type": "dense" if kind == "Dense" else "conv", "w": w, "b": b,
                       "padding": cfg.get("padding", "valid"), "activation": cfg.get("activation", "linear")}
        elif kind == "BatchNormalization":
            # gamma and beta are left out of the file when scale or center is off
            gamma = weights[0] if cfg.get("scale", True) else np.ones_like(weights[-1])
            beta = weights[int(cfg.get("scale", True))] if cfg.get("center", True) else np.zeros_like(weights[-1])
            mean, var = weights[-2], weights[-1]
            scale = gamma / np.sqrt(var + np.float32(cfg.get("epsilon", 1e-3)))
            shift = beta - mean * scale
            if pending is not None and pending["activation"] == "linear":
                pending["w"] = (pending["w"] * scale).astype(np.float32)
                pending["b"] = (pending["b"] * scale + shift).astype(np.float32)
            else:
                flush()
                ops.append(_Affine(scale.astype(np.float32), shift.astype(np.float32), elementwise=True))
        else:
            flush()
            if kind == "Flatten":
                ops.append(_Reshape(None))
            elif kind == "Reshape":
                ops.append(_Reshape(tuple(layer.output_shape)))
            elif kind == "MaxPooling2D":
                size = cfg["pool_size"]
                ops.append(_MaxPool(*(size if isinstance(size, list) else (size, size))))
            elif kind == "ReLU":
                ops.append(_Activation("relu"))
            elif kind == "Activation":
                ops.append(_Activation(cfg["activation"]))
            else:  # model_file lets nothing else through
                raise ValueError(f"{layer.name}: {kind} has no NumPy op")
    flush()
    return ops


@dataclasses.dataclass(frozen=True)
class Classifier:
    """A saved model ready to answer: `predict_proba((n,28,28) float32 in [0,1]) → (n,10)`."""
    name: str
    spec: model_file.ModelSpec  # layers and weights as plain arrays: no Keras model anywhere
    card: dict
    ops: list[Op]

    @property
    def kind(self) -> str:
        """'ann' or 'cnn' (from the card, else guessed from the layers)."""
        if self.card.get("kind") in ("ann", "cnn"):
            return self.card["kind"]
        return "cnn" if any(layer.class_name == "Conv2D" for layer in self.spec.layers) else "ann"

    @property
    def parameter_count(self) -> int:
        return self.spec.parameter_count

    def layer_table(self) -> list[dict]:
        """One row per layer: name, type, output shape, parameters."""
        return self.spec.layer_table()

    @property
    def chunk(self) -> int:
        """Images per pass: CHUNK, fewer for a model whose buffers are unusually big."""
        return max(1, min(CHUNK, BUFFER_BUDGET // self.spec.largest_buffer))

    def predict_proba(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.shape == (28, 28):
            x = x[None]
        if x.ndim != 3 or x.shape[1:] != (28, 28):
            raise ValueError(f"expected images of shape (n, 28, 28), got {x.shape}")
        chunks = [x[start: start + self.chunk] for start in range(0, len(x), self.chunk)]
        if not chunks:
            return np.zeros((0, 10), np.float32)
        if len(x) < PARALLEL_FROM:
            parts = [self._forward(chunk) for chunk in chunks]
        else:  # NumPy releases the GIL in BLAS, copies and ufuncs: one chunk per core
            parts = list(_parallel_pool().map(self._forward, chunks))
        return np.concatenate(parts)

    def _forward(self, x: np.ndarray) -> np.ndarray:
        for op in self.ops:
            x = op(x)
        return x

    def predict(self, x) -> np.ndarray:
        return np.argmax(self.predict_proba(x), axis=1)


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _parallel_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(PARALLEL_THREADS, thread_name_prefix="numpy-forward")
        return _pool


def classifier_from_spec(name: str, spec: model_file.ModelSpec, card: dict | None = None) -> Classifier:
    return Classifier(name, spec, card or {}, compile_numpy(spec))


_cache: dict[tuple, Classifier] = {}
_cache_lock = threading.Lock()


def load_classifier(name: str, directory: Path | None = None) -> Classifier:
    """The classifier for trained_models/NAME.keras, read without Keras once per file version."""
    try:
        key = registry.file_version(registry.model_path(name, directory))
    except OSError:
        key = None  # missing: read_model below raises the clear error
    with _cache_lock:
        if key is not None and key in _cache:
            return _cache[key]
        spec = registry.read_model(name, directory)  # raises ModelLoadError with the fix
        classifier = classifier_from_spec(name, spec, registry.read_card(name, directory))
        if key is not None:
            _cache[key] = classifier
        return classifier
