"""Lessons: the article "how RWKV works", step by step, on the real model's real numbers.

The content is data in lessons/ (read by app/lessons/content.py); each step names the view it shows,
rendered by app/lessons/views.py from numbers computed in app/lessons/core.py (see app/lessons/).
The position lives in st.session_state and is mirrored in the URL by ids
(?lesson=replacing-qkv-with-rwkv&step=wkv-recurrent, plus &classroom=1 in classroom mode), so a
teacher can share a link to a step that inserting steps does not move; old links by position
(?lesson=3&step=4) land where they landed before ids (content.find_position).
The student may type their own prompt; classroom mode keeps the default one.
In a room (?room=CODE: app/rooms/follow.py) the page shows the teacher's step on the room's prompt, asks
a step's prediction before its figure, and offers "catch up" to a student who stepped away.
Lesson text is the repository's own markdown; model text reaches the screen only through
components that escape it."""
import zlib

import streamlit as st

from app.lessons import content as ls
from app.lessons import core as lc
from app.lessons import layout, views
from app.resources import current_model, current_model_key, load_path
from app.rooms import follow
from app.rooms import predictions as pr
from rwkv_core import RWKV
from rwkv_core.checkpoint import DEFAULT_MODEL

POS = "lsn_pos"            # (lesson, step), 1-based
WRITTEN = "lsn_written"    # the query params this page last wrote: a change means the user typed a URL
CLASSROOM = "lsn_classroom"
EXAMPLE = "lsn_example"
PROMPT = "lsn_prompt"      # the prompt the numbers are for (the last good one the student typed)
PROMPT_BOX = "lsn_prompt_box"
PROMPT_ERROR = "lsn_prompt_error"
LINK_NOTE = "lsn_link_note"
TOKEN = "lsn_token"        # the token box's key prefix (the key names the example: see example_controls)


def go(pos: tuple[int, int]) -> None:
    st.session_state[POS] = pos
    follow.stepped_away()


def url_position(lessons) -> tuple[int, int] | None:
    qp = st.query_params
    if "lesson" not in qp and "step" not in qp:
        return None
    pos, note = ls.find_position(lessons, qp.get("lesson"), qp.get("step"), ls.legacy_lessons())
    st.session_state[LINK_NOTE] = note
    return pos


def sync_from_url(lessons) -> None:
    """On a new session, or when the URL was changed by hand, the URL decides."""
    qp = dict(st.query_params)
    if st.session_state.get(WRITTEN) == qp and POS in st.session_state:
        return
    st.session_state[POS] = url_position(lessons) or st.session_state.get(POS, (1, 1))
    if CLASSROOM not in st.session_state or "classroom" in qp:
        st.session_state[CLASSROOM] = qp.get("classroom") == "1"


def write_url(lessons, pos: tuple[int, int], classroom: bool, room: dict | None = None) -> None:
    qp = {**(room or {}), **ls.link(lessons, pos)}
    if classroom:
        qp["classroom"] = "1"
    if dict(st.query_params) != qp:
        st.query_params.from_dict(qp)
    st.session_state[WRITTEN] = qp


def model_for(classroom: bool):
    """Classroom mode always uses the embedded model (the same numbers for every student, no
    network); otherwise the model picked in the sidebar."""
    if classroom:
        return load_path("", DEFAULT_MODEL.stat().st_mtime_ns), "classroom:embedded"
    return current_model(), current_model_key()


def example_for(model: RWKV, key: str, prompt: str) -> lc.Example:
    cached = st.session_state.get(EXAMPLE)
    if cached is None or cached[0] != key or cached[2] != prompt:
        cached = (key, lc.run_example(model, prompt), prompt)
        st.session_state[EXAMPLE] = cached
    return cached[1]


def take_prompt(model) -> None:
    """The prompt box changed: keep the text when the model can read it as a lesson example,
    otherwise keep the previous prompt and say why."""
    text = st.session_state.get(PROMPT_BOX, "")
    try:
        lc.lesson_prompt(model, text)
    except lc.PromptError as e:
        st.session_state[PROMPT_ERROR] = str(e)
        return
    st.session_state[PROMPT], st.session_state[PROMPT_ERROR] = text, ""


def reset_prompt() -> None:
    st.session_state[PROMPT] = st.session_state[PROMPT_BOX] = lc.EXAMPLE_PROMPT
    st.session_state[PROMPT_ERROR] = ""


def prompt_for(model, classroom: bool) -> str:
    """The prompt the numbers are for: the classroom default in classroom mode and for a model
    without a tokenizer (it reads fixed ids), otherwise the student's last good prompt."""
    if classroom or model.tokenizer is None:
        return lc.EXAMPLE_PROMPT
    prompt = st.session_state.setdefault(PROMPT, lc.EXAMPLE_PROMPT)
    try:
        lc.lesson_prompt(model, prompt)        # another model's tokenizer may read it differently
    except lc.PromptError as e:
        st.session_state[PROMPT_ERROR] = f"This model cannot use your prompt: {e}"
        st.session_state[PROMPT] = prompt = lc.EXAMPLE_PROMPT
    return prompt


