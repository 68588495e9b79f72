"""The Scheduling Lab's figures: the layers x tokens grid run as an rnn, a cascade and in
parallel, animated from the engine's own plans (rwkv_core.schedule), the dependencies of a cell,
replays at measured speed, and timing and scaling charts. Plain data in, plotly Figure out.

How a grid animation is built
  A frame covers a window of steps [a, b) of each plan (one step per frame unless a plan has more
  steps than `max_frames`; then every frame covers the same number of steps, said in the title).
  Inside one layer a plan runs its cells left to right, so at any moment a layer's tokens split
  into three runs: done [0, d), running now [d, n), pending [n, T). A frame therefore only moves
  two covers per panel (pending in grey, the running cells outlined and in full colour) over a
  static heatmap coloured by the step that runs each cell, drawn dimmed: frames stay small even
  for 6 x 512 cells.

Benchmark files (docs/bench/*.json), read by `parse_bench` and drawn by `scaling_figure` and
`chunk_figure`; one JSON object per file:

    {
      "device": "NVIDIA H100 80GB HBM3",          # what ran it (rwkv_core.timing.device_name)
      "shape": {"n_layer": 6, "n_embd": 256, "vocab_size": 2048},   # n_layer required
      "dtype": "float32",                          # optional
      "model": "rwkv4-shakespeare",                # optional
      "note": "warm, median of 5",                 # optional, shown in the legend hover
      "rows": [                                    # one measured run each
        {"mode": "rnn" | "cascade" | "parallel",
         "chunk": 32,          # tokens per cell: required for cascade, null otherwise
         "workers": null,      # parallel workers/streams used, or null for one
         "n_tokens": 512,      # sequence length
         "seconds": 0.0123}    # wall time of the whole forward pass
      ]
    }

Rows with the same (mode, chunk, workers, n_tokens) are summarised by their median.
"""
from __future__ import annotations

import bisect
import functools
import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

from rwkv_core.schedule import MODES, Cell, Plan, expected_steps

from .theme import HIGHLIGHT, MUTED, PALETTE, SEQUENCE, safe, style

PENDING = "#ECECEC"          # a cell that has not run yet
RED_LINE = "#D62728"         # the classic RNN's top-to-bottom link between tokens
DONE_OPACITY = 0.45          # cells that already ran: their step colour, dimmed
STEP_SCALE = "Viridis"       # colour of a cell = the step that runs it (early dark, late yellow)
MAX_FRAMES = 400             # frames per animation; longer plans show several steps per frame
REPLAY_SECONDS = 8.0         # a measured replay is slowed to last about this long
MIN_FRAME_MS = 16            # a browser draws at most ~60 frames a second
RED_LINE_MAX_T = 128         # beyond this many tokens the red lines would hide the cells
SPEEDS = (0.25, 0.5, 1, 2, 4)  # the speed buttons: multiples of the frames' own durations


# --- what a frame shows -------------------------------------------------------------------

class Progress:
    """For one plan: which tokens of each layer are done, running or pending when the steps
    in [a, b) run. Works because each layer runs its cells left to right."""

    def __init__(self, plan: Plan):
        self.plan = plan
        per_layer: list[list[tuple[int, int]]] = [[] for _ in range(plan.n_layer)]
        for s, cells in enumerate(plan.steps):
            for c in cells:
                per_layer[c.layer].append((s, c.stop))
        for row in per_layer:
            row.sort()
        self._steps = [[s for s, _ in row] for row in per_layer]
        self._stops = [[e for _, e in row] for row in per_layer]

    def _tokens_before(self, layer: int, step: int) -> int:
        """Tokens of `layer` finished by the cells of steps < step."""
        i = bisect.bisect_left(self._steps[layer], step)
        return self._stops[layer][i - 1] if i else 0

    def window(self, a: int, b: int) -> list[tuple[int, int]]:
        """Per layer (d, n): tokens [0, d) done before step a, [d, n) run during steps [a, b)."""
        return [(self._tokens_before(l, a), self._tokens_before(l, b)) for l in range(self.plan.n_layer)]

    def running(self, a: int, b: int) -> list[Cell]:
        return [c for s in range(max(a, 0), min(b, self.plan.n_steps)) for c in self.plan.steps[s]]


@dataclass(frozen=True)
class Frames:
    """The step windows of an animation: windows[f][p] = (a, b) for panel p at frame f,
    durations_ms[f], and clock[f] (measured seconds reached at the end of frame f, or None)."""
    windows: tuple[tuple[tuple[int, int], ...], ...]
    durations_ms: tuple[float, ...]
    steps_per_frame: int                 # 0 when frames are slices of measured time
    clock: tuple[float, ...] | None = None
    slowdown: float | None = None        # replay time / measured time

    @property
    def n_frames(self) -> int:
        return len(self.windows)


