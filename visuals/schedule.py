"""The Scheduling Lab's grid figures: the layers x tokens grid run as an rnn, a cascade and in
parallel, animated from the engine's own plans (rwkv_core.schedule), the dependencies of a cell
and its critical path, replays at measured speed, and "watch it run" (grid, states, embeddings
and next-token guesses on one frame index). Plain data in, plotly Figure out. The frames
themselves (which steps a frame shows, for how long) come from visuals/frames.py.
"""
from __future__ import annotations

import textwrap
from typing import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lab.kinds import title as kind_title
from rwkv_core.schedule import Cell, Plan, Refusal, step_formula, takes_chunk

from .frames import (
    DONE_OPACITY,
    MAX_FRAMES,
    PENDING,
    STEP_SCALE,
    Frames,
    Progress,
    animation_controls,
    covers,
    measured_frames,
    set_frames,
    step_colour,
    step_frames,
)
from .theme import HIGHLIGHT, MUTED, PALETTE, RED_LINE, safe, style

RED_LINE_MAX_T = 128         # beyond this many tokens the red lines would hide the cells


# --- geometry -----------------------------------------------------------------------------

def centre(cell: Cell) -> tuple[float, float]:
    """Where a cell sits on the grid: (token axis, layer axis)."""
    return ((cell.start + cell.stop - 1) / 2, float(cell.layer))


def dependency_arrows(plan: Plan, cell: Cell) -> list[tuple[tuple[float, float], tuple[float, float], str]]:
    """(from, to, kind) for each input of the cell: kind 'below', 'left' or 'red line'."""
    out = []
    for d in plan.dependencies(cell):
        kind = "below" if d.layer == cell.layer - 1 and d.stop > cell.start else (
            "left" if d.layer == cell.layer else "red line")
        out.append((centre(d), centre(cell), kind))
    return out


def critical_path_xy(plan: Plan, cell: Cell) -> tuple[list[float], list[float]]:
    path = plan.critical_path(cell)
    return [centre(c)[0] for c in path], [centre(c)[1] for c in path]


# --- the grid -----------------------------------------------------------------------------

def _small(text: str) -> str:
    """A panel title's second line at 70 %, as plotly's <sup> draws it but without its raised baseline:
    a phone shows the panel titles at 11 px (app/style.py), where a raised line sat on the one above."""
    return f'<span style="font-size:70%">{text}</span>'


def plan_title(plan: Plan, asked_chunk: int | None = None, details: bool = True) -> str:
    """"cascade (chunk 4): L + ⌈T/4⌉ − 1 = 15 steps": the plan's label and its step count's formula;
    under it the critical path in matrix-product steps and how wide the widest one is (not with
    `details` off, where the page prints them above the chart: the Lab). A chunk
    asked for but longer than the text is said: "chunk 16, capped at 15 by the 15 tokens"."""
    chunk = plan.chunk if takes_chunk(plan.mode) else None
    capped = ""
    if chunk is not None and asked_chunk is not None and asked_chunk > plan.chunk:
        capped = "<br>" + _small(f"chunk {asked_chunk}, capped at {plan.chunk} by the {plan.n_tokens} tokens")
    formula = f"{step_formula(plan.mode, chunk=chunk)} = {plan.n_steps} steps"
    if plan.product_steps == plan.n_steps:         # every step is one (wide) product: RWKV, the GPT
        width = f"{plan.product_steps:,} product steps, each ≤ {plan.step_width:,} cell-tokens wide"
        return f"{plan.label}: {formula}{capped}" + ("<br>" + _small(width) if details else "")
    # an LSTM's cell over n tokens is n products one after another: the critical path is the headline
    return (f"{plan.label}: {plan.product_steps:,} products in a row{capped}"
            "<br>" + _small(f"critical path; {formula} of cells, each up to {plan.chunk:,} tokens in order"))


def refused_title(r: Refusal) -> str:
    return f"{r.mode}: not possible<br>" + _small(f"{kind_title(r.deps.kind)}'s dependencies forbid it")


