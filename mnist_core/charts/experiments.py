"""The Experiments page: each chart takes results as tidy rows (experiments.ExperimentResult.rows), a colour per model family, and up to two results: the recorded one (solid) and a fresh quick run (dashed, open markers)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mnist_core.charts.style import PERFECT_INK, apply_layout

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
    return apply_layout(fig, height, title)



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
    return apply_layout(fig, height, title)



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
    return apply_layout(fig, height, title)



def robustness_grid(results: Sequence[dict], colors: dict, names: dict, corruptions: dict, height: int = 640,
                    title: str | None = None) -> go.Figure:
    """Accuracy against the size of each change, one panel per corruption ({name: (label, unit, identity)}).
    The matched pair solid, the shipped models (trained with augmentation) dotted, a fresh run dashed."""
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
                            else f"{names[kind]} shipped (trained with augmentation)")
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
    return apply_layout(fig, height, title)
