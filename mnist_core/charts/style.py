"""The look every chart shares: one colour per model family, the projector preset's type and ink,
and the layout defaults. Figures are built in the page families' modules beside this one."""

from __future__ import annotations

import re

import plotly.graph_objects as go

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


def apply_layout(fig: go.Figure, height: int, title: str | None = None) -> go.Figure:
    room = title or fig.layout.annotations  # subplot titles are annotations and need the top margin too
    top = 70 if title and fig.layout.annotations else 40 if room else 10
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=top, b=10),
                      title=dict(text=title) if title else None)
    return fig


RIGHT_INK, WRONG_INK = "#1A7F37", "#CF222E"  # with ✓ and ✗, so colour is never the only cue


TILE_TITLE = "tile title"  # the name of a mosaic's tile titles: a dozen side by side, they grow less



TILE_TITLE_PROJECTOR = 15  # px: the 22 px of subplot titles ran into each other at 8 tiles a row


PERFECT_INK = "#7F7F7F"  # the "perfectly calibrated" diagonal: neutral, never a model's colour