def counter(plan: Plan, a: int, b: int, clock: float | None) -> str:
    t = f" · {clock * 1000:.2f} ms" if clock is not None else ""
    if b >= plan.n_steps and a >= plan.n_steps:
        if plan.product_steps != plan.n_steps:       # an LSTM: the products in a row, not the cell steps
            return f"done: {plan.product_steps:,} products in a row{t}"
        return f"done in {plan.n_steps} steps{t}"
    steps = f"step {b}" if b - a <= 1 else f"steps {a + 1}–{b}"
    return f"{steps} of {plan.n_steps}{t}"


def _cell_heatmap(plan: Plan, xref: str, yref: str, token_labels) -> go.Heatmap:
    """Every cell in the colour of the step that runs it, dimmed: the covers on top decide what shows."""
    L, T = plan.n_layer, plan.n_tokens
    z = [[None] * T for _ in range(L)]
    for s, cells in enumerate(plan.steps):
        for c in cells:
            for t in range(c.start, c.stop):
                z[c.layer][t] = s + 1            # steps counted from 1 on screen
    hover = "layer %{y}, token %{x}<br>runs at step %{z}<extra></extra>"
    if token_labels:
        hover = "layer %{y}, token %{x} %{customdata}<br>runs at step %{z}<extra></extra>"
    return go.Heatmap(z=z, x=list(range(T)), y=list(range(L)), colorscale=STEP_SCALE, zmin=1,
                      zmax=max(plan.n_steps, 2), showscale=False, opacity=DONE_OPACITY,
                      xgap=1 if T <= 64 else 0, ygap=2, hovertemplate=hover, name="cells",
                      customdata=[[safe(s) for s in token_labels]] * L if token_labels else None,
                      xaxis=xref, yaxis=yref)


def _overlay_traces(plan: Plan, xref: str, yref: str) -> list[go.Scatter]:
    """Drawn above the covers: the red line (of a kind that has one), the cascade's chunk boundaries."""
    L, T = plan.n_layer, plan.n_tokens
    traces = []
    if plan.deps.red_line and 1 < T <= RED_LINE_MAX_T:
        xs, ys = [], []
        for t in range(T - 1):
            xs += [t + 0.2, t + 0.8, None]
            ys += [L - 1 + 0.3, -0.3, None]
        traces.append(go.Scatter(x=xs, y=ys, mode="lines", name="the red line",
                                 line=dict(color=RED_LINE, width=2 if T <= 48 else 1), hoverinfo="skip",
                                 opacity=0.8, xaxis=xref, yaxis=yref, showlegend=False))
    if not plan.deps.wide and plan.chunk > 1 and T <= RED_LINE_MAX_T:
        xs, ys = [], []                       # a tick between the tokens of one cell: they run one by one
        for c in plan.cells:
            for t in range(c.start + 1, c.stop):
                xs += [t - 0.5, t - 0.5, None]
                ys += [c.layer - 0.3, c.layer + 0.3, None]
        traces.append(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color="#111", width=1.5),
                                 hoverinfo="skip", showlegend=False, xaxis=xref, yaxis=yref,
                                 name="sequential inside"))
    if 1 < plan.chunk < T:                    # cells of several tokens, not one layer's all
        xs, ys = [], []
        for b in range(plan.chunk, T, plan.chunk):
            xs += [b - 0.5, b - 0.5, None]
            ys += [-0.5, L - 0.5, None]
        traces.append(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color="#333", width=1, dash="dot"),
                                 hoverinfo="skip", showlegend=False, xaxis=xref, yaxis=yref,
                                 name="chunk boundaries"))
    return traces


# What a frame changes, per panel: the pending cover's outline, the running cover's outline and
# colour, the counter's text. Frames carry only these (plain dicts, with the indices of the traces
# they update); the fixed styles are sent once, in the figure's own traces.
def _animated(plan: Plan, progress: Progress, a: int, b: int, clock) -> list[dict]:
    (px, py), (rx, ry) = covers(progress, a, b)
    colour = step_colour(min(b, plan.n_steps) - 1, plan.n_steps)
    return [dict(type="scatter", x=px, y=py), dict(type="scatter", x=rx, y=ry, fillcolor=colour),
            dict(type="scatter", text=[counter(plan, a, b, clock)])]