def step_frames(n_steps: Sequence[int], *, max_frames: int = MAX_FRAMES, frame_ms: float = 300) -> Frames:
    """One shared frame index for panels of different lengths: frame f runs steps
    [f*k, (f+1)*k) of every panel, k = 1 unless the longest panel has more than max_frames
    steps. A panel that has finished stays finished."""
    k = max(1, math.ceil(max(n_steps) / max_frames))
    n = math.ceil(max(n_steps) / k)
    windows = tuple(tuple((min(f * k, s), min((f + 1) * k, s)) for s in n_steps) for f in range(n))
    return Frames(windows, (float(frame_ms),) * n, k)


def nice_slowdown(measured_seconds: float, target_seconds: float = REPLAY_SECONDS) -> float:
    """A round factor (1, 2 or 5 x 10^n) that stretches the measured time to about the target."""
    raw = target_seconds / max(measured_seconds, 1e-9)
    exp = math.floor(math.log10(raw))
    return min((m * 10 ** exp for m in (1, 2, 5, 10)), key=lambda v: abs(math.log(v / raw)))


def measured_frames(step_seconds: Sequence[float], *, slowdown: float | None = None,
                    max_frames: int = MAX_FRAMES) -> Frames:
    """One plan replayed at its measured speed: frame f covers k steps and lasts their measured
    time x slowdown (never under MIN_FRAME_MS, which a browser cannot show)."""
    slowdown = slowdown or nice_slowdown(sum(step_seconds))
    base = step_frames([len(step_seconds)], max_frames=max_frames)
    clock, durations, t = [], [], 0.0
    for ((a, b),) in base.windows:
        dt = sum(step_seconds[a:b])
        t += dt
        clock.append(t)
        durations.append(max(MIN_FRAME_MS, dt * slowdown * 1000))
    return Frames(base.windows, tuple(durations), base.steps_per_frame, tuple(clock), slowdown)


def race_frames(step_seconds: Sequence[Sequence[float]], *, slowdown: float | None = None,
                max_frames: int = 200) -> Frames:
    """Several plans on one measured clock: frame f is the slice of time [f dt, (f+1) dt), and
    each panel runs the steps it was busy with during that slice."""
    total = max(sum(s) for s in step_seconds)
    slowdown = slowdown or nice_slowdown(total)
    n = max(1, min(max_frames, math.ceil(total * slowdown * 1000 / 40)))  # ~25 frames a second
    dt = total / n
    ends = [list(_cumsum(s)) for s in step_seconds]
    windows = []
    for f in range(n):
        t0, t1 = f * dt, (f + 1) * dt if f < n - 1 else math.inf
        # steps still busy after t0, up to the first one that starts after t1
        windows.append(tuple((bisect.bisect_right(e, t0), min(len(e), bisect.bisect_left(e, t1) + 1))
                             for e in ends))
    clock = tuple(min(total, (f + 1) * dt) for f in range(n))
    return Frames(tuple(windows), (max(MIN_FRAME_MS, dt * slowdown * 1000),) * n, 0, clock, slowdown)


def _cumsum(xs: Sequence[float]):
    t = 0.0
    for x in xs:
        t += x
        yield t


# --- geometry -----------------------------------------------------------------------------

def _rects(spans: Sequence[tuple[int, int, int]]) -> tuple[list, list]:
    """Rectangles (layer, token_from, token_to) as one polygon trace: x, y with None between."""
    xs, ys = [], []
    for layer, t0, t1 in spans:
        if t1 > t0:
            xs += [t0 - 0.5, t1 - 0.5, t1 - 0.5, t0 - 0.5, t0 - 0.5, None]
            ys += [layer - 0.5, layer - 0.5, layer + 0.5, layer + 0.5, layer - 0.5, None]
    return xs, ys


def covers(progress: Progress, a: int, b: int) -> tuple[tuple[list, list], tuple[list, list]]:
    """The pending cover and the running-now cover of a panel for the step window [a, b)."""
    T = progress.plan.n_tokens
    win = progress.window(a, b)
    pending = _rects([(l, n, T) for l, (_, n) in enumerate(win)])
    running = _rects([(l, d, n) for l, (d, n) in enumerate(win)])
    return pending, running


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


