"""The teacher's console (app/app_pages/console.py runs page()): who joined, the room's step with
Previous / Next, the live answers to the step's prediction, the reveal, and the CSV of answers.

Every action goes through app/rooms/rooms.py with the key from the address, checked on the server:
a student who guesses this page's address without the key sees only an error. The live part is a
fragment that re-reads the room every CONSOLE_S seconds; nicknames are shown as table text.
"""
from __future__ import annotations

import streamlit as st

from app import widgets
from app.lessons import content as ls
from app.lessons import core as lc
from visuals.rooms import answer_bars

from . import predictions as pr
from .follow import client, join_url, md, projector_url, room_example, rooms
from .rooms import ROOM_HOURS, Room, RoomError, closes_at, display_code

CONSOLE_S = 2.0            # the console re-reads who joined and what they answered this often


def _move(code: str, key: str, lesson_id: str, step_id: str) -> None:
    try:
        rooms().move(code, key, lesson_id, step_id)
    except RoomError as e:
        st.session_state["console_error"] = str(e)


def _reveal(code: str, key: str, qid: str) -> None:
    try:
        rooms().reveal(code, key, qid)
    except RoomError as e:
        st.session_state["console_error"] = str(e)


def questions_of(room: Room, lessons) -> dict[str, pr.Question]:
    """Every prediction of the lessons on the room's prompt, by question id (the CSV's columns)."""
    ex = room_example(room.prompt)
    layer, t = min(lc.DEFAULT_LAYER, ex.model.config.n_layer - 1), ex.n_tokens - 1
    out = {}
    for lesson, step in pr.questions(lessons):
        q = pr.question(lesson, step, ex, layer, t)
        out[q.qid] = q
    return out


def csv_of(code: str, key: str, lessons, qs: dict[str, pr.Question]) -> str:
    columns = []
    for lesson, step in pr.questions(lessons):
        columns.append((pr.qid(lesson, step), f"L{lesson.number} {step.title}"))
    return rooms().export_csv(code, key, columns, lambda qid, v: qs[qid].label(v))


def navigation(room: Room, key: str, lessons) -> tuple[int, int]:
    pos, _ = ls.find_position(lessons, room.lesson, room.step)
    flat = ls.flat_positions(lessons)
    first, last = flat[0], flat[-1]

    def target(p):
        lesson = lessons[p[0] - 1]
        return room.code, key, lesson.id, lesson.steps[p[1] - 1].id

    c1, c2, c3 = st.columns([1, 3, 1])
    c1.button("← Previous", key="console_prev", on_click=_move, args=target(ls.neighbour(lessons, pos, -1)),
              disabled=pos == first, width="stretch")
    c3.button("Next →", key="console_next", on_click=_move, args=target(ls.neighbour(lessons, pos, 1)),
              disabled=pos == last, type="primary", width="stretch")
    names = {p: f"{p[0]}.{p[1]} {lessons[p[0] - 1].steps[p[1] - 1].title}" for p in flat}
    with c2.popover("Go to a step", width="stretch"):
        for p in flat:
            st.button(names[p], key=f"console_go_{p[0]}_{p[1]}", on_click=_move, args=target(p),
                      type="primary" if p == pos else "tertiary")
    return pos


@st.fragment(run_every=CONSOLE_S)
def live(code: str, key: str, lessons, qs: dict[str, pr.Question]) -> None:
    try:
        room = rooms().console(code, key, client())
        members = rooms().members(code, key)
    except RoomError as e:
        st.error(str(e))
        return
    (ln, sn), _ = ls.find_position(lessons, room.lesson, room.step)
    lesson, step = lessons[ln - 1], lessons[ln - 1].steps[sn - 1]
    left, right = st.columns([1, 2])
    left.metric("students in the room", len(members))
    if members:
        widgets.table({"nickname": [m.nickname for m in members]}, classroom=False)
    q = qs.get(pr.qid(lesson, step))
    with right:
        if q is None:
            steps = ", ".join(f"{les.number}.{les.steps.index(s) + 1}" for les, s in pr.questions(lessons))
            st.caption(f"This step asks no prediction. Steps with one: {steps}.")
        else:
            answers = rooms().answers(code, key, q.qid)
            revealed = q.qid in room.revealed
            st.markdown("**The class predicts:** " + md(q.prediction.question))
            st.caption(f"The model's answer (only you see it until you reveal it): {q.label(q.computed.answer)}")
            labels, counts, right_i = q.tally(list(answers.values()))
            widgets.show(answer_bars(labels, counts, right=right_i if revealed else None), "console_answers",
                         classroom=False)
            st.text(f"{len(answers)} of {len(members)} students answered.")
            st.button("Revealed" if revealed else "Reveal the answer on every screen", key="console_reveal",
                      on_click=_reveal, args=(code, key, q.qid), disabled=revealed, type="primary")
    st.download_button("Download the answers (CSV: nicknames and answers)", csv_of(code, key, lessons, qs),
                       file_name=f"room-{code}.csv", mime="text/csv", key="console_csv", on_click="ignore")


def page() -> None:
    qp = st.query_params
    try:
        room = rooms().console(qp.get("room", ""), qp.get("key", ""), client())
    except RoomError as e:
        st.error(str(e))
        st.stop()
    code, key = room.code, qp["key"]
    lessons = ls.load_lessons()
    st.title(f"Room {display_code(code)}: your console")
    st.caption(f"Opened on the embedded model with the prompt below; it closes at {closes_at(room)} "
               f"({ROOM_HOURS} hours after it opened). Students join at {join_url(code)}")
    st.text("Prompt: " + room.prompt)
    if err := st.session_state.pop("console_error", ""):
        st.error(err)
    pos = navigation(room, key, lessons)
    lesson = lessons[pos[0] - 1]
    st.subheader(f"Lesson {lesson.number}, step {pos[1]}: {lesson.steps[pos[1] - 1].title}")
    st.link_button("Open the projector view (this step in classroom mode)", projector_url(code))
    live(code, key, lessons, questions_of(room, lessons))
