"""The slide exports (visuals/export.py): a GIF light enough to mail (one shared palette, only the
changed pixels written after the first frame) that shows every frame in the plan's own colours, and an
HTML file that uses no private part of plotly, in Python or in its step buttons' script."""
from __future__ import annotations

import ast
import io
import json
import re
from pathlib import Path

from PIL import Image

from rwkv_core.schedule import plan as make_plan
from visuals import export
from visuals import frames as vf
from visuals import schedule as vs

EXPORT_SOURCE = Path(export.__file__).read_text()


def lab_plans(L: int, T: int, chunk: int):
    """What the Scheduling Lab exports for an RWKV-4: its three schedules side by side."""
    return [make_plan("rnn", n_layer=L, n_tokens=T), make_plan("cascade", n_layer=L, n_tokens=T, chunk=chunk),
            make_plan("parallel", n_layer=L, n_tokens=T)]


def test_gif_of_a_6_by_128_grid_is_under_500_kib():
    plans = lab_plans(6, 128, 16)
    gif = export.schedule_gif(plans)            # at most 120 frames, as the Lab makes it
    assert len(gif) <= 500 * 1024, f"{len(gif) / 1024:.0f} KiB"
    img = Image.open(io.BytesIO(gif))
    want = vf.step_frames([p.n_steps for p in plans], max_frames=120)
    assert img.n_frames == want.n_frames        # no frame merged away by the smaller encoding


def test_gif_last_frame_shows_every_cell_in_its_steps_colour():
    """After the last frame every cell has run: each one is its step's colour (running now, outlined)
    or that colour dimmed, within the nearest-palette-colour error of a long plan (one scale step)."""
    plan = make_plan("cascade", n_layer=3, n_tokens=8, chunk=2)      # 6 steps: exact colours
    img = Image.open(io.BytesIO(export.schedule_gif([plan], frame_ms=50)))
    img.seek(img.n_frames - 1)
    rgb = img.convert("RGB")
    top = export.PAD + 22 + export.HEADER
    tw = export.PANEL_W / plan.n_tokens
    for s, cells in enumerate(plan.steps):
        bright = export._rgb(vf.step_colour(s, plan.n_steps))
        for c in cells:
            x = round(export.PAD + (c.start + 0.5) * tw)
            y = top + (plan.n_layer - 1 - c.layer) * export.ROW_H + export.ROW_H // 2
            assert rgb.getpixel((x, y)) in (bright, export._dim(bright)), (s, c)


def test_gif_long_plan_colours_stay_near_the_scale():
    """A 768-step rnn has more colours than a GIF palette: each is drawn in a near neighbour."""
    plan = make_plan("rnn", n_layer=6, n_tokens=128)
    img = Image.open(io.BytesIO(export.schedule_gif([plan], max_frames=20)))
    img.seek(img.n_frames - 1)
    rgb = img.convert("RGB")
    top = export.PAD + 22 + export.HEADER
    tw = export.PANEL_W / plan.n_tokens
    worst = 0
    for s in range(0, plan.n_steps - 8, 37):             # cells that ran before the last frame: dimmed
        c = plan.steps[s][0]
        want = export._dim(export._rgb(vf.step_colour(s, plan.n_steps)))
        got = rgb.getpixel((round(export.PAD + (c.start + 0.5) * tw),
                            top + (plan.n_layer - 1 - c.layer) * export.ROW_H + export.ROW_H // 2))
        worst = max(worst, max(abs(a - b) for a, b in zip(got, want)))
    assert worst <= 12, worst


def test_gif_titles_are_plain_text():
    lines = export._plain_lines(vs.plan_title(make_plan("cascade", n_layer=6, n_tokens=128, chunk=16)))
    assert len(lines) == 2 and not any("<" in line or "&" in line for line in lines)
    assert lines[0].startswith("cascade (chunk 16)")


def test_html_step_buttons_use_plotly_public_api_only():
    fig = vs.grid_figure(lab_plans(3, 5, 2))
    html = export.figure_html(fig, title="t")
    script = export._STEP_SCRIPT
    assert not re.search(r"gd\._|_transitionData|_fullLayout|_frames", script)
    names = json.loads(re.search(r"var names = (\[.*?\]);", html).group(1))
    assert names == [str(f.name) for f in fig.frames] == [str(i) for i in range(15)]


def test_export_reads_no_private_attribute():
    """Only our own helpers' underscored names (the panel's _box) are read in visuals/export.py; plotly's
    figure is read through fig.frames and to_html."""
    private = {n.attr for n in ast.walk(ast.parse(EXPORT_SOURCE))
               if isinstance(n, ast.Attribute) and n.attr.startswith("_") and not n.attr.startswith("__")}
    assert private <= {"_box"}, private
