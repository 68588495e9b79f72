"""The article's cliffhanger, measured: what each model's memory buys. Plain data in, Figure out.

  held_out_figure       held-out bits per character of each model trained here (lower is better)
  context_curve_figure  bits per character of the same held-out tokens given c tokens of context
"""
from __future__ import annotations

from typing import Mapping, Sequence

import plotly.graph_objects as go

from .theme import MUTED, figure, model_colour, safe


def held_out_figure(rows: Sequence[tuple[str, float]], highlight: Sequence[str] = ()) -> go.Figure:
    """rows: (model label, held-out bits/char), drawn in the given order; `highlight`: labels
    drawn in their kind's colour (the rest grey)."""
    colours = [model_colour(name, i) if name in highlight else MUTED for i, (name, _) in enumerate(rows)]
    bar = go.Bar(x=[safe(n) for n, _ in rows], y=[v for _, v in rows], marker_color=colours,
                 text=[f"{v:.3f}" for _, v in rows], textposition="outside",
                 hovertemplate="%{x}: %{y:.3f} bits/char<extra></extra>")
    top = max(v for _, v in rows)
    lo = min(v for _, v in rows)
    return figure([bar], title="Held-out bits per character, same held-out text",
                  caption="Lower is better: The Tempest and Timon of Athens, never trained on. "
                          "The axis starts near the best model so the gaps show; read the numbers on the bars.",
                  x_title="model", y_title="bits per character",
                  yaxis=dict(range=[max(0.0, lo - 0.25), top + 0.12]), showlegend=False)


def context_curve_figure(curves: Mapping[str, Sequence[tuple[int, float]]]) -> go.Figure:
    """curves: model label → [(tokens of context, bits/char of the scored tokens)] (log x axis)."""
    traces = [go.Scatter(x=[c for c, _ in pts], y=[b for _, b in pts], name=safe(name), mode="lines+markers",
                         line=dict(color=model_colour(name, i)),
                         hovertemplate="%{x} tokens of context: %{y:.3f} bits/char<extra>" + safe(name) + "</extra>")
               for i, (name, pts) in enumerate(curves.items())]
    return figure(traces, title="The same held-out tokens, given more and more context",
                  caption="Where a line stops falling, that model stops using what lies further back.",
                  x_title="tokens of context before the scored tokens (log scale)",
                  y_title="bits per character", xaxis=dict(type="log"))
