"""Animations for slides: a self-contained HTML file (plotly.js inlined, works offline) and an
animated GIF drawn with Pillow from the same frame windows as the plotly figure (no browser,
no kaleido). Plain data in, bytes or text out.

The GIF is small and quick because every frame shares one palette, made once from the colours the
frames can hold: Pillow then maps each frame onto it (a lookup, not a colour search of its own) and
writes only the pixels that changed since the previous frame (the rest transparent), so a
frame costs about what changed in it. Measured by scripts/bench_gif.py.
"""
from __future__ import annotations

import functools
import html
import io
import json
import re
from typing import Sequence

import plotly.graph_objects as go
from PIL import Image, ImageDraw, ImageFont
from plotly.colors import sample_colorscale

from rwkv_core.schedule import Plan

from .frames import PENDING, STEP_SCALE, Frames, Progress, measured_frames, step_frames
from .schedule import counter, plan_title
from .theme import RED_LINE

# Plotly has no "next frame" action for a button, so the HTML file adds two buttons of its own that
# animate to the frame before or after the current one. Only plotly.js's public API is used: the frame
# names are written into the script from the figure (fig.frames), the current frame is followed through
# plotly's animation and slider events, and Plotly.animate moves to a frame by its name.
_STEP_SCRIPT = """
(function() {
  var gd = document.getElementById('{plot_id}');
  if (!gd || !window.Plotly) { return; }
  var names = __FRAME_NAMES__;
  var current = 0;
  gd.on('plotly_animatingframe', function(e) { current = names.indexOf(e.name); });
  gd.on('plotly_sliderchange', function(e) { current = e.slider.active; });
  function go(delta) {
    current = Math.max(0, Math.min(names.length - 1, current + delta));
    Plotly.animate(gd, [names[current]], {mode: 'immediate', frame: {duration: 0, redraw: true},
                                          transition: {duration: 0}});
  }
  var bar = document.createElement('div');
  bar.style.cssText = 'font: 16px sans-serif; margin: 6px 0 0 70px';
  [['\\u25c0 step', -1], ['step \\u25b6', 1]].forEach(function(b) {
    var btn = document.createElement('button');
    btn.textContent = b[0];
    btn.style.cssText = 'font-size: 16px; margin-right: 8px';
    btn.addEventListener('click', function() { go(b[1]); });
    bar.appendChild(btn);
  });
  gd.parentNode.insertBefore(bar, gd.nextSibling);
})();
"""


def figure_html(fig: go.Figure, *, title: str = "RWKV scheduling lab") -> str:
    """One HTML file with plotly.js inside (no network needed), the figure, its frames, and
    step-back / step-forward buttons."""
    names = json.dumps([str(f.name) for f in fig.frames]).replace("</", "<\\/")   # safe inside <script>
    body = fig.to_html(include_plotlyjs=True, full_html=True, auto_play=False,
                       post_script=_STEP_SCRIPT.replace("__FRAME_NAMES__", names), config={"displaylogo": False})
    return body.replace("<head>", f"<head><meta charset=\"utf-8\"><title>{_escape(title)}</title>", 1)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- GIF ----------------------------------------------------------------------------------

PANEL_W, ROW_H, PAD, HEADER = 300, 26, 16, 60  # pixels; HEADER: a panel's title, its subtitle, its counter


_ASCII = str.maketrans({"×": "x", "⌈": "ceil(", "⌉": ")", "−": "-", "–": "-", "·": "-"})


@functools.lru_cache(maxsize=8)
def _font(size: int):
    """DejaVu Sans where the system has it (it has ×, ⌈ ⌉, −); else Pillow's own font."""
    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:
        try:
            return ImageFont.load_default(size=size)
        except TypeError:        # Pillow without FreeType
            return ImageFont.load_default()


def _text(draw: ImageDraw.ImageDraw, xy, text: str, size: int, fill, *, max_width: int | None = None) -> None:
    """Text at xy; with max_width, in a smaller size (down to 9 px) or cut with "…" until it fits."""
    font = _font(size)
    if not getattr(font, "path", "").endswith("DejaVuSans.ttf"):
        text = text.translate(_ASCII)   # Pillow's own font lacks these signs
    if max_width is not None:
        while size > 9 and draw.textlength(text, font=font) > max_width:
            size -= 1
            font = _font(size)
        while len(text) > 1 and draw.textlength(text, font=font) > max_width:
            text = text[:-2].rstrip() + "…"
    draw.text(xy, text, fill=fill, font=font)


