"""The next-token distribution: the most likely tokens as bars, the chosen one marked."""
from __future__ import annotations

import plotly.graph_objects as go
import torch

from .theme import FONT_SIZE, HIGHLIGHT, MUTED, PALETTE, figure, percent, percent_format, safe, text_width


def top_tokens(probs: torch.Tensor, k: int) -> list[int]:
    """Ids of the k most likely tokens, the most likely first."""
    return [int(i) for i in torch.topk(probs, min(k, len(probs))).indices]


def next_token_bars(probs: torch.Tensor, raw_probs: torch.Tensor, labels: dict[int, str], chosen: int,
                    entropy_bits: float, *, k: int = 12, title: str = "Next token") -> go.Figure:
    """Bars of the distribution sampled from (after temperature, top-k, top-p) for its k most
    likely tokens, with the model's own probabilities (temperature 1) as outlines beside them.
    labels: {id: display text}; the chosen token is drawn in the highlight colour. The tokens are
    the model's k most likely, so changing a setting changes the bars, never which tokens are shown."""
    ids = top_tokens(raw_probs, k)
    if chosen not in ids:
        ids = ids[:-1] + [chosen]
    names = [f"{safe(labels.get(i, str(i)))} ({i})" for i in ids]
    colours = [HIGHLIGHT if i == chosen else PALETTE["blue"] for i in ids]
    bars = [
        go.Bar(x=[float(probs[i]) for i in ids], y=names, orientation="h", name="sampled from",
               marker=dict(color=colours), text=[percent(float(probs[i])) for i in ids],
               textposition="outside", cliponaxis=False),
        go.Bar(x=[float(raw_probs[i]) for i in ids], y=names, orientation="h", name="model (T = 1)",
               marker=dict(color="rgba(0,0,0,0)", line=dict(color=MUTED, width=2))),
    ]
    top = max(max(float(probs[i]) for i in ids), max(float(raw_probs[i]) for i in ids))
    # the margins the labels need, set here: with them plotly draws the chart once (its automargin,
    # kept as a safety net, redrew it to widen the left margin: ~half of this chart's time in Chromium)
    left = int(FONT_SIZE * 2.2 + max(text_width(n) for n in names) + 12)
    return figure(bars, title=f"{title}: entropy {entropy_bits:.2f} bits",
                  caption="Vermilion (orange-red): the token that will be added. Change temperature, top-k or top-p and the "
                          "bars change at once: they are re-computed from the cached logits, the model does not run.",
                  x_title="probability", y_title="token (id)", height=120 + 34 * len(ids),
                  # room for the labels; ticks with as many decimals as a flat distribution needs
                  xaxis=dict(range=[0, min(1.0, top) * 1.25 + 1e-9], tickformat=percent_format(top)),
                  yaxis=dict(autorange="reversed", type="category"), barmode="group", bargap=0.25,
                  margin=dict(l=left, b=int(FONT_SIZE * 4.5)), validate=False)


def compare_bars(labels: dict[int, str], p_a: torch.Tensor, p_b: torch.Tensor, names: tuple[str, str],
                 *, k: int = 10, title: str = "Before and after") -> go.Figure:
    """Two distributions over the same tokens, side by side: the union of each one's top tokens."""
    ids = list(dict.fromkeys(top_tokens(p_a, k) + top_tokens(p_b, k)))[: 2 * k]
    ids.sort(key=lambda i: -float(p_a[i] + p_b[i]))
    ticks = [f"{safe(labels.get(i, str(i)))} ({i})" for i in ids]
    top = max([float(p_a[i]) for i in ids] + [float(p_b[i]) for i in ids] + [0.0])
    bars = [
        go.Bar(x=[float(p_a[i]) for i in ids], y=ticks, orientation="h", name=names[0],
               marker_color=PALETTE["blue"]),
        go.Bar(x=[float(p_b[i]) for i in ids], y=ticks, orientation="h", name=names[1],
               marker_color=PALETTE["orange"]),
    ]
    return figure(bars, title=title,
                  caption="Where the two bars differ, the change altered what the model expects next.",
                  x_title="probability of the next token", y_title="token (id)", height=140 + 30 * len(ids),
                  xaxis=dict(tickformat=percent_format(top)), yaxis=dict(autorange="reversed", type="category"), barmode="group")
