"""The lesson page's layout pieces, shared by every view (app/lessons/views.py) and the page
(app/app_pages/lessons.py): the step's Context, a figure with its caption, tables of numbers,
the formula = engine line, classroom mode's large type, and what is shown around every step
(the recorder points it names, the real source of the engine functions it quotes).
"""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from app import widgets
from rwkv_core.protocol import Model
from visuals import lessons as vl

from . import core as lc
from .content import Step, source_of

# Large type and no sidebar for a projector. Static CSS only: no user or model text in here.
CLASSROOM_CSS = """<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stExpandSidebarButton"],
[data-testid="stSidebarNav"], header[data-testid="stHeader"] { display: none !important; }
.block-container, [data-testid="stMainBlockContainer"] { max-width: 96vw; padding-top: 1rem; }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li {
  font-size: 1.7rem !important; line-height: 1.45; }
[data-testid="stMarkdownContainer"] .katex-display { font-size: 1.7rem; }
[data-testid="stMarkdownContainer"] .katex { font-size: 1.35em; }
h1 { font-size: 3.2rem !important; } h2 { font-size: 2.5rem !important; } h3 { font-size: 2.1rem !important; }
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p { font-size: 1.35rem !important; }
[data-testid="stTable"] td, [data-testid="stTable"] th { font-size: 1.35rem !important; }
[data-testid="stMetricValue"] { font-size: 2.6rem !important; }
[data-testid="stCode"] code, [data-testid="stCode"] pre { font-size: 1.2rem !important; }
[data-testid="stMetricLabel"] p { font-size: 1.3rem !important; }
[data-testid="stWidgetLabel"] p, [data-testid="stRadio"] label p, .stButton button p { font-size: 1.45rem !important; }
</style>"""


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
    widgets.show(vl.presenter(fig) if ctx.classroom else fig, f"{ctx.key}_{key}")


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def table(ctx: Context, data: dict | list[dict]) -> None:
    """Columns {name: values} or rows [{name: value}], numbers to 6 significant digits.
    Classroom mode uses st.table (plain HTML, scaled by the large-type CSS)."""
    if isinstance(data, list):
        data = {k: [r[k] for r in data] for k in data[0]}
    shown = {k: [_fmt(v) for v in vals] for k, vals in data.items()}
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
