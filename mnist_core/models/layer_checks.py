"""What the NumPy forward pass implements, layer by layer: each check reads one layer's config
through `LayerCheck` (refusing any option the pass does not implement) and returns its weights'
shapes, its output shape, its largest buffer and its activation."""

from __future__ import annotations

import math

# What the NumPy forward pass implements (with the options checked below): every preset's layers.
SERVABLE_LAYERS = ("Reshape", "Flatten", "Dense", "Conv2D", "BatchNormalization", "ReLU",
                   "Activation", "MaxPooling2D", "Dropout")
ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "softmax")
FLOAT_POLICIES = ("float32", "float16", "bfloat16", "float64", "mixed_float16", "mixed_bfloat16")

MAX_BUFFER_PER_IMAGE = 16_000_000  # floats in the largest activation or im2col buffer of one image
REWRITE = "Delete it, or save it again from the Train page."
FOREIGN = ("This app serves Sequential models made of "
           + ", ".join(SERVABLE_LAYERS) + " layers (what the Train page's presets use), "
           "mapping a 28×28 image to a 10-way softmax. Delete it, or train one on the Train page.")


class Unservable(Exception):
    """A reason the file cannot be served, and the fix; read_model_file adds the file's path."""

    def __init__(self, reason: str, fix: str = REWRITE):
        super().__init__(reason)
        self.reason, self.fix = reason, fix




class LayerCheck:
    """Typed access to one layer's config; any value outside what the NumPy pass implements is refused."""

    def __init__(self, name: str, cfg: dict):
        self.name, self.cfg = name, cfg

    def refuse(self, what: str):
        raise Unservable(f"has layer '{self.name}' with {what}, which this app cannot serve", FOREIGN)

    def value(self, key: str, allowed: tuple, default=None):
        value = self.cfg.get(key, default)
        if isinstance(value, list):
            value = tuple(value)
        if value not in allowed:
            self.refuse(f"{key} = {str(value)[:60]}")
        return value

    def flag(self, key: str, default: bool | None = None) -> bool:
        value = self.cfg.get(key, default)
        if not isinstance(value, bool):
            self.refuse(f"{key} = {str(value)[:60]}")
        return value

    def count(self, key: str) -> int:
        value = self.cfg.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_BUFFER_PER_IMAGE:
            self.refuse(f"{key} = {str(value)[:60]}")
        return value

    def pair(self, key: str, default=None) -> tuple[int, int]:
        value = self.cfg.get(key, default)
        if isinstance(value, int) and not isinstance(value, bool):
            value = [value, value]
        if (not isinstance(value, (list, tuple)) or len(value) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 64 for v in value)):
            self.refuse(f"{key} = {str(value)[:60]}")
        return tuple(value)

    def activation(self, key: str = "activation") -> str:
        return self.value(key, ACTIVATIONS, default="linear")

    def float_policy(self) -> None:
        """Quantised layers store other variables (int8 kernels, scales) and compute differently."""
        policy = self.cfg.get("dtype")
        if isinstance(policy, dict):
            if policy.get("class_name") not in ("DTypePolicy", "FloatDTypePolicy"):
                self.refuse(f"dtype policy {str(policy.get('class_name'))[:60]}")
            policy = (policy.get("config") or {}).get("name")
        if policy is not None and policy not in FLOAT_POLICIES:
            self.refuse(f"dtype {str(policy)[:60]}")
        if self.cfg.get("quantization_config") is not None or self.cfg.get("lora_rank"):
            self.refuse("quantisation or LoRA")

    def rank(self, shape: tuple, rank: int) -> None:
        if len(shape) != rank:
            self.refuse(f"an input of shape {shape}")



def _dense(check: LayerCheck, shape: tuple):
    if not shape:
        check.refuse("a scalar input")
    units, bias = check.count("units"), check.flag("use_bias", True)
    weights = [(shape[-1], units)] + ([(units,)] if bias else [])
    return weights, shape[:-1] + (units,), 0, check.activation()