@functools.lru_cache(maxsize=4096)
def step_colour(step: int, n_steps: int) -> str:
    return sample_colorscale(STEP_SCALE, [step / max(n_steps - 1, 1)])[0]


# --- the grid -----------------------------------------------------------------------------

def plan_title(plan: Plan) -> str:
    L, T, n = plan.n_layer, plan.n_tokens, plan.n_steps
    if plan.mode == "rnn":
        return f"rnn: L·T = {n} steps"
    if plan.mode == "cascade":
        return f"cascade, chunk {plan.chunk}: L + ⌈T/{plan.chunk}⌉ − 1 = {n} steps"
    return f"parallel: L = {n} steps"


def _counter(plan: Plan, a: int, b: int, clock: float | None) -> str:
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
    if plan.mode == "cascade" and 1 < plan.chunk < T:
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
                text=[_counter(plan, a, b, clock)], textfont=dict(size=14), hoverinfo="skip",
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


def animation_controls(frames: Frames, *, y: float = -0.3, label=None) -> dict:
    """Play / pause, speed buttons and a frame slider (plotly updatemenus + sliders)."""
    names = [str(f) for f in range(frames.n_frames)]

    def play(speed: float, label: str) -> dict:
        opts = [{"duration": max(MIN_FRAME_MS, d / speed), "redraw": True} for d in frames.durations_ms]
        return dict(label=label, method="animate",
                    args=[None, {"frame": opts, "transition": {"duration": 0}, "fromcurrent": True,
                                 "mode": "immediate"}])

    pause = dict(label="❚❚ pause", method="animate",
                 args=[[None], {"frame": {"duration": 0, "redraw": False}, "mode": "immediate",
                                "transition": {"duration": 0}}])
    menus = [dict(type="buttons", direction="left", x=0, y=y, xanchor="left", yanchor="top",
                  showactive=False, buttons=[play(1, "▶ play"), pause], pad=dict(r=6, t=0), name="play"),
             dict(type="buttons", direction="left", x=0.25, y=y, xanchor="left", yanchor="top",
                  showactive=True, active=2, name="speed", pad=dict(r=6, t=0),
                  buttons=[play(s, f"speed {s:g}×") for s in SPEEDS])]
    label = label or (lambda f: names[f])
    slider = dict(active=0, x=0, y=y, len=1.0, xanchor="left", yanchor="top", pad=dict(t=50),
                  currentvalue=dict(prefix="frame ", font=dict(size=13)), name="frame",
                  steps=[dict(label=label(f), method="animate",
                              args=[[names[f]], {"frame": {"duration": 0, "redraw": True},
                                                 "mode": "immediate", "transition": {"duration": 0}}])
                         for f in range(frames.n_frames)])
    return dict(updatemenus=menus, sliders=[slider])


def grid_figure(plans: Sequence[Plan], *, frames: Frames | None = None, focus: tuple[int, int] | None = None,
                at_frame: int = 0, token_labels: Sequence[str] | None = None, device: str | None = None,
                max_frames: int = MAX_FRAMES) -> go.Figure:
    """Layers (y) x tokens (x), one panel per plan side by side, animated: frame f lights the
    cells of the steps in frames.windows[f] (default: step f of every panel), cells that ran before
    are dimmed in the colour of their step, pending cells grey. `focus` = (layer, token) draws that
    cell's inputs and critical path in every panel. `frames` from measured_frames / race_frames
    replays at measured speed."""
    frames = frames or step_frames([p.n_steps for p in plans], max_frames=max_frames)
    progress = [Progress(p) for p in plans]
    fig = make_subplots(rows=1, cols=len(plans), subplot_titles=[plan_title(p) for p in plans],
                        horizontal_spacing=0.04)
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
                caption=_grid_caption(plans, frames))
    return fig.update_layout(margin=dict(b=190))


def _grid_title(plans, frames: Frames, device) -> str:
    L, T = plans[0].n_layer, plans[0].n_tokens
    title = f"{L} layers × {T} tokens"
    if frames.slowdown:
        title += f" · replayed {frames.slowdown:,.0f}× slower than measured" + (f" on {safe(device)}" if device else "")
    elif frames.steps_per_frame > 1:
        title += f" · {frames.steps_per_frame} steps per frame"
    return title


def _grid_caption(plans, frames: Frames) -> str:
    text = ("Each cell is one layer on one chunk of tokens, coloured by the step that runs it; outlined cells run "
            "now. The rnn waits along the red line; the cascade runs a diagonal wave; parallel runs a layer at once.")
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


# --- timing charts ------------------------------------------------------------------------

