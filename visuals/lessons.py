"""Figures made for the lessons: plain data in, plotly Figure out (no Streamlit).

  vector_bars         one vector's channels as bars (an embedding, a state field)
  layer_lens          the residual stream's size after each block and what the head would pick there
  wkv_shares          a token's WKV as a weighted average: the share of each earlier token
  exponent_bars       the WKV exponents against float32's limit: why the naive form overflows
  running_sums        the recurrent form's a and b after each token
  stable_state_frames one channel's aa, bb, pp after each token, animated token by token
  blocked_wkv         the blocked parallel WKV beside the token-by-token recurrence, blocks shaded
  squared_relu_figure channel-mix pre-activations and what the squared ReLU keeps
  generation_chain    prompt in a cascade, then new tokens one at a time (the red line returns)
  state_fields        the five state vectors a layer carries to the next token
  presenter           larger type for classroom mode
"""
from __future__ import annotations

from typing import Sequence

import plotly.graph_objects as go

from .theme import HIGHLIGHT, MUTED, PALETTE, RED_LINE, SEQUENTIAL, percent, safe, style

FLOAT32_MAX_EXP = 88.72  # ln of the largest float32: e^x is inf above it


def vector_bars(values: Sequence[float], *, title: str, caption: str, name: str = "value",
                highlight: Sequence[int] = ()) -> go.Figure:
    """Bars of a vector's channels; `highlight` channels in the highlight colour."""
    marked = set(highlight)
    colours = [HIGHLIGHT if i in marked else PALETTE["blue"] for i in range(len(values))]
    fig = go.Figure(go.Bar(x=list(range(len(values))), y=list(values), marker_color=colours, name=name,
                           hovertemplate="channel %{x}: %{y:.4f}<extra></extra>"))
    return style(fig, title=title, caption=caption, x_title="channel", y_title=name, height=340)


def layer_lens(names: Sequence[str], norms: Sequence[float], top: Sequence[str],
               top_prob: Sequence[float]) -> go.Figure:
    """The size of the residual stream after each stage, labelled with the token the head would
    pick from it (and that token's probability)."""
    text = [f"“{safe(t)}” {percent(p)}" for t, p in zip(top, top_prob)]     # never a bare 0%
    fig = go.Figure(go.Scatter(x=list(names), y=list(norms), mode="lines+markers+text", text=text,
                               textposition="top center", cliponaxis=False,     # the top label stays whole
                               marker=dict(size=12, color=PALETTE["blue"]),
                               line=dict(width=3), name="‖x‖",
                               hovertemplate="%{x}<br>‖x‖ = %{y:.2f}<br>head would pick %{text}<extra></extra>"))
    fig.update_yaxes(range=[0, 1.2 * max(norms, default=1.0)])     # room above the highest point for its label
    return style(fig, title="One token through the layers", x_title="recorder point", y_title="‖x‖ (L2 norm)",
                 caption="Each block adds its output to the residual stream x. Labels: the token the head would "
                         "predict if the model stopped after that block (the last one is the real prediction).")


def wkv_shares(labels: Sequence[str], shares: Sequence[float], *, channel: int, layer: int, w: float,
               u: float, wkv: float) -> go.Figure:
    """The weight each token 0..t gets in token t's WKV, in one channel: e^{exponent} over the sum."""
    n = len(shares)
    colours = [MUTED] * (n - 1) + [HIGHLIGHT]
    ticks = [f"{i}:{safe(s)}" for i, s in enumerate(labels)]
    fig = go.Figure(go.Bar(x=ticks, y=list(shares), marker_color=colours, name="share",
                           text=[f"{s:.0%}" for s in shares], textposition="outside", cliponaxis=False,
                           hovertemplate="%{x}: %{y:.3f}<extra></extra>"))
    fig.update_yaxes(range=[0, max(shares) * 1.25 if shares else 1], tickformat=".0%")
    return style(fig, title=f"Layer {layer}, channel {channel}: wkv = {wkv:.4f}, a weighted average of v "
                            f"(w = {w:.3f}, u = {u:.3f})",
                 caption="Grey: earlier tokens; each fades by the same e^w per token, its k only sets where it "
                         "starts. Red: this token, weighted e^(u + k) (u in place of a decay). The bars add up to 100%.",
                 x_title="token (position:text)", y_title="share of the average")


def exponent_bars(labels: Sequence[str], exponents: Sequence[float], shift: float) -> go.Figure:
    """The exponents of one channel's WKV sum (with `shift` added to every k) against the largest
    exponent a float32 e^x survives."""
    ticks = [f"{i}:{safe(s)}" for i, s in enumerate(labels)]
    over = [e > FLOAT32_MAX_EXP for e in exponents]
    fig = go.Figure(go.Bar(x=ticks, y=list(exponents), name="exponent",
                           marker_color=[HIGHLIGHT if o else PALETTE["blue"] for o in over],
                           hovertemplate="%{x}: %{y:.2f}<extra></extra>"))
    fig.add_hline(y=FLOAT32_MAX_EXP, line=dict(color=RED_LINE, dash="dash"),
                  annotation_text="e^x = inf in float32 above 88.7")
    return style(fig, title=f"The exponents of the WKV sum, every k shifted by {shift:+g}",
                 caption="Red bars overflow when the naive form takes e^ of them; the stable form only ever "
                         "takes e^ of (exponent − the largest one) ≤ 0.",
                 x_title="token (position:text)", y_title="(t−1−i)·w + k_i  (last bar: u + k_t)", height=380)