def _conv2d(check: LayerCheck, shape: tuple):
    check.rank(shape, 3)
    filters, bias = check.count("filters"), check.flag("use_bias", True)
    kh, kw = check.pair("kernel_size")
    check.value("strides", ((1, 1), 1), default=(1, 1))
    check.value("dilation_rate", ((1, 1), 1), default=(1, 1))
    check.value("groups", (1,), default=1)
    check.value("data_format", ("channels_last", None))
    padding = check.value("padding", ("valid", "same"), default="valid")
    h, w, channels = shape
    out = (h, w, filters) if padding == "same" else (h - kh + 1, w - kw + 1, filters)
    padded = (h + kh - 1) * (w + kw - 1) * channels if padding == "same" else 0
    im2col = out[0] * out[1] * kh * kw * channels
    weights = [(kh, kw, channels, filters)] + ([(filters,)] if bias else [])
    return weights, out, max(padded, im2col), check.activation()



def _batch_norm(check: LayerCheck, shape: tuple):
    if not shape:
        check.refuse("a scalar input")
    check.value("axis", (-1, (-1,), len(shape), (len(shape),)), default=-1)  # the features axis
    check.value("renorm", (False,), default=False)
    epsilon = check.cfg.get("epsilon", 1e-3)
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not 0 <= epsilon < 1:
        check.refuse(f"epsilon = {str(epsilon)[:60]}")
    scale, center = check.flag("scale", True), check.flag("center", True)
    # gamma, beta (trainable, when present), then moving_mean, moving_variance (save_own_variables order)
    return [(shape[-1],)] * (scale + center + 2), shape, 0, "linear"



def _relu(check: LayerCheck, shape: tuple):
    check.value("max_value", (None,))
    check.value("negative_slope", (0, 0.0), default=0.0)
    check.value("threshold", (0, 0.0), default=0.0)
    return [], shape, 0, "relu"



def _activation_layer(check: LayerCheck, shape: tuple):
    return [], shape, 0, check.activation()



def _max_pooling(check: LayerCheck, shape: tuple):
    check.rank(shape, 3)
    size = check.pair("pool_size")
    if check.cfg.get("strides") is not None and check.pair("strides") != size:
        check.refuse(f"strides {check.cfg.get('strides')} unlike its pool size")
    check.value("padding", ("valid",), default="valid")
    check.value("data_format", ("channels_last", None))
    h, w, channels = shape
    return [], (h // size[0], w // size[1], channels), 0, "linear"



def _dropout(check: LayerCheck, shape: tuple):
    return [], shape, 0, "linear"  # identity at inference



def _flatten(check: LayerCheck, shape: tuple):
    check.value("data_format", ("channels_last", None))
    return [], (math.prod(shape),), 0, "linear"



def _reshape(check: LayerCheck, shape: tuple):
    target = check.cfg.get("target_shape")
    if (not isinstance(target, list) or not 1 <= len(target) <= 4
            or not all(isinstance(d, int) and not isinstance(d, bool) and (d >= 1 or d == -1) for d in target)
            or target.count(-1) > 1):
        check.refuse(f"target_shape = {str(target)[:60]}")
    size, known = math.prod(shape), math.prod(d for d in target if d != -1)
    if -1 in target and size % known == 0:
        target = [size // known if d == -1 else d for d in target]
    if math.prod(target) != size:
        check.refuse(f"target_shape {target} for an input of shape {shape}")
    return [], tuple(target), 0, "linear"



CHECKS = {"Dense": _dense, "Conv2D": _conv2d, "BatchNormalization": _batch_norm, "ReLU": _relu,
           "Activation": _activation_layer, "MaxPooling2D": _max_pooling, "Dropout": _dropout,
           "Flatten": _flatten, "Reshape": _reshape}
assert set(CHECKS) == set(SERVABLE_LAYERS)
