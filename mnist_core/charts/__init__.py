"""Plotly figure builders: data in, figure out, one place for every chart. `style` holds the look
they share (one colour per model family, the projector preset); the others build one page
family's figures each. `charts.NAME` reaches any of them."""

from mnist_core.charts.digits import class_distribution, digit_heatmap, image_grid, probability_bars
from mnist_core.charts.evaluation import (
                                     confusion_heatmap,
                                     non_digit_answers,
                                     per_class_bars,
                                     reliability_diagram,
                                     unsure_catches,
)
from mnist_core.charts.experiments import (
                                     FRESH_STYLE,
                                     fair_fight_curves,
                                     few_examples_chart,
                                     robustness_grid,
                                     shuffled_pixels_bars,
)
from mnist_core.charts.images import enlarge, image_strip, thumbnail, to_uint8
from mnist_core.charts.inside import (
                                     DIVERGING,
                                     OVERLAY,
                                     PAPER_INK,
                                     TILES_WIDTH,
                                     attribution_maps,
                                     clickable_map,
                                     digit_with_box,
                                     diverging_grid,
                                     evidence_flow,
                                     feature_map_grid,
                                     sweep_lines,
                                     symmetric_limit,
                                     tile_gap,
)
from mnist_core.charts.space import DIGIT_COLORS, learned_space_map, map_ranges
from mnist_core.charts.style import (
                                     DIGITS,
                                     EXTRA_COLORS,
                                     KIND_COLORS,
                                     PERFECT_INK,
                                     PROJECTOR_EXTRA_COLORS,
                                     PROJECTOR_FONT,
                                     PROJECTOR_INK,
                                     PROJECTOR_KIND_COLORS,
                                     RIGHT_INK,
                                     TILE_TITLE,
                                     TILE_TITLE_PROJECTOR,
                                     WRONG_INK,
                                     apply_layout,
                                     color_for,
                                     kind_color,
                                     projector_figure,
)
from mnist_core.charts.training import WRITEUP_INK, epoch_strip, training_curves

__all__ = ["DIGITS", "EXTRA_COLORS", "KIND_COLORS", "PERFECT_INK", "PROJECTOR_EXTRA_COLORS", "PROJECTOR_FONT",
           "PROJECTOR_INK", "PROJECTOR_KIND_COLORS", "RIGHT_INK", "TILE_TITLE", "TILE_TITLE_PROJECTOR",
           "WRONG_INK", "apply_layout", "color_for", "kind_color", "projector_figure", "enlarge",
           "image_strip", "thumbnail", "to_uint8", "class_distribution", "digit_heatmap", "image_grid",
           "probability_bars", "WRITEUP_INK", "epoch_strip", "training_curves", "confusion_heatmap",
           "non_digit_answers", "per_class_bars", "reliability_diagram", "unsure_catches", "DIVERGING",
           "OVERLAY", "PAPER_INK", "TILES_WIDTH", "attribution_maps", "clickable_map", "digit_with_box",
           "diverging_grid", "evidence_flow", "feature_map_grid", "sweep_lines", "symmetric_limit", "tile_gap",
           "DIGIT_COLORS", "learned_space_map", "map_ranges", "FRESH_STYLE", "fair_fight_curves", "few_examples_chart", "robustness_grid", "shuffled_pixels_bars"]
