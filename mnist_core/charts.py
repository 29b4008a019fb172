"""Plotly figure builders: data in, figure out. Pure functions, one place for every chart."""

from __future__ import annotations

import base64
import functools
import io
import re
from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image
from plotly.subplots import make_subplots

# One colour per model family everywhere in the app, so ANN and CNN are recognisable at a glance.
KIND_COLORS = {"ann": "#F28E2B", "cnn": "#4E79A7"}
EXTRA_COLORS = ["#59A14F", "#E15759", "#B07AA1", "#76B7B2", "#EDC948", "#FF9DA7", "#9C755F"]
# The projector preset's palette: Okabe–Ito colours, told apart with every common colour-vision
# deficiency, and only those that keep ≥ 3:1 contrast on white (WCAG, for graphics) when a projector
# washes them out: vermillion 3.9:1, blue 5.2:1; then bluish green 3.4:1, reddish purple 3.1:1,
# black for other runs. Okabe–Ito's orange, sky blue and yellow fall under 3:1 and are left out.
PROJECTOR_KIND_COLORS = {"ann": "#D55E00", "cnn": "#0072B2"}
PROJECTOR_EXTRA_COLORS = ["#009E73", "#CC79A7", "#000000"]
DIGITS = [str(d) for d in range(10)]


def kind_color(kind: str, projector: bool = False) -> str:
    """A model family's colour ('ann' or 'cnn'), in the projector palette when that preset is on."""
    return (PROJECTOR_KIND_COLORS if projector else KIND_COLORS)[kind]


def color_for(kind: str | None, index: int = 0, projector: bool = False) -> str:
    """The family's colour, or for anything else (another run, a kind not known) the index-th extra."""
    if kind in KIND_COLORS:
        return kind_color(kind, projector)
    extras = PROJECTOR_EXTRA_COLORS if projector else EXTRA_COLORS
    return extras[index % len(extras)]


PROJECTOR_FONT = 20  # px; Streamlit's chart theme draws 12 px type (15 px under the preset's larger root)
PROJECTOR_INK = "#000000"  # the theme's axis text is grey (#808495, 3.7:1 on white)
_AXIS = re.compile(r"^[xy]axis\d*$")


def _font(size: int) -> dict:
    return {"size": size, "color": PROJECTOR_INK}


def _with(spec: dict, key: str, **values) -> dict:
    """spec[key] (created if absent) with `values` set, a dict value merged into what is there."""
    part = spec[key] = dict(spec.get(key) or {})
    for name, value in values.items():
        old = part.get(name)
        part[name] = {**old, **value} if isinstance(old, dict) and isinstance(value, dict) else value
    return part


def projector_figure(fig: go.Figure) -> go.Figure:
    """A copy of the figure for the projector preset: larger black type for everything (title,
    subplot titles, axes, ticks, legend, colour bars) and the text drawn on cells (a confusion
    matrix's counts) a third larger, which still fits. Set explicitly because Streamlit's theme
    only fills what a figure leaves unset. The copy, never the figure: figures are cached and
    shared by every session.

    Edited as the figure's dict and not through plotly's update_* methods: those validated every
    property again (35–60 ms a figure here, on every stroke and every training poll); this takes
    a few ms. A test checks plotly's validators accept the result."""
    size = PROJECTOR_FONT
    spec = fig.to_dict()  # a deep copy: nothing below reaches the caller's figure
    layout = spec.setdefault("layout", {})
    _with(layout, "font", **_font(size))
    _with(layout, "title", font=_font(size + 4))
    _with(layout, "legend", font=_font(size - 1))
    _with(layout, "hoverlabel", font={"size": size - 2})
    for axis in {"xaxis", "yaxis"} | {key for key in layout if _AXIS.match(key)}:
        _with(_with(layout, axis, tickfont=_font(size - 1)), "title", font=_font(size))
    for annotation in layout.get("annotations", []):  # subplot titles; a mosaic's many small ones less
        grown = TILE_TITLE_PROJECTOR if annotation.get("name") == TILE_TITLE else size + 2
        annotation["font"] = {**annotation.get("font", {}), **_font(grown)}
    for trace in spec.get("data", []):
        if (trace.get("textfont") or {}).get("size"):  # sized for a cell
            trace["textfont"]["size"] = round(trace["textfont"]["size"] * 4 / 3)
        if trace.get("type") == "heatmap":
            _with(_with(trace, "colorbar", tickfont=_font(size - 2)), "title", font=_font(size - 2))
    return go.Figure(spec, _validate=False)


def _layout(fig: go.Figure, height: int, title: str | None = None) -> go.Figure:
    room = title or fig.layout.annotations  # subplot titles are annotations and need the top margin too
    top = 70 if title and fig.layout.annotations else 40 if room else 10
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=top, b=10),
                      title=dict(text=title) if title else None)
    return fig


def enlarge(image: np.ndarray, factor: int = 4) -> np.ndarray:
    """Nearest-neighbour upscaling, so a 28×28 digit shows crisp pixels instead of browser blur."""
    return np.kron(np.asarray(image), np.ones((factor, factor), dtype=np.asarray(image).dtype))


