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

from rwkv_core.schedule import Cell, Plan, Refusal, step_formula, takes_chunk

from .frames import (DONE_OPACITY, MAX_FRAMES, PENDING, STEP_SCALE, Frames, Progress, animation_controls, covers,
                     measured_frames, step_colour, step_frames)
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

def plan_title(plan: Plan) -> str:
    """"cascade (chunk 4): L + ⌈T/4⌉ − 1 = 15 steps": the plan's label and its step count's formula;
    under it the critical path in matrix-product steps and how wide the widest one is."""
    chunk = plan.chunk if takes_chunk(plan.mode) else None
    return (f"{plan.label}: {step_formula(plan.mode, chunk=chunk)} = {plan.n_steps} steps"
            f"<br><sup>{plan.product_steps:,} product steps, each ≤ {plan.step_width:,} cell-tokens wide</sup>")


def refused_title(r: Refusal) -> str:
    return f"{r.mode}: not possible<br><sup>{r.deps.title or r.deps.kind}'s dependencies forbid it</sup>"


def counter(plan: Plan, a: int, b: int, clock: float | None) -> str:
    t = f" · {clock * 1000:.2f} ms" if clock is not None else ""
    if b >= plan.n_steps and a >= plan.n_steps:
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


def _animated_traces(plan: Plan, progress: Progress, a: int, b: int, clock, xref, yref,
                     validate: bool = True) -> list:
    """The covers and the step counter: what each frame replaces. Frames skip plotly's
    validation (`validate=False`), which would cost seconds for hundreds of frames; the same
    traces are validated once in the figure's initial data."""
    (px, py), (rx, ry) = covers(progress, a, b)
    colour = step_colour(min(b, plan.n_steps) - 1, plan.n_steps)
    Scatter = go.Scatter if validate else _unchecked(go.Scatter)
    return [
        Scatter(x=px, y=py, fill="toself", fillcolor=PENDING, mode="lines", line=dict(width=0),
                hoverinfo="skip", showlegend=False, name="pending", xaxis=xref, yaxis=yref),
        Scatter(x=rx, y=ry, fill="toself", fillcolor=colour, mode="lines",
                line=dict(color="black", width=2), hoverinfo="skip", showlegend=False,
                name="running now", xaxis=xref, yaxis=yref),
        Scatter(x=[(plan.n_tokens - 1) / 2], y=[plan.n_layer - 0.5 + 0.45], mode="text",
                text=[counter(plan, a, b, clock)], textfont=dict(size=14), hoverinfo="skip",
                showlegend=False, name="counter", xaxis=xref, yaxis=yref),
    ]


def _unchecked(cls):
    return lambda **kw: cls(**kw, _validate=False)


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


def _refused_panel(fig: go.Figure, r: Refusal, i: int, n_layer: int, n_tokens: int) -> None:
    """A schedule the kind cannot run: the grid greyed out, and the reason written on it."""
    xref, yref = _axis_refs(i)
    fig.add_shape(type="rect", x0=-0.5, x1=n_tokens - 0.5, y0=-0.5, y1=n_layer - 0.5, xref=xref, yref=yref,
                  fillcolor=PENDING, line=dict(color=RED_LINE if r.deps.red_line else MUTED, width=2),
                  name="refused")
    reason = "<br>".join(textwrap.wrap(r.reason.split(": ", 1)[-1], 34))
    fig.add_annotation(x=(n_tokens - 1) / 2, y=(n_layer - 1) / 2, xref=xref, yref=yref, showarrow=False,
                       text=safe_lines(reason), font=dict(size=12), name="refused reason")
    fig.update_xaxes(range=[-0.5, n_tokens - 0.5], showgrid=False, zeroline=False, title_text="token",
                     row=1, col=i + 1)
    fig.update_yaxes(range=[-0.5, n_layer + 0.2], showgrid=False, zeroline=False, tickvals=list(range(n_layer)),
                     row=1, col=i + 1)


def safe_lines(text: str) -> str:
    """Our own text with <br> line breaks kept, everything else escaped."""
    return "<br>".join(safe(line) for line in text.split("<br>"))


