"""Why RWKV, measured: the four models trained here side by side. Plain data in, plotly Figure out.

  quality_figure         held-out bits/char against training tokens or compute time, the equal point marked
  sweep_figure           the tuning sweep: held-out bits/char against the peak learning rate, per kind
  speed_figure           one training step's tokens per second per model
  generation_figure      time per new token against the context already read (log axes)
  memory_figure          state or KV-cache bytes against context (log axes), measured and computed lines
  looks_figures          where each model looks: two weight matrices, one figure each, one colour scale
  last_token_figure      one model's weights for the last token, layer by layer
"""
from __future__ import annotations

from typing import Mapping, Sequence

import plotly.graph_objects as go
import torch

from .theme import MUTED, SEQUENTIAL, figure, model_colour, safe

DASH_COMPUTED = "dot"
ROOM_FOR_LEGEND = dict(l=70, r=30, t=130, b=60)   # a legend of two rows between the title and the plot


def _vline(x: float, text: str) -> tuple[dict, dict]:
    line = dict(type="line", x0=x, x1=x, xref="x", y0=0, y1=1, yref="paper", line=dict(color=MUTED, dash="dash"))
    label = dict(text=text, x=x, xref="x", y=1, yref="paper", showarrow=False, xanchor="left", yanchor="top",
                 font=dict(size=13))
    return line, label


def quality_figure(curves: Mapping[str, Sequence[tuple[int, float, float]]], axis: str,
                   equal_at: float | None = None) -> go.Figure:
    """curves: model → [(training tokens, compute seconds, held-out bits/char)]; axis "tokens" or
    "seconds" (compute time: tokens ÷ the kind's clean throughput); equal_at: where all curves are
    read (a dashed line)."""
    i = {"tokens": 0, "seconds": 1}[axis]
    scale = 1e6 if axis == "tokens" else 60.0
    traces = [go.Scatter(x=[p[i] / scale for p in pts], y=[p[2] for p in pts], name=safe(name), mode="lines+markers",
                         line=dict(color=model_colour(name, j)),
                         hovertemplate="%{x:.2f}: %{y:.3f} bits/char<extra>" + safe(name) + "</extra>")
               for j, (name, pts) in enumerate(curves.items())]
    shapes, notes = [], []
    if equal_at is not None:
        line, label = _vline(equal_at / scale, "equal " + ("tokens" if axis == "tokens" else "compute"))
        shapes, notes = [line], [label]
    x_title = "training tokens (millions)" if axis == "tokens" else "compute time (minutes)"
    what = "equal training tokens" if axis == "tokens" else "equal compute time"
    return figure(traces, title=f"Held-out bits per character at {what}",
                  caption="Lower is better. Each point is a validation during training on the held-out plays; "
                          "the dashed line is where every curve is read."
                          + ("" if axis == "tokens" else " Compute time: the run's training tokens ÷ its kind's "
                             "training throughput measured on a quiet machine."),
                  x_title=x_title, y_title="bits per character", shapes=shapes, annotations=notes,
                  margin=ROOM_FOR_LEGEND, height=480)


def plateau_figure(curves: Mapping[str, Sequence[tuple[int, float]]], level: float,
                   dashed: Mapping[str, Sequence[tuple[int, float]]] | None = None,
                   title: str = "Training loss against the bigram level") -> go.Figure:
    """curves: model → [(training step, mean training loss of the steps before it)]; level: the bigram
    level (nats/token, a dotted line); dashed: experiments drawn dashed beside them (the token-shift GPT)."""
    traces = [go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], name=safe(name), mode="lines",
                         line=dict(color=model_colour(name, j)),
                         hovertemplate="step %{x}: %{y:.3f} nats/token<extra>" + safe(name) + "</extra>")
              for j, (name, pts) in enumerate(curves.items())]
    traces += [go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], name=safe(name), mode="lines",
                          line=dict(color=model_colour(name, len(curves) + j), dash="dash", width=3),
                          hovertemplate="step %{x}: %{y:.3f} nats/token<extra>" + safe(name) + "</extra>")
               for j, (name, pts) in enumerate((dashed or {}).items())]
    line = dict(type="line", x0=0, x1=1, xref="paper", y0=level, y1=level, yref="y", line=dict(color=MUTED, dash="dot"))
    label = dict(text=f"bigram level {level:.3f}", x=1, xref="paper", y=level, yref="y", showarrow=False,
                 xanchor="right", yanchor="bottom", font=dict(size=13))
    lows = [p[1] for pts in [*curves.values(), *(dashed or {}).values()] for p in pts]
    return figure(traces, title=title,
                  caption="The mean training loss of the 50 steps before each point (one step's loss is one batch's). "
                          "Below the dotted line a model does better than the best table of which token follows "
                          "which: it has begun to use more than the current token.",
                  x_title="training step (6 × 512 tokens each)", y_title="training loss (nats/token)",
                  shapes=[line], annotations=[label],
                  yaxis=dict(range=[min([*lows, level]) - 0.1, level + 2.0]),   # the level always in view
                  margin=ROOM_FOR_LEGEND, height=480)


