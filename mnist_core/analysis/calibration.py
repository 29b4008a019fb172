"""Honest confidence: does "97% sure" mean right 97% of the time, and what do the models say to
things that are not digits at all?

- `reliability(probabilities, labels)`: the reliability diagram's numbers and the expected
  calibration error (ECE) over equal-width bins of the top-class probability.
- `fit_temperature` / `with_temperature`: temperature scaling from the probabilities alone (the
  test-set probabilities are what the app caches): p_T ∝ p^(1/T), the same as dividing the logits
  by T. T is fitted by minimising the negative log-likelihood with a golden-section search over
  log T (no SciPy in the server's environment; the NLL is unimodal in T).
- `non_digits(seed)`: a small reproducible set of letters, noise and scribbles, the letters and
  scribbles drawn on a canvas-like image and sent through the Draw page's own preprocessing.
- `calibrate(classifier, test_probabilities, labels)`: the Draw page's "unsure" rule for one model,
  and what it catches; `is_unsure(probabilities, calibration)` applies it.

The rule. The test set is split in two: even indices choose, odd indices measure. T is fitted on
the even half; the threshold is the top probability (after T) under which fall
`CORRECT_FLAG_RATE` (1%) of the even half's correct answers: the unsure state costs a person
drawing a clear digit at most about 1 answer in 100. Everything reported (ECE before/after,
mistakes caught, correct answers flagged) is measured on the odd half, which chose nothing.

Measured on the shipped models (held-out odd half: 5,000 test images; benchmarks/calibration_figures.py):

- ANN: ECE 0.26%; fitted T = 0.89 gives 0.36% (worse). Unsure below 82.3%: catches 32 of its 45
  mistakes (71%), flags 1.0% of its right answers and 37 of the 60 non-digits.
- CNN: ECE 0.18%; fitted T = 1.02 gives 0.15% (a gain under MIN_ECE_GAIN). Unsure below 95.4%:
  catches 17 of its 19 mistakes (89%), flags 1.0% of its right answers and 40 of the 60 non-digits.
- On 1,000 of those test digits redrawn as canvas strokes (mnist_core.data.synthetic, as the Draw page
  sees them): the ANN flags 1.5% of its right answers and 10 of its 15 mistakes, the CNN 1.5% and
  11 of its 12.

Temperature scaling does not help here, so the shipped models run with T = 1: both are already
calibrated on MNIST to a few tenths of a percentage point, and the change T makes (+0.10 points
for the ANN, −0.03 for the CNN) is within the noise of 5,000 images (bootstrap, 90% interval of
the change: about ±0.1 point). `calibrate` applies T only when it lowers the held-out ECE by
MIN_ECE_GAIN or more, which a badly calibrated model (e.g. a short training run) can reach.
The dishonest confidence is off the test set: unthresholded, the ANN says a digit with ≥ 90%
confidence to 17 of the 60 non-digits and the CNN to 21. A
threshold chosen on digits catches about two thirds of them, not all.

`calibrate` takes 0.04 s (ANN) and 0.05 s (CNN) once the non-digits are made (0.2 s, once per
process).
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from mnist_core.data import preprocess

BINS = 10
MAX_THRESHOLD = 0.99
CORRECT_FLAG_RATE = 0.01  # the unsure rule may flag at most this share of the correct answers
# Temperature scaling is applied only when it lowers the held-out ECE by at least this much: on
# 5,000 images the ECE change it makes to the shipped models varies by about ±0.1 percentage point
# between bootstrap resamples (measured, 90% interval), so smaller gains are noise.
MIN_ECE_GAIN = 0.002
TEMPERATURE_BOUNDS = (0.05, 20.0)
_TINY = np.finfo(np.float64).tiny  # log(0) guard: a probability of exactly 0 stays ~0 at any sane T


# ------------------------------------------------------------------ the reliability diagram


@dataclasses.dataclass(frozen=True)
class Reliability:
    """Per bin of top-class probability: its edges, mean confidence, accuracy (NaN when the bin
    is empty) and number of images; `ece` weighs each bin's |accuracy − confidence| by its share."""
    edges: np.ndarray  # (bins + 1,)
    confidence: np.ndarray  # (bins,)
    accuracy: np.ndarray  # (bins,)
    counts: np.ndarray  # (bins,) int
    ece: float

    @property
    def total(self) -> int:
        return int(self.counts.sum())


