"""Lessons: the article "how RWKV works", step by step, on the real model's real numbers.

The content is data in lessons/ (read by app/lessons/content.py); each step names the view it shows,
rendered by app/lessons/views.py from numbers computed in app/lessons/core.py (see app/lessons/).
The position lives in st.session_state and is mirrored in the URL (?lesson=3&step=4, plus
&classroom=1 in classroom mode), so a teacher can share a link to a step.
Lesson text is the repository's own markdown; model text reaches the screen only through
components that escape it."""
import streamlit as st

from app.lessons import content as ls, core as lc, layout, views
from app.resources import current_model, current_model_key, load_path
from rwkv_core import RWKV
from rwkv_core.checkpoint import DEFAULT_MODEL

POS = "lsn_pos"            # (lesson, step), 1-based
WRITTEN = "lsn_written"    # the query params this page last wrote: a change means the user typed a URL
CLASSROOM = "lsn_classroom"
EXAMPLE = "lsn_example"


def go(pos: tuple[int, int]) -> None:
    st.session_state[POS] = pos


def url_position(lessons) -> tuple[int, int] | None:
    qp = st.query_params
    if "lesson" not in qp and "step" not in qp:
        return None
    return ls.clamp_position(lessons, qp.get("lesson", 1), qp.get("step", 1))


def sync_from_url(lessons) -> None:
    """On a new session, or when the URL was changed by hand, the URL decides."""
    qp = dict(st.query_params)
    if st.session_state.get(WRITTEN) == qp and POS in st.session_state:
        return
    st.session_state[POS] = url_position(lessons) or st.session_state.get(POS, (1, 1))
    if CLASSROOM not in st.session_state or "classroom" in qp:
        st.session_state[CLASSROOM] = qp.get("classroom") == "1"


def write_url(pos: tuple[int, int], classroom: bool) -> None:
    qp = {"lesson": str(pos[0]), "step": str(pos[1])}
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


def example_for(model: RWKV, key: str) -> lc.Example:
    cached = st.session_state.get(EXAMPLE)
    if cached is None or cached[0] != key:
        cached = (key, lc.run_example(model))
        st.session_state[EXAMPLE] = cached
    return cached[1]


def contents(lessons, pos) -> None:
    with st.expander("Contents", expanded=False):
        cols = st.columns(len(lessons))
        for col, lesson in zip(cols, lessons):
            col.markdown(f"**{lesson.number}. {lesson.title}**")
            for i, step in enumerate(lesson.steps, start=1):
                here = (lesson.number, i) == pos
                col.button(f"{i}. {step.title}", key=f"toc_{lesson.number}_{i}", on_click=go,
                           args=((lesson.number, i),), type="primary" if here else "tertiary")


def example_controls(ex: lc.Example, classroom: bool) -> tuple[int, int]:
    """Which layer and token the live numbers are for: fixed in classroom mode."""
    layer, t = min(lc.DEFAULT_LAYER, ex.model.config.n_layer - 1), ex.n_tokens - 1
    if classroom:
        return layer, t
    # another model may have fewer layers or tokens: forget a choice it cannot show
    for widget, n in (("lsn_layer", ex.model.config.n_layer), ("lsn_token", ex.n_tokens)):
        if st.session_state.get(widget, 0) >= n:
            del st.session_state[widget]
    with st.expander("The example: which layer and token the numbers are for"):
        st.text("Prompt: " + lc.prompt_text(ex))
        c1, c2 = st.columns(2)
        layer = c1.selectbox("Layer", list(range(ex.model.config.n_layer)), index=layer, key="lsn_layer")
        t = c2.selectbox("Token", list(range(ex.n_tokens)), index=t, key="lsn_token",
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
sync_from_url(lessons)
classroom = st.toggle("Classroom mode", key=CLASSROOM,
                      help="Large type, no sidebar, the embedded model and fixed seeds: every student "
                           "sees the same numbers. The link in the address bar opens this step.")
if classroom:
    st.html(layout.CLASSROOM_CSS)
pos = ls.clamp_position(lessons, *st.session_state[POS])
st.session_state[POS] = pos
write_url(pos, classroom)
lesson, step = lessons[pos[0] - 1], lessons[pos[0] - 1].steps[pos[1] - 1]

st.progress(ls.progress(lessons, pos),
            text=f"Lesson {lesson.number} of {len(lessons)} · step {pos[1]} of {len(lesson.steps)}")
contents(lessons, pos)
navigation(lessons, pos, "top")
model, key = model_for(classroom)
ex = example_for(model, key)
layer, t = example_controls(ex, classroom)

st.caption(f"Lesson {lesson.number}: {lesson.title}")
st.header(step.title)
if pos[1] == 1 and lesson.intro:
    st.markdown(lesson.intro)
st.markdown(step.text)
ctx = layout.Context(model, key, ex, layer, t, classroom, step, key=f"s{pos[0]}_{pos[1]}")
views.VIEWS[step.figure].render(ctx)
layout.focus_table(ctx)
layout.sources(ctx)
st.divider()
navigation(lessons, pos, "bottom")
