import numpy as np
import pandas as pd
import pytest

from mnist_core import charts
from mnist_core.analysis import evaluation


def test_digit_heatmap_shows_0_to_255_with_colorbar_and_pixel_hover():
    image = np.arange(784, dtype=np.uint16).reshape(28, 28) % 256
    fig = charts.digit_heatmap(image.astype(np.uint8))
    trace = fig.data[0]
    assert trace.type == "heatmap" and (trace.zmin, trace.zmax) == (0, 255)
    assert np.asarray(trace.z).shape == (28, 28) and "value %{z}" in trace.hovertemplate
    assert fig.layout.yaxis.autorange == "reversed"  # row 0 at the top, like imshow


def test_float_images_are_shown_as_0_to_255():
    fig = charts.digit_heatmap(np.full((28, 28), 0.5, np.float32))
    assert np.asarray(fig.data[0].z).max() == 128


def test_class_distribution_has_train_and_test_counts():
    fig = charts.class_distribution(np.array([0, 0, 1]), np.array([1]))
    assert [t.name.split()[0] for t in fig.data] == ["train", "test"]
    assert list(fig.data[0].y[:2]) == [2, 1] and list(fig.data[1].y[:2]) == [0, 1]


def test_image_grid_has_one_heatmap_per_image_and_one_colour_range():
    fig = charts.image_grid(np.random.default_rng(0).random((10, 28, 28)), [str(d) for d in range(10)], zmax=1)
    assert len(fig.data) == 10 and {t.zmax for t in fig.data} == {1}


def test_probability_bars_highlight_the_winner_on_a_fixed_axis():
    p = np.array([0.01, 0.02, 0.9, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01])
    fig = charts.probability_bars(p, "#123456")
    colors = list(fig.data[0].marker.color)
    assert colors[2] == "#123456" and colors.count("#123456") == 1
    assert tuple(fig.layout.yaxis.range) == (0, 1.15)


def test_probability_bars_equal_the_fully_validated_figure():
    import json

    import plotly.graph_objects as go
    import plotly.io as pio

    p = np.random.default_rng(3).dirichlet(np.ones(10))
    fast = charts.probability_bars(p, "#123456", title="CNN")
    winner = int(np.argmax(p))
    checked = go.Figure(go.Bar(
        x=charts.DIGITS, y=p.tolist(), marker_color=["#123456" if d == winner else "#BAB0AC" for d in range(10)],
        text=[f"{v:.0%}" if v >= 0.005 else "" for v in p], textposition="outside",
        hovertemplate="digit %{x}: %{y:.2%}<extra></extra>"))
    checked.update_yaxes(range=[0, 1.15], tickformat=".0%", title=None, dtick=0.25)
    checked.update_xaxes(type="category", title=None)
    checked.update_layout(height=260, margin=dict(l=10, r=10, t=40, b=10), title=dict(text="CNN"))
    assert json.loads(pio.to_json(fast, validate=False)) == json.loads(pio.to_json(checked, validate=False))
    go.Figure(fast.to_dict())  # and plotly's validators accept it


def test_training_curves_draw_train_solid_and_validation_dashed_per_run():
    records = [{"epoch": 1, "loss": 0.5, "accuracy": 0.8, "val_loss": 0.4, "val_accuracy": 0.85},
               {"epoch": 2, "loss": 0.3, "accuracy": 0.9, "val_loss": 0.35, "val_accuracy": 0.88}]
    no_val = [{"epoch": 1, "loss": 0.2, "accuracy": 0.95, "val_loss": None, "val_accuracy": None}]
    fig = charts.training_curves([{"label": "ann", "color": "#f00", "records": records},
                                  {"label": "cnn", "color": "#00f", "records": no_val}])
    names = [t.name for t in fig.data]
    assert names.count("ann · train") == 2 and names.count("ann · validation") == 2
    assert "cnn · validation" not in names
    assert {t.line.dash for t in fig.data if t.name.endswith("validation")} == {"dash"}
    assert list(fig.data[0].y) == [0.5, 0.3]