def thumbnail(image: np.ndarray, size: int = 168) -> np.ndarray:
    """Any ink image as a size×size uint8 picture: padded to a square (black), then scaled with
    crisp pixels when small (a 28×28 input) and smoothly when large (the canvas)."""
    from PIL import Image

    pixels = to_uint8(image)
    h, w = pixels.shape
    side = max(h, w)
    square = np.zeros((side, side), np.uint8)
    square[(side - h) // 2:(side - h) // 2 + h, (side - w) // 2:(side - w) // 2 + w] = pixels
    resample = Image.Resampling.NEAREST if side < size else Image.Resampling.BOX
    return np.asarray(Image.fromarray(square).resize((size, size), resample))


def to_uint8(image: np.ndarray) -> np.ndarray:
    """A [0, 1] float image as 0–255 bytes (uint8 input passes through)."""
    image = np.asarray(image)
    return image if image.dtype == np.uint8 else np.clip(np.round(image * 255), 0, 255).astype(np.uint8)


def digit_heatmap(image: np.ndarray, title: str | None = None, height: int = 460) -> go.Figure:
    """One digit as a pixel heatmap with a 0–255 colorbar and each pixel's value on hover."""
    pixels = to_uint8(image)
    fig = go.Figure(go.Heatmap(
        z=pixels, colorscale="gray", zmin=0, zmax=255, xgap=1, ygap=1,
        colorbar=dict(title="value", thickness=14),
        hovertemplate="row %{y}, column %{x}<br>value %{z}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain", showgrid=False, dtick=4)
    fig.update_xaxes(constrain="domain", showgrid=False, dtick=4, side="top")
    return _layout(fig, height, title)


def image_grid(images: np.ndarray, titles: Sequence[str], columns: int = 5, height: int = 320,
               colorscale: str = "gray", zmax: float | None = None, hover_label: str = "value") -> go.Figure:
    """Small heatmaps side by side (e.g. the mean image of each digit), sharing one colour range."""
    images = np.asarray(images, float)
    rows = int(np.ceil(len(images) / columns))
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=list(titles),
                        horizontal_spacing=0.02, vertical_spacing=0.08)
    top = float(images.max()) if zmax is None else zmax
    for i, image in enumerate(images):
        fig.add_trace(go.Heatmap(
            z=image, colorscale=colorscale, zmin=0, zmax=top, showscale=(i == 0),
            colorbar=dict(thickness=12, len=0.9),
            hovertemplate=f"{titles[i]}<br>row %{{y}}, column %{{x}}<br>{hover_label} %{{z:.1f}}<extra></extra>"),
            row=i // columns + 1, col=i % columns + 1)
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_yaxes(visible=False, autorange="reversed", constrain="domain")
    for i in range(len(images)):
        axis = "" if i == 0 else str(i + 1)
        fig.update_layout({f"yaxis{axis}": dict(scaleanchor=f"x{axis}")})
    return _layout(fig, height)


def class_distribution(train_labels: np.ndarray, test_labels: np.ndarray, height: int = 340) -> go.Figure:
    """Images per digit in the train and test splits, grouped bars."""
    fig = go.Figure()
    for name, labels, color in (("train", train_labels, "#4E79A7"), ("test", test_labels, "#F28E2B")):
        counts = np.bincount(labels, minlength=10)
        fig.add_bar(x=DIGITS, y=counts, name=f"{name} ({len(labels):,})", marker_color=color,
                    text=[f"{c:,}" for c in counts], textposition="outside",
                    hovertemplate=f"{name}: digit %{{x}}<br>%{{y:,}} images<extra></extra>")
    fig.update_layout(barmode="group", legend=dict(orientation="h", y=1.1))
    fig.update_xaxes(title="digit", type="category")
    fig.update_yaxes(title="images")
    return _layout(fig, height)


@functools.lru_cache(maxsize=8)
def _probability_bars_frame(height: int, title: str | None) -> dict:
    """The probability chart without its numbers, checked once by plotly's validators."""
    fig = go.Figure(go.Bar(x=DIGITS, y=[0.0] * 10, marker_color=["#BAB0AC"] * 10, text=[""] * 10,
                           textposition="outside", hovertemplate="digit %{x}: %{y:.2%}<extra></extra>"))
    fig.update_yaxes(range=[0, 1.15], tickformat=".0%", title=None, dtick=0.25)
    fig.update_xaxes(type="category", title=None)
    return _layout(fig, height, title).to_dict()


def probability_bars(probabilities: np.ndarray, color: str, height: int = 260, title: str | None = None) -> go.Figure:
    """The ten class probabilities; the winner in the model's colour, the rest grey. Fixed 0–1 axis
    so two models' charts compare at a glance.

    Drawn twice per stroke for everyone in the room, so only the frame goes through plotly's
    validators (6.6 ms a figure here); the numbers are filled into a copy of it (0.45 ms). A test
    checks the result equals the fully validated figure."""
    probabilities = np.asarray(probabilities, float)
    winner = int(np.argmax(probabilities))
    frame = _probability_bars_frame(height, title)
    bar = {**frame["data"][0], "y": probabilities.tolist(),
           "marker": {"color": [color if d == winner else "#BAB0AC" for d in range(10)]},
           "text": [f"{p:.0%}" if p >= 0.005 else "" for p in probabilities]}
    return go.Figure({"data": [bar], "layout": frame["layout"]}, _validate=False)


WRITEUP_INK = "#3B3B3B"  # what a write-up reported: neutral, never a model's colour


def training_curves(runs: Sequence[dict], height: int = 380, x: str = "epoch",
                    writeups: Sequence[dict] = ()) -> go.Figure:
    """Loss and accuracy for one or more runs, by epoch or by seconds of training. Each run:
    {"label", "color", "records"} with records as dicts of EpochRecord fields, plus "test_accuracy"
    where a snapshot scored the test images. Train solid, validation dashed, test dotted.
    `writeups`: {"label", "points": {"accuracy" | "test_accuracy": {epoch trained: value}},
    "numbers": {"accuracy" | "test_accuracy": [the write-up's own epoch numbers]}}, drawn as stars on
    the accuracy panel (by epoch only: write-ups did not report their seconds)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Loss", "Accuracy"), horizontal_spacing=0.08)
    for run in runs:
        records = run["records"]
        xs = [r["epoch"] for r in records] if x == "epoch" else np.cumsum([r["seconds"] for r in records]).tolist()
        where = "epoch %{x}" if x == "epoch" else "%{x:.0f} s"
        for col, metric in ((1, "loss"), (2, "accuracy")):
            series = [("train", metric, "solid"), ("validation", f"val_{metric}", "dash"), ("test", f"test_{metric}", "dot")]
            for split, key, dash in series:
                values = [r.get(key) for r in records]
                if all(v is None for v in values):
                    continue
                fig.add_scatter(
                    x=xs, y=values, mode="lines+markers", name=f"{run['label']} · {split}",
                    legendgroup=run["label"], showlegend=(col == 1 or metric == "accuracy" and split == "test"),
                    line=dict(color=run["color"], dash=dash, width=3), marker=dict(size=7),
                    hovertemplate=f"{run['label']} {split}<br>{where}: %{{y:.4f}}<extra></extra>",
                    row=1, col=col)
    if x == "epoch":
        for writeup in writeups:
            for key, split in (("accuracy", "train"), ("test_accuracy", "test")):
                points = writeup["points"].get(key)
                if points:
                    fig.add_scatter(
                        x=list(points), y=list(points.values()), mode="lines+markers" if len(points) > 1 else "markers",
                        name=f"{writeup['label']} · {split}", line=dict(color=WRITEUP_INK, dash="dot", width=2),
                        marker=dict(symbol="star", size=13, color=WRITEUP_INK), customdata=writeup["numbers"][key],
                        hovertemplate=f"{writeup['label']} {split}<br>after %{{x}} epoch(s) (its epoch "
                                      f"%{{customdata}}): %{{y:.2%}}<extra></extra>",
                        row=1, col=2)
    longest = max((len(r["records"]) for r in runs), default=0)
    fig.update_xaxes(title="epoch" if x == "epoch" else "seconds of training",
                     dtick=1 if x == "epoch" and longest <= 20 else None)
    fig.update_yaxes(tickformat=".1%", row=1, col=2)
    fig.update_layout(legend=dict(orientation="h", y=-0.3), hovermode="x unified" if x == "epoch" else "closest")
    return _layout(fig, height)


RIGHT_INK, WRONG_INK = "#1A7F37", "#CF222E"  # with ✓ and ✗, so colour is never the only cue


def epoch_strip(images: np.ndarray, truths: Sequence[int | None], rows: Sequence[dict], names: Sequence[str],
                lines: Sequence[Sequence[int]] | None = None, height: int | None = None,
                title: str | None = None) -> go.Figure:
    """Digits side by side, and under them one row per model: the digit it reads in each, ✓ right
    (green) or ✗ wrong (red), no mark where the truth is unknown, and its confidence. Each row:
    {"label", "color", "answers", "confidence"}; `names` describe the digits in hovers ("test digit
    6783"); `lines` splits the digits over lines (indices per line; default: one line)."""
    lines = [list(line) for line in (lines or [range(len(images))])]
    per_line = max(len(line) for line in lines)
    tile_h, gap = 28 * 2, 4
    tile_w = tile_h + gap
    row_height = tile_h * 0.95
    block = tile_h + row_height * len(rows) + gap * 3  # a line of digits and its rows of answers
    canvas = np.full((int(block * len(lines)), per_line * tile_w - gap), 255, np.uint8)
    for n, line in enumerate(lines):
        strip = image_strip(np.asarray(images)[line], factor=2, gap=gap)
        canvas[int(block * n):int(block * n) + tile_h, :strip.shape[1]] = strip
    png = io.BytesIO()
    Image.fromarray(canvas).save(png, format="PNG")
    fig = go.Figure(go.Image(source="data:image/png;base64," + base64.b64encode(png.getvalue()).decode(),
                             hoverinfo="skip"))
    for n, line in enumerate(lines):
        centres = [(i + 0.5) * tile_w for i in range(len(line))]
        for r, row in enumerate(rows):
            y = block * n + tile_h + row_height * (r + 0.35)
            hovers, texts, inks, sure = [], [], [], []
            for i in line:
                answer, truth = row["answers"][i], truths[i]
                if answer is None:  # no snapshot of this epoch yet
                    texts.append("…")
                    inks.append(PERFECT_INK)
                    hovers.append(names[i])
                    sure.append("")
                    continue
                confidence = float(row["confidence"][i])
                mark = "" if truth is None else (" ✓" if answer == truth else " ✗")
                texts.append(f"{answer}{mark}")
                inks.append(row["color"] if truth is None else RIGHT_INK if answer == truth else WRONG_INK)
                about = "" if truth is None else f" (a {truth})"
                hovers.append(f"{names[i]}{about}<br>{row['label']} reads {answer} ({confidence:.0%})")
                sure.append(f"{confidence:.0%}")
            fig.add_scatter(x=centres, y=[y] * len(centres), mode="text", text=texts, name=row["label"],
                            textfont=dict(color=inks, size=17, family="Source Sans Pro, sans-serif"),
                            hovertext=hovers, hoverinfo="text", showlegend=False)
            fig.add_scatter(x=centres, y=[y + row_height * 0.42] * len(centres), mode="text", text=sure,
                            name=f"{row['label']} · confidence", textfont=dict(color=PERFECT_INK, size=11),
                            hoverinfo="skip", showlegend=False)
            if len(rows) > 1:  # one network needs no name here: the page says which it is
                fig.add_annotation(x=0, y=y + row_height * 0.2, xref="x", yref="y", xanchor="right", showarrow=False,
                                   text=f"<b>{row['label'].replace(' (', '<br>(')}</b>", xshift=-6,
                                   font=dict(color=row["color"], size=13))
    fig.update_xaxes(visible=False, range=[0, canvas.shape[1]])
    fig.update_yaxes(visible=False, range=[canvas.shape[0], 0], scaleanchor="x")
    fig.update_layout(margin=dict(l=110 if len(rows) > 1 else 10, r=10, t=34 if title else 6, b=6),
                      hovermode="closest", dragmode=False,
                      height=height or int(30 + (70 + 58 * len(rows)) * len(lines) + (28 if title else 0)),
                      title=dict(text=title, x=0, xref="paper", font=dict(size=16)) if title else None)
    return fig


def confusion_heatmap(matrix: np.ndarray, normalise: bool = False, height: int = 560,
                      title: str | None = None) -> go.Figure:
    """Actual × predicted. Errors on a warm scale, the diagonal on its own green scale so the few
    mistakes are not washed out by the thousands of correct answers. Each cell is clickable."""
    counts = np.asarray(matrix)
    totals = counts.sum(axis=1, keepdims=True)
    rates = np.divide(counts, totals, out=np.zeros(counts.shape, float), where=totals > 0)
    values = rates if normalise else counts.astype(float)
    diagonal = np.eye(len(counts), dtype=bool)
    off = np.where(diagonal, np.nan, values)
    on = np.where(diagonal, values, np.nan)
    text = [[f"{counts[a, p]:,}" if not normalise else f"{rates[a, p]:.1%}" for p in range(10)] for a in range(10)]
    hover = ("actual %{y}, predicted %{x}<br>%{customdata[0]:,} images"
             "<br>%{customdata[1]:.2%} of the actual %{y}s<extra></extra>")
    off_max = np.nanmax(off) if np.isfinite(off).any() and np.nanmax(off) > 0 else 1
    fig = go.Figure()
    # Each layer labels only its own cells: both drawing every label stacks two texts on a cell.
    text_off = [[t if a != p else "" for p, t in enumerate(row)] for a, row in enumerate(text)]
    text_on = [[t if a == p else "" for p, t in enumerate(row)] for a, row in enumerate(text)]
    fig.add_heatmap(z=off, x=DIGITS, y=DIGITS, colorscale="OrRd", zmin=0, zmax=off_max, text=text_off,
                    texttemplate="%{text}", textfont=dict(size=11), hoverinfo="skip", xgap=2, ygap=2,
                    colorbar=dict(title="errors", thickness=12, x=1.0, y=1.0, yanchor="top", len=0.8),
                    name="errors")
    fig.add_heatmap(z=on, x=DIGITS, y=DIGITS, colorscale="Greens", text=text_on, texttemplate="%{text}",
                    textfont=dict(size=11), hoverinfo="skip", xgap=2, ygap=2, showscale=False, name="correct")
    # Plotly heatmaps report no click selections to Streamlit; invisible square markers over every
    # cell do, and carry the hover text.
    actual, predicted = np.divmod(np.arange(counts.size), len(counts))
    fig.add_scatter(x=[DIGITS[p] for p in predicted], y=[DIGITS[a] for a in actual], mode="markers",
                    marker=dict(symbol="square", size=38, color="rgba(0,0,0,0)"),
                    customdata=np.stack([counts.ravel(), rates.ravel()], axis=1), hovertemplate=hover,
                    showlegend=False, name="cells")
    # Square cells; fixed ranges, or autorange pads for the big markers and leaves an empty band.
    fig.update_xaxes(title="predicted", type="category", side="top", range=[-0.5, 9.5], constrain="domain")
    fig.update_yaxes(title="actual", type="category", range=[9.5, -0.5], scaleanchor="x", constrain="domain",
                     constraintoward="top")
    return _layout(fig, height, title)


def per_class_bars(metrics, height: int = 300) -> go.Figure:
    """Precision, recall and F1 per digit, zoomed to where the differences are."""
    fig = go.Figure()
    for column, color in (("precision", "#4E79A7"), ("recall", "#F28E2B"), ("f1", "#59A14F")):
        fig.add_bar(x=[str(d) for d in metrics["digit"]], y=metrics[column], name=column, marker_color=color,
                    hovertemplate=f"digit %{{x}}<br>{column} %{{y:.2%}}<extra></extra>")
    low = float(np.min(metrics[["precision", "recall", "f1"]].to_numpy()))
    fig.update_yaxes(range=[max(0.0, low - 0.02), 1.0], tickformat=".0%")
    fig.update_xaxes(title="digit", type="category")
    fig.update_layout(barmode="group", legend=dict(orientation="h", y=1.15))
    return _layout(fig, height)


# ------------------------------------------------------------------ inside the models
# Signed quantities (weights, evidence, attributions) on one diverging scale with zero in the
# middle: red speaks for, blue against. Symmetric limits, so equal colours mean equal sizes.
# ColorBrewer's RdBu, blue low to red high, spelt out: figures built as dicts skip plotly's Python
# side, and plotly.js's own "RdBu" is another scale.
DIVERGING = [[i / 8, c] for i, c in enumerate(["#2166AC", "#4393C3", "#92C5DE", "#D1E5F0", "#F7F7F7",
                                               "#FDDBC7", "#F4A582", "#D6604D", "#B2182B"])]
# The same scale with zero transparent, to lay over a digit: where nothing matters, the ink shows.
OVERLAY = [[0.0, "rgba(33,102,172,1)"], [0.35, "rgba(146,197,222,0.75)"], [0.5, "rgba(247,247,247,0)"],
           [0.65, "rgba(244,165,130,0.75)"], [1.0, "rgba(178,24,43,1)"]]
PAPER_INK = [[0.0, "#FFFFFF"], [1.0, "#6E6E6E"]]  # a digit as grey ink on white, under an overlay


def symmetric_limit(*arrays) -> float:
    """The largest |value| of all arrays (never 0): ±this is one shared diverging scale."""
    return max([float(np.abs(np.asarray(a)).max()) for a in arrays if np.size(a)] + [1e-9])


def _mosaic(images: np.ndarray, columns: int, gap: int) -> tuple[np.ndarray, np.ndarray, list]:
    """Small images laid out on one canvas with NaN (drawn transparent) between them: the values,
    each cell's [tile, row, column] for hover, and each tile's (top, left). One heatmap for a whole
    grid: plotly's make_subplots with 32 small heatmaps took 200 ms to build, this takes a few."""
    n, h, w = images.shape
    rows = int(np.ceil(n / columns))
    columns = min(columns, n)
    height, width = rows * h + (rows - 1) * gap, columns * w + (columns - 1) * gap
    z = np.full((height, width), np.nan)
    where = np.full((height, width, 3), -1, np.int32)
    places = []
    grid_r, grid_c = np.mgrid[0:h, 0:w]
    for i, image in enumerate(images):
        top, left = (i // columns) * (h + gap), (i % columns) * (w + gap)
        z[top:top + h, left:left + w] = image
        where[top:top + h, left:left + w] = np.stack([np.full((h, w), i), grid_r, grid_c], axis=-1)
        places.append((top, left))
    return z, where, places


def _numbered(where: np.ndarray, numbers: Sequence[int] | None) -> np.ndarray:
    """Each cell's [tile's number (a unit, a channel), row, column] for the hover. Numbers, not the
    tiles' titles: Streamlit deep-copies a figure, and an array of strings is copied one by one
    (~100 ms for a page's mosaics, against a memcpy for integers)."""
    if numbers is None:
        return where
    numbered = where.copy()
    inside = where[..., 0] >= 0
    numbered[..., 0][inside] = np.asarray(numbers)[where[..., 0][inside]]
    return numbered


TILE_TITLE = "tile title"  # the name of a mosaic's tile titles: a dozen side by side, they grow less
TILE_TITLE_PROJECTOR = 15  # px: the 22 px of subplot titles ran into each other at 8 tiles a row
TILES_WIDTH = 1250  # px a mosaic gets on a 1920 px screen: its height follows from it


def _tiles_figure(traces: list[dict], titles: Sequence[str], places: list, tile: tuple[int, int],
                  shape: tuple[int, int], height: int | None, coloraxis: dict, title: str | None = None) -> go.Figure:
    """A mosaic figure: its heatmap traces, each tile's title above it, square cells, no axes;
    `height` None: as tall as square cells need at full width (no empty band above and below)."""
    h, w = tile
    if height is None:
        height = max(140, round(TILES_WIDTH * (shape[0] + 0.45 * h) / shape[1]) + (60 if title else 30) + 10)
    annotations = [{"x": left + (w - 1) / 2, "y": top - 0.6, "xref": "x", "yref": "y", "text": text,
                    "showarrow": False, "yanchor": "bottom", "font": {"size": 12}, "name": TILE_TITLE}
                   for text, (top, left) in zip(titles, places)]
    layout = {
        "height": height, "margin": {"l": 10, "r": 10, "t": 60 if title else 30, "b": 10},
        "annotations": annotations, "coloraxis": coloraxis, "plot_bgcolor": "rgba(0,0,0,0)",
        "xaxis": {"visible": False, "range": [-0.5, shape[1] - 0.5], "constrain": "domain"},
        "yaxis": {"visible": False, "range": [shape[0] - 0.5, -0.5 - 0.45 * h], "scaleanchor": "x",
                  "constrain": "domain"},
    }
    if title:
        layout["title"] = {"text": title}
    return go.Figure({"data": traces, "layout": layout}, _validate=False)


def _tile_gap(h: int) -> int:
    return max(1, round(h * 0.45))  # room for each tile's title in the row above it


def attribution_maps(image: np.ndarray, maps: Sequence[tuple[str, np.ndarray]], columns: int = 2,
                     height: int | None = None, limit: float | None = None, unit: str = "Δ probability",
                     title: str | None = None) -> go.Figure:
    """Each map laid over the digit (grey ink on white), all on one symmetric scale (`limit`, else
    the largest |value| of them all): red where the place speaks for the answer, blue against."""
    top = limit or symmetric_limit(*[m for _, m in maps])
    values = np.stack([np.asarray(m, float) for _, m in maps])
    titles = [t for t, _ in maps]
    gap = _tile_gap(28)
    ink, _, places = _mosaic(np.repeat(np.asarray(image, float)[None], len(maps), axis=0), columns, gap)
    traces = [{"type": "heatmap", "z": ink, "colorscale": PAPER_INK, "zmin": 0, "zmax": 1, "showscale": False,
               "hoverinfo": "skip"}]
    for (name, _), map_values, (row, column) in zip(maps, values, places):  # each map a trace: its own hover
        traces.append({"type": "heatmap", "z": map_values, "x0": column, "y0": row, "coloraxis": "coloraxis",
                       "hovertemplate": f"{name}<br>{unit} %{{z:+.3f}}<extra></extra>"})
    coloraxis = {"colorscale": OVERLAY, "cmin": -top, "cmax": top, "colorbar": {"title": {"text": unit}, "thickness": 14}}
    return _tiles_figure(traces, titles, places, (28, 28), ink.shape, height, coloraxis, title)


def diverging_grid(images: np.ndarray, titles: Sequence[str], columns: int = 8, height: int | None = None,
                   colorbar_title: str = "weight", title: str | None = None, numbers: Sequence[int] | None = None,
                   hover_name: str = "tile") -> go.Figure:
    """Small signed images (an ANN unit's 784 weights, a CNN filter) on one symmetric scale; the
    hover names each by `hover_name` and its number (`numbers`, else its place)."""
    images = np.asarray(images, float)
    top = symmetric_limit(images)
    h, w = images.shape[1:]
    z, where, places = _mosaic(images, columns, _tile_gap(h))
    trace = {"type": "heatmap", "z": z, "coloraxis": "coloraxis", "customdata": _numbered(where, numbers),
             "hovertemplate": hover_name + " %{customdata[0]} · row %{customdata[1]}, column %{customdata[2]}<br>"
                              + colorbar_title + " %{z:+.3f}<extra></extra>"}
    coloraxis = {"colorscale": DIVERGING, "cmin": -top, "cmax": top,
                 "colorbar": {"title": {"text": colorbar_title}, "thickness": 12}}
    return _tiles_figure([trace], titles, places, (h, w), z.shape, height, coloraxis, title)


def evidence_flow(shares: np.ndarray, unit_labels: Sequence[str], answer: int, height: int = 360,
                  title: str | None = None) -> go.Figure:
    """Rows: hidden units; columns: the ten digits; each cell that unit's share of the digit's
    score (red for, blue against), the answer's column framed."""
    shares = np.asarray(shares, float)
    top = symmetric_limit(shares)
    fig = go.Figure(go.Heatmap(
        z=shares, x=DIGITS, y=list(unit_labels), colorscale=DIVERGING, zmin=-top, zmax=top, xgap=2, ygap=2,
        text=[[f"{v:+.0f}" if abs(v) >= 10 else f"{v:+.1f}" for v in row] for row in shares],
        texttemplate="%{text}", textfont=dict(size=11),
        colorbar=dict(title="share of score", thickness=12),
        hovertemplate="%{y} → digit %{x}<br>share of its score %{z:+.2f}<extra></extra>"))
    fig.add_shape(type="rect", x0=answer - 0.5, x1=answer + 0.5, y0=-0.5, y1=len(shares) - 0.5,
                  line=dict(color="#000000", width=3))
    fig.update_xaxes(title="output digit", type="category")  # at the bottom: the title is on top
    fig.update_yaxes(title="hidden unit", type="category", autorange="reversed")
    return _layout(fig, height, title)


def feature_map_grid(maps: np.ndarray, titles: Sequence[str], columns: int = 8, height: int | None = None,
                     title: str | None = None, channels: Sequence[int] | None = None) -> go.Figure:
    """One conv block's feature maps, one colour scale for the whole block (zero = dark); the hover
    names each map's channel (`channels`, else its place)."""
    maps = np.asarray(maps, float)
    low, high = min(0.0, float(maps.min())), max(float(maps.max()), 1e-9)
    # Maps taken before an activation can be negative: then zero in the middle of a diverging scale.
    colorscale = DIVERGING if low < 0 else "Viridis"
    if low < 0:
        low, high = -symmetric_limit(maps), symmetric_limit(maps)
    h, w = maps.shape[1:]
    z, where, places = _mosaic(maps, columns, _tile_gap(h))
    trace = {"type": "heatmap", "z": z, "coloraxis": "coloraxis", "customdata": _numbered(where, channels),
             "hovertemplate": "channel %{customdata[0]} · row %{customdata[1]}, column %{customdata[2]}<br>"
                              "activation %{z:.2f}<extra></extra>"}
    coloraxis = {"colorscale": colorscale, "cmin": low, "cmax": high,
                 "colorbar": {"title": {"text": "activation"}, "thickness": 12}}
    return _tiles_figure([trace], titles, places, (h, w), z.shape, height, coloraxis, title)


def _box(top: int, left: int, bottom: int, right: int, color: str = "#E69F00") -> dict:
    return dict(type="rect", x0=left - 0.5, x1=right + 0.5, y0=top - 0.5, y1=bottom + 0.5,
                line=dict(color=color, width=4))


def clickable_map(values: np.ndarray, cell: tuple[int, int], title: str, height: int = 380) -> go.Figure:
    """One feature map large, its cells clickable (invisible markers: Plotly heatmaps report no
    clicks to Streamlit), the chosen cell framed."""
    values = np.asarray(values, float)
    h, w = values.shape
    rows, cols = np.divmod(np.arange(h * w), w)
    fig = go.Figure(go.Heatmap(z=values, colorscale="Viridis", zmin=min(0.0, values.min()),
                               zmax=max(values.max(), 1e-9), hoverinfo="skip",
                               colorbar=dict(title="activation", thickness=12)))
    fig.add_scatter(x=cols, y=rows, mode="markers", customdata=values.ravel(), showlegend=False,
                    marker=dict(symbol="square", size=max(6, 300 // max(h, w)), color="rgba(0,0,0,0)"),
                    hovertemplate="row %{y}, column %{x}<br>activation %{customdata:.2f}<extra></extra>")
    fig.add_shape(**_box(cell[0], cell[1], cell[0], cell[1]))
    fig.update_xaxes(range=[-0.5, w - 0.5], constrain="domain", showgrid=False, title="column")
    fig.update_yaxes(range=[h - 0.5, -0.5], scaleanchor="x", constrain="domain", showgrid=False, title="row")
    return _layout(fig, height, title)


def digit_with_box(image: np.ndarray, box: tuple[int, int, int, int], title: str, height: int = 380) -> go.Figure:
    """The digit with a frame around the pixels a chosen cell can see (its receptive field)."""
    fig = digit_heatmap(image, title=title, height=height)
    fig.update_traces(showscale=False)
    fig.update_xaxes(side="bottom", title="column")  # not under the title
    fig.update_yaxes(title="row")
    fig.add_shape(**_box(*box))
    return fig


def sweep_lines(amounts: Sequence[float], lines: Sequence[dict], untouched: float, axis_title: str,
                target: int, height: int = 360, title: str | None = None) -> go.Figure:
    """p(target) against the size of a change, one line per model ({"label", "color", "values"}),
    the untouched digit marked by a dotted line."""
    fig = go.Figure()
    for line in lines:
        fig.add_scatter(x=list(amounts), y=np.asarray(line["values"], float), mode="lines+markers",
                        name=line["label"], line=dict(color=line["color"], width=4), marker=dict(size=8),
                        hovertemplate=f"{line['label']}<br>{axis_title} %{{x}}<br>p({target}) %{{y:.1%}}<extra></extra>")
    fig.add_vline(x=untouched, line=dict(color="#000000", dash="dot", width=2),
                  annotation_text="untouched", annotation_position="top")
    fig.update_xaxes(title=axis_title)
    fig.update_yaxes(title=f"probability of {target}", range=[-0.02, 1.08], tickformat=".0%")
    fig.update_layout(legend=dict(orientation="h", y=-0.25), hovermode="x unified")
    return _layout(fig, height, title)


def image_strip(images: np.ndarray, factor: int = 3, gap: int = 2) -> np.ndarray:
    """Digits side by side as one uint8 picture (white ink on black, grey gaps between them)."""
    tiles = [enlarge(to_uint8(image), factor) for image in images]
    h = tiles[0].shape[0]
    spacer = np.full((h, gap), 128, np.uint8)
    return np.hstack([part for tile in tiles for part in (tile, spacer)][:-1])


# ------------------------------------------------------------------ honest confidence
PERFECT_INK = "#7F7F7F"  # the "perfectly calibrated" diagonal: neutral, never a model's colour


def reliability_diagram(curves: Sequence[dict], height: int = 440, title: str | None = None) -> go.Figure:
    """Share of right answers against confidence, per bin of the top probability, one line per
    curve ({"label", "color", "reliability"}: a calibration.Reliability; optional "dash"), the
    diagonal of perfect calibration dotted. Empty bins are left out; a marker's size grows with
    its bin's images (most answers sit in the top bin), and the hover gives the count."""
    fig = go.Figure()
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated", hoverinfo="skip",
                    line=dict(color=PERFECT_INK, dash="dot", width=2))
    for curve in curves:
        r = curve["reliability"]
        filled = np.asarray(r.counts) > 0
        counts = np.asarray(r.counts)[filled]
        edges = np.asarray(r.edges)
        custom = np.stack([edges[:-1][filled], edges[1:][filled], counts], axis=1)
        fig.add_scatter(
            x=np.asarray(r.confidence)[filled], y=np.asarray(r.accuracy)[filled], mode="lines+markers",
            name=curve["label"], customdata=custom,
            line=dict(color=curve["color"], width=3, dash=curve.get("dash", "solid")),
            marker=dict(size=np.clip(6 + 4 * np.log10(counts), 6, 24)),
            hovertemplate=f"{curve['label']}<br>confidence %{{customdata[0]:.0%}}–%{{customdata[1]:.0%}}: "
                          "%{customdata[2]:,} images<br>mean confidence %{x:.1%}<br>right %{y:.1%}<extra></extra>")
    fig.update_xaxes(title="how sure the model was (mean of each 10% bin)", range=[-0.02, 1.02], tickformat=".0%",
                     dtick=0.1)
    fig.update_yaxes(title="share of those answers that were right", range=[-0.02, 1.02], tickformat=".0%", dtick=0.1)
    fig.update_layout(legend=dict(orientation="h", y=-0.2))
    return _layout(fig, height, title)


def non_digit_answers(images: np.ndarray, tick_labels: Sequence[str], names: Sequence[str], models: Sequence[dict],
                      axis_title: str, height: int = 380, title: str | None = None) -> go.Figure:
    """Things that are not digits in a row along the top, and under each one every model's answer:
    a dot at how sure it is, with the digit it says on it. Each model ({"label", "color",
    "probabilities": (n, 10), optional "threshold"}) in its colour; its unsure threshold a dashed
    line, so a dot above its line is a confident answer to something that is no digit."""
    images = np.asarray(images, float)
    count, side = len(images), images.shape[1]
    pitch = side + 4
    strip = np.full((side, count * pitch - 4), np.nan)  # NaN gaps are transparent: the tiles stand apart
    for i, image in enumerate(images):
        strip[:, i * pitch:i * pitch + side] = image
    centres = np.arange(count) * pitch + (side - 1) / 2
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.3, 0.7], vertical_spacing=0.03)
    fig.add_heatmap(z=strip, colorscale="gray", zmin=0, zmax=1, showscale=False, hoverinfo="skip", row=1, col=1)
    for k, model in enumerate(models):
        p = np.asarray(model["probabilities"], float)
        answers = p.argmax(axis=1)
        offset = (k - (len(models) - 1) / 2) * pitch * 0.3  # two models' dots side by side, not on top
        fig.add_scatter(
            x=centres + offset, y=p.max(axis=1), mode="markers+text", name=model["label"],
            text=[str(a) for a in answers], textfont=dict(color="#FFFFFF", size=11),
            marker=dict(color=model["color"], size=20, line=dict(color="#FFFFFF", width=1)),
            customdata=list(names),
            hovertemplate=f"{model['label']}<br>%{{customdata}}: says %{{text}}, %{{y:.0%}} sure<extra></extra>",
            row=2, col=1)
        if model.get("threshold") is not None:
            fig.add_hline(y=model["threshold"], line=dict(color=model["color"], dash="dash", width=2), row=2, col=1)
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x", constrain="domain", row=1, col=1)
    fig.update_yaxes(title="how sure of its answer", range=[0, 1.08], tickformat=".0%", row=2, col=1)
    fig.update_xaxes(visible=False, row=1, col=1)
    fig.update_xaxes(title=axis_title, tickvals=centres, ticktext=list(tick_labels), showgrid=False,
                     range=[-pitch / 2, count * pitch - pitch / 2], row=2, col=1)
    fig.update_layout(legend=dict(orientation="h", y=-0.3))
    return _layout(fig, height, title)


def unsure_catches(models: Sequence[dict], height: int = 340, title: str | None = None) -> go.Figure:
    """What each model's unsure threshold flags, as grouped bars per model ({"label", "color",
    "shares": {what: share}}, the same `what`s for every model): e.g. its test mistakes, its
    correct answers, the non-digits."""
    fig = go.Figure()
    for model in models:
        what, shares = list(model["shares"]), list(model["shares"].values())
        fig.add_bar(x=what, y=shares, name=model["label"], marker_color=model["color"],
                    text=[f"{s:.0%}" if s >= 0.1 else f"{s:.1%}" for s in shares], textposition="outside",
                    hovertemplate=f"{model['label']}<br>%{{x}}: %{{y:.1%}} flagged unsure<extra></extra>")
    fig.update_xaxes(title="what the threshold is shown", type="category")
    fig.update_yaxes(title="share flagged “unsure”", range=[0, 1.15], tickformat=".0%", dtick=0.25)
    fig.update_layout(barmode="group", legend=dict(orientation="h", y=-0.2))
    return _layout(fig, height, title)


# ------------------------------------------------------------------ experiments
# Each chart takes results as tidy rows (experiments.ExperimentResult.rows), a colour per model
# family, and up to two results: the recorded one (solid) and a fresh quick run (dashed, open markers).
FRESH_STYLE = dict(dash="dash", marker="circle-open", opacity=0.85)


def _rgba(color: str, alpha: float) -> str:
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _results(results: Sequence[dict]):
    """(label, rows, fresh) of each {"label", "rows", "fresh"} that has rows."""
    return [(r["label"], r["rows"], r.get("fresh", False)) for r in results if r.get("rows")]


def shuffled_pixels_bars(results: Sequence[dict], colors: dict, names: dict, height: int = 400,
                         title: str | None = None) -> go.Figure:
    """Test accuracy on original and on shuffled pixels, a bar per model (a fresh run's bars hatched)."""
    fig = go.Figure()
    values = []
    for label, rows, fresh in _results(results):
        for kind, color in colors.items():
            acc = {r["pixels"]: r["accuracy"] for r in rows if r["model"] == kind}
            if not acc:
                continue
            x = [p for p in ("original", "shuffled") if p in acc]
            values += [acc[p] for p in x]
            fig.add_bar(x=[f"{p} pixels" for p in x], y=[acc[p] for p in x], name=f"{names[kind]} · {label}",
                        marker=dict(color=color, pattern=dict(shape="/", fillmode="overlay", fgcolor="#FFFFFF",
                                                              solidity=0.3) if fresh else None),
                        text=[f"{acc[p]:.1%}" for p in x], textposition="outside", cliponaxis=False,
                        hovertemplate=f"{names[kind]} · {label}<br>%{{x}}: %{{y:.2%}}<extra></extra>")
    low = max(0.0, min(values, default=0.0) - 0.1)
    fig.update_yaxes(title="test accuracy", range=[low, 1.0], tickformat=".0%")
    fig.update_xaxes(title="the pixels both networks were trained and tested on")
    fig.update_layout(barmode="group", legend=dict(orientation="h", y=-0.25), bargap=0.3)
    return _layout(fig, height, title)


def fair_fight_curves(results: Sequence[dict], colors: dict, names: dict, x: str = "epoch", height: int = 420,
                      title: str | None = None) -> go.Figure:
    """Test accuracy after each epoch, against epochs or seconds of training; a line per model and
    parameter budget (the smaller budget dotted)."""
    fig = go.Figure()
    for label, rows, fresh in _results(results):
        budgets = sorted({r["budget"] for r in rows})
        for budget in budgets:
            for kind, color in colors.items():
                points = [r for r in rows if r["model"] == kind and r["budget"] == budget]
                if not points:
                    continue
                dash = FRESH_STYLE["dash"] if fresh else ("dot" if budget != budgets[-1] else "solid")
                name = f"{names[kind]} ~{budget // 1000}k weights · {label}"
                fig.add_scatter(
                    x=[p[x] for p in points], y=[p["accuracy"] for p in points], mode="lines+markers", name=name,
                    line=dict(color=color, width=3, dash=dash), opacity=FRESH_STYLE["opacity"] if fresh else 1,
                    marker=dict(size=8, symbol=FRESH_STYLE["marker"] if fresh else ("circle" if budget == budgets[-1]
                                                                                   else "square")),
                    customdata=[[p["epoch"], p["seconds"]] for p in points],
                    hovertemplate=f"{name}<br>epoch %{{customdata[0]}} · %{{customdata[1]:.0f}} s of training"
                                  f"<br>test accuracy %{{y:.2%}}<extra></extra>")
    fig.update_xaxes(title="epochs of training" if x == "epoch" else "seconds of training (this machine)",
                     dtick=1 if x == "epoch" else None)
    fig.update_yaxes(title="test accuracy", tickformat=".1%")
    fig.update_layout(legend=dict(orientation="h", y=-0.25))
    return _layout(fig, height, title)


def few_examples_chart(results: Sequence[dict], colors: dict, names: dict, height: int = 440,
                       title: str | None = None) -> go.Figure:
    """Mean test accuracy against training images (log axis), the band from the worst to the best seed."""
    fig = go.Figure()
    for label, rows, fresh in _results(results):
        for kind, color in colors.items():
            sizes = sorted({r["train_size"] for r in rows if r["model"] == kind})
            if not sizes:
                continue
            by_size = [[r["accuracy"] for r in rows if r["model"] == kind and r["train_size"] == s] for s in sizes]
            low, high = [min(v) for v in by_size], [max(v) for v in by_size]
            seeds = max(len(v) for v in by_size)
            name = f"{names[kind]} · {label}"
            if not fresh:
                fig.add_scatter(x=sizes + sizes[::-1], y=high + low[::-1], fill="toself", mode="lines",
                                line=dict(width=0), fillcolor=_rgba(color, 0.2), hoverinfo="skip",
                                name=f"{name}: range over {seeds} seeds", legendgroup=name, showlegend=False)
            fig.add_scatter(
                x=sizes, y=[float(np.mean(v)) for v in by_size], mode="lines+markers", name=name, legendgroup=name,
                line=dict(color=color, width=3, dash=FRESH_STYLE["dash"] if fresh else "solid"),
                marker=dict(size=9, symbol=FRESH_STYLE["marker"] if fresh else "circle"),
                customdata=np.stack([low, high], axis=1),
                hovertemplate=f"{name}<br>%{{x:,}} training images<br>mean %{{y:.1%}} over {seeds} seeds "
                              f"(%{{customdata[0]:.1%}}–%{{customdata[1]:.1%}})<extra></extra>")
    sizes = sorted({r["train_size"] for _, rows, _ in _results(results) for r in rows})
    fig.update_xaxes(title="training images (log scale)", type="log", tickvals=sizes,
                     ticktext=[f"{s:,}" for s in sizes])
    fig.update_yaxes(title="test accuracy", tickformat=".0%")
    fig.update_layout(legend=dict(orientation="h", y=-0.25), hovermode="x unified")
    return _layout(fig, height, title)


def robustness_grid(results: Sequence[dict], colors: dict, names: dict, corruptions: dict, height: int = 640,
                    title: str | None = None) -> go.Figure:
    """Accuracy against the size of each change, one panel per corruption ({name: (label, unit, identity)}).
    The matched pair solid, the shipped models (trained on moved digits) dotted, a fresh run dashed."""
    columns = 3
    fig = make_subplots(rows=-(-len(corruptions) // columns), cols=columns,
                        subplot_titles=[label for label, _, _ in corruptions.values()],
                        horizontal_spacing=0.06, vertical_spacing=0.2)
    shown = set()
    for label, rows, fresh in _results(results):
        for i, (corruption, (_, unit, identity)) in enumerate(corruptions.items()):
            row, col = i // columns + 1, i % columns + 1
            for kind, color in colors.items():
                for which in ("matched", "shipped"):
                    points = [r for r in rows if r["model"] == kind and r["which"] == which
                              and r["corruption"] == corruption]
                    if not points or (which == "shipped" and fresh):
                        continue
                    name = (f"{names[kind]} · {label}" if which == "matched"
                            else f"shipped {kind} (trained on moved digits)")
                    dash = FRESH_STYLE["dash"] if fresh else ("solid" if which == "matched" else "dot")
                    fig.add_scatter(
                        x=[p["strength"] for p in points], y=[p["accuracy"] for p in points], mode="lines+markers",
                        name=name, legendgroup=name, showlegend=name not in shown,
                        line=dict(color=color, width=3 if which == "matched" else 2, dash=dash),
                        marker=dict(size=7, symbol=FRESH_STYLE["marker"] if fresh else "circle"),
                        hovertemplate=f"{name}<br>{unit}: %{{x}}<br>accuracy %{{y:.1%}}<extra></extra>",
                        row=row, col=col)
                    shown.add(name)
            fig.add_vline(x=identity, line=dict(color=PERFECT_INK, dash="dot", width=1), row=row, col=col)
            fig.update_xaxes(title=dict(text=unit, font=dict(size=12)), row=row, col=col)
    fig.update_yaxes(range=[0, 1.03], tickformat=".0%")
    fig.update_yaxes(title="accuracy", col=1)
    fig.update_layout(legend=dict(orientation="h", y=-0.15))
    return _layout(fig, height, title)