def speed_figure(rows: Sequence[tuple[str, float]], device: str = "") -> go.Figure:
    """rows: (model, tokens per second of one training step)."""
    bar = go.Bar(x=[safe(n) for n, _ in rows], y=[v for _, v in rows], text=[f"{v:,.0f}" for _, v in rows],
                 marker_color=[model_colour(n, j) for j, (n, _) in enumerate(rows)], textposition="outside")
    return figure([bar], title="Training: tokens per second of one step" + (f" on {safe(device)}" if device else ""),
                  caption="Forward and backward over a batch, each model in its fastest allowed schedule: "
                          "RWKV and the GPT run a layer over all tokens at once, the LSTM token by token, "
                          "the red-line RNN one cell at a time.",
                  x_title="model", y_title="tokens per second")


def generation_figure(series: Mapping[str, Sequence[tuple[int, float, bool]]], n_ctx: int | None = None,
                      device: str = "") -> go.Figure:
    """series: model → [(context, seconds per new token, past the training context)]. Points past
    a model's training context are hollow: timing only."""
    traces = []
    for j, (name, pts) in enumerate(series.items()):
        traces.append(go.Scatter(
            x=[p[0] for p in pts], y=[1e3 * p[1] for p in pts], name=safe(name), mode="lines+markers",
            line=dict(color=model_colour(name, j)), marker=dict(size=9, symbol=["circle-open" if p[2] else "circle" for p in pts]),
            customdata=["past its training context: timing only" if p[2] else "" for p in pts],
            hovertemplate="context %{x}: %{y:.2f} ms/token %{customdata}<extra>" + safe(name) + "</extra>"))
    shapes, notes = [], []
    if n_ctx:
        line, label = _vline(n_ctx, f"GPT's training context ({n_ctx}): past it, timing only")
        shapes, notes = [line], [label]
    return figure(traces, title="Generation: time per new token" + (f" on {safe(device)}" if device else ""),
                  caption="Flat for RWKV and the LSTMs (a fixed-size state), growing for the GPT (it attends over "
                          "every cached token). Hollow points: past the GPT's training context, timed with its "
                          "positions clamped; its text there would not be the model's.",
                  x_title="context already read (tokens, log)", y_title="ms per new token (log)",
                  xaxis=dict(type="log"), yaxis=dict(type="log"), shapes=shapes, annotations=notes,
                  margin=ROOM_FOR_LEGEND, height=480)


def memory_figure(measured: Mapping[str, Sequence[tuple[int, int]]],
                  computed: Mapping[str, Sequence[tuple[int, int]]] | None = None) -> go.Figure:
    """measured: model → [(context, state bytes)] from real tensors; computed: the same, from
    shapes (dotted)."""
    traces = [go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], name=safe(name), mode="lines+markers",
                         line=dict(color=model_colour(name, j)),
                         hovertemplate="context %{x}: %{y:,} bytes<extra>" + safe(name) + "</extra>")
              for j, (name, pts) in enumerate(measured.items())]
    for j, (name, pts) in enumerate((computed or {}).items()):
        traces.append(go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], name=safe(name), mode="lines",
                                 line=dict(color=model_colour(name, len(measured) + j), dash=DASH_COMPUTED),
                                 hovertemplate="context %{x}: %{y:,} bytes<extra>" + safe(name) + "</extra>"))
    return figure(traces, title="Memory: the state a model carries to the next token",
                  caption="RWKV's and the LSTMs' states do not grow with the text; a transformer's KV cache keeps "
                          "2 · layers · width numbers for every token read. Solid: these models' real tensors "
                          "(nbytes); dotted: computed for the full-size models.",
                  x_title="context already read (tokens, log)", y_title="bytes (log)",
                  xaxis=dict(type="log"), yaxis=dict(type="log"), margin=ROOM_FOR_LEGEND, height=480)