def running_sums(labels: Sequence[str], a: Sequence[float], b: Sequence[float], channel: int) -> go.Figure:
    ticks = [f"{i}:{safe(s)}" for i, s in enumerate(labels)]
    fig = go.Figure([go.Scatter(x=ticks, y=list(a), mode="lines+markers", name="a (numerator)",
                                line=dict(color=PALETTE["blue"], width=3)),
                     go.Scatter(x=ticks, y=list(b), mode="lines+markers", name="b (denominator)",
                                line=dict(color=PALETTE["orange"], width=3))])
    return style(fig, title=f"Channel {channel}: the two running sums after each token",
                 caption="Each token multiplies both sums by e^w (< 1) and adds its own e^k·v and e^k: a fixed-size "
                         "memory, whatever the length.", x_title="after token", y_title="value", height=360)


def squared_relu_figure(pre: Sequence[float], post: Sequence[float], n: int = 96) -> go.Figure:
    """The first n hidden channels of channel-mix before and after max(x, 0)^2."""
    xs = list(range(min(n, len(pre))))
    fig = go.Figure([go.Bar(x=xs, y=list(pre[: len(xs)]), name="W_k · xk", marker_color=MUTED),
                     go.Bar(x=xs, y=list(post[: len(xs)]), name="max(·, 0)²", marker_color=PALETTE["blue"])])
    fig.update_layout(barmode="overlay")
    return style(fig, title=f"Squared ReLU on the first {len(xs)} hidden channels",
                 caption="Negative values become exactly 0 (most of them); positive ones are squared, so strong "
                         "features count much more than weak ones.", x_title="hidden channel", y_title="value",
                 height=360)


def generation_steps(n_layer: int, n_prompt: int, n_new: int) -> list[list[int]]:
    """The step at which each (layer, token) cell can run when a prompt is read as a cascade
    (cell (l, t) at step l + t) and then new tokens are generated: new token t needs token t-1's
    top layer (to sample it), so its layer 0 starts only after that. steps[l][t]."""
    steps = [[0] * (n_prompt + n_new) for _ in range(n_layer)]
    for t in range(n_prompt + n_new):
        for l in range(n_layer):
            if t < n_prompt:
                steps[l][t] = l + t
            else:
                start = steps[n_layer - 1][t - 1] + 1    # after token t-1 left the top layer
                steps[l][t] = max(start + l, steps[l][t - 1] + 1)
    return steps


def generation_chain(n_layer: int, labels: Sequence[str], n_prompt: int) -> go.Figure:
    """Heatmap of generation_steps: the prompt's diagonal waves, then one token after another."""
    n_new = len(labels) - n_prompt
    steps = generation_steps(n_layer, n_prompt, n_new)
    ticks = [f"{i}:{safe(s)}" for i, s in enumerate(labels)]
    fig = go.Figure(go.Heatmap(z=steps, x=ticks, y=list(range(n_layer)), colorscale=SEQUENTIAL,
                               text=[[str(s + 1) for s in row] for row in steps], texttemplate="%{text}",
                               colorbar=dict(title="step"), hovertemplate="layer %{y}, %{x}: step %{z}<extra></extra>"))
    for t in range(n_prompt, len(labels)):
        fig.add_annotation(x=ticks[t], y=0, ax=ticks[t - 1], ay=n_layer - 1, xref="x", yref="y", axref="x",
                           ayref="y", showarrow=True, arrowhead=2, arrowwidth=3, arrowcolor=RED_LINE, text="")
    fig.add_vline(x=n_prompt - 0.5, line=dict(color=PALETTE["black"], dash="dot"))
    total = steps[-1][-1] + 1
    return style(fig, title=f"Read {n_prompt} prompt tokens, then write {n_new}: {total} steps",
                 caption="Left of the dotted line the prompt runs as a cascade (diagonal waves). Right of it every "
                         "new token waits for the previous token's top layer (red): it must be sampled first.",
                 x_title="token (position:text)", y_title="layer", height=300 + 30 * n_layer)