def _plain_lines(title: str) -> list[str]:
    """A plotly title ("label<br><sup>detail</sup>") as plain lines of text."""
    return [html.unescape(re.sub(r"<[^>]+>", "", line)).strip() for line in title.split("<br>")]


def _rgb(colour: str) -> tuple[int, int, int]:
    if colour.startswith("#"):
        return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return tuple(int(float(v)) for v in colour[colour.index("(") + 1:-1].split(",")[:3])


def _dim(rgb, amount: float = 0.45):
    """The colour at `amount` opacity over white: how the figure draws cells that already ran."""
    return tuple(round(255 - amount * (255 - c)) for c in rgb)


@functools.lru_cache(maxsize=32)
def _step_rgbs(n_steps: int) -> tuple[tuple[int, int, int], ...]:
    """The colour of every step, as frames.step_colour gives it, sampled in one call (plotly checks the
    scale's name on every call: 768 calls for a 6 x 128 rnn took longer than drawing the frames)."""
    return tuple(_rgb(c) for c in sample_colorscale(STEP_SCALE, [s / max(n_steps - 1, 1) for s in range(n_steps)]))


# --- one palette for every frame -------------------------------------------------------------

MAX_COLOURS = 255          # one index of the GIF's 256 stays free: Pillow makes it the transparent one
EXACT_STEPS = 40           # a plan with at most this many steps keeps its exact colours
_GREYS = [(v, v, v) for v in range(0, 256, 17)]   # black to white in 16 levels: text edges on white


def _shared_palette(fixed: Sequence[tuple], ramp: Sequence[tuple]) -> Image.Image:
    """A palette image of at most MAX_COLOURS: `fixed` colours as they are, then `ramp` (colours in
    order along a scale) thinned evenly to the room left. A colour of a thinned ramp is drawn in its
    nearest neighbour on the ramp, one step of the scale away at most."""
    colours = list(dict.fromkeys(tuple(c) for c in fixed))[:MAX_COLOURS]
    taken = set(colours)
    ramp = [c for c in dict.fromkeys(tuple(c) for c in ramp) if c not in taken]
    room = MAX_COLOURS - len(colours)
    if len(ramp) > room:
        ramp = [ramp[round(i * (len(ramp) - 1) / max(room - 1, 1))] for i in range(room)] if room > 0 else []
    colours += ramp
    palette = Image.new("P", (1, 1))
    palette.putpalette([v for c in colours for v in c])
    return palette


def _plan_colours(plans: Sequence[Plan]) -> tuple[list, list]:
    """(fixed, ramp) for _shared_palette: the frame's own colours, short plans' step colours (bright
    and dimmed) exactly, long plans' along the scale."""
    fixed = [(255, 255, 255), (0, 0, 0), _rgb("#444444"), _rgb("#777777"), _rgb(PENDING), _rgb(RED_LINE), *_GREYS]
    ramp = []
    for p in plans:
        rgbs = _step_rgbs(p.n_steps)
        pairs = [c for rgb in rgbs for c in (rgb, _dim(rgb))]
        (fixed if p.n_steps <= EXACT_STEPS else ramp).extend(pairs)
    return fixed, ramp


def _gif_bytes(images: Sequence[Image.Image], durations_ms: Sequence[float], palette: Image.Image) -> bytes:
    """The frames mapped onto one palette (no dithering: flat cells stay flat) and saved as a GIF whose
    frames after the first hold only what changed."""
    frames = [im.quantize(palette=palette, dither=Image.Dither.NONE) for im in images]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], loop=0,
                   duration=[max(20, round(d)) for d in durations_ms], optimize=True)
    return buf.getvalue()


