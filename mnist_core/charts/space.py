"""The learned space's figure: a model's map of test digits, one colour per digit with the digit
written at each cluster's middle (so colour is never the only cue), and what is placed into it:
your drawing as a star, its nearest test digits ringed, the room's digits as small marks."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from mnist_core.charts.style import PROJECTOR_INK, WRONG_INK, apply_layout

# Tableau 10, the family the model colours come from, one per digit.
DIGIT_COLORS = ["#4E79A7", "#F28E2B", "#E15759", "#76B7B2", "#59A14F",
                "#EDC948", "#B07AA1", "#FF9DA7", "#9C755F", "#BAB0AC"]
STAR_INK = "#000000"


def map_ranges(coords: Sequence[np.ndarray], margin: float = 0.06) -> tuple[list[float], list[float]]:
    """x and y ranges holding every map in `coords` (a run's epochs), so the slider moves the points,
    not the axes."""
    stacked = np.concatenate([np.asarray(c, np.float32) for c in coords])
    low, high = stacked.min(0), stacked.max(0)
    pad = (high - low) * margin + 1e-6
    return [float(low[0] - pad[0]), float(high[0] + pad[0])], [float(low[1] - pad[1]), float(high[1] + pad[1])]


def learned_space_map(coords: np.ndarray, labels: np.ndarray, indices: np.ndarray | None = None,
                      placed: Sequence[dict] = (), ringed: np.ndarray | None = None, title: str | None = None,
                      ranges: tuple[list[float], list[float]] | None = None, height: int = 460,
                      faint: bool = False) -> go.Figure:
    """A map of test digits. `indices` name them in hovers ("test digit 1234"); `ringed` (indices
    into the map) are circled, e.g. a drawing's nearest digits; each of `placed` is a dict with x, y,
    "name" (hover) and optionally "symbol" ("star"), "size", "color", "wrong" (drawn with a red ✗).
    `faint` fades the test digits behind many placed ones (the room's)."""
    coords = np.round(np.asarray(coords, np.float32), 2)
    labels = np.asarray(labels).astype(int)
    fig = go.Figure()
    for digit in range(10):
        mine = labels == digit
        names = np.asarray(indices)[mine] if indices is not None else np.flatnonzero(mine)
        fig.add_trace(go.Scatter(
            x=coords[mine, 0], y=coords[mine, 1], mode="markers", name=str(digit), customdata=names,
            marker=dict(size=4 if faint else 5, color=DIGIT_COLORS[digit], opacity=0.25 if faint else 0.75),
            hovertemplate=f"a {digit} · test digit %{{customdata}}<extra></extra>"))
        if mine.any():
            middle = np.median(coords[mine], axis=0)
            fig.add_annotation(x=float(middle[0]), y=float(middle[1]), text=f"<b>{digit}</b>", showarrow=False,
                               font=dict(size=18, color=PROJECTOR_INK), bgcolor="rgba(255,255,255,0.7)")
    if ringed is not None and len(ringed):
        fig.add_trace(go.Scatter(x=coords[ringed, 0], y=coords[ringed, 1], mode="markers", name="nearest",
                                 marker=dict(size=13, color="rgba(0,0,0,0)", line=dict(width=2, color=STAR_INK)),
                                 hoverinfo="skip", showlegend=False))
    if placed:
        wrong = [p for p in placed if p.get("wrong")]
        fig.add_trace(go.Scatter(
            x=[p["x"] for p in placed], y=[p["y"] for p in placed], mode="markers", name="placed",
            text=[p["name"] for p in placed], hovertemplate="%{text}<extra></extra>", showlegend=False,
            marker=dict(symbol=[p.get("symbol", "star") for p in placed], size=[p.get("size", 22) for p in placed],
                        color=[p.get("color", "#FFD700") for p in placed], line=dict(width=1.5, color=STAR_INK))))
        if wrong:  # fooled: a red cross over the mark, not colour alone
            fig.add_trace(go.Scatter(x=[p["x"] for p in wrong], y=[p["y"] for p in wrong], mode="markers",
                                     marker=dict(symbol="x-thin", size=14, line=dict(width=3, color=WRONG_INK)),
                                     hoverinfo="skip", showlegend=False, name="fooled"))
    axis = dict(showticklabels=False, showgrid=False, zeroline=False, title=None)
    fig.update_layout(xaxis={**axis, **({"range": ranges[0]} if ranges else {})},
                      yaxis={**axis, "scaleanchor": "x", **({"range": ranges[1]} if ranges else {})},
                      legend=dict(title="digit ", itemsizing="constant", orientation="h", x=0, y=1.0,
                                  yanchor="bottom"),  # above the map: beside it, a phone's map shrank to half
                      plot_bgcolor="white")
    return apply_layout(fig, height, title)
