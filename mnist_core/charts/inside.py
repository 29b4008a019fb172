"""Inside the models: signed quantities (weights, evidence, attributions) on one diverging scale with zero in the middle, mosaics of maps, the receptive-field view and sweeps."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from mnist_core.charts.digits import digit_heatmap
from mnist_core.charts.style import DIGITS, TILE_TITLE, apply_layout

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


def tile_gap(h: int) -> int:
    return max(1, round(h * 0.45))  # room for each tile's title in the row above it


def attribution_maps(image: np.ndarray, maps: Sequence[tuple[str, np.ndarray]], columns: int = 2,
                     height: int | None = None, limit: float | None = None, unit: str = "Δ probability",
                     title: str | None = None) -> go.Figure:
    """Each map laid over the digit (grey ink on white), all on one symmetric scale (`limit`, else
    the largest |value| of them all): red where the place speaks for the answer, blue against."""
    top = limit or symmetric_limit(*[m for _, m in maps])
    values = np.stack([np.asarray(m, float) for _, m in maps])
    titles = [t for t, _ in maps]
    gap = tile_gap(28)
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
    z, where, places = _mosaic(images, columns, tile_gap(h))
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
    return apply_layout(fig, height, title)


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
    z, where, places = _mosaic(maps, columns, tile_gap(h))
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
    return apply_layout(fig, height, title)


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
    return apply_layout(fig, height, title)
