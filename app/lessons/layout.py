"""The lesson page's layout pieces, shared by every view (app/lessons/views.py) and the page
(app/app_pages/lessons.py): the step's Context, a figure with its caption, tables of numbers,
the formula = engine line, classroom mode's large type, and what is shown around every step
(the recorder points it names, the real source of the engine functions it quotes).
"""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from app import formats, style, widgets
from rwkv_core.protocol import Model

from . import core as lc
from .step import Step, source_of

# Large type and no sidebar for a projector: the site-wide classroom CSS (app/style.py).
CLASSROOM_CSS = style.CLASSROOM_CSS


@dataclass(frozen=True)
class Context:
    """What a renderer needs: the model, its recorded example, the chosen layer and token."""
    model: Model
    model_key: str
    ex: lc.Example
    layer: int
    t: int
    classroom: bool
    step: Step
    key: str               # a widget-key prefix unique to the step


def show(ctx: Context, fig, key: str) -> None:
    """The figure (in large type in classroom mode) and its caption, keyed for this step."""
    widgets.show(fig, f"{ctx.key}_{key}", classroom=ctx.classroom)   # enlarged there in classroom mode


def table(ctx: Context, data: dict | list[dict]) -> None:
    """Columns {name: values} or rows [{name: value}], each column at its quantity's one precision
    (app/formats.py: probabilities and shares in percent, reals to three significant digits of the
    column's largest, scientific where they span orders of magnitude). Classroom mode uses st.table
    (plain HTML, scaled and wrapped by the large-type CSS)."""
    shown = formats.table(data)
    if ctx.classroom:
        st.table(shown)
    else:
        st.dataframe(shown, hide_index=True)


def agreement(diffs: dict[str, float]) -> None:
    """One line saying how far the lesson's formulas are from the engine's recorded values."""
    worst = max(diffs.values())
    parts = ", ".join(f"{n} {d:.1e}" for n, d in diffs.items())
    text = f"Formula = engine: largest |difference| {parts} (float32 rounding)."
    (st.success if worst < 1e-3 else st.error)(text)


# --- around every step --------------------------------------------------------------------------

def focus_table(ctx: Context) -> None:
    """The recorder points the step names, at this token: size and first channels."""
    names = [n for n in ctx.step.focus_names(ctx.layer) if n in ctx.ex.rec]
    if not names:
        return
    with st.expander(f"Recorder points in this step ({len(names)})"):
        rows = []
        for n in names:
            x = ctx.ex.rec[n][ctx.t]
            rows.append({"point": n, "shape": str(tuple(ctx.ex.rec[n].shape)), "‖x_t‖": float(x.norm()),
                         "first values": ", ".join(f"{float(a):.3f}" for a in x[:5])})
        table(ctx, rows)


def quiz(ctx: Context) -> None:
    """The step's quiz, its {fields} filled from this example when it asks about a live number;
    the chosen option's own explanation (why it is right, or why it is wrong) at once."""
    from .quiz import LIVE
    q = ctx.step.quiz
    if q.live:
        q = q.filled(LIVE[q.live](ctx.ex, ctx.layer, ctx.t))
    choice = st.radio(q.question, range(len(q.options)), format_func=lambda i: q.options[i], index=None,
                      key=f"{ctx.key}_quiz")
    verdict = q.check(choice)
    if verdict is True:
        st.success("Right. " + q.explain[choice])
    elif verdict is False:
        st.error("Not quite. " + q.explain[choice])
        st.caption("Try another answer.")


def sources(ctx: Context) -> None:
    for dotted in ctx.step.source:
        with st.expander(f"The real code: {dotted}", expanded=ctx.classroom):
            st.code(source_of(dotted), language="python")