def _animated_traces(plan: Plan, progress: Progress, a: int, b: int, clock, xref, yref) -> list[go.Scatter]:
    """The three animated traces in full, as the figure starts (the step window [a, b))."""
    pending, running, count = (_no_type(d) for d in _animated(plan, progress, a, b, clock))
    return [
        go.Scatter(**pending, fill="toself", fillcolor=PENDING, mode="lines", line=dict(width=0),
                   hoverinfo="skip", showlegend=False, name="pending", xaxis=xref, yaxis=yref),
        go.Scatter(**running, fill="toself", mode="lines", line=dict(color="black", width=2), hoverinfo="skip",
                   showlegend=False, name="running now", xaxis=xref, yaxis=yref),
        go.Scatter(**count, x=[(plan.n_tokens - 1) / 2], y=[plan.n_layer - 0.5 + 0.45], mode="text",
                   textfont=dict(size=14), hoverinfo="skip", showlegend=False, name="counter", xaxis=xref,
                   yaxis=yref),
    ]


def _no_type(d: dict) -> dict:
    return {k: v for k, v in d.items() if k != "type"}


def _axis_refs(i: int) -> tuple[str, str]:
    return ("x", "y") if i == 0 else (f"x{i + 1}", f"y{i + 1}")


def _focus_overlay(fig: go.Figure, plan: Plan, focus: tuple[int, int], i: int) -> None:
    """The chosen cell: outlined, its inputs as arrows, its critical path as an orange line."""
    xref, yref = _axis_refs(i)
    cell = plan.cell_at(*focus)
    xs, ys = critical_path_xy(plan, cell)
    long = len(xs) > 60                       # a long chain (the rnn's) drawn thin, so the cells stay visible
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines" if long else "lines+markers", name="critical path",
                             line=dict(color=PALETTE["orange"], width=1.5 if long else 3), marker=dict(size=5),
                             showlegend=False, xaxis=xref, yaxis=yref,
                             hovertemplate=f"critical path: {len(xs)} cells<extra></extra>"))
    for (x0, y0), (x1, y1), kind in dependency_arrows(plan, cell):
        fig.add_annotation(x=x1, y=y1, ax=x0, ay=y0, xref=xref, yref=yref, axref=xref, ayref=yref,
                           showarrow=True, arrowhead=3, arrowwidth=2.5, text="",
                           arrowcolor=RED_LINE if kind == "red line" else "black",
                           name=f"dependency {kind}")
    fig.add_shape(type="rect", x0=cell.start - 0.5, x1=cell.stop - 0.5, y0=cell.layer - 0.5,
                  y1=cell.layer + 0.5, xref=xref, yref=yref, name="focus",
                  line=dict(color=HIGHLIGHT, width=4))


def _place(i: int, stacked: bool) -> dict:
    """Panel i's row and column: side by side, or one per row (a narrow screen)."""
    return dict(row=i + 1, col=1) if stacked else dict(row=1, col=i + 1)


def _refused_panel(fig: go.Figure, r: Refusal, i: int, n_layer: int, n_tokens: int, stacked: bool = False,
                   last: bool = True) -> None:
    """A schedule the kind cannot run: the grid greyed out, and the reason written on it."""
    xref, yref = _axis_refs(i)
    fig.add_shape(type="rect", x0=-0.5, x1=n_tokens - 0.5, y0=-0.5, y1=n_layer - 0.5, xref=xref, yref=yref,
                  fillcolor=PENDING, line=dict(color=RED_LINE if r.deps.red_line else MUTED, width=2),
                  name="refused")
    reason = "<br>".join(textwrap.wrap(r.reason.split(": ", 1)[-1], 34))
    fig.add_annotation(x=(n_tokens - 1) / 2, y=(n_layer - 1) / 2, xref=xref, yref=yref, showarrow=False,
                       text=safe_lines(reason), font=dict(size=12), name="refused reason")
    fig.update_xaxes(range=[-0.5, n_tokens - 0.5], showgrid=False, zeroline=False,
                     title_text="token" if stacked or last else None, **_place(i, stacked))
    fig.update_yaxes(range=[-0.5, n_layer + 0.2], showgrid=False, zeroline=False, tickvals=list(range(n_layer)),
                     **_place(i, stacked))


def safe_lines(text: str) -> str:
    """Our own text with <br> line breaks kept, everything else escaped."""
    return "<br>".join(safe(line) for line in text.split("<br>"))