def prompt_box(model) -> None:
    """The student's own prompt; a bad one gets a message and the previous prompt stays."""
    if model.tokenizer is None:
        st.caption("This model came without a tokenizer: the lessons read a fixed list of token ids.")
        return
    st.session_state.setdefault(PROMPT_BOX, st.session_state[PROMPT])
    c1, c2 = st.columns([5, 1])
    c1.text_area("Your prompt (the lessons' numbers follow it)", key=PROMPT_BOX, height=68,
                 on_change=take_prompt, args=(model,),
                 help=f"{lc.MIN_PROMPT_TOKENS}–{lc.MAX_PROMPT_TOKENS} tokens. Press Ctrl+Enter or click outside "
                      "the box to use it.")
    c2.button("Classroom prompt", key="lsn_prompt_reset", on_click=reset_prompt,
              disabled=st.session_state[PROMPT] == lc.EXAMPLE_PROMPT)
    if err := st.session_state.get(PROMPT_ERROR):
        st.error(err + " The numbers below are still for the previous prompt.")


def contents(lessons, pos) -> None:
    with st.expander("Contents", expanded=False):
        cols = st.columns(len(lessons))
        for col, lesson in zip(cols, lessons):
            col.markdown(f"**{lesson.number}. {lesson.title}**")
            for i, step in enumerate(lesson.steps, start=1):
                here = (lesson.number, i) == pos
                col.button(f"{i}. {step.title}", key=f"toc_{lesson.id}_{step.id}", on_click=go,
                           args=((lesson.number, i),), type="primary" if here else "tertiary")


def example_controls(ex: lc.Example, classroom: bool) -> tuple[int, int]:
    """The prompt, and which layer and token the live numbers are for: fixed in classroom mode."""
    layer, t = min(lc.DEFAULT_LAYER, ex.model.config.n_layer - 1), ex.n_tokens - 1
    if classroom:
        return layer, t
    # another model may have fewer layers or tokens: forget a choice it cannot show
    # The token box is keyed by the example's tokens: another prompt gets a fresh box at its last
    # token (a browser would otherwise send back the old prompt's choice, by its old label).
    token_key = f"{TOKEN}_{zlib.crc32(repr(ex.ids).encode()):08x}"
    for widget, n in (("lsn_layer", ex.model.config.n_layer), (token_key, ex.n_tokens)):
        chosen = st.session_state.get(widget, 0)
        if not isinstance(chosen, int) or chosen >= n:
            del st.session_state[widget]
    with st.expander("The example: your prompt, and which layer and token the numbers are for",
                     expanded=bool(st.session_state.get(PROMPT_ERROR))):
        prompt_box(ex.model)
        st.text("Prompt as the model reads it: " + lc.prompt_text(ex))
        c1, c2 = st.columns(2)
        layer = c1.selectbox("Layer", list(range(ex.model.config.n_layer)), index=layer, key="lsn_layer")
        t = c2.selectbox("Token", list(range(ex.n_tokens)), index=t, key=token_key,
                         format_func=lambda i: f"{i}: {ex.labels[i]}")
    return layer, t


def navigation(lessons, pos, where: str) -> None:
    first, last = ls.flat_positions(lessons)[0], ls.flat_positions(lessons)[-1]
    c1, _, c3 = st.columns([1, 3, 1])
    c1.button("← Previous", key=f"lsn_prev_{where}", on_click=go, args=(ls.neighbour(lessons, pos, -1),),
              disabled=pos == first, width="stretch")
    c3.button("Next →", key=f"lsn_next_{where}", on_click=go, args=(ls.neighbour(lessons, pos, 1),),
              disabled=pos == last, type="primary", width="stretch")


lessons = ls.load_lessons()
here = follow.enter(lessons)                # None outside a room; the join form stops the page
if here is None:
    sync_from_url(lessons)
    classroom = st.toggle("Classroom mode", key=CLASSROOM,
                          help="Large type, no sidebar, the embedded model and fixed seeds: every student "
                               "sees the same numbers. The link in the address bar opens this step.")
    pos = ls.clamp_position(lessons, *st.session_state[POS])
else:
    classroom = here.watch                  # the projector in large type; students on their own screens
    pos = follow.position(lessons, here)
    follow.follow_bar(lessons, here)
if classroom:
    st.html(layout.CLASSROOM_CSS)
st.session_state[POS] = pos
write_url(lessons, pos, classroom and here is None, here.params() if here else None)
if note := st.session_state.pop(LINK_NOTE, ""):
    st.warning(note)
lesson, step = lessons[pos[0] - 1], lessons[pos[0] - 1].steps[pos[1] - 1]

st.progress(ls.progress(lessons, pos),
            text=f"Lesson {lesson.number} of {len(lessons)} · step {pos[1]} of {len(lesson.steps)}")
contents(lessons, pos)
navigation(lessons, pos, "top")
model, key = model_for(classroom or here is not None)
if here is None:
    prompt = prompt_for(model, classroom)
    ex = example_for(model, key, prompt)
else:
    prompt = here.room.prompt
    ex = follow.room_example(prompt)          # every student's numbers: the room's prompt
layer, t = example_controls(ex, classroom or here is not None)

st.caption(f"Lesson {lesson.number}: {lesson.title}")
st.header(step.title)
if pos[1] == 1 and lesson.intro:
    st.markdown(lesson.intro)
st.markdown(step.text)
ctx = layout.Context(model, key, ex, layer, t, classroom, step, key=f"s_{lesson.id}_{step.id}")
question = pr.question(lesson, step, ex, layer, t)
if question is None or follow.predict(here, question, ctx.key, classroom):
    views.VIEWS[step.figure].render(ctx)
    layout.focus_table(ctx)
    layout.sources(ctx)
st.divider()
navigation(lessons, pos, "bottom")
if here is None:
    follow.entry(lesson, step, prompt)
