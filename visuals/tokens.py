"""Tokens as chips: one box per token with its display text and id, prompt and generated apart."""
from __future__ import annotations

import plotly.graph_objects as go

from .theme import MUTED, PALETTE, figure, safe

PER_ROW = 12  # chips per row: long enough for a sentence, short enough to read on a projector
CLASSROOM_ROW = 10  # in classroom mode's 1.45× type on a 1280 px projector
PHONE_ROW = 4  # chips per row on a 390 px phone: ~85 px a chip, room for its text at 16 px
MAX_CHARS = 8  # a chip shows this many characters of a long token, then "…" (the whole token on hover)


def chip_text(display: str, max_chars: int = MAX_CHARS) -> str:
    """A token's text as its chip shows it: cut to `max_chars` characters with "…", so that a long
    token never runs into its neighbours."""
    return display if len(display) <= max_chars else display[: max_chars - 1] + "…"


def token_strip(displays: list[str], ids: list[int], n_prompt: int, *, per_row: int = PER_ROW,
                max_chars: int = MAX_CHARS) -> go.Figure:
    """Chips for the tokens: text on top, id below; prompt tokens grey, generated ones blue.
    The chips are heatmap cells, so they grow and shrink with the chart's width (a phone's, a
    projector's) instead of overlapping; the text is a scatter of labels over them, a long token cut
    to `max_chars` characters (chip_text; hover shows it whole). The id is plotly's <sub>, 70 % of
    the 16 px text: 11.2 px, and five digits (a 50k vocabulary) fit a chip of a twelve-chip row."""
    n = len(ids)
    xs = [i % per_row for i in range(n)]
    ys = [-(i // per_row) for i in range(n)]
    rows = max(1, -min(ys, default=0) + 1)
    kind = [[None] * per_row for _ in range(rows)]           # (row, column): 0 prompt, 1 generated
    for i in range(n):
        kind[i // per_row][i % per_row] = 0 if i < n_prompt else 1
    cells = go.Heatmap(z=kind, x=list(range(per_row)), y=[-r for r in range(rows)], zmin=0, zmax=1,
                       colorscale=[[0, MUTED], [1, PALETTE["sky"]]], showscale=False, xgap=4, ygap=4,
                       hoverinfo="skip", name="chips")
    labels = [f"{safe(chip_text(d, max_chars))}<br><sub>{t}</sub>" for d, t in zip(displays, ids)]
    text = go.Scatter(
        x=xs, y=ys, mode="text", text=labels, textposition="middle center", textfont=dict(color="#111111"),
        customdata=[[i, t] for i, t in enumerate(ids)], hovertext=[safe(d) for d in displays],
        hovertemplate="position %{customdata[0]}<br>id %{customdata[1]}<br>%{hovertext}<extra></extra>",
        showlegend=False, name="tokens")
    return figure([text, cells], title=f"{n} token{'s' * (n != 1)} ({n_prompt} from the prompt, {n - n_prompt} generated)",
                  caption="Each chip is one token the model reads: its text (␣ = space, ↵ = newline, <F0> = "
                          "part of a character) and its id in the vocabulary. Grey: the prompt; blue: generated.",
                  height=110 + 75 * rows, margin=dict(l=8, r=8),       # no axes: the chips take the width
                  xaxis=dict(visible=False, range=[-0.55, per_row - 0.45]),
                  yaxis=dict(visible=False, range=[-rows + 0.45, 0.55]), validate=False)