def grid_figure(plans: Sequence[Plan], *, refused: Sequence[Refusal] = (), frames: Frames | None = None,
                focus: tuple[int, int] | None = None, at_frame: int = 0,
                token_labels: Sequence[str] | None = None, device: str | None = None,
                max_frames: int = MAX_FRAMES, chunk: int | None = None, stacked: bool = False,
                details: bool = True) -> go.Figure:
    """Layers (y) x tokens (x), one panel per plan side by side (one per row with `stacked`, for a
    narrow screen), animated: frame f lights the
    cells of the steps in frames.windows[f] (default: step f of every panel), cells that ran before
    are dimmed in the colour of their step, pending cells grey. `focus` = (layer, token) draws that
    cell's inputs and critical path in every panel. `frames` from measured_frames / race_frames
    replays at measured speed. `refused`: schedules the kind cannot run, drawn after the plans as
    greyed panels with the reason. `chunk`: the chunk asked for, named in the title when the text
    is shorter than it. `details` off: the panel titles leave out the product steps' count and width
    (a page that prints them above the chart). The token axis is named under the last panel only (and
    under each when stacked): under the others the play and speed buttons would cover it."""
    frames = frames or step_frames([p.n_steps for p in plans], max_frames=max_frames)
    progress = [Progress(p) for p in plans]
    n_panels = len(plans) + len(refused)
    L = plans[0].n_layer
    panel_px = 150 + 28 * L                              # one stacked panel's plot height
    titles = [plan_title(p, chunk, details) for p in plans] + [refused_title(r) for r in refused]
    if stacked:
        fig = make_subplots(rows=n_panels, cols=1, subplot_titles=titles,
                            vertical_spacing=min(0.3, 90 / (n_panels * panel_px)))
    else:
        fig = make_subplots(rows=1, cols=n_panels, horizontal_spacing=0.04, subplot_titles=titles)
    animated = []
    for i, plan in enumerate(plans):
        xref, yref = _axis_refs(i)
        fig.add_trace(_cell_heatmap(plan, xref, yref, token_labels))
        a, b = frames.windows[at_frame][i]
        clock = frames.clock[at_frame] if frames.clock else None
        start = len(fig.data)
        for tr in _animated_traces(plan, progress[i], a, b, clock, xref, yref):
            fig.add_trace(tr)
        animated += list(range(start, len(fig.data)))
        for tr in _overlay_traces(plan, xref, yref):
            fig.add_trace(tr)
        if focus is not None:
            _focus_overlay(fig, plan, focus, i)
        fig.update_xaxes(range=[-0.5, plan.n_tokens - 0.5], showgrid=False, zeroline=False,
                         title_text="token" if stacked or i == n_panels - 1 else None, **_place(i, stacked))
        fig.update_yaxes(range=[-0.5, plan.n_layer + 0.2], showgrid=False, zeroline=False,
                         tickvals=list(range(plan.n_layer)), title_text="layer" if i == 0 or stacked else None,
                         **_place(i, stacked))
    for j, r in enumerate(refused):
        _refused_panel(fig, r, len(plans) + j, plans[0].n_layer, plans[0].n_tokens, stacked,
                       last=len(plans) + j == n_panels - 1)
    set_frames(fig, [dict(name=str(f), traces=animated, data=[
        d for i, plan in enumerate(plans)
        for d in _animated(plan, progress[i], *frames.windows[f][i], frames.clock[f] if frames.clock else None)])
        for f in range(frames.n_frames)])
    height = 300 + n_panels * (panel_px + 90) if stacked else 360 + 40 * L
    # the controls ~90 px under the plot (their y is a fraction of its height)
    fig.update_layout(**animation_controls(frames, y=-90 / max(height - 290, 100) if stacked else -0.3,
                                           row=40 / max(height - 290, 100) if stacked else None))
    fig.layout.sliders[0].active = at_frame
    fig = style(fig, title=_grid_title(plans, frames, device), height=height,
                caption=_grid_caption(plans, refused, frames))
    return fig.update_layout(margin=dict(b=190))