def reliability(probabilities: np.ndarray, labels: np.ndarray, bins: int = BINS) -> Reliability:
    """Equal-width bins over [0, 1] of the top-class probability; a bin holds (low, high], the
    first [0, high]. Empty bins get NaN confidence and accuracy, count 0, and no share of the ECE."""
    probabilities = np.asarray(probabilities, np.float64)
    labels = np.asarray(labels)
    confidence = probabilities.max(axis=1)
    correct = (probabilities.argmax(axis=1) == labels).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    # (low, high]: a confidence of exactly 0.8 is in the bin that ends at 0.8, as in Guo et al. 2017.
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(index, confidence, minlength=bins) / counts
        accuracy = np.bincount(index, correct, minlength=bins) / counts
    filled = counts > 0
    ece = float(np.sum(counts[filled] / max(len(labels), 1) * np.abs(accuracy[filled] - mean_confidence[filled])))
    return Reliability(edges, mean_confidence, accuracy, counts, ece)


# ------------------------------------------------------------------ temperature scaling


def with_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """p^(1/T), renormalised: softmax(logits / T) recovered from softmax(logits). T > 1 softens,
    T < 1 sharpens, T = 1 gives the probabilities back; the top class never changes."""
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    logp = np.log(np.maximum(np.asarray(probabilities, np.float64), _TINY)) / temperature
    logp -= logp.max(axis=-1, keepdims=True)
    scaled = np.exp(logp)
    return scaled / scaled.sum(axis=-1, keepdims=True)


