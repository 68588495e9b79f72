"""How long each channel remembers: half-lives from time_decay, and the bonus time_first."""
from __future__ import annotations

import plotly.graph_objects as go
import torch

from .theme import PALETTE, figure


def half_life_figure(half_lives: list[torch.Tensor], time_first: list[torch.Tensor]) -> go.Figure:
    """Per layer: the distribution over channels of the half-life in tokens (log scale), and
    beside it the bonus u (time_first) the current token gets."""
    data = []
    for layer, (h, u) in enumerate(zip(half_lives, time_first)):
        name = f"layer {layer}"
        data.append(go.Box(x=h.detach().double().numpy(), name=name, marker_color=PALETTE["blue"],
                           boxpoints="outliers", showlegend=False, xaxis="x", yaxis="y",
                           hovertemplate="%{x:.3g} tokens<extra>" + name + "</extra>"))
        data.append(go.Box(x=u.detach().double().numpy(), name=name, marker_color=PALETTE["orange"],
                           boxpoints="outliers", showlegend=False, xaxis="x2", yaxis="y2"))
    titles = [dict(text=t, x=x, y=1, xref="paper", yref="paper", xanchor="center", yanchor="bottom",
                   showarrow=False, font=dict(size=15))
              for t, x in (("half-life of each channel (tokens)", 0.29), ("bonus of the current token (u)", 0.84))]
    return figure(data, title="Memory: how many tokens until a channel has forgotten half",
                  caption="Short half-lives track the last word or two, long ones carry context across a "
                          "whole passage; each layer mixes both kinds.",
                  height=140 + 50 * len(half_lives), annotations=titles,
                  xaxis=dict(domain=[0, 0.58], type="log", title=dict(text="half-life (tokens, log scale)")),
                  yaxis=dict(autorange="reversed", title=dict(text="layer")),
                  xaxis2=dict(domain=[0.68, 1], anchor="y2", title=dict(text="time_first u")),
                  yaxis2=dict(autorange="reversed", anchor="x2"))
