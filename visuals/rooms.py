"""The class's answers to a room's prediction: one bar per possible answer (or per answer given),
the computed answer's bar in the highlight colour once revealed. Pure: labels and counts in, a
Figure out (app/rooms/follow.py and the console draw it; tests/test_rooms_figures.py checks it)."""
from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from .theme import HIGHLIGHT, MUTED, PALETTE, safe, style


def answer_bars(labels: Sequence[str], counts: Sequence[int], *, right: int | None) -> go.Figure:
    """Bars of how many students gave each answer. `right`: the index of the computed answer among
    the labels once it is revealed (its bar highlighted), None before (every bar alike)."""
    if len(labels) != len(counts):
        raise ValueError(f"{len(labels)} labels for {len(counts)} counts")
    colours = [HIGHLIGHT if i == right else (MUTED if right is not None else PALETTE["blue"])
               for i in range(len(labels))]
    shown = [safe(str(x)) + (" ✓" if i == right else "") for i, x in enumerate(labels)]
    fig = go.Figure(go.Bar(x=[f"{i}: {s}" for i, s in enumerate(shown)], y=list(counts), marker_color=colours,
                           text=[str(c) for c in counts], textposition="outside", cliponaxis=False,
                           hovertemplate="%{x}: %{y} answers<extra></extra>"))
    fig.update_xaxes(type="category", tickvals=[f"{i}: {s}" for i, s in enumerate(shown)], ticktext=shown)
    fig.update_yaxes(rangemode="tozero", dtick=max(1, (max(counts, default=0) + 4) // 5))
    n = sum(counts)
    caption = (f"{n} answer{'s' if n != 1 else ''}. " +
               ("The highlighted bar is the answer the model computes for this prompt." if right is not None
                else "The computed answer is shown when the teacher reveals it."))
    return style(fig, title=f"The class's answers ({n})", caption=caption, x_title="answer",
                 y_title="students", height=340)
