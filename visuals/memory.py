"""How long each channel remembers (half-lives from time_decay, the bonus time_first), and the
memory lab's figures (docs/memory/results.json, app/memory_core.py): recall against the trained number
of pairs, the length and the bytes of state, a live probe's answers as N grows, and RWKV-4's WKV weight
on a queried pair per channel."""
from __future__ import annotations

import plotly.graph_objects as go
import torch

from .theme import MUTED, PALETTE, SEQUENTIAL, figure, kind_colour, safe


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


# --- the memory lab ------------------------------------------------------------------------------

DASH = {64: "solid", 128: "dash", 256: "dot"}      # one line style per nominal width


def _colour(kind: str) -> str:
    from lab.kinds import KINDS  # here, not above: the registry imports the model code
    return kind_colour(KINDS[kind].colour)


def _line(name: str, kind: str, width: int, xs, ys, text=None) -> go.Scatter:
    return go.Scatter(x=xs, y=ys, name=safe(name), mode="lines+markers", connectgaps=False,
                      line=dict(color=_colour(kind), dash=DASH.get(width, "solid")), text=text,
                      hovertemplate="%{x}: %{y:.3f}<extra>" + safe(name) + "</extra>")


def recall_by_n_figure(series: list[tuple[str, str, int, list[tuple[int, float]]]]) -> go.Figure:
    """series: (label, kind, nominal width, [(trained N, held-out accuracy at that N)]) per kind and
    width, each point the model trained at that N (length 3N). Chance for a model that knows only
    which N values are present: 1/N."""
    data = [_line(lab, kind, w, [n for n, _ in pts], [a for _, a in pts]) for lab, kind, w, pts in series]
    ns = sorted({n for *_, pts in series for n, _ in pts})
    data.append(go.Scatter(x=ns, y=[1 / n for n in ns], name="1/N (knows the values, not which key)",
                           mode="lines+markers", line=dict(color=MUTED, dash="dot"), hoverinfo="skip"))
    return figure(data, title="Recall against the number of key-value pairs, each model trained at its N",
                  caption="Held-out accuracy of the model trained at each N, measured at that N and its length "
                          "3N (the pairs, then the queries). Width: solid 64, dashed 128, dotted 256 (each kind's "
                          "parameters matched to RWKV-4's at that width).",
                  x_title="key-value pairs N (log scale)", y_title="accuracy",
                  xaxis=dict(type="log", tickvals=ns), yaxis=dict(range=[0, 1.05]))


def recall_by_length_figure(series: list[tuple[str, str, int, list[tuple[int, float | None]]]],
                            pairs: int) -> go.Figure:
    """series: (label, kind, nominal width, [(length, accuracy or None: cannot read that far)])."""
    data = [_line(lab, kind, w, [t for t, _ in pts], [a for _, a in pts]) for lab, kind, w, pts in series]
    return figure(data, title=f"Recall against the sequence length (N = {pairs}, pairs first, queries last)",
                  caption="The gap between the pairs and the queries grows with the length. A GPT cannot read "
                          "past its trained positions: its line stops there.",
                  x_title="sequence length (tokens, log scale)", y_title="accuracy",
                  xaxis=dict(type="log"), yaxis=dict(range=[0, 1.05]))


SYMBOLS = ("circle", "square", "diamond", "triangle-up", "star", "hexagon")   # one marker per trained N


