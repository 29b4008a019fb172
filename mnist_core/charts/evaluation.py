"""Evaluation and honest confidence: the confusion matrix, per-class scores, the reliability diagram, what models answer to non-digits, what *unsure* catches."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mnist_core.charts.style import DIGITS, PERFECT_INK, apply_layout


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
    return apply_layout(fig, height, title)


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
    return apply_layout(fig, height)


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
    return apply_layout(fig, height, title)


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
    return apply_layout(fig, height, title)


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
    return apply_layout(fig, height, title)
