"""Figures for lesson 2 (scaling an RNN): plain data in, plotly Figure out (no Streamlit).

  kind_schedules   the red-line RNN, the stacked LSTM and RWKV-4 in each schedule: the critical
                   path in matrix-product steps beside the measured time, refused schedules marked
  chunk_cost       the cascade's time per token against its chunk size, one line per model, the
                   range where the fixed cost is shared out shaded, ChatRWKV's CHUNK_LEN marked
  cascade_steps    the cascade's step count for every chunk size, the chosen one highlighted,
                   with the one-cell-at-a-time and layer-parallel counts as references
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .theme import HIGHLIGHT, MUTED, PALETTE, RED_LINE, SEQUENCE, model_colour, safe, style


def kind_schedules(rows: Sequence[Mapping], *, device: str, n_tokens: int) -> go.Figure:
    """rows: {"title", "mode", "product_steps" (None: refused), "ms" (None: refused)}, one per
    (kind, schedule). Left: each one's critical path in matrix-product steps; right: its measured
    wall time. A refused schedule is a hatched grey bar, as tall as the panel's tallest, labelled
    "refused"."""
    modes = list(dict.fromkeys(r["mode"] for r in rows))
    titles = list(dict.fromkeys(r["title"] for r in rows))
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12,
                        subplot_titles=["critical path (matrix-product steps)", f"measured on {safe(device)} (ms)"])
    for col, key, fmt in ((1, "product_steps", "{:.0f}"), (2, "ms", "{:.1f}")):
        top = max((r[key] for r in rows if r[key] is not None), default=1)
        for i, title in enumerate(titles):
            mine = {r["mode"]: r for r in rows if r["title"] == title}
            colour = model_colour(title, i)                     # the kind's registry colour
            ran = [m for m in modes if m in mine and mine[m][key] is not None]
            refused = [m for m in modes if m not in ran]
            # the same offset group: a refused bar stands in the kind's own slot
            fig.add_trace(go.Bar(x=ran, y=[mine[m][key] for m in ran], name=safe(title), legendgroup=title,
                                 offsetgroup=title, showlegend=col == 1, marker_color=colour,
                                 text=[fmt.format(mine[m][key]) for m in ran], textposition="outside",
                                 cliponaxis=False, hovertemplate=f"{safe(title)}, %{{x}}: %{{y}}<extra></extra>"),
                          row=1, col=col)
            if refused:
                fig.add_trace(go.Bar(x=refused, y=[top] * len(refused), name=f"{safe(title)}: refused",
                                     legendgroup=title, offsetgroup=title, showlegend=False,
                                     marker=dict(color="#EEEEEE", pattern=dict(shape="/", fgcolor=MUTED,
                                                                               fillmode="overlay")),
                                     text=["refused"] * len(refused), textposition="inside", textangle=-90,
                                     insidetextanchor="middle",
                                     hovertemplate=f"{safe(title)}, %{{x}}: refused<extra></extra>"), row=1, col=col)
    fig.update_layout(barmode="group")
    fig.update_yaxes(rangemode="tozero")
    style(fig, title=f"Three models on the same {n_tokens} tokens, every schedule each allows", height=480,
          caption="Left: the critical path, how many matrix products must run one after another (the red-line "
                  "RNN and an LSTM layer cannot widen theirs; hatched: refused). Right: this run's wall time on this "
                  "device with one worker, which follows the total arithmetic, not the critical path.")
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.2, x=0))   # under the panels' titles' way
    return fig


def chunk_cost(series: Mapping[str, Sequence[tuple[int, float]]], *, wide: tuple[int, int] = (32, 512),
               chat_chunk: int = 256, title: str = "Time per token against chunk size") -> go.Figure:
    """series: label → [(chunk, milliseconds per token)]. Log–log; the chunk sizes where the
    fixed cost is shared out (`wide`) shaded, ChatRWKV's CHUNK_LEN (`chat_chunk`) a dotted line."""
    fig = go.Figure()
    for i, (label, points) in enumerate(series.items()):
        pts = sorted(points)
        fig.add_trace(go.Scatter(x=[c for c, _ in pts], y=[v for _, v in pts], mode="lines+markers",
                                 name=safe(label), line=dict(width=3, color=SEQUENCE[i % len(SEQUENCE)]),
                                 marker=dict(size=9),
                                 hovertemplate=f"{safe(label)}<br>chunk %{{x}}: %{{y:.3f}} ms per token<extra></extra>"))
    fig.add_vrect(x0=wide[0], x1=wide[1], fillcolor=MUTED, opacity=0.2, line_width=0)
    # placed by hand: on a log axis an annotation's x is the log10 of the value
    fig.add_annotation(x=math.log10(wide[0]), xref="x", xanchor="left", y=1, yref="paper", yanchor="bottom",
                       showarrow=False, text=f"fixed cost shared out: {wide[0]}–{wide[1]}")
    fig.add_vline(x=chat_chunk, line=dict(color=MUTED, dash="dot", width=2))
    fig.add_annotation(x=math.log10(chat_chunk), xref="x", xanchor="right", y=0, yref="paper", yanchor="bottom",
                       showarrow=False, text=f"ChatRWKV's CHUNK_LEN = {chat_chunk} (read in rnn order)")
    chunks = sorted({c for points in series.values() for c, _ in points} | set(wide))
    fig.update_xaxes(type="log", tickvals=chunks, ticktext=[str(c) for c in chunks], title_text="chunk (tokens per cell)",
                     range=[math.log10(chunks[0] / 1.5), math.log10(chunks[-1] * 1.5)])   # a log axis' range is in log10
    fig.update_yaxes(type="log", title_text="ms per token (log)")
    return style(fig, title=title, height=440,
                 caption=f"Shaded ({wide[0]}–{wide[1]}): where the fixed cost is shared out. At chunk 1 every token pays "
                         "a call's fixed cost and a thin product; by a few dozen tokens that cost is shared out. "
                         "Timed as a cascade with one worker.")