class _Panel:
    """One plan drawn into a strip of the GIF; the cells pre-drawn dimmed and bright, so a frame
    only pastes three runs per layer."""

    def __init__(self, plan: Plan, x0: int, y0: int):
        self.plan, self.x0, self.y0 = plan, x0, y0
        self.L, self.T = plan.n_layer, plan.n_tokens   # read once: the plan computes them on each call
        self.progress = Progress(plan)
        self.tw = PANEL_W / self.T                     # pixels per token (may be fractional)
        size = (PANEL_W, ROW_H * self.L)
        self.dim, self.bright = Image.new("RGB", size, "white"), Image.new("RGB", size, "white")
        d_dim, d_bright = ImageDraw.Draw(self.dim), ImageDraw.Draw(self.bright)
        colours = _step_rgbs(plan.n_steps)
        for s, cells in enumerate(plan.steps):
            rgb = colours[s]
            for c in cells:
                box = self._box(c.layer, c.start, c.stop)
                d_dim.rectangle(box, fill=_dim(rgb))
                d_bright.rectangle(box, fill=rgb)

    def _box(self, layer: int, t0: int, t1: int, dx: int = 0, dy: int = 0):
        gap = 1 if self.tw >= 4 else 0
        top = (self.L - 1 - layer) * ROW_H                   # layer 0 at the bottom
        return (dx + round(t0 * self.tw), dy + top + 1, dx + max(round(t1 * self.tw) - 1 - gap, round(t0 * self.tw)),
                dy + top + ROW_H - 2)

    def draw_title(self, draw: ImageDraw.ImageDraw) -> None:
        """What stays the same in every frame, drawn once on the frames' common background."""
        first, *rest = _plain_lines(plan_title(self.plan))
        _text(draw, (self.x0, self.y0 - HEADER + 2), first, 13, "black", max_width=PANEL_W)
        if rest:
            _text(draw, (self.x0, self.y0 - HEADER + 19), " · ".join(rest), 11, "#444", max_width=PANEL_W)

    def draw(self, img: Image.Image, draw: ImageDraw.ImageDraw, a: int, b: int, clock, *, counter_line=True) -> None:
        plan, T = self.plan, self.T
        for layer, (d, n) in enumerate(self.progress.window(a, b)):
            for src, t0, t1 in ((self.dim, 0, d), (self.bright, d, n)):
                if t1 > t0:
                    box = self._box(layer, t0, t1)
                    crop = src.crop((box[0], box[1], box[2] + 1, box[3] + 1))
                    img.paste(crop, (self.x0 + box[0], self.y0 + box[1]))
            if n < T:
                draw.rectangle(self._box(layer, n, T, self.x0, self.y0), fill=_rgb(PENDING))
            if n > d:
                draw.rectangle(self._box(layer, d, n, self.x0, self.y0), outline="black", width=2)
        if plan.deps.red_line and self.tw >= 4:   # thinner than that, the lines would hide the cells
            top, bottom = self.y0 + 4, self.y0 + ROW_H * self.L - 4
            for t in range(T - 1):
                x = self.x0 + (t + 0.5) * self.tw
                draw.line((x, top, x + self.tw, bottom), fill=RED_LINE, width=1)
        if counter_line:
            _text(draw, (self.x0, self.y0 - HEADER + 38), counter(plan, a, b, clock), 13, "#444", max_width=PANEL_W)


def schedule_gif(plans: Sequence[Plan], *, frames: Frames | None = None, max_frames: int = 120,
                 frame_ms: float = 150, title: str = "") -> bytes:
    """The grid animation as an animated GIF: one image per frame of `frames` (default: the
    plans' steps, at most max_frames frames), each lasting its frame's duration."""
    frames = frames or step_frames([p.n_steps for p in plans], max_frames=max_frames, frame_ms=frame_ms)
    L = max(p.n_layer for p in plans)
    width = PAD + len(plans) * (PANEL_W + PAD)
    top = PAD + 22 + HEADER
    height = top + ROW_H * L + PAD + 18
    panels = [_Panel(p, PAD + i * (PANEL_W + PAD), top) for i, p in enumerate(plans)]
    base = Image.new("RGB", (width, height), "white")      # what every frame shares: text drawn once
    base_draw = ImageDraw.Draw(base)
    _text(base_draw, (PAD, PAD), title or f"{L} layers × {plans[0].n_tokens} tokens", 16, "black")
    for panel in panels:
        panel.draw_title(base_draw)
    images = []
    for f in range(frames.n_frames):
        img = base.copy()
        draw = ImageDraw.Draw(img)
        # the frame number keeps every image distinct, so the GIF writer never merges two frames
        _text(draw, (PAD, height - PAD - 12), f"frame {f + 1} of {frames.n_frames}", 12, "#777")
        for i, panel in enumerate(panels):
            panel.draw(img, draw, *frames.windows[f][i], frames.clock[f] if frames.clock else None)
        images.append(img)
    return _gif_bytes(images, frames.durations_ms, _shared_palette(*_plan_colours(plans)))


