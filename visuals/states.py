"""The recurrent state: each layer's five vectors over the tokens, their size over time, and the
whole state's bytes beside a transformer's growing KV cache."""
from __future__ import annotations

import math

import plotly.graph_objects as go
import torch
from plotly.colors import sample_colorscale

from .theme import DIVERGING, HIGHLIGHT, PALETTE, SEQUENCE, SEQUENTIAL, figure, safe

FIELD_NOTES = {
    "x_att": "x_att: last input of time-mix (ln1 output), read by the next token's token shift",
    "aa": "aa: WKV numerator, weighted sum of past values (divided by e^pp)",
    "bb": "bb: WKV denominator, total weight of the past (divided by e^pp)",
    "pp": "pp: the running largest exponent that keeps aa and bb finite",
    "x_ffn": "x_ffn: last input of channel-mix (ln2 output)",
}


def state_heatmaps(fields: dict[str, torch.Tensor], token_labels: list[str], layer: int,
                   first: int = 0) -> go.Figure:
    """fields {x_att, aa, bb, pp, x_ffn: (T, C)}: the state after each token, one heatmap per
    field with channels up and tokens across, stacked over one shared token axis. `first`: the
    position of the first token shown (when only the last tokens are)."""
    names = list(fields)
    n, gap = len(names), 0.05
    ticks = [f"{first + i}:{safe(t)}" for i, t in enumerate(token_labels)]
    data, layout, notes = [], {}, []
    for r, name in enumerate(names):
        top = 1 - r / n
        bottom = top - 1 / n + gap
        z = fields[name].detach().float().T                       # (C, T)
        if name == "pp":
            z = z.clamp(min=-60)                                  # -1e38 (nothing seen) would flatten the scale
        yref = "y" if r == 0 else f"y{r + 1}"
        data.append(go.Heatmap(
            z=z.numpy(), x=ticks, xaxis="x", yaxis=yref, name=name,
            colorscale=SEQUENTIAL if name == "pp" else DIVERGING, zmid=None if name == "pp" else 0.0,
            colorbar=dict(len=1 / n - gap, y=(top + bottom) / 2, thickness=12),
            hovertemplate="token %{x}<br>channel %{y}<br>" + name + " = %{z:.3g}<extra></extra>"))
        layout["yaxis" if r == 0 else f"yaxis{r + 1}"] = dict(domain=[bottom, top], anchor="x",
                                                             title=dict(text="channel"))
        notes.append(dict(text=FIELD_NOTES.get(name, name), x=0.5, y=top, xref="paper", yref="paper",
                          xanchor="center", yanchor="bottom", showarrow=False, font=dict(size=15)))
    return figure(data, title=f"Layer {layer}: the state after each token",
                  caption="The whole memory of the past lives in these five columns of numbers; watch which "
                          "channels change at each token and which hold still.", height=230 * n,
                  xaxis=dict(type="category", anchor="y" if n == 1 else f"y{n}",
                             title=dict(text="after token (position:text)")),
                  annotations=notes, **layout)


def state_norm_lines(norms: torch.Tensor, token_labels: list[str]) -> go.Figure:
    """norms (L, T): each layer's state norm after each token, one line per layer."""
    x = [f"{i}:{safe(t)}" for i, t in enumerate(token_labels)]
    n = norms.shape[0]
    # up to 8 layers, the palette's distinct colours; more (12 in the 169M model), one colour per
    # layer along a sequential scale, so that no two layers share a colour and depth reads as shade
    colours = SEQUENCE[:n] if n <= len(SEQUENCE) else sample_colorscale(SEQUENTIAL, [i / (n - 1) for i in range(n)])
    lines = [go.Scatter(x=x, y=norms[layer].detach().double().numpy(), mode="lines+markers", name=f"layer {layer}",
                        line=dict(color=colours[layer]))
             for layer in range(n)]
    return figure(lines, title="State size per layer over the tokens",
                  caption="The state never gets bigger, only its values change: each layer's norm (x_att, aa, "
                          "bb, x_ffn; pp left out) per token shows how full its memory is and which layers move most.",
                  x_title="after token (position:text)", y_title="‖state‖ (L2 norm)", xaxis=dict(type="category"))


def state_vs_kv_cache(lengths: list[int], state_bytes: int, kv_curves: dict[str, list[int]],
                      current: int) -> go.Figure:
    """The RNN's state (constant) and transformers' KV caches (growing) against the length."""
    mib = 1024 ** 2
    lines = [go.Scatter(x=lengths, y=[state_bytes / mib] * len(lengths), mode="lines",
                        name="RWKV state (this model)", line=dict(color=HIGHLIGHT, width=4))]
    for (name, ys), colour in zip(kv_curves.items(), (PALETTE["blue"], PALETTE["green"], PALETTE["purple"])):
        lines.append(go.Scatter(x=lengths, y=[y / mib for y in ys], mode="lines", name=name,
                                line=dict(color=colour, width=3, dash="dash")))
    now = dict(type="line", x0=current, x1=current, xref="x", y0=0, y1=1, yref="paper",
               line=dict(color=PALETTE["black"], dash="dot"))
    label = dict(text=f"now: {current} tokens", x=math.log10(max(current, 1)), xref="x", y=0.55, yref="paper",
                 xanchor="left", yanchor="middle", showarrow=False, bgcolor="rgba(255,255,255,0.85)")
    return figure(lines, title=f"Memory needed to continue a text: RWKV state {state_bytes / 1024:.0f} KiB, always",
                  caption="The vermilion (orange-red) line is flat: RWKV carries the same few kilobytes at token 10 and token "
                          "10,000, while a transformer's key/value cache grows with every token.",
                  x_title="sequence length (tokens)", y_title="memory (MiB, float32, log scale)",
                  # the legend above the plot (the theme's): inside it, it sat on the "now" label, and on a
                  # phone plotly widened the margins to hold it, squeezing the plot to 60 px
                  xaxis=dict(type="log"), yaxis=dict(type="log"), shapes=[now], annotations=[label])
