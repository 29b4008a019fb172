"""Experiments: four small experiments on what convolution assumes, recorded on this machine and
shipped; each re-runs a quick version live in the training worker, drawn over the recorded one."""

import datetime as dt

import numpy as np
import streamlit as st

from app_pages import common
from mnist_core import charts, training
from mnist_core.models import presets, registry
from mnist_core.training import experiments

NAMES = {"ann": "ANN", "cnn": "CNN"}
SHOWN_DIGITS = list(range(8))  # the first test digits, for the pictures of shuffled and corrupted digits

st.title("Experiments: what convolution assumes")
st.caption("A CNN is an ANN with two assumptions built in: a pixel's neighbours matter, and the same pattern "
           "means the same thing anywhere in the image. Four experiments show what those assumptions buy and "
           "what they cost. Each result was recorded on this machine with the full setting; **Run the quick "
           "version live** trains it again here in under a minute and draws your run dashed over the record.")
ds = common.dataset()
kinds = common.selected_kinds()
colors = {kind: common.kind_color(kind) for kind in kinds}
if len(kinds) == 1:
    st.caption(f"Only the {NAMES[kinds[0]]} is shown: choose **Both** in the sidebar to compare.")


@st.cache_data(show_spinner=False, max_entries=32)
def _read(version: tuple):
    return experiments.load_result(version[0])


def read_result(name: str, quick: bool) -> experiments.ExperimentResult | None:
    """A result file (cached per file version); a damaged one is reported with its fix and skipped."""
    try:
        return _read(registry.file_version(experiments.result_path(name, quick)))
    except FileNotFoundError:
        return None
    except experiments.ExperimentFileError as exc:
        st.error(str(exc), icon=":material/error:")
        return None


def results_to_draw(name: str) -> tuple[experiments.ExperimentResult | None, list[dict]]:
    """The recorded (full) result and, if there is one, the latest quick run, as chart inputs."""
    recorded, quick = read_result(name, quick=False), read_result(name, quick=True)
    if recorded is None:
        st.warning(f"No recorded result for this experiment. Record it with "
                   f"`python -m mnist_core experiment {name}` (the full setting), or run the quick version below.",
                   icon=":material/science:")
    drawn = []
    if recorded is not None:
        drawn.append({"label": "recorded", "rows": recorded.rows})
    if quick is not None:
        when = dt.datetime.fromisoformat(quick.created).astimezone().strftime("%H:%M")
        drawn.append({"label": f"quick run {when}", "rows": quick.rows, "fresh": True})
    return recorded, drawn


def how_it_ran(result: experiments.ExperimentResult | None, name: str) -> None:
    if result is None:
        return
    s = result.info.get("setting", {})
    with st.expander("How this was recorded"):
        st.markdown(
            f"- **{result.setting} setting**, seed {result.seed}: {s.get('train_images', 0):,} training images, "
            f"{s.get('test_images', 0):,} test images, {s.get('epochs')} epochs per run, Adam "
            f"{result.info.get('learning_rate')}, batch {result.info.get('batch_size')}, no augmentation.\n"
            f"- Took {result.seconds:,.0f} s on this machine ({result.created[:16].replace('T', ' ')} UTC), "
            f"TensorFlow {result.versions.get('tensorflow', '?')}.\n"
            f"- Record it again: `python -m mnist_core experiment {name}`; the quick version: "
            f"`python -m mnist_core experiment {name} --quick`.")


def live_run(name: str) -> None:
    """Run the quick setting in the training worker, with progress and Stop; the result file it
    writes is the dashed overlay (for every session, until the next quick run)."""
    key = f"experiment_run_{name}"
    run = training.find_run(st.session_state.get(key))
    active = run is not None and run.is_active
    quick = experiments.setting_for(name, quick=True)
    start, stop = common.run_buttons(
        "Run the quick version live", ":material/play_arrow:", active, start_key=f"{name}_start",
        stop_key=f"{name}_stop", widths=(2, 1, 3),
        start_help=f"{quick.train_images:,} training images, {quick.epochs} epochs per run, scored on "
                   f"{quick.test_images:,} test images: under a minute here.")
    if start:
        try:
            run = training.ExperimentRun(name, quick=True, setting=quick).start()
        except training.TrainingBusyError as exc:
            st.warning(str(exc), icon=":material/hourglass:")
            return
        st.session_state[key] = run.id
        st.rerun()
    if stop and run is not None:
        run.stop()
        st.toast("Stopping after the current batch …", icon=":material/stop:")
    if run is None:
        return

    def progress_view():
        snap = run.snapshot()
        if snap.state == "running":
            p = snap.progress
            if p is None:
                st.progress(0.0, text=snap.status or "Starting …")
            else:
                left = f" · about {p.seconds_left:,.0f} s left" if p.seconds_left is not None else ""
                st.progress(p.fraction, text=f"{p.text}{left}")
        elif active:
            st.rerun(scope="app")  # it ended: redraw the charts with the new result

    common.live_view(progress_view, active)
    snap = run.snapshot()
    if snap.state == "finished":
        st.success(f"Your quick run took {snap.seconds:.0f} s; it is drawn over the recorded result (dashed lines, "
                   f"hatched bars).",
                   icon=":material/check:")
    elif snap.state == "stopped":
        st.info(snap.message, icon=":material/stop:")
    elif snap.state == "failed":
        st.error(snap.message, icon=":material/error:")


