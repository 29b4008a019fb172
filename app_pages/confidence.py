"""Honest confidence: a section of the Inside the models page, not a page of its own. How far each
model's "x% sure" can be trusted on test digits, what it says to things that are not digits, and
the unsure threshold the Draw page uses. The figures come from mnist_core.analysis.calibration."""

from __future__ import annotations

import functools

import numpy as np
import streamlit as st

from app_pages import common
from mnist_core import charts
from mnist_core.analysis import calibration

CONFIDENT = 0.9  # "says a digit, at least 90% sure": the summary of the answers to non-digits
# Per kind of non-digit: the tab's name, the chart's title and its x axis.
NON_DIGIT_TABS = {"letter": ("Letters", "Letters", "letter"),
                  "scribble": ("Scribbles", "Scribbles drawn on a canvas", "scribble"),
                  "noise": ("Noise", "Noise, made at 28×28", "noise image")}


@st.cache_resource(show_spinner=False, max_entries=16)
def non_digit_figures(shown: tuple, seed: int) -> dict:
    """One figure per kind of non-digit for the models `shown` ((kind, name, file hash, label, colour)
    each), built once per server: 60 images and their answers took ~70 ms a figure to lay out, on
    every run of the page. Shared by every session and never changed (common.plotly_chart copies)."""
    extra = calibration.non_digits(seed)
    kinds = np.asarray(extra.kinds)
    figures = {}
    for kind_of_image in calibration.NON_DIGIT_KINDS:
        _, title, axis = NON_DIGIT_TABS[kind_of_image]
        rows = np.flatnonzero(kinds == kind_of_image)
        names = [extra.names[i] for i in rows]
        ticks = [n.removeprefix("letter ") if kind_of_image == "letter" else str(i + 1) for i, n in enumerate(names)]
        models = []
        for _, name, file_hash, label, color in shown:
            result = common.calibration_of(name)
            models.append({"label": label, "color": color, "threshold": result.threshold,
                           "probabilities": result.non_digit_probabilities[rows]})
        figures[kind_of_image] = charts.non_digit_answers(
            extra.images[rows], ticks, names, models, axis_title=axis,
            title=f"{title}: each model's answer and how sure it is (dashed: its unsure line)")
    return figures


def honest_confidence_section(chosen: dict[str, str]) -> None:
    """The "Honest confidence" section for the model families in `chosen` ("ann"/"cnn" → model
    name), in that order; a model that cannot be read shows its error and is left out."""
    st.subheader("Honest confidence")
    st.caption("When a model says \"90% sure\", is it right 9 times in 10? On test digits both are close to "
               "the dotted diagonal: they are honest there. Then look at the letters, scribbles and noise: a dot "
               "high above its dashed line is a confident answer to something that is no digit at all. Below "
               "that line the Draw page marks the answer **Unsure · best guess** instead of showing a confident digit.")
    measured = {kind: common.calibration_of(name) for kind, name in chosen.items()}
    measured = {kind: c for kind, c in measured.items() if c is not None}
    if not measured:
        return

    label = functools.partial(_label, chosen)
    on_test_digits(measured, label)
    extra = on_non_digits(measured, chosen, label)
    unsure_threshold(measured, label, len(extra))


def _label(chosen: dict[str, str], kind: str) -> str:
    return common.model_label(kind, chosen[kind])


def on_test_digits(measured: dict, label) -> None:
    """Each model's calibration error, and the reliability diagram: how often it is right by how sure."""
    any_measure = next(iter(measured.values()))
    columns = st.columns(len(measured))
    for column, (kind, result) in zip(columns, measured.items()):
        applied = "applied on the Draw page" if result.temperature != 1.0 else "not applied: no clear gain"
        column.metric(
            f"{label(kind)} · calibration error (ECE)", f"{result.ece_before:.2%}",
            f"{result.ece_scaled:.2%} with temperature T = {result.fitted_temperature:.2f} ({applied})",
            delta_color="off", delta_arrow="off",
            help="Expected calibration error: the gap between how sure the model is and how often it is right, "
                 f"averaged over the {result.measured_on:,} test images of the odd positions (the even ones "
                 "chose the temperature). Temperature scaling divides the model's scores by T before the "
                 f"softmax; it is applied only if it lowers this error by {calibration.MIN_ECE_GAIN:.1%} or more.")
    curves = [{"label": label(kind), "color": common.kind_color(kind), "reliability": result.before}
              for kind, result in measured.items()]
    curves += [{"label": f"{label(kind)} · after T = {result.temperature:.2f}", "color": common.kind_color(kind),
                "reliability": result.after, "dash": "dash"}
               for kind, result in measured.items() if result.temperature != 1.0]
    common.plotly_chart(charts.reliability_diagram(
        curves, title=f"How often each model is right, by how sure it was ({any_measure.measured_on:,} test images)"),
        width="stretch", key="reliability-diagram")


def on_non_digits(measured: dict, chosen: dict[str, str], label):
    """What each model answers to letters, scribbles and noise, and how sure it is; the non-digits."""
    any_measure = next(iter(measured.values()))
    extra = calibration.non_digits(any_measure.seed)
    columns = st.columns(len(measured))
    for column, (kind, result) in zip(columns, measured.items()):
        confident = int((result.non_digit_probabilities.max(axis=1) >= CONFIDENT).sum())
        flagged = round(result.flagged_non_digits * len(extra))
        column.metric(f"{label(kind)} · says a digit, ≥ {CONFIDENT:.0%} sure, to", f"{confident} of {len(extra)}",
                      f"{flagged} of {len(extra)} flagged unsure", delta_color="off", delta_arrow="off",
                      help="Letters, scribbles and noise: none of them is a digit, yet a softmax always shares "
                           "100% among the ten digits.")
    tabs = st.tabs([NON_DIGIT_TABS[k][0] for k in calibration.NON_DIGIT_KINDS])
    shown = tuple((kind, chosen[kind], common.model_hash(chosen[kind]), label(kind), common.kind_color(kind))
                  for kind in measured)
    for tab, (kind_of_image, figure) in zip(tabs, non_digit_figures(shown, any_measure.seed).items()):
        with tab:
            common.plotly_chart(figure, width="stretch", key=f"non-digits-{kind_of_image}")
    return extra


def unsure_threshold(measured: dict, label, non_digits: int) -> None:
    """What each model's unsure threshold catches: its mistakes, its right answers, the non-digits."""
    shares = [{"label": f"{label(kind)} · unsure below {result.threshold:.0%}", "color": common.kind_color(kind),
               "shares": {"its test mistakes": result.caught_mistakes,
                          "its right test answers": result.flagged_correct,
                          "non-digits": result.flagged_non_digits}}
              for kind, result in measured.items()]
    common.plotly_chart(charts.unsure_catches(shares, title="What the unsure threshold catches"),
                        width="stretch", key="unsure-catches")
    st.markdown("  \n".join(
        f"**{label(kind)}** is unsure below **{result.threshold:.1%}**: it catches "
        f"{round(result.caught_mistakes * result.mistakes)} of its {result.mistakes} mistakes and "
        f"{result.flagged_correct:.1%} of its right answers on {result.measured_on:,} test images, and "
        f"{round(result.flagged_non_digits * non_digits)} of the {non_digits} non-digits."
        for kind, result in measured.items())
        + f"  \nThe threshold is where {calibration.CORRECT_FLAG_RATE:.0%} of the model's right answers on the "
          "other half of the test set fall below: a clear digit is called unsure about once in a hundred.")
