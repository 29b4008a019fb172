"""Training: loss and accuracy curves (ours beside the write-ups'), and the epoch strip."""

from __future__ import annotations

import base64
import io
from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image
from plotly.subplots import make_subplots

from mnist_core.charts.images import image_strip
from mnist_core.charts.style import PERFECT_INK, RIGHT_INK, WRONG_INK, apply_layout

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
    return apply_layout(fig, height)



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
