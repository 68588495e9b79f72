"""Animations for slides: a self-contained HTML file (plotly.js inlined, works offline) and an
animated GIF drawn with Pillow from the same frame windows as the plotly figure (no browser,
no kaleido). Plain data in, bytes or text out.
"""
from __future__ import annotations

import functools
import io
from typing import Sequence

import plotly.graph_objects as go
from PIL import Image, ImageDraw, ImageFont

from plotly.colors import sample_colorscale

from rwkv_core.schedule import Plan

from .frames import PENDING, Frames, Progress, measured_frames, step_colour, step_frames
from .schedule import counter, plan_title
from .theme import RED_LINE

# Plotly has no "next frame" action for a button, so the HTML file adds two buttons of its own that
# animate to the frame before or after the current one (tracked from plotly's animation events).
_STEP_SCRIPT = """
(function() {
  var gd = document.getElementById('{plot_id}');
  if (!gd || !gd._transitionData) { return; }
  var names = (gd._transitionData._frames || []).map(function(f) { return f.name; });
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
    body = fig.to_html(include_plotlyjs=True, full_html=True, auto_play=False, post_script=_STEP_SCRIPT,
                       config={"displaylogo": False})
    return body.replace("<head>", f"<head><meta charset=\"utf-8\"><title>{_escape(title)}</title>", 1)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- GIF ----------------------------------------------------------------------------------

PANEL_W, ROW_H, PAD, HEADER = 300, 26, 16, 44  # pixels


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


def _text(draw: ImageDraw.ImageDraw, xy, text: str, size: int, fill) -> None:
    font = _font(size)
    if not getattr(font, "path", "").endswith("DejaVuSans.ttf"):
        text = text.translate(_ASCII)   # Pillow's own font lacks these signs
    draw.text(xy, text, fill=fill, font=font)


def _rgb(colour: str) -> tuple[int, int, int]:
    if colour.startswith("#"):
        return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return tuple(int(float(v)) for v in colour[colour.index("(") + 1:-1].split(",")[:3])


def _dim(rgb, amount: float = 0.45):
    """The colour at `amount` opacity over white: how the figure draws cells that already ran."""
    return tuple(round(255 - amount * (255 - c)) for c in rgb)


class _Panel:
    """One plan drawn into a strip of the GIF; the cells pre-drawn dimmed and bright, so a frame
    only pastes three runs per layer."""

    def __init__(self, plan: Plan, x0: int, y0: int):
        self.plan, self.x0, self.y0 = plan, x0, y0
        self.progress = Progress(plan)
        self.tw = PANEL_W / plan.n_tokens              # pixels per token (may be fractional)
        size = (PANEL_W, ROW_H * plan.n_layer)
        self.dim, self.bright = Image.new("RGB", size, "white"), Image.new("RGB", size, "white")
        d_dim, d_bright = ImageDraw.Draw(self.dim), ImageDraw.Draw(self.bright)
        for s, cells in enumerate(plan.steps):
            rgb = _rgb(step_colour(s, plan.n_steps))
            for c in cells:
                box = self._box(c.layer, c.start, c.stop)
                d_dim.rectangle(box, fill=_dim(rgb))
                d_bright.rectangle(box, fill=rgb)

    def _box(self, layer: int, t0: int, t1: int, dx: int = 0, dy: int = 0):
        gap = 1 if self.tw >= 4 else 0
        top = (self.plan.n_layer - 1 - layer) * ROW_H        # layer 0 at the bottom
        return (dx + round(t0 * self.tw), dy + top + 1, dx + max(round(t1 * self.tw) - 1 - gap, round(t0 * self.tw)),
                dy + top + ROW_H - 2)

    def draw(self, img: Image.Image, draw: ImageDraw.ImageDraw, a: int, b: int, clock) -> None:
        plan = self.plan
        for layer, (d, n) in enumerate(self.progress.window(a, b)):
            for src, t0, t1 in ((self.dim, 0, d), (self.bright, d, n)):
                if t1 > t0:
                    box = self._box(layer, t0, t1)
                    crop = src.crop((box[0], box[1], box[2] + 1, box[3] + 1))
                    img.paste(crop, (self.x0 + box[0], self.y0 + box[1]))
            if n < plan.n_tokens:
                draw.rectangle(self._box(layer, n, plan.n_tokens, self.x0, self.y0), fill=_rgb(PENDING))
            if n > d:
                draw.rectangle(self._box(layer, d, n, self.x0, self.y0), outline="black", width=2)
        if plan.deps.red_line and self.tw >= 4:   # thinner than that, the lines would hide the cells
            top, bottom = self.y0 + 4, self.y0 + ROW_H * plan.n_layer - 4
            for t in range(plan.n_tokens - 1):
                x = self.x0 + (t + 0.5) * self.tw
                draw.line((x, top, x + self.tw, bottom), fill=RED_LINE, width=1)
        _text(draw, (self.x0, self.y0 - HEADER + 2), plan_title(plan), 13, "black")
        _text(draw, (self.x0, self.y0 - HEADER + 20), counter(plan, a, b, clock), 13, "#444")


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
    images = []
    for f in range(frames.n_frames):
        img = Image.new("RGB", (width, height), "white")
        draw = ImageDraw.Draw(img)
        head = title or f"{L} layers × {plans[0].n_tokens} tokens"
        _text(draw, (PAD, PAD), head, 16, "black")
        # the frame number keeps every image distinct, so the GIF writer never merges two frames
        _text(draw, (PAD, height - PAD - 12), f"frame {f + 1} of {frames.n_frames}", 12, "#777")
        for i, panel in enumerate(panels):
            panel.draw(img, draw, *frames.windows[f][i], frames.clock[f] if frames.clock else None)
        images.append(img)
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], loop=0,
                   duration=[max(20, round(d)) for d in frames.durations_ms], optimize=False)
    return buf.getvalue()


def _norm_image(norms: Sequence[Sequence[float]], panel: _Panel) -> Image.Image:
    """The state-norm heatmap drawn on the panel's cell geometry (Cividis, low = dark)."""
    flat = [v for row in norms for v in row]
    lo, hi = min(flat), max(flat)
    img = Image.new("RGB", panel.dim.size, "white")
    draw = ImageDraw.Draw(img)
    for layer, row in enumerate(norms):
        for t, v in enumerate(row):
            colour = sample_colorscale("Cividis", [(v - lo) / (hi - lo) if hi > lo else 0.5])[0]
            draw.rectangle(panel._box(layer, t, t + 1), fill=_rgb(colour))
    return img


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
    images = []
    for f in range(frames.n_frames):
        (a, b), clock = frames.windows[f][0], frames.clock[f] if frames.clock else None
        img = Image.new("RGB", (width, height), "white")
        draw = ImageDraw.Draw(img)
        head = f"Watch it run: {plan.mode}, {plan.n_tokens} tokens"
        if frames.slowdown:
            head += f" - measured{' on ' + device if device else ''}, {frames.slowdown:,.0f}x slower"
        _text(draw, (PAD, PAD), head, 16, "black")
        _text(draw, (PAD, height - PAD - 12), f"frame {f + 1} of {frames.n_frames}", 12, "#777")
        grid.draw(img, draw, a, b, clock)
        states.draw(img, draw, a, b, None)
        draw.rectangle((states.x0, states.y0 - HEADER, states.x0 + PANEL_W, states.y0 - 2), fill="white")
        _text(draw, (states.x0, states.y0 - HEADER + 2), "state norm per layer", 13, "black")
        _draw_bars(draw, bars_x, top - HEADER, token_labels, top_next, grid.progress.window(a, b)[-1][1])
        images.append(img)
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], loop=0,
                   duration=[max(20, round(d)) for d in frames.durations_ms], optimize=False)
    return buf.getvalue()


def _draw_bars(draw, x0: int, y0: int, labels, top_next, n_done: int) -> None:
    """The next-token guesses after the newest token whose top layer is done."""
    if n_done == 0:
        _text(draw, (x0, y0 + 2), "waiting for a top layer...", 13, "#444")
        return
    t = n_done - 1
    _text(draw, (x0, y0 + 2), f"after token {t}: {labels[t]}", 13, "black")
    for i, (label, p) in enumerate(top_next[t]):
        y = y0 + HEADER + i * 22
        draw.rectangle((x0, y, x0 + round(150 * p), y + 16), fill=_rgb("#0072B2"))
        _text(draw, (x0 + round(150 * p) + 4, y + 1), f"{label} {p:.0%}", 12, "black")