def _norm_image(norms: Sequence[Sequence[float]], panel: _Panel) -> Image.Image:
    """The state-norm heatmap drawn on the panel's cell geometry (Cividis, low = dark)."""
    flat = [v for row in norms for v in row]
    lo, hi = min(flat), max(flat)
    colours = iter(sample_colorscale(NORM_SCALE, [(v - lo) / (hi - lo) if hi > lo else 0.5 for v in flat]))
    img = Image.new("RGB", panel.dim.size, "white")
    draw = ImageDraw.Draw(img)
    for layer, row in enumerate(norms):
        for t, _ in enumerate(row):
            draw.rectangle(panel._box(layer, t, t + 1), fill=_rgb(next(colours)))
    return img


NORM_SCALE = "Cividis"
BAR_BLUE = "#0072B2"


def watch_gif(plan: Plan, *, token_labels: Sequence[str], state_norms: Sequence[Sequence[float]],
              top_next: Sequence[Sequence[tuple[str, float]]], step_seconds: Sequence[float] | None = None,
              device: str | None = None, max_frames: int = 120, frame_ms: float = 200, **_unused) -> bytes:
    """The "watch it run" animation as a GIF: the grid, the state norms filling in as cells
    complete, the newest finished token's next-token guesses, and the measured clock. Takes the
    same data as visuals.schedule.watch_figure (embed_xy is not drawn here)."""
    frames = (measured_frames(step_seconds, max_frames=max_frames) if step_seconds
              else step_frames([plan.n_steps], max_frames=max_frames, frame_ms=frame_ms))
    top = PAD + 22 + HEADER
    grid = _Panel(plan, PAD, top)
    states = _Panel(plan, 2 * PAD + PANEL_W, top)
    states.dim = states.bright = _norm_image(state_norms, states)
    bars_x = 3 * PAD + 2 * PANEL_W
    width, height = bars_x + 260 + PAD, top + max(ROW_H * plan.n_layer, 150) + PAD + 18
    head = f"Watch it run: {plan.mode}, {plan.n_tokens} tokens"
    if frames.slowdown:
        head += f" - measured{' on ' + device if device else ''}, {frames.slowdown:,.0f}x slower"
    base = Image.new("RGB", (width, height), "white")      # what every frame shares: text drawn once
    base_draw = ImageDraw.Draw(base)
    _text(base_draw, (PAD, PAD), head, 16, "black")
    grid.draw_title(base_draw)
    _text(base_draw, (states.x0, states.y0 - HEADER + 2), "state norm per layer", 13, "black")
    images = []
    for f in range(frames.n_frames):
        (a, b), clock = frames.windows[f][0], frames.clock[f] if frames.clock else None
        img = base.copy()
        draw = ImageDraw.Draw(img)
        _text(draw, (PAD, height - PAD - 12), f"frame {f + 1} of {frames.n_frames}", 12, "#777")
        grid.draw(img, draw, a, b, clock)
        states.draw(img, draw, a, b, None, counter_line=False)
        _draw_bars(draw, bars_x, top - HEADER, token_labels, top_next, grid.progress.window(a, b)[-1][1])
        images.append(img)
    fixed, ramp = _plan_colours([plan])
    norm_ramp = [_rgb(c) for c in sample_colorscale(NORM_SCALE, [i / 63 for i in range(64)])]
    fixed += [_rgb(BAR_BLUE)] + norm_ramp      # the state norms: 64 levels of their scale
    return _gif_bytes(images, frames.durations_ms, _shared_palette(fixed, ramp))


def _draw_bars(draw, x0: int, y0: int, labels, top_next, n_done: int) -> None:
    """The next-token guesses after the newest token whose top layer is done."""
    if n_done == 0:
        _text(draw, (x0, y0 + 2), "waiting for a top layer...", 13, "#444")
        return
    t = n_done - 1
    _text(draw, (x0, y0 + 2), f"after token {t}: {labels[t]}", 13, "black")
    for i, (label, p) in enumerate(top_next[t]):
        y = y0 + HEADER + i * 22
        draw.rectangle((x0, y, x0 + round(150 * p), y + 16), fill=_rgb(BAR_BLUE))
        _text(draw, (x0 + round(150 * p) + 4, y + 1), f"{label} {p:.0%}", 12, "black")
