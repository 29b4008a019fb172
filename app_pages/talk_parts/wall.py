"""The Talk page's wall: the room's newest digits as tiles, paced so a hall's flood stays readable,
each with both models' answers, ✓ or ✗, "?" where a model was unsure, and Hide; and *Every digit*,
a page at a time, for moderation beyond the wall."""

import streamlit as st

from app_pages import common
from mnist_core import charts
from mnist_core.analysis import verdict
from mnist_core.talk import presenter

WALL_TILES = 18  # 3 rows of 6, newest first (top left): tiles big enough to read from the back
WALL_COLUMNS = 6
WALL_SECONDS = 1.5  # new tiles appear within 2 s of Send
WALL_PER_REFRESH = 6  # new tiles per refresh, 4 a second: a hall's 100 digits/s would be a blur
WALL_KEY = "talk_wall"  # this session's wall: its talk and its tiles' ids
MODERATE_PAGE = 30  # digits per page under "Every digit"


def unsure_rules(kinds: list[str]) -> dict:
    """Each shown model's unsure rule (the Draw page's and the phones'), measured once per model file."""
    return {kind: common.calibration_of(kind) for kind in kinds}


def verdict_html(digit, rules: dict, kinds: list[str]) -> str:
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


def wall_tiles(store, talk_id: int, live: bool) -> tuple[list, bool]:
    """(the digits on the wall, newest first; whether digits arrive faster than the wall shows them).
    Live, at most WALL_PER_REFRESH tiles change a refresh (presenter.pace_wall); an earlier talk shows its newest."""
    if not live:
        return store.latest(talk_id, WALL_TILES), False
    wall = st.session_state.get(WALL_KEY)
    shown = wall["ids"] if wall is not None and wall["talk"] == talk_id else []
    ids, behind = presenter.pace_wall(shown, store.newer_ids(talk_id, 0, WALL_TILES), WALL_PER_REFRESH)
    st.session_state[WALL_KEY] = {"talk": talk_id, "ids": ids}
    return store.visible(ids), behind


def tile(store, digit, live: bool, rules: dict, kinds: list[str], key: str) -> None:
    with st.container(border=True, gap="small"):
        st.image(charts.enlarge(digit.image, 6), width="stretch")  # 168 px, crisp pixels
        st.markdown(verdict_html(digit, rules, kinds), unsafe_allow_html=True)
        if live and st.button("Hide", key=f"{key}-{digit.id}", icon=":material/visibility_off:",
                              type="tertiary", help="Never show this digit again (it is kept, "
                              "and left out of the scores)."):
            store.hide(digit.id)
            st.rerun()  # the whole page: the scores below drop the hidden digit at once


def show_wall(store, kinds: list[str], talk_id: int, live: bool) -> None:
    digits, behind = wall_tiles(store, talk_id, live)
    if not digits:
        st.info("No digits yet: scan the code and draw one." if live else "This talk has no digits.",
                icon=":material/draw:")
        return
    rules = unsure_rules(kinds)
    for start in range(0, len(digits), WALL_COLUMNS):
        row = st.columns(WALL_COLUMNS, gap="small")
        for column, digit in zip(row, digits[start:start + WALL_COLUMNS]):
            with column:
                tile(store, digit, live, rules, kinds, "hide")
    if any(verdict_html(d, rules, kinds).count("class='unsure'") for d in digits):
        st.caption("**?** after an answer: that model was unsure of it (its confidence under the threshold "
                   "measured for it: the Draw page's *Unsure*).")
    if behind:
        st.caption(f"Digits arrive faster than the wall shows them ({WALL_PER_REFRESH / WALL_SECONDS:.0f} a second): "
                   "every one is counted and scored, and listed under *Every digit* below.")


def every_digit(store, kinds: list[str], talk_id: int, live: bool) -> None:
    """Every visible digit of the talk, a page at a time, each with Hide: moderation beyond the wall."""
    st.subheader("Every digit")
    total = store.count(talk_id)
    if not st.toggle(f"Show all {total:,} digits to moderate them", key="talk_every_digit"):
        return
    pages = max(1, -(-total // MODERATE_PAGE))
    page = st.number_input(f"Page (of {pages}, newest first)", 1, pages, 1, key="talk_every_page", width=220)
    rules = unsure_rules(kinds)
    digits = store.latest(talk_id, MODERATE_PAGE, offset=(int(page) - 1) * MODERATE_PAGE)
    for start in range(0, len(digits), WALL_COLUMNS):
        for column, digit in zip(st.columns(WALL_COLUMNS, gap="small"), digits[start:start + WALL_COLUMNS]):
            with column:
                tile(store, digit, live, rules, kinds, "hide-every")