def state_fields(fields: dict, *, layer: int, token: str) -> go.Figure:
    """The five state vectors of one layer as heatmap rows (pp on its own scale: it is an exponent)."""
    names = [n for n in fields if n != "pp"]
    z = [[float(v) for v in fields[n]] for n in names]
    fig = go.Figure(go.Heatmap(z=z, y=names, colorscale="RdBu_r", zmid=0, colorbar=dict(title="value"),
                               hovertemplate="%{y}[%{x}] = %{z:.4f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    return style(fig, title=f"Layer {layer}'s state after {safe(token)}: 5 vectors, fixed size",
                 caption="x_att and x_ffn: this token's layer-norm outputs (ln1, ln2), for the next token's token "
                         "shift. aa, bb: the WKV numerator and denominator scaled by e^-pp (pp is summarised below).",
                 x_title="channel", height=330)



def stable_state_frames(labels: Sequence[str], aa: Sequence[float], bb: Sequence[float], pp: Sequence[float],
                        channel: int) -> go.Figure:
    """One channel's stable state after each token, animated: frame t shows aa and bb (left
    axis) and pp (right axis) after tokens 0..t. A play button and a slider step through them."""
    ticks = [f"{i}:{safe(s)}" for i, s in enumerate(labels)]
    n = len(ticks)

    def traces(t: int) -> list[go.Scatter]:
        upto = slice(0, t + 1)
        return [go.Scatter(x=ticks[upto], y=list(aa[upto]), mode="lines+markers", name="aa",
                           line=dict(color=PALETTE["blue"], width=3)),
                go.Scatter(x=ticks[upto], y=list(bb[upto]), mode="lines+markers", name="bb",
                           line=dict(color=PALETTE["orange"], width=3)),
                go.Scatter(x=ticks[upto], y=list(pp[upto]), mode="lines+markers", name="pp (right axis)",
                           yaxis="y2", line=dict(color=PALETTE["black"], width=2, dash="dot"))]

    frames = [go.Frame(data=traces(t), name=str(t)) for t in range(n)]
    lo = min(min(aa), min(bb), 0.0)
    hi = max(max(aa), max(bb), 1.0)
    pad = 0.08 * (hi - lo)
    fig = go.Figure(data=traces(n - 1), frames=frames)
    play = dict(label="▶ play", method="animate",
                args=[None, dict(frame=dict(duration=700, redraw=True), fromcurrent=False, mode="immediate")])
    fig.update_layout(
        xaxis=dict(categoryorder="array", categoryarray=ticks, range=[-0.5, n - 0.5]),
        yaxis=dict(range=[lo - pad, hi + pad]),
        yaxis2=dict(overlaying="y", side="right", title="pp", showgrid=False,
                    range=[min(pp) - 1, max(pp) + 1]),
        updatemenus=[dict(type="buttons", buttons=[play], x=0, y=-0.28, xanchor="left", showactive=False)],
        sliders=[dict(active=n - 1, y=-0.2, len=0.85, x=0.15, currentvalue=dict(prefix="after token "),
                      steps=[dict(label=ticks[t], method="animate",
                                  args=[[str(t)], dict(mode="immediate", frame=dict(duration=0, redraw=True))])
                             for t in range(n)])])
    return style(fig, title=f"Channel {channel}: the stable state after each token",
                 caption="Each token: pp moves to the larger of (pp + w) and k, and aa, bb are rescaled to it, so "
                         "the largest term is 1 and aa, bb stay small numbers.",
                 x_title="after token", height=460).update_layout(yaxis_title_text="aa, bb")


def blocked_wkv(labels: Sequence[str], recurrence: Sequence[float], blocked: Sequence[float],
                blocks: Sequence[int], *, channel: int, block: int) -> go.Figure:
    """The WKV of one channel token by token (line) and from the engine's blocked form
    (markers), with every other block shaded."""
    ticks = [f"{i}:{safe(s)}" for i, s in enumerate(labels)]
    fig = go.Figure([go.Scatter(x=ticks, y=list(recurrence), mode="lines", name="recurrence (token by token)",
                                line=dict(color=PALETTE["blue"], width=3)),
                     go.Scatter(x=ticks, y=list(blocked), mode="markers", name=f"blocked ({block} tokens a block)",
                                marker=dict(color=HIGHLIGHT, size=11, symbol="diamond"))])
    for b in sorted(set(blocks))[::2]:
        at = [i for i, x in enumerate(blocks) if x == b]
        fig.add_vrect(x0=at[0] - 0.5, x1=at[-1] + 0.5, fillcolor=MUTED, opacity=0.18, line_width=0)
    fig.update_xaxes(categoryorder="array", categoryarray=ticks)
    return style(fig, title=f"Channel {channel}: the same wkv, token by token and in blocks of {block}",
                 caption="Shaded bands: every other block. Inside a block every output is computed at once from "
                         "the state at the block's start; only the state passes from block to block.",
                 x_title="token (position:text)", y_title="wkv", height=380)


def presenter(fig: go.Figure, scale: float = 1.45) -> go.Figure:
    """Classroom mode: the same figure with larger type and room for it."""
    size = (fig.layout.font.size or 16) * scale
    fig.update_layout(font=dict(size=size), height=int((fig.layout.height or 420) * 1.25),
                      title_font=dict(size=size + 6))
    return fig