def nll(probabilities: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the true labels after temperature T."""
    logp = np.log(np.maximum(np.asarray(probabilities, np.float64), _TINY)) / temperature
    top = logp.max(axis=1, keepdims=True)
    log_norm = top[:, 0] + np.log(np.exp(logp - top).sum(axis=1))
    return float(np.mean(log_norm - logp[np.arange(len(labels)), np.asarray(labels)]))


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray, bounds: tuple[float, float] = TEMPERATURE_BOUNDS,
                    tolerance: float = 1e-4) -> float:
    """The T in `bounds` that minimises the NLL of the labels: golden-section search over log T
    (the NLL is convex in 1/T, so unimodal in log T), to a relative precision of `tolerance`."""
    low, high = math.log(bounds[0]), math.log(bounds[1])
    ratio = (math.sqrt(5) - 1) / 2
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    fa, fb = nll(probabilities, labels, math.exp(a)), nll(probabilities, labels, math.exp(b))
    while high - low > tolerance:
        if fa <= fb:  # the minimum is left of b
            high, b, fb = b, a, fa
            a = high - ratio * (high - low)
            fa = nll(probabilities, labels, math.exp(a))
        else:
            low, a, fa = a, b, fb
            b = low + ratio * (high - low)
            fb = nll(probabilities, labels, math.exp(b))
    return math.exp((low + high) / 2)


# ------------------------------------------------------------------ things that are not digits

CANVAS = 300  # px, as the Draw page's canvas
PEN = 22  # px, the Draw page's default pen width
# Letters that do not pass for a digit in most hands (no O, I, l, S, Z, B, G, D, T, g, q, b, ...).
LETTERS = "ACEFHKMNPRUVWXYehkmr"
NON_DIGIT_KINDS = ("letter", "scribble", "noise")
PER_KIND = 20


@dataclasses.dataclass(frozen=True)
class NonDigits:
    images: np.ndarray  # (n, 28, 28) float32 in [0, 1], read-only
    kinds: tuple[str, ...]  # "letter" | "scribble" | "noise", per image
    names: tuple[str, ...]  # what each one is: "letter A", "zigzag", "salt noise", ...

    def __len__(self) -> int:
        return len(self.images)


def _blank_canvas() -> tuple[Image.Image, ImageDraw.ImageDraw]:
    # Drawn in one grey channel (a quarter of RGBA's work), turned into the canvas' RGBA at the end.
    canvas = Image.new("L", (CANVAS, CANVAS), 0)
    return canvas, ImageDraw.Draw(canvas)


def _as_canvas_image(canvas: Image.Image) -> np.ndarray:
    """With the canvas' own anti-aliasing (PIL draws hard edges), as the Draw page's canvas gives
    it: (300, 300, 4) uint8, white ink on opaque black."""
    gray = np.asarray(canvas.filter(ImageFilter.GaussianBlur(1.0)))
    rgba = np.empty((*gray.shape, 4), np.uint8)
    rgba[..., :3] = gray[..., None]
    rgba[..., 3] = 255
    return rgba


def _through_draw_page(rgba: np.ndarray) -> np.ndarray:
    """The Draw page's preprocessing: the 28×28 the models would see."""
    result = preprocess.preprocess_steps(rgba).result
    if result is None:  # cannot happen for the shapes drawn here; a clear error if it ever does
        raise ValueError("a non-digit drawing was rejected by preprocessing")
    return result


@functools.lru_cache(maxsize=1)
def _letter_font() -> ImageFont.FreeTypeFont:
    # Pillow's bundled scalable font: offline, and the same glyphs on every machine. One size:
    # preprocessing scales every drawing to the same 20 px box anyway.
    return ImageFont.load_default(size=200)


def letter_canvas(char: str, rng: np.random.Generator) -> np.ndarray:
    """A letter as the Draw page's canvas would hold it, a little moved and tilted."""
    canvas, draw = _blank_canvas()
    centre = (CANVAS / 2 + rng.uniform(-30, 30), CANVAS / 2 + rng.uniform(-30, 30))
    draw.text(centre, char, font=_letter_font(), fill=255, anchor="mm",
              stroke_width=int(rng.integers(3, 7)), stroke_fill=255)  # a pen's width, not the font's hairline
    canvas = canvas.rotate(rng.uniform(-12, 12), resample=Image.Resampling.BILINEAR, fillcolor=0)
    return _as_canvas_image(canvas)


def scribble_canvas(shape: str, rng: np.random.Generator) -> np.ndarray:
    """A scribble ("zigzag", "hatching", "spiral" or "strokes") as the Draw page's canvas would hold
    it, drawn with a pen about as wide as the page's."""
    canvas, draw = _blank_canvas()
    width = int(rng.integers(PEN - 6, PEN + 7))
    if shape == "zigzag":
        n = int(rng.integers(6, 10))
        xs = np.linspace(40, 260, n)
        ys = np.where(np.arange(n) % 2 == 0, rng.uniform(60, 120, n), rng.uniform(180, 240, n))
        points = np.stack([xs, ys], axis=1)
    elif shape == "hatching":  # a grid of crossing strokes, like "#" drawn in a hurry
        lines = []
        for angle, count in ((rng.uniform(-0.4, 0.4), int(rng.integers(2, 5))),
                             (np.pi / 2 + rng.uniform(-0.4, 0.4), int(rng.integers(2, 5)))):
            along, across = np.array([np.cos(angle), np.sin(angle)]), np.array([-np.sin(angle), np.cos(angle)])
            for offset in np.linspace(-70, 70, count):
                centre = 150 + offset * across
                lines.append([tuple(centre - 110 * along), tuple(centre + 110 * along)])
        for line in lines:
            draw.line(line, fill=255, width=width)
        return _as_canvas_image(canvas)
    elif shape == "spiral":
        t = np.linspace(0, 2 * np.pi * rng.uniform(2.2, 3.5), 300)
        r = 10 + t / t[-1] * rng.uniform(90, 120)
        points = np.stack([150 + r * np.cos(t), 150 + r * np.sin(t)], axis=1)
    else:  # "strokes": a random walk of straight strokes, like a scrawl
        steps = rng.normal(0, 40, size=(12, 2)).cumsum(axis=0)
        steps -= steps.mean(axis=0)
        scale = 110 / max(np.abs(steps).max(), 1)
        points = 150 + steps * scale
    draw.line([tuple(p) for p in points], fill=255, width=width, joint="curve")
    return _as_canvas_image(canvas)


def _noise(shape: str, rng: np.random.Generator) -> np.ndarray:
    side = preprocess.SIDE
    if shape == "uniform noise":
        image = rng.uniform(0, 1, (side, side))
    elif shape == "salt noise":  # a few percent of pixels fully inked
        image = (rng.uniform(0, 1, (side, side)) < rng.uniform(0.03, 0.1)).astype(float)
    else:  # "blobs": a few soft round spots
        rows, cols = np.mgrid[0:side, 0:side]
        image = np.zeros((side, side))
        for _ in range(int(rng.integers(2, 5))):
            r, c, s = rng.uniform(4, 24), rng.uniform(4, 24), rng.uniform(1.5, 3.5)
            image = np.maximum(image, np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / (2 * s * s)))
    return np.clip(image, 0, 1).astype(np.float32)


_SCRIBBLES = ("zigzag", "hatching", "spiral", "strokes")
_NOISES = ("uniform noise", "salt noise", "blobs")


@functools.lru_cache(maxsize=4)
def non_digits(seed: int = 0) -> NonDigits:
    """20 letters, 20 scribbles and 20 noise images, the same for the same seed on every machine.
    Letters and scribbles are drawn as white ink on a black 300×300 canvas and go through the
    Draw page's preprocessing; noise is made at 28×28 directly (nobody draws it)."""
    rng = np.random.default_rng(seed)
    images, kinds, names = [], [], []
    for char in LETTERS[:PER_KIND]:
        images.append(_through_draw_page(letter_canvas(char, rng)))
        kinds.append("letter")
        names.append(f"letter {char}")
    for i in range(PER_KIND):
        shape = _SCRIBBLES[i % len(_SCRIBBLES)]
        images.append(_through_draw_page(scribble_canvas(shape, rng)))
        kinds.append("scribble")
        names.append(shape)
    for i in range(PER_KIND):
        shape = _NOISES[i % len(_NOISES)]
        images.append(_noise(shape, rng))
        kinds.append("noise")
        names.append(shape)
    stacked = np.stack(images).astype(np.float32)
    stacked.flags.writeable = False  # shared by every caller through the cache
    return NonDigits(stacked, tuple(kinds), tuple(names))


