"""Animation frames for the Scheduling Lab's grids: which steps of each plan a frame shows, how
long it lasts, and the play / speed / slider controls. Used by the grid and watch figures
(visuals/schedule.py) and the GIF export (visuals/export.py).

How a grid animation is built
  A frame covers a window of steps [a, b) of each plan (one step per frame unless a plan has more
  steps than `max_frames`; then every frame covers the same number of steps, said in the title).
  Inside one layer a plan runs its cells left to right, so at any moment a layer's tokens split
  into three runs: done [0, d), running now [d, n), pending [n, T). A frame therefore only moves
  two covers per panel (pending in grey, the running cells outlined and in full colour) over a
  static heatmap coloured by the step that runs each cell, drawn dimmed: frames stay small even
  for 6 x 512 cells.
"""
from __future__ import annotations

import bisect
import functools
import math
from dataclasses import dataclass
from typing import Sequence

import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from rwkv_core.schedule import Cell, Plan

PENDING = "#ECECEC"          # a cell that has not run yet
DONE_OPACITY = 0.45          # cells that already ran: their step colour, dimmed
STEP_SCALE = "Viridis"       # colour of a cell = the step that runs it (early dark, late yellow)
MAX_FRAMES = 400             # frames per animation; longer plans show several steps per frame
REPLAY_SECONDS = 8.0         # a measured replay is slowed to last about this long
MIN_FRAME_MS = 16            # a browser draws at most ~60 frames a second
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


@functools.lru_cache(maxsize=4096)
def step_colour(step: int, n_steps: int) -> str:
    return sample_colorscale(STEP_SCALE, [step / max(n_steps - 1, 1)])[0]


BUTTON_FONT = 13              # px: the five speed buttons fit a 390 px phone's plot (about 250 px)
FRACTIONS = {0.25: "¼", 0.5: "½"}


def speed_label(speed: float, *, first: bool = False) -> str:
    """A speed button's label, short so that the row fits a phone: "speed ¼×", then "½×", "1×", "2×", "4×"."""
    return ("speed " if first else "") + FRACTIONS.get(speed, f"{speed:g}") + "×"


def animation_controls(frames: Frames, *, y: float = -0.3, label=None, row: float | None = None) -> dict:
    """Play / pause, speed buttons and a frame slider (plotly updatemenus + sliders).
    row: for a narrow chart, the speed buttons go on a second line this far (paper units) below
    the play buttons; beside them they would push the plot's right margin out (a phone: the plot
    shrank to a quarter of its width)."""
    names = [str(f) for f in range(frames.n_frames)]

    def play(speed: float, label: str) -> dict:
        # one setting for every frame when they last the same (plotly reads an object or a list)
        opts = [{"duration": max(MIN_FRAME_MS, d / speed), "redraw": True} for d in frames.durations_ms]
        if len(set(frames.durations_ms)) == 1:
            opts = opts[0]
        return dict(label=label, method="animate",
                    args=[None, {"frame": opts, "transition": {"duration": 0}, "fromcurrent": True,
                                 "mode": "immediate"}])

    pause = dict(label="❚❚ pause", method="animate",
                 args=[[None], {"frame": {"duration": 0, "redraw": False}, "mode": "immediate",
                                "transition": {"duration": 0}}])
    menus = [dict(type="buttons", direction="left", x=0, y=y, xanchor="left", yanchor="top",
                  showactive=False, buttons=[play(1, "▶ play"), pause], pad=dict(r=6, t=0), name="play"),
             dict(type="buttons", direction="left", x=0.25 if row is None else 0,
                  y=y if row is None else y - row, xanchor="left", yanchor="top",
                  showactive=True, active=2, name="speed", pad=dict(r=6, t=0), font=dict(size=BUTTON_FONT),
                  buttons=[play(s, speed_label(s, first=i == 0)) for i, s in enumerate(SPEEDS)])]
    label = label or (lambda f: names[f])
    slider = dict(active=0, x=0, y=y if row is None else y - row, len=1.0, xanchor="left", yanchor="top",
                  pad=dict(t=50),
                  currentvalue=dict(prefix="frame ", font=dict(size=13)), name="frame",
                  steps=[dict(label=label(f), method="animate",
                              args=[[names[f]], {"frame": {"duration": 0, "redraw": True},
                                                 "mode": "immediate", "transition": {"duration": 0}}])
                         for f in range(frames.n_frames)])
    return dict(updatemenus=menus, sliders=[slider])


def set_frames(fig: go.Figure, frames: list[dict]) -> go.Figure:
    """Give the figure its animation frames (dicts: name, traces, data holding only what changes).

    Plotly's public setter (`fig.frames = frames`) validates every trace of every frame: 0.9 s
    for the Lab's 144 frames of 6 x 24 cells and 1.3 s for 384 frames, against 0.02-0.04 s
    unvalidated (measured on the loaded 2-core AMD EPYC here), holding the interpreter while a
    class waits. The data is ours and checked by tests/test_visuals_schedule.py, so the frames go
    in unvalidated through plotly's private `_frame_objs`; where that no longer takes (a plotly
    other than the 7.x in requirements.txt), the public setter is used: slower, the same frames.
    Read such frames as the browser gets them, `fig.to_plotly_json()["frames"]` (their `.data` as
    plotly objects is not built)."""
    try:
        fig._frame_objs = tuple(go.Frame(**f, _validate=False) for f in frames)
        if len(fig.frames) == len(frames):
            return fig
    except (AttributeError, TypeError, ValueError):
        pass
    fig.frames = frames
    return fig