def metric_pair(columns, label: str, values: dict, base: dict | None = None, help: str | None = None) -> None:
    """One st.metric per shown model: its accuracy, and the change from `base` as the delta."""
    for column, kind in zip(columns, kinds):
        if kind not in values:
            continue
        delta = f"{100 * (values[kind] - base[kind]):+.1f} pts" if base and kind in base else None
        column.metric(f"{NAMES[kind]} · {label}", f"{values[kind]:.1%}", delta, help=help)


# ------------------------------------------------------------------ the four experiments

def shuffled_pixels(recorded: experiments.ExperimentResult | None, drawn: list[dict]) -> None:
    seed = recorded.seed if recorded else 0
    originals = ds.x_test[SHOWN_DIGITS]
    st.image([charts.image_strip(originals), charts.image_strip(
        experiments.shuffle_pixels(originals, experiments.pixel_permutation(seed)))],
             caption=["Test digits as the networks usually see them", "The same digits, pixels shuffled"])
    if recorded is not None:
        acc = {(r["model"], r["pixels"]): r["accuracy"] for r in recorded.rows}
        metric_pair(st.columns(len(kinds)), "shuffled pixels",
                    {k: acc[k, "shuffled"] for k in kinds}, {k: acc[k, "original"] for k in kinds},
                    help="Test accuracy after training on shuffled digits; the change is from the original digits.")
    common.plotly_chart(charts.shuffled_pixels_bars(drawn, colors, NAMES, title="Test accuracy: original vs "
                                                    "shuffled pixels (~100k weights each)"),
                        width="stretch", key="shuffled_chart")
    st.caption("Look at each network's two bars. The ANN's match: it never used which pixel lies next to which, "
               "so shuffling changes nothing for it. The CNN drops: its 3×3 filters and pooling assumed that "
               "neighbouring pixels belong together, and on shuffled digits that assumption is wrong.")


def fair_fight(recorded: experiments.ExperimentResult | None, drawn: list[dict]) -> None:
    budgets = experiments.setting_for("fair_fight", quick=False).budgets
    rows = []
    for budget in budgets:
        filters, dense = presets.matched_cnn_shape(budget)
        conv = presets.matched_conv_parameters(budget)
        rows.append({"budget": f"~{budget:,}",
                     "ANN": f"784 → {presets.matched_ann_hidden(budget)} → 10: "
                            f"{presets.matched_parameters('ann', budget):,} weights",
                     "CNN": f"conv {filters} → pool → conv {2 * filters} → pool → {dense} → 10: "
                            f"{presets.matched_parameters('cnn', budget):,} weights, {conv / budget:.0%} in convolutions"})
    st.markdown(common.markdown_table(rows))
    if recorded is not None:
        top = max(budgets)
        last = {r["model"]: r["accuracy"] for r in recorded.rows if r["budget"] == top}
        small = {r["model"]: r["accuracy"] for r in recorded.rows if r["budget"] == min(budgets)}
        metric_pair(st.columns(len(kinds)), f"~{top // 1000}k weights", last, small,
                    help=f"Test accuracy after the last epoch; the change is from the ~{min(budgets) // 1000}k model.")
    axis = st.segmented_control("Across", ["epochs", "seconds of training"], default="epochs",
                                key="fair_fight_axis") or "epochs"
    x = "epoch" if axis == "epochs" else "seconds"
    common.plotly_chart(charts.fair_fight_curves(drawn, colors, NAMES, x=x, title="Test accuracy of parameter-"
                                                 "matched networks, same recipe"), width="stretch", key="fair_chart")
    st.caption("Compare lines of one dash: same weights, same data, same optimiser. The CNN leads from the first "
               "epoch, and its ~30k model (dotted) beats the ANN's ~100k: it spends a few percent of its weights on "
               "convolutions and reuses them at every position. Switch to seconds: a CNN epoch costs several ANN "
               "epochs of arithmetic, yet the CNN's first epoch already beats the ANN's last.")