# ------------------------------------------------------------------ the unsure rule


@dataclasses.dataclass(frozen=True)
class Calibration:
    """One model's unsure rule and what it does, measured on the half of the test set that did
    not choose it (see the module docstring)."""
    temperature: float  # applied before the threshold (1.0 when scaling did not help)
    fitted_temperature: float  # what the fit found, kept or not
    threshold: float  # unsure when the top probability (after T) is below this
    before: Reliability  # held-out half, the probabilities as the model gives them
    scaled: Reliability  # held-out half, after `fitted_temperature` (applied or not)
    after: Reliability  # held-out half, after `temperature`: what the Draw page's confidences have
    mistakes: int  # the model's mistakes in the held-out half
    caught_mistakes: float  # share of them flagged unsure
    flagged_correct: float  # share of the held-out correct answers flagged unsure
    flagged_non_digits: float  # share of the non-digits flagged unsure
    non_digit_probabilities: np.ndarray  # (n, 10) after `temperature`, for `non_digits(seed)`
    seed: int
    measured_on: int  # images in the held-out half

    @property
    def ece_before(self) -> float:
        return self.before.ece

    @property
    def ece_scaled(self) -> float:
        return self.scaled.ece

    @property
    def ece_after(self) -> float:
        return self.after.ece


def unsure_threshold(confidence_of_correct: np.ndarray, rate: float = CORRECT_FLAG_RATE) -> float:
    """The smallest threshold that flags (confidence < threshold) at most `rate` of these correct
    answers: the rate-quantile of their confidences, taken from below."""
    confidence = np.sort(np.asarray(confidence_of_correct, np.float64))
    allowed = int(math.floor(rate * len(confidence)))  # how many may be flagged
    # Capped: a model 100.0% sure of over 99% of its right answers would otherwise call every
    # drawing short of float32's 1.0 unsure.
    return min(float(confidence[allowed]) if allowed < len(confidence) else 1.0, MAX_THRESHOLD)


def is_unsure(probabilities: np.ndarray, calibration: Calibration) -> bool | np.ndarray:
    """Whether the model's answer is below its threshold: one (10,) vector → bool, (n, 10) → (n,)."""
    top = with_temperature(probabilities, calibration.temperature).max(axis=-1)
    result = top < calibration.threshold
    return bool(result) if np.ndim(result) == 0 else result


def calibrate(classifier, test_probabilities: np.ndarray, labels: np.ndarray, seed: int = 0) -> Calibration:
    """Fit T and the threshold on the even test indices, report on the odd ones, and score the
    non-digits of `seed` with `classifier` (anything with predict_proba)."""
    probabilities = np.asarray(test_probabilities, np.float64)
    labels = np.asarray(labels)
    fit, held = slice(0, None, 2), slice(1, None, 2)
    fitted = fit_temperature(probabilities[fit], labels[fit])
    before = reliability(probabilities[held], labels[held])
    scaled = reliability(with_temperature(probabilities[held], fitted), labels[held])
    # Kept only if it makes the held-out confidences clearly more honest, not by resampling noise.
    temperature = fitted if scaled.ece <= before.ece - MIN_ECE_GAIN else 1.0
    after = scaled if temperature != 1.0 else before

    applied = with_temperature(probabilities, temperature)
    correct = applied.argmax(axis=1) == labels
    confidence = applied.max(axis=1)
    threshold = unsure_threshold(confidence[fit][correct[fit]])
    flagged = confidence < threshold
    held_correct, held_flagged = correct[held], flagged[held]
    mistakes = int((~held_correct).sum())

    non_digit = with_temperature(classifier.predict_proba(non_digits(seed).images), temperature)
    return Calibration(
        temperature=float(temperature), fitted_temperature=float(fitted), threshold=threshold,
        before=before, scaled=scaled, after=after, mistakes=mistakes,
        caught_mistakes=float(held_flagged[~held_correct].mean()) if mistakes else 0.0,
        flagged_correct=float(held_flagged[held_correct].mean()) if held_correct.any() else 0.0,
        flagged_non_digits=float((non_digit.max(axis=1) < threshold).mean()),
        non_digit_probabilities=non_digit.astype(np.float32), seed=seed, measured_on=int(held_correct.size))
