"""The WKV read as attention, and the two ways of running the model compared."""
from __future__ import annotations

import math

import plotly.graph_objects as go
import torch

from .theme import HIGHLIGHT, PALETTE, SEQUENTIAL, figure, safe


def implicit_attention_figure(weights: torch.Tensor, token_labels: list[str], channel: str,
                              max_diff: float) -> go.Figure:
    """weights (L, t+1): per layer, the share each token 0..t has in the current token's WKV
    (for one channel, or averaged over channels); max_diff: the largest |WKV rebuilt from these
    weights - WKV recorded| over layers and channels."""
    x = [f"{i}:{safe(t)}" for i, t in enumerate(token_labels)]
    heat = go.Heatmap(z=weights.detach().double().numpy(), x=x, y=[f"layer {i}" for i in range(len(weights))],
                      colorscale=SEQUENTIAL, zmin=0, colorbar=dict(title=dict(text="weight")),
                      hovertemplate="%{y}, token %{x}: %{z:.3f}<extra></extra>")
    return figure([heat], title=f"What the current token's WKV averages over ({channel})<br>"
                                f"<sup>WKV rebuilt from these weights = recorded WKV, max |diff| {max_diff:.1e}</sup>",
                  caption="RWKV has no attention matrix, yet its WKV is a weighted average of past values: "
                          "recent tokens weigh more, the current one gets the bonus u.",
                  x_title="earlier token (position:text)", y_title="layer", height=140 + 45 * len(weights),
                  xaxis=dict(type="category"), yaxis=dict(autorange="reversed"))


def equivalence_figure(per_layer: dict[str, list[float]], logits_diff: float) -> go.Figure:
    """per_layer {'residual output': [L floats], 'state': [L floats]}: max |rnn - parallel|."""
    bars = [go.Bar(x=[f"layer {i}" for i in range(len(diffs))], y=[max(d, 1e-12) for d in diffs],
                   name=name, marker_color=colour, text=[f"{d:.1e}" for d in diffs], textposition="outside")
            for (name, diffs), colour in zip(per_layer.items(), (PALETTE["blue"], PALETTE["orange"]))]
    level = max(logits_diff, 1e-12)
    line = dict(type="line", x0=0, x1=1, xref="paper", y0=level, y1=level, yref="y",
                line=dict(color=HIGHLIGHT, dash="dash"))
    label = dict(text=f"logits: {logits_diff:.1e}", x=1, xref="paper", y=math.log10(level), yref="y",
                 xanchor="right", yanchor="bottom", showarrow=False)
    return figure(bars, title="RNN (one token at a time) vs parallel (all tokens at once): max |difference|",
                  caption="Differences at the 1e-6 level are float32 rounding: the two schedules compute "
                          "the same function.",
                  x_title="layer", y_title="max |rnn - parallel| (log scale)", yaxis=dict(type="log"),
                  barmode="group", shapes=[line], annotations=[label])
