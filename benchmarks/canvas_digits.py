"""MNIST test digits redrawn as a person's pen strokes (mnist_core.data.synthetic) on the app's
canvases, in a fixed-seed order, and sent as a browser sends them: the Draw page's canvas widget
value (streamlit-drawable-canvas: fabric.js JSON and a PNG), or the phones' PNG data URL."""

from __future__ import annotations

import base64
import io
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from harness import ROOT
from PIL import Image

sys.path.insert(0, str(ROOT))
from mnist_core.data import load_mnist, preprocess  # noqa: E402
from mnist_core.data.synthetic import redraw  # noqa: E402

CANVAS, PEN = 300, 22    # the Draw page's canvas size and default pen width


def redrawn_test_digits(seed: int, canvas: int, count: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(label, canvas×canvas RGBA) for the first `count` MNIST test digits of a fixed-seed order,
    cycling past the 10,000 (None: each once); the i-th drawn with the pen's randomness [seed, i]."""
    (_, _), (x_test, y_test) = load_mnist()
    order = np.random.default_rng(seed).permutation(len(x_test))
    for i in range(len(order) if count is None else count):
        index = int(order[i % len(order)])
        yield int(y_test[index]), redraw(x_test[index], np.random.default_rng([seed, i]), canvas=canvas)


def png_data_url(rgba: np.ndarray) -> str:
    png = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(png, format="PNG")
    return "data:image/png;base64," + base64.b64encode(png.getvalue()).decode("ascii")


# ── the phones' drawings ──────────────────────────────────────────────────────────────────────

@dataclass(frozen=True)
class Drawing:
    label: int
    png: str  # data:image/png;base64,… of an RGBA canvas, white strokes on black


def phone_drawings(count: int, seed: int, canvas: int) -> tuple[list[Drawing], int]:
    """`count` distinct drawings as PNG data URLs; the few the page itself would refuse as no
    digit are skipped. Returns (drawings, skipped)."""
    drawings, skipped = [], 0
    for label, rgba in redrawn_test_digits(seed, canvas):
        assert rgba.shape == (canvas, canvas, 4) and rgba.dtype == np.uint8
        if preprocess.drawing_problem(preprocess.preprocess_steps(rgba)) is not None:
            skipped += 1
            continue
        drawings.append(Drawing(label, png_data_url(rgba)))
        if len(drawings) == count:
            break
    return drawings, skipped


# ── the Draw page's canvas widget ─────────────────────────────────────────────────────────────

@dataclass(frozen=True)
class Digit:
    label: int          # the MNIST label
    canvas_json: str    # the canvas widget's json_value, exactly as the browser would send it


def render_digits(count: int, seed: int, canvas: int = CANVAS) -> list[Digit]:
    """`count` MNIST test digits (distinct up to 10,000) as the Draw page's canvas values."""
    return [Digit(label, canvas_json(rgba)) for label, rgba in redrawn_test_digits(seed, canvas, count)]


def canvas_json(rgba: np.ndarray) -> str:
    """{"drawing": {"raw": fabric.js JSON, "data": PNG data URL}}, compact like JSON.stringify."""
    return json.dumps({"drawing": {"raw": fabric_drawing(rgba), "data": png_data_url(rgba)}}, separators=(",", ":"))


def fabric_drawing(rgba: np.ndarray) -> dict:
    """The fabric.js canvas JSON of one freehand stroke through the digit's ink. The Draw page reads
    only the PNG; this gives the message the size and shape of a real one."""
    step = 10
    points = np.argwhere(rgba[step // 2::step, step // 2::step, 0] > 127)[:, ::-1] * step + step // 2  # (x, y)
    points = stroke_order(points) if len(points) else np.array([[rgba.shape[1] // 2, rgba.shape[0] // 2]])
    # Fabric's pencil brush: M first point, Q through midpoints, L last point.
    path = [["M", *map(float, points[0])]]
    for a, b in zip(points[:-1], points[1:]):
        path.append(["Q", float(a[0]), float(a[1]), float((a[0] + b[0]) / 2), float((a[1] + b[1]) / 2)])
    path.append(["L", *map(float, points[-1])])
    (left, top), (right, bottom) = points.min(axis=0), points.max(axis=0)
    stroke = {"type": "Path", "version": "7.4.0", "originX": "left", "originY": "top",
              "left": float(left - PEN / 2), "top": float(top - PEN / 2), "width": float(right - left),
              "height": float(bottom - top), "fill": None, "stroke": "#FFFFFF", "strokeWidth": PEN,
              "strokeDashArray": None, "strokeLineCap": "round", "strokeDashOffset": 0,
              "strokeLineJoin": "round", "strokeUniform": False, "strokeMiterLimit": 10, "scaleX": 1,
              "scaleY": 1, "angle": 0, "flipX": False, "flipY": False, "opacity": 1, "shadow": None,
              "visible": True, "backgroundColor": "", "fillRule": "nonzero", "paintFirst": "fill",
              "globalCompositeOperation": "source-over", "skewX": 0, "skewY": 0, "path": path}
    return {"version": "7.4.0", "objects": [stroke], "background": "#000000"}


def stroke_order(points: np.ndarray) -> np.ndarray:
    """The points in the order a pen would visit them: greedy nearest neighbour from the top."""
    left = np.ones(len(points), bool)
    current, ordered = 0, []
    for _ in range(len(points)):
        ordered.append(current)
        left[current] = False
        if not left.any():
            break
        distance = ((points - points[current]) ** 2).sum(axis=1).astype(float)
        distance[~left] = np.inf
        current = int(distance.argmin())
    return points[ordered]