def _heat(z: torch.Tensor, x: list[str], y: list[str], show_scale: bool, zmax: float | None = None) -> go.Heatmap:
    return go.Heatmap(z=z.detach().double().tolist(), x=x, y=y, colorscale=SEQUENTIAL, zmin=0, zmax=zmax,
                      showscale=show_scale, colorbar=dict(title=dict(text="weight")),
                      hovertemplate="%{y} looks at %{x}: %{z:.3f}<extra></extra>")


def looks_figures(left: torch.Tensor, right: torch.Tensor, labels: Sequence[str], left_title: str,
                  right_title: str, title: str) -> tuple[go.Figure, go.Figure]:
    """Two (T, T) weight matrices, each its own figure (side by side on a wide screen, one under the
    other on a phone): row t, the weights token t gives tokens 0..t. One colour scale for both,
    topped at their largest weight after the first row (token 0 can only look at itself: a 1 there
    would leave every other weight dark)."""
    names = [f"{i}:{safe(t)}" for i, t in enumerate(labels)]
    zmax = max(float(left[1:].max()), float(right[1:].max())) if len(labels) > 1 else 1.0
    out = []
    for z, name, scale in ((left, left_title, False), (right, right_title, True)):
        fig = figure([_heat(z, names, names, scale, zmax)], title=f"{title}: {name}", x_title="earlier token",
                     y_title="token", height=260 + 14 * len(labels), xaxis=dict(type="category"),
                     yaxis=dict(type="category", autorange="reversed"),
                     caption="Each row sums to 1. RWKV's weights fall off smoothly with distance (its decay, per "
                             "channel, averaged here) with a bonus on the token itself; the GPT's heads pick "
                             "tokens by content, anywhere in the past. Both on one colour scale.")
        out.append(fig)
    return out[0], out[1]


def last_token_figure(weights: torch.Tensor, labels: Sequence[str], title: str, caption: str) -> go.Figure:
    """weights (L, T): per layer, the last token's weights over tokens 0..T-1."""
    x = [f"{i}:{safe(t)}" for i, t in enumerate(labels)]
    heat = _heat(weights, x, [f"layer {i}" for i in range(len(weights))], True)
    return figure([heat], title=title, caption=caption, x_title="earlier token (position:text)", y_title="layer",
                  height=140 + 45 * len(weights), xaxis=dict(type="category"), yaxis=dict(autorange="reversed"))


def sweep_figure(series: Mapping[str, Sequence[tuple[float, float]]], chosen: Mapping[str, tuple[float, float]],
                 steps: int) -> go.Figure:
    """series: model → [(peak learning rate, held-out bits/char)] of the sweep's first stage;
    chosen: model → (rate, bits/char) of the setting the sweep chose (a star), where it chose one."""
    rates = sorted({p[0] for pts in series.values() for p in pts})
    traces = []
    for j, (name, pts) in enumerate(series.items()):
        colour = model_colour(name, j)
        traces.append(go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], name=safe(name), mode="lines+markers",
                                 line=dict(color=colour), legendgroup=safe(name),
                                 hovertemplate="peak rate %{x:g}: %{y:.3f} bits/char<extra>" + safe(name) + "</extra>"))
        if name in chosen:
            lr, bpc = chosen[name]
            traces.append(go.Scatter(x=[lr], y=[bpc], mode="markers", showlegend=False, legendgroup=safe(name),
                                     marker=dict(symbol="star", size=16, color=colour, line=dict(width=1, color=MUTED)),
                                     hovertemplate=f"chosen: {lr:g}, %{{y:.3f}} bits/char<extra>{safe(name)}</extra>"))
    return figure(traces, title=f"The tuning sweep: {steps} steps at each peak learning rate",
                  caption="Lower is better. The same short budget, data, seed and batch for every kind; each kind "
                          "its own loss. A star marks the setting chosen (the lowest held-out bits/char, a second "
                          "warm-up length included).",
                  x_title="peak learning rate (log)", y_title="held-out bits per character",
                  xaxis=dict(type="log", tickvals=rates, ticktext=[f"{r:g}" for r in rates]),  # the rates tried, no minor ticks
                  margin=ROOM_FOR_LEGEND, height=440)
