"""The Lessons page in a room (app/app_pages/lessons.py calls these): the join form, the follow bar
that polls the room, the prediction asked before a step's figure and its reveal, and the teacher's
"open a room" entry. The room itself lives in the store (app/rooms/store.py), never in this process.

Addresses: a student joins at /lessons?room=CODE; once joined the address also carries &me=TOKEN (a
reload keeps the nickname); the projector follows at /lessons?room=CODE&watch=1 (no nickname, no
answers); the teacher's console is /console?room=CODE&key=KEY (app/app_pages/console.py).

Following: a fragment re-runs every FOLLOW_S seconds and reads the room's record (one small read).
When the room's revision changed (the teacher moved or revealed) and the student has not stepped
away, it re-runs the page, which draws the teacher's step. Nicknames and answers are shown as text.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from app import widgets
from app.lessons import content as ls
from app.lessons import core as lc
from app.resources import load_path
from rwkv_core.checkpoint import DEFAULT_MODEL
from visuals.rooms import answer_bars

from . import predictions as pr
from .rooms import NICK_MAX, Member, Room, RoomError, Rooms, closes_at, display_code, normalize_code
from .store import open_store

FOLLOW_S = 1.0             # a follower reads the room this often
SEEN = "room_seen_rev"     # the room's revision the page last drew
AWAY = "room_away"         # the student stepped away from the teacher's step
OPENED = "room_opened"     # (code, key) of the room this teacher opened here


@st.cache_resource
def rooms() -> Rooms:
    """The rooms of this process's store (the connection; the rooms themselves live in the store)."""
    return Rooms(open_store())


@st.cache_resource(max_entries=16, show_spinner="Running the room's prompt through the model…")
def room_example(prompt: str) -> lc.Example:
    """The room's example on the embedded model, once per prompt and process (read-only)."""
    return lc.run_example(load_path("", DEFAULT_MODEL.stat().st_mtime_ns), prompt)


def client() -> str:
    """Who a rate limit counts: this browser session (a school's students share one address)."""
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx else ""


def md(text: str) -> str:
    """Text shown through Markdown (a label, an option) with every Markdown and LaTeX sign escaped:
    a token or a nickname is never read as formatting."""
    return re.sub(r"([\\`*_{}\[\]<>()#+\-.!|~$:])", r"\\\1", str(text))


def base_url() -> str:
    """The app's address as the browser sees it, without the page ('' inside AppTest)."""
    url = st.context.url or ""
    return re.sub(r"/(lessons|console)?$", "", url.rstrip("/")) if url else ""


def join_url(code: str) -> str:
    return f"{base_url()}/lessons?room={code}"


def console_url(code: str, key: str) -> str:
    return f"{base_url()}/console?room={code}&key={key}"


def projector_url(code: str) -> str:
    return f"{base_url()}/lessons?room={code}&watch=1"


@dataclass(frozen=True)
class InRoom:
    room: Room
    member: Member | None          # None on the projector
    watch: bool

    @property
    def code(self) -> str:
        return self.room.code

    def params(self) -> dict[str, str]:
        """The query parameters that keep this page in the room."""
        extra = {"watch": "1"} if self.watch else {"me": self.member.token}
        return {"room": self.code, **extra}


# --- entering -----------------------------------------------------------------------------------------

def enter(lessons) -> InRoom | None:
    """None outside a room. In one: the room, or (stopping the page) the join form or the reason
    the room cannot be entered (no such room, closed, full)."""
    qp = st.query_params
    if "room" not in qp:
        return None
    try:
        room = rooms().find(qp["room"], client())
    except RoomError as e:
        st.error(str(e))
        st.page_link("app_pages/lessons.py", label="The lessons, on your own")
        st.stop()
    if qp.get("watch") == "1":
        return InRoom(room, None, True)
    member = rooms().member(room.code, qp.get("me", ""))
    if member is None:
        join_form(room, lessons)
        st.stop()
    return InRoom(room, member, False)


def _join(code: str) -> None:
    try:
        member = rooms().join(code, st.session_state.get("room_nick", ""), client())
    except RoomError as e:
        st.session_state["room_join_error"] = str(e)
        return
    st.session_state["room_join_error"] = ""
    st.query_params.update({"room": code, "me": member.token})


