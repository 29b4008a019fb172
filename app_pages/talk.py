"""Talk: the presenter's page on the projector. The join code, the room's digits live, the
scoreboard, moderation (Hide), New talk and export. Everything it knows comes from CrowdStore."""

import html

import streamlit as st

from mnist_core import charts, training
from mnist_core.talk import room_learning
from mnist_core.talk import presenter
from mnist_core.analysis import verdict
from app_pages import common

WALL_TILES = 18  # 3 rows of 6, newest first (top left): tiles big enough to read from the back
WALL_COLUMNS = 6
WALL_SECONDS = 1.5  # new tiles appear within 2 s of Send
WALL_PER_REFRESH = 6  # new tiles per refresh, 4 a second: a hall's 100 digits/s would be a blur
WALL_KEY = "talk_wall"  # this session's wall: its talk and its tiles' ids
MODERATE_PAGE = 30  # digits per page under "Every digit"
SCORES_SECONDS = 5.0
FOOLED_SHOWN = 16
QR_WIDTH = 360  # px on a 1920-wide projector: about 1/5 of the screen, readable from the back of a room
LESSON_CHANGES_SHOWN = 8
SHOWN_KEY = "talk_shown"  # None: the current talk, live; else the id of an earlier talk (read-only)

# Page-local styles, scoped by the containers' keys (st-key-…) so no other page changes: a
# projector is read from 10–20 m away, so the URL, the counter and each tile's verdicts are large.
STYLE = """<style>
.st-key-talk-join .join-url { font-size: 2.3rem; font-weight: 700; line-height: 1.2; overflow-wrap: anywhere; }
.st-key-talk-join .join-line { font-size: 2rem; font-weight: 600; line-height: 1.2; margin-bottom: .4rem; }
.st-key-talk-count [data-testid="stMetricValue"] { font-size: 4rem; line-height: 1.1; }
.st-key-talk-count [data-testid="stMetricLabel"] p { font-size: 1.4rem; }
.st-key-talk-scores [data-testid="stMetricValue"] { font-size: 3.4rem; }
.st-key-talk-scores [data-testid="stMetricLabel"] p { font-size: 1.3rem; }
.st-key-talk-scores [data-testid="stMetricDelta"] { font-size: 1.2rem; }
.tile-asked { font-size: 1.3rem; line-height: 1.2; }
.tile-verdict { font-size: 1.6rem; font-weight: 700; line-height: 1.25; }
.tile-verdict .right { color: #1a7f37; }
.tile-verdict .wrong { color: #cf222e; }
.tile-verdict .unsure { color: #444; }
</style>"""

role = common.talk_role()
if role is None:  # not reachable from the navigation without talk mode; a clear word if it is
    st.title("Talk mode is off")
    st.info("Start the app with `make talk` (it sets `MNIST_TALK_KEY`) to let a room draw on their phones.",
            icon=":material/info:")
    st.stop()

if role != "presenter":
    st.title("Talk: for the presenter")
    st.markdown("This page runs the talk on the projector: the join code, the room's digits, moderation "
                "and export. It needs the presenter's key, which `make talk` printed with the presenter's "
                "URL. In the audience? Open [/join](/join) on your phone instead.")
    with st.form("presenter-key", border=False):
        given = st.text_input("Presenter's key", type="password", key="presenter_key_input", width=480)
        unlock = st.form_submit_button("Unlock", icon=":material/lock_open:")
    if unlock:
        refused = common.accept_presenter_key(given)
        if refused is None:
            st.rerun()
        st.error(refused, icon=":material/key_off:")
    st.stop()

store = common.crowd_store()
kinds = common.selected_kinds()  # the sidebar's Models shown switch holds here too


@st.cache_data(ttl=60, show_spinner=False)
def join_address(port: int) -> str:
    return presenter.join_url(presenter.public_base_url(port))  # cached: the LAN lookup asks the resolver


@st.cache_data(show_spinner=False, max_entries=8)
def join_qr(url: str) -> bytes:
    return presenter.qr_png(url)