def step_times_figure(runs: Mapping[str, Sequence[float]], device: str | None = None) -> go.Figure:
    """runs: label → measured seconds of each step (Timings.step_seconds)."""
    fig = go.Figure([go.Scatter(x=list(range(1, len(s) + 1)), y=[v * 1000 for v in s], name=safe(label),
                                mode="lines+markers" if len(s) <= 60 else "lines",
                                hovertemplate="step %{x}: %{y:.3f} ms<extra>" + safe(label) + "</extra>")
                     for label, s in runs.items()])
    fig.update_xaxes(type="log")
    fig.update_yaxes(type="log")
    return style(fig, title="Time of each step" + (f" on {safe(device)}" if device else ""),
                 x_title="step", y_title="ms (log)",
                 caption="The rnn takes many short steps, the cascade few wider ones, parallel one per layer.")


def totals_figure(runs: Sequence[Mapping], device: str | None = None) -> go.Figure:
    """runs: [{"label": str, "seconds": float, "n_tokens": int}] → wall time and tokens/s side by side."""
    labels = [safe(r["label"]) for r in runs]
    fig = make_subplots(rows=1, cols=2, subplot_titles=["wall time (ms)", "tokens per second"])
    colours = SEQUENCE[:len(runs)]
    fig.add_trace(go.Bar(x=labels, y=[r["seconds"] * 1000 for r in runs], marker_color=colours,
                         text=[f"{r['seconds'] * 1000:.1f}" for r in runs], showlegend=False), 1, 1)
    fig.add_trace(go.Bar(x=labels, y=[r["n_tokens"] / r["seconds"] for r in runs], marker_color=colours,
                         text=[f"{r['n_tokens'] / r['seconds']:,.0f}" for r in runs], showlegend=False), 1, 2)
    return style(fig, title="Whole forward pass" + (f" on {safe(device)}" if device else ""),
                 caption="Same model, same tokens, same logits: only the order of the cells differs.")


# --- benchmark records ---------------------------------------------------------------------

def parse_bench(obj: Mapping, source: str = "bench") -> dict:
    """Check a benchmark record (schema in the module docstring); ValueError says what is wrong."""
    if not isinstance(obj, Mapping):
        raise ValueError(f"{source}: expected a JSON object")
    if not isinstance(obj.get("device"), str) or not obj["device"]:
        raise ValueError(f"{source}: 'device' (a non-empty string) is missing")
    shape = obj.get("shape")
    if not isinstance(shape, Mapping) or not isinstance(shape.get("n_layer"), int) or shape["n_layer"] < 1:
        raise ValueError(f"{source}: 'shape' needs a positive integer 'n_layer'")
    rows = obj.get("rows")
    if not isinstance(rows, list) or not rows:
        raise ValueError(f"{source}: 'rows' must be a non-empty list")
    return {**obj, "rows": [_parse_row(r, f"{source} row {i}") for i, r in enumerate(rows)]}


def _parse_row(r, where: str) -> dict:
    if not isinstance(r, Mapping):
        raise ValueError(f"{where}: expected an object")
    if r.get("mode") not in MODES:
        raise ValueError(f"{where}: mode must be one of {', '.join(MODES)}, got {r.get('mode')!r}")
    n, sec = r.get("n_tokens"), r.get("seconds")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"{where}: n_tokens must be a positive integer, got {n!r}")
    if not isinstance(sec, (int, float)) or not sec > 0:
        raise ValueError(f"{where}: seconds must be a positive number, got {sec!r}")
    chunk = r.get("chunk")
    if r["mode"] == "cascade" and (not isinstance(chunk, int) or chunk < 1):
        raise ValueError(f"{where}: a cascade row needs a positive integer chunk, got {chunk!r}")
    workers = r.get("workers")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ValueError(f"{where}: workers must be a positive integer or null, got {workers!r}")
    return {"mode": r["mode"], "chunk": chunk if r["mode"] == "cascade" else None, "workers": workers,
            "n_tokens": n, "seconds": float(sec)}


def read_bench_files(folder: str | Path) -> tuple[list[dict], list[str]]:
    """Every docs/bench/*.json as a checked record, and a message for each file that is not."""
    records, problems = [], []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            records.append({**parse_bench(json.loads(path.read_text()), path.name), "file": path.name})
        except (ValueError, OSError) as e:
            problems.append(str(e))
    return records, problems


def is_gpu(record: Mapping) -> bool:
    return not record["device"].startswith("CPU")


