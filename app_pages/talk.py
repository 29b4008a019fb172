"""Talk: the presenter's page on the projector. The join code, the room's digits live, the
scoreboard, moderation (Hide), New talk and export. Everything it knows comes from CrowdStore."""

import html

import streamlit as st

from app_pages import common, talk_roles
from app_pages.talk_parts import lesson, room_map, wall
from mnist_core import charts
from mnist_core.talk import presenter
from mnist_core.talk.crowd import CrowdStoreError

SCORES_SECONDS = 5.0
FOOLED_SHOWN = 16
QR_WIDTH = 360  # px on a 1920-wide projector: about 1/5 of the screen, readable from the back of a room
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

role = talk_roles.talk_role()
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
        refused = talk_roles.accept_presenter_key(given)
        if refused is None:
            st.rerun()
        st.error(refused, icon=":material/key_off:")
    st.stop()

try:
    store = talk_roles.crowd_store()
except CrowdStoreError as exc:
    st.error(f"{exc} Reload this page when it answers again.", icon=":material/sync_problem:")
    st.stop()


def database_trouble(exc: CrowdStoreError) -> None:
    """A refresh that found the database not answering (PostgreSQL restarting): one line, and the
    next refresh tries again by itself."""
    text = str(exc)
    st.warning(f"{text[:1].upper()}{text[1:]}. The wall goes on by itself when it answers again.",
               icon=":material/sync_problem:")
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
@st.fragment(run_every=wall.WALL_SECONDS)
def live_top() -> None:
    with st.container(key="talk-top"):
        try:
            talk_id, live = shown_talk()
            count = store.count(talk_id)
        except CrowdStoreError as exc:
            database_trouble(exc)
            return
        join_column, wall_column = st.columns([1.15, 2.6], gap="large")
        with join_column:
            with st.container(key="talk-join"):
                join_panel()
            with st.container(key="talk-count"):
                st.metric("Digits received", f"{count:,}")
        with wall_column:
            try:
                wall.show_wall(store, kinds, talk_id, live)
            except CrowdStoreError as exc:
                database_trouble(exc)


# The scoreboard refreshes by itself every 5 s, not with the wall's 1.5 s: the presenter talks over
# it, and two confusion heatmaps redrawn at 1.5 s would flicker for nothing; a room adds a digit or
# two per second, so 5 s is live enough. A Hide or a New talk reruns the whole page and updates it at
# once. Like the wall, it draws only inside its own container.
@st.fragment(run_every=SCORES_SECONDS)
def scoreboard() -> None:
    with st.container(key="talk-scores"):
        try:
            talk_id, _ = shown_talk()
            scores = store.scoreboard(talk_id)
        except CrowdStoreError as exc:
            database_trouble(exc)
            return
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


@st.fragment(run_every=2.0)
def wait_for_database() -> None:
    """After a refresh found the database not answering: the whole page again once it answers."""
    try:
        store.current_talk()
    except CrowdStoreError:
        return
    st.rerun(scope="app")


def talk_page() -> None:
    talk_id, live = shown_talk()
    if not live:
        st.warning(f"Showing an earlier talk, read-only: {describe(talk_id)}. Pick *This talk (live)* under "
                   "*Talks and export* to go back to the room.", icon=":material/history:")
    live_top()

    st.divider()
    scoreboard()

    st.divider()
    room_map.room_in_map(store, talk_id, live)
    st.divider()
    wall.every_digit(store, kinds, talk_id, live)

    st.divider()
    lesson.lesson_section(store, kinds, talk_id, live)

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


st.html(STYLE)
try:
    talk_page()
except CrowdStoreError as exc:
    database_trouble(exc)
    wait_for_database()