def test_confusion_heatmap_separates_the_diagonal_and_has_clickable_cells():
    matrix = evaluation.confusion_matrix(np.repeat(np.arange(10), 10), np.repeat(np.arange(10), 10))
    matrix[3, 5] = 4
    fig = charts.confusion_heatmap(matrix)
    errors, correct, cells = fig.data
    assert np.isnan(np.asarray(errors.z, float)[3, 3]) and np.asarray(errors.z)[3, 5] == 4
    assert np.asarray(correct.z)[3, 3] == 10 and np.isnan(np.asarray(correct.z, float)[3, 5])
    assert cells.type == "scatter" and len(cells.x) == 100
    assert list(cells.customdata[35][:1]) == [4]  # actual 3, predicted 5
    rates = charts.confusion_heatmap(matrix, normalise=True)
    assert rates.data[1].text[3][3] == "71.4%"


def test_per_class_bars_zoom_to_the_differences():
    metrics = pd.DataFrame({"digit": range(10), "precision": [0.99] * 10, "recall": [0.97] * 10, "f1": [0.98] * 10})
    fig = charts.per_class_bars(metrics)
    assert len(fig.data) == 3 and fig.layout.yaxis.range[0] > 0.9


def test_enlarge_keeps_pixels_crisp():
    image = np.array([[0, 255], [255, 0]], np.uint8)
    big = charts.enlarge(image, 3)
    assert big.shape == (6, 6) and big[:3, :3].max() == 0 and big[:3, 3:].min() == 255


def test_thumbnail_pads_to_a_square_without_distorting():
    tall = np.zeros((40, 10), np.float32)
    tall[:, 4:6] = 1.0
    thumb = charts.thumbnail(tall, 80)
    assert thumb.shape == (80, 80) and thumb.dtype == np.uint8
    assert thumb[:, :36].max() == 0 and thumb[:, 38:42].min() == 255  # the stroke stays thin and centred


# ------------------------------------------------------------------ the projector preset