def shown_talk() -> tuple[int, bool]:
    """(talk id, live): the current talk unless the presenter picked an earlier one below."""
    chosen = st.session_state.get(SHOWN_KEY)
    current = store.current_talk()  # read every run: a New talk from another tab is followed at once
    return (current, True) if chosen is None or chosen == current else (chosen, False)


def unsure_rules() -> dict:
    """Each shown model's unsure rule (the Draw page's and the phones'), measured once per model file."""
    return {kind: common.calibration_of(kind) for kind in kinds}


def verdict_html(digit, rules: dict) -> str:
    """A tile's text: the prompted label, then each model's answer in its colour with ✓ or ✗, and
    a "?" where its one verdict says it was unsure. Only integers and fixed words go into this HTML."""
    parts = []
    for kind in kinds:
        if kind not in digit.probabilities:
            continue
        answer = verdict.answer(kind, digit.model_files[kind][0], digit.probabilities[kind], rules.get(kind))
        right = answer.right(digit.label)
        parts.append(f"<span style='color:{common.kind_color(kind)}'>{common.KIND_LABEL[kind]}</span> "
                     f"{answer.digit}" + ("<span class='unsure' title='unsure'>?</span>" if answer.unsure else "")
                     + f"<span class='{'right' if right else 'wrong'}'>{'✓' if right else '✗'}</span>")
    return (f"<div class='tile-asked'>asked <b>{digit.label}</b></div>"
            f"<div class='tile-verdict'>{'<br>'.join(parts)}</div>")


def join_panel() -> None:
    """The QR code and the address, as big as a room needs."""
    url = join_address(st.get_option("server.port"))
    st.markdown("<div class='join-line'>Draw a digit on your phone</div>", unsafe_allow_html=True)
    st.image(join_qr(url), width=QR_WIDTH)
    # Without "http://" (every phone browser adds it), and a line break allowed only before "/join".
    shown = html.escape(url.removeprefix("http://")).replace("/", "<wbr>/")
    st.markdown(f"<div class='join-url'>{shown}</div>", unsafe_allow_html=True)
    st.caption(f"Scan the code or type the address ({html.escape(url)}); both networks judge every digit "
               "you send.")


# The top of the page (join code, "Digits received", the wall) is one fragment that reruns alone every
# 1.5 s. The join panel is inside it only for the layout: the counter sits under the address, so the
# wall has the full height for three rows of tiles on a 1080 px projector; redrawing the same QR
# bytes is the same media file, so nothing flickers. The fragment is on this page for as long as the
# page is open, and everything it draws stays inside its own container, so a full rerun (Hide, New
# talk) never finds a stale fragment drawing over other elements.
@st.fragment(run_every=WALL_SECONDS)
def live_top() -> None:
    with st.container(key="talk-top"):
        talk_id, live = shown_talk()
        join_column, wall_column = st.columns([1.15, 2.6], gap="large")
        with join_column:
            with st.container(key="talk-join"):
                join_panel()
            with st.container(key="talk-count"):
                st.metric("Digits received", f"{store.count(talk_id):,}")
        with wall_column:
            wall(talk_id, live)


def wall_tiles(talk_id: int, live: bool) -> tuple[list, bool]:
    """(the digits on the wall, newest first; whether digits arrive faster than the wall shows them).
    Live, at most WALL_PER_REFRESH tiles change a refresh (presenter.pace_wall); an earlier talk shows its newest."""
    if not live:
        return store.latest(talk_id, WALL_TILES), False
    wall = st.session_state.get(WALL_KEY)
    shown = wall["ids"] if wall is not None and wall["talk"] == talk_id else []
    ids, behind = presenter.pace_wall(shown, store.newer_ids(talk_id, 0, WALL_TILES), WALL_PER_REFRESH)
    st.session_state[WALL_KEY] = {"talk": talk_id, "ids": ids}
    return store.visible(ids), behind


def tile(digit, live: bool, rules: dict, key: str) -> None:
    with st.container(border=True, gap="small"):
        st.image(charts.enlarge(digit.image, 6), width="stretch")  # 168 px, crisp pixels
        st.markdown(verdict_html(digit, rules), unsafe_allow_html=True)
        if live and st.button("Hide", key=f"{key}-{digit.id}", icon=":material/visibility_off:",
                              type="tertiary", help="Never show this digit again (it is kept, "
                              "and left out of the scores)."):
            store.hide(digit.id)
            st.rerun()  # the whole page: the scores below drop the hidden digit at once