def join_form(room: Room, lessons) -> None:
    (lesson_n, _), _ = ls.find_position(lessons, room.lesson, room.step)
    st.header(f"Join room {display_code(room.code)}")
    st.caption(f"Lesson {lesson_n}: {lessons[lesson_n - 1].title}. The room closes at {closes_at(room)}.")
    st.text_input("Your nickname (shown to your teacher)", key="room_nick", max_chars=NICK_MAX,
                  help="1 to 24 letters, digits, spaces and . ' - _")
    st.button("Join", key="room_join", type="primary", on_click=_join, args=(room.code,))
    if err := st.session_state.get("room_join_error"):
        st.error(err)


# --- following ----------------------------------------------------------------------------------------

def position(lessons, here: InRoom) -> tuple[int, int]:
    """The step to draw: the teacher's, unless the student stepped away (then their own)."""
    st.session_state[SEEN] = here.room.rev
    teacher, _ = ls.find_position(lessons, here.room.lesson, here.room.step)
    if st.session_state.get(AWAY) and "lsn_pos" in st.session_state:
        return st.session_state["lsn_pos"]
    return teacher


def stepped_away() -> None:
    """The student moved by themself (a page callback): stop following until they catch up."""
    if "room" in st.query_params:
        st.session_state[AWAY] = True


def _catch_up() -> None:
    st.session_state[AWAY] = False


@st.fragment(run_every=FOLLOW_S)
def follow_bar(lessons, here: InRoom) -> None:
    room = rooms().state(here.code)                       # the one read of each poll
    if room is None or not room.is_open(time.time()):
        st.warning("This room has closed. The step below stays; the lessons go on without the teacher.")
        return
    away = st.session_state.get(AWAY, False)
    if room.rev != st.session_state.get(SEEN) and not away:
        st.rerun(scope="app")                             # the teacher moved or revealed: draw it
    (ln, sn), _ = ls.find_position(lessons, room.lesson, room.step)
    where = f"lesson {ln}, step {sn}: {lessons[ln - 1].steps[sn - 1].title}"
    who = "the projector" if here.watch else here.member.nickname
    if away:
        c1, c2 = st.columns([4, 1])
        c1.info(f"The teacher is on {where}.")
        c2.button("Catch up", key="room_catch_up", on_click=_catch_up, type="primary", width="stretch")
    else:
        st.caption(f"Room {display_code(room.code)} · {who} · following the teacher, on {where}")


# --- predict, then reveal ------------------------------------------------------------------------------

def _send(here: InRoom, q: pr.Question, widget: str) -> None:
    value = st.session_state.get(widget)
    try:
        n = rooms().answer(here.code, here.member.token, q.qid, "" if value is None else value, q.low, q.high)
    except RoomError as e:
        st.session_state[f"{widget}_note"] = ("error", str(e))
        return
    st.session_state[f"{widget}_note"] = ("success", f"Sent: {q.label(n)}. You may change it until the teacher "
                                                     "reveals the answer.")


def answer_widget(q: pr.Question, key: str):
    """The input for this kind of question, keyed `key` (its value is what _send reads)."""
    p = q.prediction
    if p.kind == "choice":
        st.radio(md(p.question), range(len(p.options)), format_func=lambda i: md(p.options[i]), index=None, key=key)
    elif p.kind == "token":
        st.selectbox(md(p.question), range(q.low, q.high + 1), format_func=q.label, index=None, key=key,
                     placeholder="Pick a token")
    else:
        st.text_input(md(p.question), key=key, placeholder=f"a whole number from {q.low} to {q.high}")


def predict(here: InRoom | None, q: pr.Question, key: str, classroom: bool) -> bool:
    """The step's prediction; True when the step's figure may be shown (revealed, or outside a room)."""
    if here is None:
        solo(q, key)
        return True
    room = rooms().state(here.code) or here.room
    if q.qid in room.revealed:
        reveal(here, q, key, classroom)
        return True
    st.subheader("Predict first")
    widget = f"{key}_pred"
    if here.watch:
        st.markdown(md(q.prediction.question))
        st.caption(f"{len(rooms().tally(here.code, q.qid))} answers so far (when this page was drawn).")
    else:
        answer_widget(q, widget)
        st.button("Send my answer", key=f"{widget}_send", type="primary", on_click=_send, args=(here, q, widget))
        if note := st.session_state.get(f"{widget}_note"):
            getattr(st, note[0])(note[1])
    st.info("The figure and the model's answer appear when the teacher reveals it.")
    return False


