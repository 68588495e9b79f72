"""Tokens as chips: one box per token with its display text and id, prompt and generated apart."""
from __future__ import annotations

import plotly.graph_objects as go

from .theme import MUTED, PALETTE, figure, safe

PER_ROW = 12  # chips per row: long enough for a sentence, short enough to read on a projector


def token_strip(displays: list[str], ids: list[int], n_prompt: int, *, per_row: int = PER_ROW) -> go.Figure:
    """Chips for the tokens: text on top, id below; prompt tokens grey, generated ones blue."""
    n = len(ids)
    xs = [i % per_row for i in range(n)]
    ys = [-(i // per_row) for i in range(n)]
    colours = [MUTED if i < n_prompt else PALETTE["sky"] for i in range(n)]
    labels = [f"{safe(d)}<br><sub>{t}</sub>" for d, t in zip(displays, ids)]
    chips = go.Scatter(
        x=xs, y=ys, mode="markers+text", text=labels, textposition="middle center",
        marker=dict(symbol="square", size=64, color=colours, line=dict(color="white", width=2)),
        customdata=[[i, t] for i, t in enumerate(ids)], hovertext=[safe(d) for d in displays],
        hovertemplate="position %{customdata[0]}<br>id %{customdata[1]}<br>%{hovertext}<extra></extra>",
        showlegend=False)
    rows = max(1, -min(ys, default=0) + 1)
    return figure([chips], title=f"{n} tokens ({n_prompt} from the prompt, {n - n_prompt} generated)",
                  caption="Each chip is one token the model reads: its text (␣ = space, ↵ = newline, <F0> = "
                          "part of a character) and its id in the vocabulary. Grey: the prompt; blue: generated.",
                  height=110 + 75 * rows, xaxis=dict(visible=False, range=[-0.6, per_row - 0.4]),
                  yaxis=dict(visible=False, range=[-rows + 0.4, 0.6]))