def cascade_steps(n_layer: int, n_tokens: int, steps: Mapping[int, int], chosen: int) -> go.Figure:
    """steps: chunk → the cascade's step count on n_tokens; the chosen chunk highlighted, the rnn
    (L·T) and layer-parallel (L) counts as dashed references."""
    chunks = sorted(steps)
    fig = go.Figure(go.Bar(x=[str(c) for c in chunks], y=[steps[c] for c in chunks], name="cascade",
                           marker_color=[HIGHLIGHT if c == chosen else PALETTE["blue"] for c in chunks],
                           text=[str(steps[c]) for c in chunks], textposition="outside", cliponaxis=False,
                           hovertemplate="chunk %{x}: %{y} steps<extra></extra>"))
    x = [str(c) for c in chunks]
    for y, name, colour in ((n_layer * n_tokens, f"one cell at a time: L·T = {n_layer * n_tokens}", RED_LINE),
                            (n_layer, f"layer by layer: L = {n_layer}", PALETTE["green"])):
        fig.add_trace(go.Scatter(x=x, y=[y] * len(x), mode="lines", name=name,
                                 line=dict(color=colour, dash="dash", width=2), hoverinfo="skip"))
    low, high = min(n_layer, *steps.values()), n_layer * n_tokens
    fig.update_yaxes(type="log", title_text="steps (log)", range=[math.log10(low / 2), math.log10(high * 3)])
    fig.update_xaxes(type="category", title_text="chunk (tokens per cell)")
    return style(fig, title=f"The cascade's steps on {n_tokens} tokens, {n_layer} layers", height=400,
                 caption="L + ⌈T/chunk⌉ − 1 steps: doubling the chunk halves the wave's length until, at "
                         "chunk = T, only L steps are left, one per layer.")
