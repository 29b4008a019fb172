"""Replays and per-epoch snapshots: what they cost, and the write-ups beside our recordings.

Prints, for every shipped recording: its size, epochs, training seconds, what the snapshots cost
as a share of them, its test accuracy and the write-up's where there is one. Then the Train page's
server time (AppTest runs the real page script): pressing Play on a recording not yet in memory,
a replay frame, and a move of the epoch slider (the strip, the confusion matrix and the first layer
rebuilt). Goals: a replay starts in ≤ 1 s; the strip and scrubbing answer in ≤ 0.3 s.

    .venv/bin/python benchmarks/replay_timings.py [--repeat 7]
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

from mnist_core.models import writeups  # noqa: E402
from mnist_core.training import epoch_snapshots, replays


def recordings_table() -> None:
    print("| recording | file | epochs | training | snapshots cost | last epoch train acc | test acc | write-up |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in replays.list_replays():
        path = replays.replay_path(name)
        started = time.perf_counter()
        r = replays.load_recording(path)
        load_ms = (time.perf_counter() - started) * 1000
        cost = epoch_snapshots.share_of_training(r.snapshots, r.records)
        reported = writeups.for_preset(r.preset) if name == r.preset else None
        theirs = f"{reported.test_accuracy:.2%}" if reported else "–"
        print(f"| {name} | {path.stat().st_size / 1024:,.0f} KB, read in {load_ms:.0f} ms | {len(r.records)} | "
              f"{r.seconds:,.0f} s | {cost:.1%} ({sum(s.seconds for s in r.snapshots):.1f} s, "
              f"{r.snapshots[-1].test_images:,} test images each) | {r.records[-1].accuracy:.2%} | "
              f"{r.test_accuracy:.2%} | {theirs} |")
    if "seed004-cnn" in replays.list_replays():
        r = replays.load_recording(replays.replay_path("seed004-cnn"))
        scored = {s.epoch: s.test_accuracy for s in r.snapshots}
        print("\nseed004-cnn by epoch, write-up's validation (= test) accuracy vs ours on the scored test images:")
        for epoch, theirs in writeups.WRITEUPS["seed004-cnn"].curve["test_accuracy"].items():
            print(f"  epoch {epoch:2d}: write-up {theirs:.2%}   ours {scored.get(epoch, float('nan')):.2%}")


def page_times(repeat: int) -> None:
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    at.run()
    at.switch_page("app_pages/train.py").run()
    at.segmented_control(key="train_mode").set_value("replay").run()
    names = replays.list_replays()
    play, frames, scrubs = [], [], []
    for name in names:
        at.selectbox(key="replay_name").set_value(name).run()
        at.segmented_control(key="replay_speed").set_value(20).run()
        started = time.perf_counter()
        [b for b in at.button if b.label == "Play"][0].click().run()
        play.append(time.perf_counter() - started)
        for _ in range(2):  # frames while it plays
            started = time.perf_counter()
            at.run()
            frames.append(time.perf_counter() - started)
        recording = replays.load_recording(replays.replay_path(name))
        deadline = time.time() + recording.seconds / 20 + 10
        while time.time() < deadline and not any(m.label == "Test accuracy (recorded)" for m in at.metric):
            time.sleep(0.3)
            at.run()
        slider = [s for s in at.select_slider if s.label == "Epoch"][0]
        epochs = slider.options
        for i in range(min(repeat, len(epochs))):
            slider = [s for s in at.select_slider if s.label == "Epoch"][0]
            started = time.perf_counter()
            slider.set_value(int(epochs[i % len(epochs)])).run()
            scrubs.append(time.perf_counter() - started)
    for label, values in (("Play pressed → first frame drawn (a recording read from disk)", play),
                          ("a replay frame (the fragment's poll)", frames),
                          ("a move of the epoch slider → strip, confusion matrix and first layer", scrubs)):
        print(f"{label}: median {statistics.median(values) * 1000:.0f} ms, max {max(values) * 1000:.0f} ms "
              f"({len(values)} runs, whole page script)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=7, help="slider moves per recording")
    args = parser.parse_args()
    recordings_table()
    print()
    page_times(args.repeat)


if __name__ == "__main__":
    main()