def wcag_contrast(color: str, background: str = "#FFFFFF") -> float:
    """WCAG 2.x contrast ratio, (L1 + 0.05) / (L2 + 0.05) of the relative luminances."""
    def luminance(hex_color):
        channels = [int(hex_color.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4)]
        r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    high, low = sorted((luminance(color), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_wcag_contrast_matches_published_values():
    assert wcag_contrast("#000000") == 21
    assert round(wcag_contrast("#767676"), 2) == 4.54  # the lightest grey that passes AA for text
    assert round(wcag_contrast("#777777"), 2) == 4.48


def test_projector_palette_is_distinct_new_and_at_least_3_to_1_on_white():
    families = ("ann", "cnn")
    projector = [charts.kind_color(k, projector=True) for k in families]
    default = [charts.kind_color(k) for k in families]
    assert len(set(projector)) == 2 and not set(projector) & set(default)
    extras = [charts.color_for(None, i, projector=True) for i in range(len(charts.PROJECTOR_EXTRA_COLORS))]
    assert len(set(projector + extras)) == len(projector + extras)  # another run never looks like a family
    for color in projector + extras:
        assert wcag_contrast(color) >= 3, color


def test_color_for_picks_the_family_or_cycles_the_extras_per_preset():
    assert charts.color_for("cnn") == charts.KIND_COLORS["cnn"]
    assert charts.color_for("cnn", 5, projector=True) == charts.PROJECTOR_KIND_COLORS["cnn"]
    assert charts.color_for(None, 1) == charts.EXTRA_COLORS[1]
    n = len(charts.PROJECTOR_EXTRA_COLORS)
    assert charts.color_for("mlp", n + 1, projector=True) == charts.PROJECTOR_EXTRA_COLORS[1]


def test_projector_figure_enlarges_type_in_black_on_a_copy():
    import plotly.io as pio

    matrix = evaluation.confusion_matrix(np.repeat(np.arange(10), 10), np.repeat(np.arange(10), 10))
    fig = charts.confusion_heatmap(matrix, title="ANN")
    before = pio.to_json(fig, validate=False)
    big = charts.projector_figure(fig)
    assert pio.to_json(fig, validate=False) == before  # figures are cached and shared: never changed
    assert big.layout.font.size == charts.PROJECTOR_FONT > 12  # Plotly's default
    assert big.layout.xaxis.tickfont.size >= 16 and big.layout.title.font.size > charts.PROJECTOR_FONT
    assert big.layout.xaxis.tickfont.color == big.layout.yaxis.title.font.color == "#000000"
    assert big.layout.xaxis.title.text == "predicted"  # what was there stays
    assert big.data[0].textfont.size > fig.data[0].textfont.size  # the counts in the cells
    assert big.data[0].colorbar.title.text == "errors" and big.data[0].colorbar.tickfont.size >= 16
    curves = charts.projector_figure(charts.training_curves([{"label": "a", "color": "#000", "records": [
        {"epoch": 1, "loss": 0.5, "accuracy": 0.8}]}]))
    assert {a.font.size for a in curves.layout.annotations} == {charts.PROJECTOR_FONT + 2}  # subplot titles
    assert curves.layout.xaxis2.tickfont.size == charts.PROJECTOR_FONT - 1  # every subplot's axes


def test_projector_figures_pass_plotlys_validators():
    import plotly.graph_objects as go

    rng = np.random.default_rng(0)
    matrix = evaluation.confusion_matrix(rng.integers(0, 10, 200), rng.integers(0, 10, 200))
    metrics = pd.DataFrame({"digit": range(10), "precision": [0.99] * 10, "recall": [0.97] * 10, "f1": [0.98] * 10})
    figures = [charts.digit_heatmap(rng.random((28, 28))), charts.class_distribution(np.arange(10), np.arange(10)),
               charts.image_grid(rng.random((10, 28, 28)), charts.DIGITS),
               charts.probability_bars(rng.dirichlet(np.ones(10)), "#D55E00", title="ANN"),
               charts.training_curves([{"label": "a", "color": "#000", "records": [{"epoch": 1, "loss": 0.5}]}]),
               charts.confusion_heatmap(matrix), charts.per_class_bars(metrics),
               # built as plain dicts, unvalidated for speed: checked here
               charts.attribution_maps(rng.random((28, 28)), [("a", rng.normal(size=(28, 28)))] * 4, columns=4,
                                       title="t"),
               charts.diverging_grid(rng.normal(size=(8, 28, 28)), list("abcdefgh"), numbers=range(8), title="t"),
               charts.feature_map_grid(rng.normal(size=(16, 14, 14)), list("abcdefghijklmnop"), channels=range(16)),
               charts.evidence_flow(rng.normal(size=(8, 10)), list("abcdefgh"), 3, title="t"),
               charts.clickable_map(rng.random((5, 5)), (1, 2), "t"),
               charts.digit_with_box(rng.random((28, 28)), (1, 2, 3, 4), "t"),
               charts.sweep_lines([0, 1], [{"label": "a", "color": "#000", "values": [0.1, 0.2]}], 0, "x", 3)]
    for fig in figures:
        go.Figure(fig.to_dict())
        go.Figure(charts.projector_figure(fig).to_dict())  # raises on anything plotly would refuse


# ------------------------------------------------------------------ inside the models


def test_attribution_maps_lie_over_the_digit_on_one_symmetric_scale():
    rng = np.random.default_rng(0)
    maps = [("a", rng.normal(0, 1, (28, 28))), ("b", rng.normal(0, 3, (28, 28)))]
    fig = charts.attribution_maps(np.zeros((28, 28)), maps)
    assert len(fig.data) == 3 and {t.coloraxis for t in fig.data[1:]} == {"coloraxis"}  # the ink, then each map
    np.testing.assert_array_equal(np.asarray(fig.data[1].z, float), maps[0][1])
    np.testing.assert_array_equal(np.asarray(fig.data[2].z, float), maps[1][1])
    assert (fig.data[1].x0, fig.data[2].x0) == (0, 28 + charts.tile_gap(28))  # side by side, after a gap
    ink = np.asarray(fig.data[0].z, float)
    assert ink.shape == (28, 2 * 28 + charts.tile_gap(28)) and np.isnan(ink[:, 28:28 + charts.tile_gap(28)]).all()
    assert [a.text for a in fig.layout.annotations] == ["a", "b"]
    top = max(np.abs(m).max() for _, m in maps)
    assert fig.layout.coloraxis.cmin == -fig.layout.coloraxis.cmax == pytest.approx(-top)
    assert fig.layout.coloraxis.colorscale[2][1].endswith(",0)")  # zero is transparent: the ink shows


def test_a_mosaic_names_each_tile_by_its_number_in_the_hover():
    maps = np.random.default_rng(2).random((3, 5, 5))
    fig = charts.feature_map_grid(maps, ["a", "b", "c"], columns=2, channels=[17, 4, 9])
    custom = np.asarray(fig.data[0].customdata)
    z = np.asarray(fig.data[0].z, float)
    gap = charts.tile_gap(5)
    assert custom[0, 0].tolist() == [17, 0, 0] and custom[4, 5 + gap + 4].tolist() == [4, 4, 4]
    np.testing.assert_array_equal(z[5 + gap:, :5], maps[2])
    assert custom[5 + gap, 0].tolist() == [9, 0, 0]
    assert "channel %{customdata[0]}" in fig.data[0].hovertemplate


def test_signed_grids_and_evidence_put_zero_in_the_middle():
    weights = np.random.default_rng(1).normal(0, 1, (8, 28, 28)) + 0.5  # skewed positive
    fig = charts.diverging_grid(weights, [f"u{i}" for i in range(8)])
    assert fig.layout.coloraxis.cmin == -fig.layout.coloraxis.cmax == pytest.approx(-np.abs(weights).max())
    flow = charts.evidence_flow(np.array([[1.0, -4.0] + [0.0] * 8]), ["unit 3"], answer=0)
    assert (flow.data[0].zmin, flow.data[0].zmax) == (-4.0, 4.0) and flow.layout.shapes[0].x0 == -0.5


def test_sweep_lines_mark_the_untouched_digit_and_name_their_axes():
    fig = charts.sweep_lines([-1, 0, 1], [{"label": "ANN", "color": "#D55E00", "values": [0.2, 0.9, 0.3]}],
                             untouched=0, axis_title="shift (px)", target=7)
    assert fig.layout.shapes[0].x0 == 0 and fig.layout.xaxis.title.text == "shift (px)"
    assert fig.layout.yaxis.title.text == "probability of 7" and fig.data[0].line.color == "#D55E00"


def test_image_strip_puts_digits_side_by_side():
    strip = charts.image_strip(np.ones((5, 28, 28)), factor=2, gap=3)
    assert strip.shape == (56, 5 * 56 + 4 * 3) and strip.dtype == np.uint8 and strip.max() == 255


# ------------------------------------------------------------------ experiments
COLORS, NAMES = {"ann": "#F28E2B", "cnn": "#4E79A7"}, {"ann": "ANN", "cnn": "CNN"}


def test_shuffled_pixel_bars_hatch_a_fresh_run_and_label_each_bar():
    rows = [{"model": k, "pixels": p, "accuracy": a} for k, p, a in
            [("ann", "original", 0.976), ("ann", "shuffled", 0.975), ("cnn", "original", 0.989), ("cnn", "shuffled", 0.94)]]
    fig = charts.shuffled_pixels_bars([{"label": "recorded", "rows": rows},
                                       {"label": "quick run", "rows": rows, "fresh": True}], COLORS, NAMES)
    assert [t.name for t in fig.data] == ["ANN · recorded", "CNN · recorded", "ANN · quick run", "CNN · quick run"]
    assert [t.marker.pattern.shape for t in fig.data] == [None, None, "/", "/"]
    assert {t.marker.pattern.fillmode for t in fig.data[2:]} == {"overlay"}  # hatches over the colour, not instead
    assert list(fig.data[1].text) == ["98.9%", "94.0%"]
    assert fig.layout.yaxis.range[0] <= 0.94 - 0.05  # the lowest bar stands well clear of the axis


def test_fair_fight_curves_follow_epochs_or_seconds_and_dot_the_small_budget():
    rows = [{"model": k, "budget": b, "epoch": e, "seconds": 2.0 * e, "accuracy": 0.9 + e / 100}
            for k in ("ann", "cnn") for b in (30_000, 100_000) for e in (1, 2, 3)]
    by_epoch = charts.fair_fight_curves([{"label": "recorded", "rows": rows}], COLORS, NAMES)
    by_seconds = charts.fair_fight_curves([{"label": "recorded", "rows": rows}], COLORS, NAMES, x="seconds")
    assert list(by_epoch.data[0].x) == [1, 2, 3] and list(by_seconds.data[0].x) == [2.0, 4.0, 6.0]
    dashes = {t.name: t.line.dash for t in by_epoch.data}
    assert dashes["ANN ~30k weights · recorded"] == "dot" and dashes["CNN ~100k weights · recorded"] == "solid"
    assert by_seconds.layout.xaxis.title.text.startswith("seconds")


def test_few_examples_chart_draws_the_seed_band_and_the_mean_on_a_log_axis():
    rows = [{"model": k, "train_size": n, "seed": s, "accuracy": 0.5 + n / 1e5 + s / 100}
            for k in ("ann", "cnn") for n in (100, 1000, 10_000) for s in (0, 1, 2)]
    fig = charts.few_examples_chart([{"label": "recorded", "rows": rows}], COLORS, NAMES)
    band, mean = fig.data[0], fig.data[1]
    assert band.fill == "toself" and list(band.y) == pytest.approx([0.52 + n / 1e5 for n in (100, 1000, 10_000)]
                                                                   + [0.5 + n / 1e5 for n in (10_000, 1000, 100)])
    assert list(mean.y) == pytest.approx([0.51 + n / 1e5 for n in (100, 1000, 10_000)])
    assert fig.layout.xaxis.type == "log" and list(fig.layout.xaxis.tickvals) == [100, 1000, 10_000]


def test_robustness_grid_has_a_panel_per_corruption_and_the_shipped_models_dotted():
    corruptions = {"shift": ("Shift", "px", 0), "scale": ("Scale", "×", 1.0)}
    rows = [{"model": k, "which": w, "corruption": c, "strength": s, "accuracy": 0.9}
            for k in ("ann", "cnn") for w in ("matched", "shipped") for c in corruptions for s in (0, 1, 2)]
    fig = charts.robustness_grid([{"label": "recorded", "rows": rows},
                                  {"label": "quick run", "rows": [r for r in rows if r["which"] == "matched"],
                                   "fresh": True}], COLORS, NAMES, corruptions)
    assert [a.text for a in fig.layout.annotations][:2] == ["Shift", "Scale"]
    shipped = [t for t in fig.data if " shipped (" in t.name]
    assert len(shipped) == 4 and {t.line.dash for t in shipped} == {"dot"}
    assert {t.line.dash for t in fig.data if "quick run" in t.name} == {"dash"}
    assert sum(t.showlegend for t in fig.data) == 6  # each line named once, not once per panel
    charts.experiments.go.Figure(fig.to_dict())  # plotly's validators accept it


def test_the_epoch_strip_marks_each_answer_right_or_wrong():
    images = np.zeros((3, 28, 28), np.uint8)
    rows = [{"label": "ANN run", "color": "#F28E2B", "answers": [1, 5, 2], "confidence": [0.9, 0.4, 0.7]},
            {"label": "CNN run", "color": "#4E79A7", "answers": [None] * 3, "confidence": [0.0] * 3}]
    fig = charts.epoch_strip(images, [1, 2, None], rows, ["a", "b", "your drawing"])
    answers = fig.data[1]
    assert list(answers.text) == ["1 ✓", "5 ✗", "2"]  # the drawing's truth unknown: no mark
    assert list(answers.textfont.color) == [charts.RIGHT_INK, charts.WRONG_INK, "#F28E2B"]
    assert list(fig.data[2].text) == ["90%", "40%", "70%"]
    assert list(fig.data[3].text) == ["…"] * 3  # no snapshot of that epoch yet
    assert [a.text for a in fig.layout.annotations] == ["<b>ANN run</b>", "<b>CNN run</b>"]