def few_examples(recorded: experiments.ExperimentResult | None, drawn: list[dict]) -> None:
    if recorded is not None:
        table = experiments.few_examples_table(recorded)
        for size in (100, 1_000):
            means = {kind: mean for kind in kinds for s, mean, _, _ in table.get(kind, []) if s == size}
            metric_pair(st.columns(len(kinds)), f"{size:,} images", means,
                        help="Mean test accuracy over the seeds.")
    common.plotly_chart(charts.few_examples_chart(drawn, colors, NAMES, title="Test accuracy against training "
                                                  "images (~100k weights each, band: worst to best seed)"),
                        width="stretch", key="few_chart")
    st.caption("Read the gap between the lines from left to right. It is widest with a few hundred digits: the "
               "CNN does not have to learn from examples that a stroke is a stroke wherever it lies. It narrows as "
               "data grows, because enough examples teach the ANN part of what the CNN assumed. The bands show how "
               "much luck (which images, which starting weights) matters at each size.")


def robustness(recorded: experiments.ExperimentResult | None, drawn: list[dict]) -> None:
    digit = ds.x_test[SHOWN_DIGITS[0]].astype(np.float32) / 255.0
    examples, labels = [], []
    for name, corruption in experiments.CORRUPTIONS.items():
        strength = corruption.strengths[-1 if name != "scale" else 2]
        examples.append(experiments.corrupted(digit[None], name, strength)[0])
        labels.append(f"{corruption.label.lower()} {strength:g}")
    st.image(charts.image_strip(np.stack([digit, *examples])),
             caption="One test digit untouched, then " + ", ".join(labels))
    if recorded is not None:
        shift = {r["model"]: r["accuracy"] for r in recorded.rows
                 if r["corruption"] == "shift" and r["strength"] == 3 and r["which"] == "matched"}
        clean = {r["model"]: r["accuracy"] for r in recorded.rows
                 if r["corruption"] == "shift" and r["strength"] == 0 and r["which"] == "matched"}
        metric_pair(st.columns(len(kinds)), "moved 3 px", shift, clean,
                    help="Accuracy on the 1,000 test digits each moved 3 pixels; the change is from the untouched ones.")
    panels = {name: (c.label, c.unit, c.identity) for name, c in experiments.CORRUPTIONS.items()}
    common.plotly_chart(charts.robustness_grid(drawn, colors, NAMES, panels, title="Accuracy as the test digits "
                                               "change (the untouched digits at the grey line)"),
                        width="stretch", key="robust_chart")
    st.caption("Solid lines: the ~100k-weight pair, trained on untouched digits. The CNN holds up better under "
               "shifts, resizing and noise: its filters answer to a local stroke wherever it lies, and pooling "
               "forgives a pixel or two. Rotation hurts both. " +
               experiments.shipped_caption(drawn[-1]["rows"] if drawn else []))


INTROS = {
    "shuffled_pixels": ("**Shuffle the pixels of every digit the same way.** Nothing is lost: the same shuffle for "
                        "every image is a relabelling of the 784 inputs, and undoing it gives the digits back."),
    "fair_fight": ("**Give both networks the same number of weights and the same recipe.** Any gap left is what "
                   "the architecture assumes, not its size."),
    "few_examples": ("**Train on 100 digits, then 300, up to all 60,000.** An assumption that is right is worth "
                     "data: it matters most when data is scarce."),
    "robustness": ("**Move, turn, resize, thin, blur and noise the test digits** (1,000 of them, the same changes "
                   "every time, like MNIST-C). Nobody re-centres them: that is the test."),
}
SECTIONS = {"shuffled_pixels": shuffled_pixels, "fair_fight": fair_fight, "few_examples": few_examples,
            "robustness": robustness}
for tab, name in zip(st.tabs([experiments.TITLES[name] for name in experiments.NAMES]), experiments.NAMES):
    with tab:
        st.markdown(INTROS[name])
        recorded, drawn = results_to_draw(name)
        SECTIONS[name](recorded, drawn)  # its metrics, pictures, chart and what to look for
        how_it_ran(recorded, name)
        live_run(name)