def _grid_title(plans, frames: Frames, device) -> str:
    L, T = plans[0].n_layer, plans[0].n_tokens
    title = f"{L} layer{'s' * (L != 1)} × {T} token{'s' * (T != 1)}"       # never "1 tokens"
    if frames.slowdown:
        title += f" · replayed {frames.slowdown:,.0f}× slower than measured" + (f" on {safe(device)}" if device else "")
    elif frames.steps_per_frame > 1:
        title += f" · {frames.steps_per_frame} steps per frame"
    kinds = {kind_title(p.deps.kind) for p in plans}
    return title + (f" · {kinds.pop()}" if len(kinds) == 1 else "")


def _grid_caption(plans, refused, frames: Frames) -> str:
    text = ("Each cell is one layer on one chunk of tokens, coloured by the step that runs it; outlined cells run "
            "now. The rnn runs one cell at a time; the cascade runs a diagonal wave; parallel runs a layer at once.")
    if any(p.deps.red_line for p in plans):
        text += " Red: the red line, from the top layer of each token to the first layer of the next."
    if any(not p.deps.wide and p.chunk > 1 for p in plans):
        text += " Black ticks inside a cell: its tokens run one after another (W_h·h[t−1] sits inside a nonlinearity)."
    if refused:
        text += " Grey panels: schedules this kind's dependencies forbid, with the reason."
    if frames.steps_per_frame > 1:
        text += f" There are more steps than frames: each frame shows {frames.steps_per_frame} steps."
    return text


# --- watch it run -------------------------------------------------------------------------

WATCH_FIELDS = ("token_labels", "state_norms", "embed_xy", "top_next", "step_seconds", "device")

def watch_figure(plan: Plan, *, token_labels: Sequence[str], state_norms: Sequence[Sequence[float]],
                 embed_xy: Sequence[tuple[float, float]], top_next: Sequence[Sequence[tuple[str, float]]],
                 step_seconds: Sequence[float] | None = None, device: str | None = None,
                 max_frames: int = 200, at_frame: int = 0) -> go.Figure:
    """The recorded run of one prompt under one plan, four views on one frame index:
    the grid; each layer's state norm after each token (state_norms[l][t]) appearing as its cell
    completes; the prompt's embeddings (embed_xy[t], e.g. 2 principal components) with the
    tokens being processed marked; the top next-token probabilities (top_next[t] = [(label, p)])
    of the newest token whose top layer is done. With step_seconds the frames last the measured
    time of their steps (slowed down, shown) and a clock ticks."""
    frames = (measured_frames(step_seconds, max_frames=max_frames) if step_seconds
              else step_frames([plan.n_steps], max_frames=max_frames))
    prog = Progress(plan)
    fig = make_subplots(rows=2, cols=2, vertical_spacing=0.2, horizontal_spacing=0.08,
                        subplot_titles=[plan_title(plan), "state norm per layer, after each token",
                                        "embeddings of the prompt (2 PCs)", "next-token probabilities"])
    fig.add_trace(_cell_heatmap(plan, "x", "y", token_labels))
    fig.add_trace(go.Heatmap(z=[list(r) for r in state_norms], colorscale="Cividis", xaxis="x2", yaxis="y2",
                             colorbar=dict(len=0.4, y=0.8, title="‖state‖"), name="state norm",
                             hovertemplate="layer %{y}, token %{x}<br>‖state‖ %{z:.3g}<extra></extra>"))
    ex, ey = [p[0] for p in embed_xy], [p[1] for p in embed_xy]
    fig.add_trace(go.Scatter(x=ex, y=ey, mode="markers+text" if len(ex) <= 40 else "markers",
                             text=[safe(s) for s in token_labels], textposition="top center",
                             marker=dict(size=8, color=MUTED), name="prompt tokens", showlegend=False,
                             xaxis="x3", yaxis="y3", hovertemplate="%{text}<extra></extra>"))
    first = len(fig.data)
    for tr in _watch_traces(plan, prog, frames, at_frame, token_labels, ex, ey, top_next):
        fig.add_trace(tr)
    animated = list(range(first, len(fig.data)))
    for tr in _overlay_traces(plan, "x", "y"):
        fig.add_trace(tr)
    # public API (validated): at most 200 frames, made once per recorded run
    fig.frames = [dict(name=str(f), traces=animated,
                       data=_watch_changes(plan, prog, frames, f, token_labels, ex, ey, top_next))
                  for f in range(frames.n_frames)]
    L, T = plan.n_layer, plan.n_tokens
    for col, row in ((1, 1), (2, 1)):
        fig.update_xaxes(range=[-0.5, T - 0.5], title_text="token", row=row, col=col, showgrid=False)
        fig.update_yaxes(range=[-0.5, L + 0.2], tickvals=list(range(L)), title_text="layer", row=row,
                         col=col, showgrid=False)
    fig.update_xaxes(range=[0, 1], title_text="probability", row=2, col=2)
    fig.update_yaxes(visible=False, range=[-0.7, len(top_next[0]) - 0.3 if top_next else 1], row=2, col=2)
    fig.update_layout(**animation_controls(frames, y=-0.17))
    fig.layout.sliders[0].active = at_frame
    title = f"Watch it run: {safe(plan.mode)} on {T} token{'s' * (T != 1)}"
    if frames.slowdown:
        title += f" · measured{(' on ' + safe(device)) if device else ''}, replayed {frames.slowdown:,.0f}× slower"
    fig = style(fig, title=title, height=820,
                caption="The grid, the layers' states, the token being read and the next-token guess move "
                        "together: a token's probabilities appear only when its top layer is done.")
    return fig.update_layout(margin=dict(b=200))