def _series(record: Mapping) -> dict[tuple, dict[int, float]]:
    """(mode, chunk, workers) → {n_tokens: median seconds}."""
    acc: dict[tuple, dict[int, list[float]]] = {}
    for r in record["rows"]:
        acc.setdefault((r["mode"], r["chunk"], r["workers"]), {}).setdefault(r["n_tokens"], []).append(r["seconds"])
    return {k: {n: statistics.median(v) for n, v in sorted(d.items())} for k, d in acc.items()}


def series_label(mode: str, chunk, workers) -> str:
    label = f"cascade chunk {chunk}" if mode == "cascade" else mode
    return label + (f", {workers} workers" if workers else "")


def _order(key: tuple) -> tuple:
    mode, chunk, workers = key
    return (MODES.index(mode), chunk or 0, workers or 0)


def scaling_figure(records: Sequence[Mapping]) -> go.Figure:
    """Left: the ideal step counts (a step = one wave of cells); right: measured seconds; both
    against the sequence length, log-log, one line per (schedule, chunk, workers) and device."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=["ideal: number of steps", "measured: seconds"])
    colour: dict[tuple, str] = {}
    dashes = ("solid", "dash", "dot", "dashdot")
    for d, rec in enumerate(records):
        L = rec["shape"]["n_layer"]
        for key in sorted(_series(rec), key=_order):
            pts = _series(rec)[key]
            c = colour.setdefault(key, SEQUENCE[len(colour) % len(SEQUENCE)])
            name = series_label(*key) + (f" · {safe(rec['device'])}" if len(records) > 1 else "")
            ns = list(pts)
            fig.add_trace(go.Scatter(x=ns, y=[expected_steps(key[0], L, n, key[1] or 1) for n in ns],
                                     mode="lines+markers", line=dict(color=c, dash=dashes[d % 4]), name=name,
                                     legendgroup=name, showlegend=False,
                                     hovertemplate=f"{name}<br>T=%{{x}}: %{{y}} steps<extra></extra>"), 1, 1)
            fig.add_trace(go.Scatter(x=ns, y=list(pts.values()), mode="lines+markers", name=name, legendgroup=name,
                                     line=dict(color=c, dash=dashes[d % 4]),
                                     hovertemplate=f"{name}<br>T=%{{x}}: %{{y:.4g}} s<extra></extra>"), 1, 2)
    fig.update_xaxes(type="log", title_text="tokens (T)")
    fig.update_yaxes(type="log")
    devices = ", ".join(dict.fromkeys(safe(r["device"]) for r in records)) or "no measurements"
    return style(fig, title=f"Scaling with sequence length · {devices}", height=480,
                 caption="Ideal steps grow like L·T for the rnn but like T/chunk for the cascade; measured "
                         "time follows them only where the hardware has the width to run a wave at once.")


def chunk_figure(records: Sequence[Mapping], n_tokens: int | None = None) -> go.Figure:
    """Cascade time against chunk size at one sequence length (default: the longest measured in
    cascade mode), with the rnn and parallel times at that length as horizontal references."""
    fig = go.Figure()
    for d, rec in enumerate(records):
        series = _series(rec)
        casc = {k: v for k, v in series.items() if k[0] == "cascade"}
        lengths = sorted({n for v in casc.values() for n in v})
        if not lengths:
            continue
        T = n_tokens if n_tokens in lengths else lengths[-1]
        by_workers: dict = {}
        for (_, chunk, workers), pts in casc.items():
            if T in pts:
                by_workers.setdefault(workers, []).append((chunk, pts[T]))
        suffix = f" · {safe(rec['device'])}" if len(records) > 1 else ""
        for workers, pairs in sorted(by_workers.items(), key=lambda kv: kv[0] or 0):
            pairs.sort()
            fig.add_trace(go.Scatter(x=[c for c, _ in pairs], y=[s for _, s in pairs], mode="lines+markers",
                                     name=f"cascade, T={T}" + (f", {workers} workers" if workers else "") + suffix))
        for mode, dash in (("rnn", "dot"), ("parallel", "dash")):
            pts = series.get((mode, None, None), {})
            if T in pts:
                fig.add_hline(y=pts[T], line_dash=dash, annotation_text=f"{mode}, T={T}{suffix}")
    fig.update_xaxes(type="log", title_text="chunk (tokens per cell)")
    fig.update_yaxes(type="log", title_text="seconds (log)")
    return style(fig, title="Cascade: chunk size against time", height=440,
                 caption="Small chunks mean many thin steps; huge chunks mean few steps but little overlap "
                         "between layers; the best is in between, and depends on the device.")