def reveal(here: InRoom, q: pr.Question, key: str, classroom: bool) -> None:
    st.subheader("Revealed")
    st.markdown(md(q.prediction.question))
    st.success(f"The model's answer on this prompt: {q.label(q.computed.answer)}")
    if here.member is not None:
        mine = rooms().my_answer(here.code, q.qid, here.member.token)
        if mine is None:
            st.caption("You did not answer this one.")
        else:
            verdict = "right" if mine == q.computed.answer else "not quite"
            st.caption(f"Your answer: {q.label(mine)} ({verdict}).")
    labels, counts, right = q.tally(rooms().tally(here.code, q.qid))
    widgets.show(answer_bars(labels, counts, right=right), f"{key}_answers", classroom=classroom)
    explain(q)


def explain(q: pr.Question) -> None:
    p = q.prediction
    if p.kind == "choice":
        for i, (option, why) in enumerate(zip(p.options, p.explain)):
            mark = "✓ " if i == q.computed.answer else ""
            st.markdown(f"{mark}**{md(option)}**: {md(why)}")
    else:
        st.info(md(p.explain[0]))


def solo(q: pr.Question, key: str) -> None:
    """Outside a room: the same question to answer for oneself, and its answer on request."""
    with st.expander("Predict before you look at the figure"):
        widget = f"{key}_solo"
        answer_widget(q, widget)
        if st.button("Check my prediction", key=f"{widget}_check"):
            from .rooms import whole_number
            n = whole_number(st.session_state.get(widget))
            if n is None or not q.low <= n <= q.high:
                st.error(f"An answer here is a whole number from {q.low} to {q.high}.")
            else:
                (st.success if n == q.computed.answer else st.error)(
                    f"The model's answer: {q.label(q.computed.answer)}. " + md(q.explanation(n)))


# --- the teacher's entry -------------------------------------------------------------------------------

def _open(lesson_id: str, step_id: str, prompt: str) -> None:
    model = load_path("", DEFAULT_MODEL.stat().st_mtime_ns)
    try:
        lc.lesson_prompt(model, prompt)
    except lc.PromptError:
        prompt = lc.EXAMPLE_PROMPT                 # the room runs the embedded model, which must read it
    try:
        room, key = rooms().open(lesson_id, step_id, prompt, client=client())
    except RoomError as e:
        st.session_state["room_open_error"] = str(e)
        return
    st.session_state[OPENED], st.session_state["room_open_error"] = (room.code, key), ""


def _go_to_room() -> None:
    code = normalize_code(st.session_state.get("room_code_box", ""))
    if code is None:
        st.session_state["room_code_error"] = "A room code is 10 letters and digits, like K7QFM-2XP9D."
        return
    st.session_state["room_code_error"] = ""
    st.query_params.clear()
    st.query_params["room"] = code


def entry(lesson, step, prompt: str) -> None:
    """Below the step: open a room on it (the teacher), or join one by its code (a student)."""
    with st.expander("A class room: students follow your step and predict before each reveal",
                     expanded=OPENED in st.session_state):
        c1, c2 = st.columns(2)
        c1.button("Open a room on this step", key="room_open", on_click=_open, args=(lesson.id, step.id, prompt),
                  help="The room uses the embedded model and this prompt. It closes after 3 hours.")
        if err := st.session_state.get("room_open_error"):
            c1.error(err)
        if OPENED in st.session_state:
            code, key = st.session_state[OPENED]
            c1.markdown(f"**Room {display_code(code)}**. Students join at:")
            c1.code(join_url(code), language=None)
            c1.markdown("Your console (keep this link to yourself: it moves the room and reveals answers):")
            c1.code(console_url(code, key), language=None)
            c1.link_button("Open the console", console_url(code, key), type="primary")
        c2.text_input("Join a room: its code", key="room_code_box", placeholder="K7QFM-2XP9D")
        c2.button("Join the room", key="room_code_go", on_click=_go_to_room)
        if err := st.session_state.get("room_code_error"):
            c2.error(err)