def grid_figure(plans: Sequence[Plan], *, refused: Sequence[Refusal] = (), frames: Frames | None = None,
                focus: tuple[int, int] | None = None, at_frame: int = 0,
                token_labels: Sequence[str] | None = None, device: str | None = None,
                max_frames: int = MAX_FRAMES) -> go.Figure:
    """Layers (y) x tokens (x), one panel per plan side by side, animated: frame f lights the
    cells of the steps in frames.windows[f] (default: step f of every panel), cells that ran before
    are dimmed in the colour of their step, pending cells grey. `focus` = (layer, token) draws that
    cell's inputs and critical path in every panel. `frames` from measured_frames / race_frames
    replays at measured speed. `refused`: schedules the kind cannot run, drawn after the plans as
    greyed panels with the reason."""
    frames = frames or step_frames([p.n_steps for p in plans], max_frames=max_frames)
    progress = [Progress(p) for p in plans]
    fig = make_subplots(rows=1, cols=len(plans) + len(refused), horizontal_spacing=0.04,
                        subplot_titles=[plan_title(p) for p in plans] + [refused_title(r) for r in refused])
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
                         title_text="token", row=1, col=i + 1)
        fig.update_yaxes(range=[-0.5, plan.n_layer + 0.2], showgrid=False, zeroline=False,
                         tickvals=list(range(plan.n_layer)), title_text="layer" if i == 0 else None,
                         row=1, col=i + 1)
    for j, r in enumerate(refused):
        _refused_panel(fig, r, len(plans) + j, plans[0].n_layer, plans[0].n_tokens)
    # The frames are built unvalidated (their traces come from _animated_traces, which the tests
    # check) and handed over as they are: the `frames` setter would validate every trace of every
    # frame again, ~1 s of pure Python for 6 x 34 cells, which held every other session's Step
    # under a classroom's load (scripts/load_test.py).
    fig._frame_objs = tuple(go.Frame(name=str(f), traces=animated, _validate=False, data=[
        tr for i, plan in enumerate(plans)
        for tr in _animated_traces(plan, progress[i], *frames.windows[f][i],
                                   frames.clock[f] if frames.clock else None, *_axis_refs(i), validate=False)])
        for f in range(frames.n_frames))
    fig.update_layout(**animation_controls(frames))
    fig.layout.sliders[0].active = at_frame
    fig = style(fig, title=_grid_title(plans, frames, device), height=360 + 40 * plans[0].n_layer,
                caption=_grid_caption(plans, refused, frames))
    return fig.update_layout(margin=dict(b=190))


def _grid_title(plans, frames: Frames, device) -> str:
    L, T = plans[0].n_layer, plans[0].n_tokens
    title = f"{L} layers × {T} tokens"
    if frames.slowdown:
        title += f" · replayed {frames.slowdown:,.0f}× slower than measured" + (f" on {safe(device)}" if device else "")
    elif frames.steps_per_frame > 1:
        title += f" · {frames.steps_per_frame} steps per frame"
    kinds = {p.deps.title for p in plans if p.deps.title}
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
    for tr in _watch_animated(plan, prog, frames, at_frame, token_labels, ex, ey, top_next):
        fig.add_trace(tr)
    animated = list(range(first, len(fig.data)))
    for tr in _overlay_traces(plan, "x", "y"):
        fig.add_trace(tr)
    fig.frames = [go.Frame(name=str(f), traces=animated, _validate=False,
                           data=_watch_animated(plan, prog, frames, f, token_labels, ex, ey, top_next, False))
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
    title = f"Watch it run: {safe(plan.mode)} on {T} tokens"
    if frames.slowdown:
        title += f" · measured{(' on ' + safe(device)) if device else ''}, replayed {frames.slowdown:,.0f}× slower"
    fig = style(fig, title=title, height=820,
                caption="The grid, the layers' states, the token being read and the next-token guess move "
                        "together: a token's probabilities appear only when its top layer is done.")
    return fig.update_layout(margin=dict(b=200))


def _watch_animated(plan, prog: Progress, frames: Frames, f: int, labels, ex, ey, top_next,
                    validate: bool = True) -> list:
    a, b = frames.windows[f][0]
    clock = frames.clock[f] if frames.clock else None
    grid = _animated_traces(plan, prog, a, b, clock, "x", "y", validate)
    Scatter = go.Scatter if validate else _unchecked(go.Scatter)
    (px, py), _ = covers(prog, a, b)
    state_cover = Scatter(x=px, y=py, fill="toself", fillcolor=PENDING, mode="lines", line=dict(width=0),
                             hoverinfo="skip", showlegend=False, xaxis="x2", yaxis="y2", name="not yet")
    busy = sorted({t for c in prog.running(a, b) for t in range(c.start, c.stop)})
    marks = Scatter(x=[ex[t] for t in busy], y=[ey[t] for t in busy], mode="markers",
                       marker=dict(size=16, color="rgba(0,0,0,0)", line=dict(color=HIGHLIGHT, width=3)),
                       showlegend=False, xaxis="x3", yaxis="y3", name="being processed", hoverinfo="skip")
    top_done = prog.window(a, b)[-1][1]         # tokens whose top layer has run, by the end of the frame
    bars = _next_bars(labels, top_next, top_done, validate)
    return grid + [state_cover, marks] + bars


def _next_bars(labels, top_next, n_done: int, validate: bool = True) -> list:
    Bar, Scatter = (go.Bar, go.Scatter) if validate else (_unchecked(go.Bar), _unchecked(go.Scatter))
    if n_done == 0 or not top_next:
        return [Bar(x=[], y=[], orientation="h", xaxis="x4", yaxis="y4", showlegend=False, name="next"),
                Scatter(x=[0.5], y=[0], mode="text", text=["waiting for a top layer…"], xaxis="x4",
                           yaxis="y4", showlegend=False, hoverinfo="skip", name="after")]
    t = n_done - 1
    pairs = top_next[t]
    k = len(pairs)
    return [Bar(x=[p for _, p in pairs], y=list(range(k - 1, -1, -1)), orientation="h",
                   text=[f"{safe(s)}  {p:.0%}" for s, p in pairs], textposition="outside",
                   marker_color=PALETTE["blue"], xaxis="x4", yaxis="y4", showlegend=False, name="next",
                   hoverinfo="skip"),
            Scatter(x=[0.5], y=[k - 0.45], mode="text", text=[f"after token {t}: {safe(labels[t])}"],
                       xaxis="x4", yaxis="y4", showlegend=False, hoverinfo="skip", name="after")]