def _watch_changes(plan, prog: Progress, frames: Frames, f: int, labels, ex, ey, top_next) -> list[dict]:
    """What frame f changes: the grid's covers and counter, the state cover, the marked
    embeddings, the next-token bars and their heading (the values only; styles in _watch_traces)."""
    a, b = frames.windows[f][0]
    grid = _animated(plan, prog, a, b, frames.clock[f] if frames.clock else None)
    (px, py), _ = covers(prog, a, b)
    busy = sorted({t for c in prog.running(a, b) for t in range(c.start, c.stop)})
    n_done = prog.window(a, b)[-1][1]           # tokens whose top layer has run, by the end of the frame
    if n_done == 0 or not top_next:
        bars = [dict(type="bar", x=[], y=[], text=[]),
                dict(type="scatter", x=[0.5], y=[0], text=["waiting for a top layer…"])]
    else:
        t = n_done - 1
        pairs = top_next[t]
        bars = [dict(type="bar", x=[p for _, p in pairs], y=list(range(len(pairs) - 1, -1, -1)),
                     text=[f"{safe(s)}  {p:.0%}" for s, p in pairs]),
                dict(type="scatter", x=[0.5], y=[len(pairs) - 0.45], text=[f"after token {t}: {safe(labels[t])}"])]
    return grid + [dict(type="scatter", x=px, y=py),
                   dict(type="scatter", x=[ex[t] for t in busy], y=[ey[t] for t in busy])] + bars


def _watch_traces(plan, prog: Progress, frames: Frames, f: int, labels, ex, ey, top_next) -> list:
    """The animated traces in full, as the figure starts at frame f."""
    a, b = frames.windows[f][0]
    grid = _animated_traces(plan, prog, a, b, frames.clock[f] if frames.clock else None, "x", "y")
    cover, marks, bars, after = (_no_type(d) for d in _watch_changes(plan, prog, frames, f, labels, ex, ey,
                                                                     top_next)[3:])
    return grid + [
        go.Scatter(**cover, fill="toself", fillcolor=PENDING, mode="lines", line=dict(width=0), hoverinfo="skip",
                   showlegend=False, xaxis="x2", yaxis="y2", name="not yet"),
        go.Scatter(**marks, mode="markers", showlegend=False, xaxis="x3", yaxis="y3", name="being processed",
                   marker=dict(size=16, color="rgba(0,0,0,0)", line=dict(color=HIGHLIGHT, width=3)),
                   hoverinfo="skip"),
        go.Bar(**bars, orientation="h", textposition="outside", marker_color=PALETTE["blue"], xaxis="x4",
               yaxis="y4", showlegend=False, name="next", hoverinfo="skip"),
        go.Scatter(**after, mode="text", xaxis="x4", yaxis="y4", showlegend=False, hoverinfo="skip", name="after"),
    ]
