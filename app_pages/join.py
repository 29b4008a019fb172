"""Join (talk mode): the audience's page, for a phone held in one hand. Draw the prompted digit,
Send it to the big screen, see what both networks made of it. The logic is in mnist_core.join."""

import streamlit as st
from streamlit_drawable_canvas import st_canvas

from mnist_core import crowd, join, preprocess
from app_pages import common

# A 390 px phone leaves ~358 px inside Streamlit's mobile padding; a square canvas just under that.
CANVAS_SIZE = 340
PEN_WIDTH = 22  # px at this size: strokes as thick, relative to the digit, as on the 300 px Draw canvas
RIGHT = '<b style="color:#1a7f37">✓</b>'  # the Talk page's right and wrong colours
WRONG = '<b style="color:#cf222e">✗</b>'

if common.talk_role() == "undecided":
    common.become_audience()  # from now on this session only ever gets this page

# The person's token lives in the URL: a reload (or a phone that dropped the tab) stays the same person.
token = join.person_token(st.query_params.get("p"))
if st.query_params.get("p") != token:
    st.query_params["p"] = token

state = st.session_state
state.setdefault("join_canvas_version", 0)
if "join_next_label" in state:  # set by the last Send, before the selector below exists
    state.join_label = state.pop("join_next_label")
state.setdefault("join_label", join.new_prompt())


def clear_canvas():
    state.join_canvas_version += 1  # a new key gives a fresh, empty canvas


def send(canvas, label: int):
    """Send the drawing; on success remember the answers and rerun with a fresh canvas and prompt."""
    try:
        png = canvas.image_bytes  # decodes the component's data URL: anything may be in it
    except Exception:  # noqa: BLE001 (a browser value that does not decode is a bad drawing, whatever the error)
        st.error("Your drawing did not arrive in a form we can read, so it was not sent. "
                 "Press **Clear** and draw again.", icon=":material/error:")
        return
    models = {kind: common.classifier(kind) for kind in join.KINDS}  # None: its error is shown
    if any(model is None for model in models.values()):
        return
    try:
        sent = join.send(common.crowd_store(), token, label, png, models)
    except join.NotADigit as exc:
        st.info(exc.message, icon=":material/edit:")
    except crowd.RateLimited as exc:
        st.info(str(exc), icon=":material/hourglass_top:")
    except crowd.CrowdInputError as exc:
        st.error(f"Not sent: {exc}", icon=":material/error:")
    except crowd.CrowdStoreError as exc:
        st.error(f"Your digit could not be saved, so it is not on the big screen. Press **Send** again. ({exc})",
                 icon=":material/error:")
    else:
        state.join_last = sent
        state.join_next_label = join.new_prompt(previous=label)
        clear_canvas()
        st.rerun()


label = int(state.join_label)
st.title(f"Draw a **{label}**")
st.selectbox("Or pick another digit", list(range(10)), key="join_label", width=200)
canvas = st_canvas(stroke_width=PEN_WIDTH, stroke_color="#FFFFFF", background_color="#000000",
                   height=CANVAS_SIZE, width=CANVAS_SIZE, drawing_mode="freedraw", return_image_data=True,
                   key=f"join-canvas-{state.join_canvas_version}")
with st.container(horizontal=True):
    pressed = st.button("Send", type="primary", icon=":material/send:", width="stretch")
    st.button("Clear", icon=":material/ink_eraser:", on_click=clear_canvas, width="stretch")

if pressed:
    state.pop("join_last", None)  # the answers shown are always for the last digit that arrived
    send(canvas, label)

last = state.get("join_last")
if last is not None:
    st.success(f"Your **{last.label}** is on the big screen.", icon=":material/cast:")
    lines = []  # only integers and fixed words go into this HTML
    for kind in join.KINDS:
        mark = RIGHT if last.correct[kind] else WRONG
        lines.append(f'<span style="color:{common.kind_color(kind)};font-weight:700">{common.KIND_LABEL[kind]}</span> '
                     f"read it as <b>{last.predictions[kind]}</b> {mark} "
                     f"<small>({last.confidences[kind]:.0%} sure)</small>")
    st.markdown(f'<div style="font-size:1.25rem;line-height:1.6">{"<br>".join(lines)}</div>',
                unsafe_allow_html=True)
    if last.heavy_strokes:
        st.info(preprocess.HEAVY_MESSAGE_FIXED_PEN, icon=":material/line_weight:")
