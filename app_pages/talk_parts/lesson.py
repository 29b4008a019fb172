"""Learn from the room, on the Talk page: copies of the shown models fine-tuned on half of the room's
digits, judged with the originals on the other half, and saved if the presenter wants them."""

import streamlit as st

from app_pages import common
from mnist_core import charts, training
from mnist_core.talk import room_learning

CHANGES_SHOWN = 8


def start_lesson(store, kinds: list[str], talk_id: int) -> None:
    ds = common.dataset()
    try:
        room_learning.RoomLesson(talk_id, store.arrays(talk_id), {kind: kind for kind in kinds},
                                 ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test))).start()
    except (room_learning.NotEnoughDigits, training.TrainingBusyError) as exc:
        st.session_state.lesson_error = str(exc)


def lesson_progress(lesson: room_learning.RoomLesson) -> None:
    """One progress bar per copy; the page reruns whole when the last run ends."""
    for kind, run in lesson.runs.items():
        snap, label = run.snapshot(), common.KIND_LABEL[kind]
        p = snap.progress
        if snap.state == "evaluating":
            st.progress(1.0, text=f"{label}: scoring MNIST's 10,000 test digits …")
        elif not run.is_active:
            st.progress(1.0, text=f"{label}: {snap.message}")
        elif p is None:
            st.progress(0.0, text=f"{label}: {snap.status or 'Starting …'}")
        else:
            st.progress(min(1.0, (p.epoch - 1 + p.batch / p.batches) / run.config.epochs),
                        text=f"{label}: epoch {p.epoch} of {run.config.epochs} · batch {p.batch} of {p.batches} · "
                             f"about {p.seconds_left:,.0f} s left")
    if not lesson.is_active:
        st.rerun(scope="app")


def lesson_result(lesson: room_learning.RoomLesson, kind: str) -> None:
    run, label = lesson.runs[kind], common.KIND_LABEL[kind]
    snap = run.snapshot()
    if snap.state == "failed":
        st.error(f"{label}: {snap.message}", icon=":material/error:")
        return
    result = lesson.result(kind)
    before, after = result.before, result.after
    change = after.accuracy - before.accuracy
    st.metric(f"{label} · the room's digits it never saw", common.percent(after.accuracy, 1),
              f"{change * 100:+.1f} points (before: {common.percent(before.accuracy, 1)})",
              delta_color="normal" if change else "off", delta_arrow="auto" if change else "off",
              help="The held-out half of the room's digits: neither the copy nor the original trained on "
                   "them. With few digits the 95% intervals below are wide; a change inside them may be luck.")
    st.caption(f"{after.correct} of {after.n} right after, {before.correct} before · 95% intervals "
               f"{common.percent(before.low, 0)}–{common.percent(before.high, 0)} before, "
               f"{common.percent(after.low, 0)}–{common.percent(after.high, 0)} after · MNIST test digits "
               f"{common.percent(result.mnist_before)} → {common.percent(result.mnist_after)}")
    if result.changed:
        held_x, held_y = lesson.split.x_held, lesson.split.y_held
        shown = result.changed[:CHANGES_SHOWN]
        st.caption(f"{len(result.changed)} held-out digit(s) read differently now (before → after):")
        st.image([charts.enlarge(held_x[i], 4) for i, _, _ in shown], width=112,
                 caption=[f"{b} → {a} {'✓' if a == held_y[i] else '✗'}" for i, b, a in shown])
    if snap.state == "stopped":
        st.caption(snap.message)
    common.save_model_form(f"lesson-save-{kind}", run.model_file, lambda: lesson.card(kind), "Save the copy as",
                           f"{result.base}-room-{lesson.talk_id}", name_key=f"lesson-name-{kind}", border=False,
                           help="Letters, digits, '-' and '_'. It then appears on the Draw and Confusion matrix "
                                "pages; the shown model stays as it is.")


def lesson_section(store, kinds: list[str], talk_id: int, live: bool) -> None:
    """Learn from the room: fine-tune copies of the shown models on half of the room's digits."""
    st.subheader("Learn from the room")
    lesson = room_learning.latest_lesson(talk_id)
    st.caption(f"Copies of the shown models train for {room_learning.EPOCHS} epochs on half of the room's "
               f"digits, mixed with {room_learning.MNIST_MIXED:,} MNIST digits so they keep what they knew; "
               f"then the copies and the originals judge the other half, which neither has seen. The shown "
               f"models are not changed; save a copy to use it.")
    if lesson is not None and lesson.is_active:
        with st.container(key="talk-lesson-progress"):
            st.fragment(run_every=1.0)(lesson_progress)(lesson)
        st.button("Stop", key="lesson_stop", icon=":material/stop:", on_click=lesson.stop,
                  help="The copies keep what they learned so far.")
        return
    if lesson is not None:
        st.caption(f"Learned from {lesson.digits} digits: {len(lesson.split.y_learn)} learned, "
                   f"{len(lesson.split.y_held)} held out.")
        for column, kind in zip(st.columns(len(lesson.runs), gap="large"), lesson.runs):
            with column:
                lesson_result(lesson, kind)
    if live:
        count = store.count(talk_id)
        enough = count >= room_learning.MIN_DIGITS
        st.button("Learn from the room" if lesson is None else "Learn again from the room's digits now",
                  key="lesson_start", icon=":material/model_training:", disabled=not enough,
                  on_click=start_lesson, args=(store, kinds, talk_id),
                  help=None if enough else f"Needs at least {room_learning.MIN_DIGITS} digits; "
                                           f"the room has sent {count}.")
        if not enough:
            st.caption(f"From {room_learning.MIN_DIGITS} digits on (half to learn from, half to judge): "
                       f"{count} so far.")
    error = st.session_state.pop("lesson_error", None)
    if error:
        st.error(error, icon=":material/error:")