def wall(talk_id: int, live: bool) -> None:
    digits, behind = wall_tiles(talk_id, live)
    if not digits:
        st.info("No digits yet: scan the code and draw one." if live else "This talk has no digits.",
                icon=":material/draw:")
        return
    rules = unsure_rules()
    for start in range(0, len(digits), WALL_COLUMNS):
        row = st.columns(WALL_COLUMNS, gap="small")
        for column, digit in zip(row, digits[start:start + WALL_COLUMNS]):
            with column:
                tile(digit, live, rules, "hide")
    if any(verdict_html(d, rules).count("class='unsure'") for d in digits):
        st.caption("**?** after an answer: that model was unsure of it (its confidence under the threshold "
                   "measured for it: the Draw page's *Unsure*).")
    if behind:
        st.caption(f"Digits arrive faster than the wall shows them ({WALL_PER_REFRESH / WALL_SECONDS:.0f} a second): "
                   "every one is counted and scored, and listed under *Every digit* below.")


def every_digit(talk_id: int, live: bool) -> None:
    """Every visible digit of the talk, a page at a time, each with Hide: moderation beyond the wall."""
    st.subheader("Every digit")
    total = store.count(talk_id)
    if not st.toggle(f"Show all {total:,} digits to moderate them", key="talk_every_digit"):
        return
    pages = max(1, -(-total // MODERATE_PAGE))
    page = st.number_input(f"Page (of {pages}, newest first)", 1, pages, 1, key="talk_every_page", width=220)
    rules = unsure_rules()
    digits = store.latest(talk_id, MODERATE_PAGE, offset=(int(page) - 1) * MODERATE_PAGE)
    for start in range(0, len(digits), WALL_COLUMNS):
        for column, digit in zip(st.columns(WALL_COLUMNS, gap="small"), digits[start:start + WALL_COLUMNS]):
            with column:
                tile(digit, live, rules, "hide-every")


# The scoreboard refreshes by itself every 5 s, not with the wall's 1.5 s: the presenter talks over
# it, and two confusion heatmaps redrawn at 1.5 s would flicker for nothing; a room adds a digit or
# two per second, so 5 s is live enough. A Hide or a New talk reruns the whole page and updates it at
# once. Like the wall, it draws only inside its own container.
@st.fragment(run_every=SCORES_SECONDS)
def scoreboard() -> None:
    with st.container(key="talk-scores"):
        talk_id, _ = shown_talk()
        scores = store.scoreboard(talk_id)
        st.subheader("Scoreboard: the room's digits")
        if not any(scores.get(kind) and scores[kind].n for kind in kinds):
            st.info("No digits yet: scan the code and draw one. The scores appear with the first digit.",
                    icon=":material/scoreboard:")
            return
        for column, kind in zip(st.columns(len(kinds), gap="large"), kinds):
            score = scores.get(kind)
            with column:
                label = f"{common.KIND_LABEL[kind]} · accuracy on the room's digits"
                if score is None or not score.n:
                    st.metric(label, "—", "no digit judged yet", delta_color="off", delta_arrow="off")
                    continue
                st.metric(label, common.percent(score.accuracy, 1),
                          f"{score.correct} of {score.n} right · 95% interval "
                          f"{common.percent(score.low, 0)}–{common.percent(score.high, 0)}",
                          delta_color="off", delta_arrow="off",
                          help="The interval (Wilson) is where the model's true accuracy on digits drawn "
                               "like these most likely lies; a room's few digits leave it wide.")
                common.plotly_chart(charts.confusion_heatmap(store.confusion(talk_id, kind), height=560,
                                                         title=f"{common.KIND_LABEL[kind]}: actual × predicted"),
                                width="stretch", key=f"room-confusion-{kind}", config={"displayModeBar": False})
        fooled = store.fooled_both(talk_id, tuple(kinds), limit=FOOLED_SHOWN)
        st.subheader("Digits that fooled both" if len(kinds) > 1
                     else f"Digits that fooled the {common.KIND_LABEL[kinds[0]]}")
        if not fooled:
            st.caption("None so far.")
            return
        st.image([charts.enlarge(d.image, 5) for d in fooled], width=140,
                 caption=[f"asked {d.label} · " + " · ".join(f"{common.KIND_LABEL[k]} {d.predictions[k]}"
                                                             for k in kinds if k in d.predictions)
                          for d in fooled])


def start_new_talk() -> None:
    store.new_talk()
    st.session_state.confirm_new_talk = False
    st.session_state[SHOWN_KEY] = None


def describe(talk_id) -> str:
    if talk_id is None:
        return "This talk (live)"
    record = store.talk(talk_id)
    return f"{record.title} · {record.digits} digits"


def start_lesson(talk_id: int) -> None:
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
        shown = result.changed[:LESSON_CHANGES_SHOWN]
        st.caption(f"{len(result.changed)} held-out digit(s) read differently now (before → after):")
        st.image([charts.enlarge(held_x[i], 4) for i, _, _ in shown], width=112,
                 caption=[f"{b} → {a} {'✓' if a == held_y[i] else '✗'}" for i, b, a in shown])
    if snap.state == "stopped":
        st.caption(snap.message)
    common.save_model_form(f"lesson-save-{kind}", run.model_file, lambda: lesson.card(kind), "Save the copy as",
                           f"{result.base}-room-{lesson.talk_id}", name_key=f"lesson-name-{kind}", border=False,
                           help="Letters, digits, '-' and '_'. It then appears on the Draw and Confusion matrix "
                                "pages; the shown model stays as it is.")


def lesson_section(talk_id: int, live: bool) -> None:
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
                  on_click=start_lesson, args=(talk_id,),
                  help=None if enough else f"Needs at least {room_learning.MIN_DIGITS} digits; "
                                           f"the room has sent {count}.")
        if not enough:
            st.caption(f"From {room_learning.MIN_DIGITS} digits on (half to learn from, half to judge): "
                       f"{count} so far.")
    error = st.session_state.pop("lesson_error", None)
    if error:
        st.error(error, icon=":material/error:")


st.html(STYLE)
talk_id, live = shown_talk()
if not live:
    st.warning(f"Showing an earlier talk, read-only: {describe(talk_id)}. Pick *This talk (live)* under "
               "*Talks and export* to go back to the room.", icon=":material/history:")
live_top()

st.divider()
scoreboard()

st.divider()
every_digit(talk_id, live)

st.divider()
lesson_section(talk_id, live)

st.divider()
st.subheader("Talks and export")
current = store.current_talk()
new_column, export_column, history_column = st.columns(3, gap="large")
with new_column:
    confirmed = st.checkbox("Yes, start an empty wall (this talk's digits are kept)", key="confirm_new_talk")
    st.button("New talk", key="new_talk", icon=":material/restart_alt:", disabled=not confirmed,
              on_click=start_new_talk, help="Tick the box first: a misclick must not empty the wall.")
with history_column:
    earlier = [t.id for t in store.talks() if t.id != current]
    if st.session_state.get(SHOWN_KEY) not in [None, *earlier]:
        st.session_state[SHOWN_KEY] = None  # a talk that is now the current one
    st.selectbox("Results shown", [None, *earlier], format_func=describe, key=SHOWN_KEY,
                 help="An earlier talk's wall and scores, read-only. The room's new digits still go to "
                      "this talk.")
with export_column:
    # Deferred downloads: the bytes are built when the button is clicked, so the file holds every
    # digit received by then, not only those present at the last full rerun.
    st.download_button("Digits as .npz (x, y)", lambda: store.npz_bytes(talk_id),
                       file_name=f"talk-{talk_id}-digits.npz", mime="application/octet-stream",
                       key="export_npz", icon=":material/download:", on_click="ignore")
    st.download_button("Digits as MNIST IDX files (zip)", lambda: store.idx_zip_bytes(talk_id),
                       file_name=f"talk-{talk_id}-idx.zip", mime="application/zip",
                       key="export_idx", icon=":material/download:", on_click="ignore")
    st.caption("Visible digits only: hidden ones are kept in the database but never exported.")