def recall_vs_state_figure(points: list[tuple[str, str, int, int, float, int]]) -> go.Figure:
    """points: (label, kind, nominal width, state bytes, accuracy, trained N) per model, at its trained
    N and length: recall against the memory the model carries (RWKV-4's and the LSTM's fixed state,
    the GPT's key-value cache after 3N tokens). Colour: the kind; marker: the trained N; open markers
    and solid lines: the narrowest width. No text on the points (models of one kind and width share
    their bytes, and labels would pile up), and a short legend (kinds, then N) that leaves a projector's
    screen to the plot: the hover names each model."""
    ns = sorted({p[5] for p in points})
    widths = sorted({p[2] for p in points})
    narrow = widths[0] if len(widths) > 1 else None           # drawn with open markers
    symbol = {n: SYMBOLS[i % len(SYMBOLS)] for i, n in enumerate(ns)}
    data = []
    for kind, width in dict.fromkeys((p[1], p[2]) for p in points):
        mine = sorted((p for p in points if p[1] == kind and p[2] == width), key=lambda p: p[5])
        hollow = width == narrow
        data.append(go.Scatter(
            x=[p[3] for p in mine], y=[p[4] for p in mine], mode="lines+markers", name=safe(mine[0][0]),
            showlegend=False, line=dict(color=_colour(kind), dash=DASH.get(width, "solid"), width=1),
            marker=dict(size=13, color=_colour(kind), line=dict(width=2, color=_colour(kind)),
                        symbol=[symbol[p[5]] + ("-open" if hollow else "") for p in mine]),
            customdata=[f"{safe(p[0])}, N = {p[5]}" for p in mine],
            hovertemplate="%{customdata}: %{x:,} bytes, accuracy %{y:.3f}<extra></extra>"))
    kinds = {p[1]: p[0].split(",")[0] for p in points}
    data += [go.Scatter(x=[None], y=[None], mode="markers", name=safe(title), hoverinfo="skip", showlegend=True,
                        marker=dict(size=13, color=_colour(kind), symbol="square")) for kind, title in kinds.items()]
    data += [go.Scatter(x=[None], y=[None], mode="markers", name=f"N = {n}", hoverinfo="skip", showlegend=True,
                        marker=dict(size=13, color=MUTED, symbol=symbol[n])) for n in ns]
    style = "; ".join(f"{'open markers' if w == narrow else 'filled'}, {DASH.get(w, 'solid')} line: width {w}"
                      for w in widths)
    return figure(data, title="Recall against the bytes of state, each model at its trained N",
                  caption=f"Held-out accuracy of each model at the N it was trained at ({', '.join(map(str, ns))}; the "
                          "marker) and its length, against what it carries from token to token after reading the "
                          "sequence: a fixed state (RWKV-4, LSTM: a vertical line per width) or a cache that grows "
                          f"with every token (GPT). {style[0].upper()}{style[1:]}. Zoology's follow-up (Arora et al., "
                          "2024, Based) draws recall against state size this way.",
                  x_title="state bytes (log scale)", y_title="accuracy",
                  xaxis=dict(type="log"), yaxis=dict(range=[0, 1.1]))


def probe_over_n_figure(series: list[tuple[str, str, int, list[tuple[int, float, float]]]], seed: int) -> go.Figure:
    """series: (label, kind, nominal width, [(N, fraction right, mean probability of the right value)])
    on the generated sequence of each N (one seed): the live probe as the pairs grow."""
    data = [_line(lab, kind, w, [n for n, *_ in pts], [p for *_, p in pts],
                  text=[f"{r:.0%} right" for _, r, _ in pts]) for lab, kind, w, pts in series]
    return figure(data, title=f"The probe as N grows: probability of the right value (seed {seed})",
                  caption="Each point is one generated sequence with N pairs, read live by each model; "
                          "hover for the share of queries answered right.",
                  x_title="key-value pairs N", y_title="p(right value), mean",   # short: a projector's chart is low
                  xaxis=dict(dtick=1), yaxis=dict(range=[0, 1.05]))


def wkv_pair_figure(rows: list[str], weights: list[torch.Tensor], max_diff: float) -> go.Figure:
    """rows: a label per row (a layer, or an N); weights: (C,) per row, the WKV's implicit-attention
    weight, per channel, on the queried pair (key and value positions together)."""
    z = torch.stack([w.detach().double() for w in weights]).numpy()          # (rows, C)
    heat = go.Heatmap(z=z, y=[safe(r) for r in rows], x=list(range(z.shape[1])), colorscale=SEQUENTIAL,
                      zmin=0, zmax=max(1e-9, float(z.max())), colorbar=dict(title=dict(text="weight")),
                      hovertemplate="%{y}, channel %{x}: %{z:.3f}<extra></extra>")
    return figure([heat], title="RWKV-4: how much each channel's WKV still holds of the queried pair<br>"
                                f"<sup>WKV rebuilt from the weights = recorded WKV, max |diff| {max_diff:.1e}</sup>",
                  caption="The weight the WKV gives the queried key and its value at the query "
                          "(e^{(t-1-i)w + k_i} over the sum, from the engine's recorded k): each new pair "
                          "takes a share, and the decay w fades the old ones.",
                  x_title="channel", y_title="", height=160 + 40 * len(rows),
                  yaxis=dict(autorange="reversed", type="category"))
