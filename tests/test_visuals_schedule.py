"""The Scheduling Lab's figures against the engine's plans: every frame lights exactly the cells of
its step, the drawn dependencies and critical paths are the plan's, replays take their frame
durations from measured step times, the exports hold every frame. The timing path (benchmark
records, runs on the real embedded model) is tests/test_visuals_timing.py."""
import io
import json
import math
import re

import pytest
from PIL import Image

from app import scheduling_core as sc
from lab.kinds import KINDS
from rwkv_core.schedule import plan as make_plan
from visuals import architecture, export
from visuals import frames as vf
from visuals import schedule as vs
from visuals.theme import RED_LINE


def plans_for(L, T, chunk):
    """The classic red-line RNN's plan beside RWKV's cascade and layer-parallel plans."""
    return [make_plan("rnn", n_layer=L, n_tokens=T, deps=KINDS["redline"].deps),
            make_plan("cascade", n_layer=L, n_tokens=T, chunk=chunk),
            make_plan("parallel", n_layer=L, n_tokens=T)]


def rect_cells(xs, ys) -> set[tuple[int, int]]:
    """The (layer, token) cells covered by a polygon trace of rectangles (x, y with None between)."""
    cells, pts = set(), []
    for x, y in zip(list(xs) + [None], list(ys) + [None]):
        if x is not None:
            pts.append((x, y))
            continue
        if pts:
            x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
            y0 = min(p[1] for p in pts)
            layer = round(y0 + 0.5)
            cells |= {(layer, t) for t in range(round(x0 + 0.5), round(x1 + 0.5))}
            pts = []
    return cells


def step_cells(plan, steps) -> set[tuple[int, int]]:
    return {(c.layer, t) for s in steps if s < plan.n_steps for c in plan.steps[s] for t in range(c.start, c.stop)}


def json_frames(fig) -> list[dict]:
    """The frames as the browser gets them (grid_figure hands its frames over unvalidated)."""
    return fig.to_plotly_json()["frames"]


def frame_panels(frame, n_panels):
    """Per panel: (pending cells, running cells, counter text) of one frame as sent (a dict)."""
    data = frame["data"]
    assert len(data) == 3 * n_panels
    return [(rect_cells(data[3 * i]["x"], data[3 * i]["y"]),
             rect_cells(data[3 * i + 1]["x"], data[3 * i + 1]["y"]),
             data[3 * i + 2]["text"][0]) for i in range(n_panels)]


# --- frames follow the plan -----------------------------------------------------------------

@pytest.mark.parametrize("L,T,chunk", [(6, 25, 4), (3, 7, 1), (4, 10, 3), (2, 5, 512)])
def test_frame_s_lights_exactly_step_s(L, T, chunk):
    plans = plans_for(L, T, chunk)
    fig = vs.grid_figure(plans)
    assert len(fig.frames) == L * T                          # one frame per step of the longest plan
    for f, frame in enumerate(json_frames(fig)):
        for plan, (pending, running, text) in zip(plans, frame_panels(frame, 3)):
            assert running == step_cells(plan, [f])
            assert pending == step_cells(plan, range(f + 1, plan.n_steps))
            assert (f"step {f + 1} of {plan.n_steps}" in text) if f < plan.n_steps else text.startswith("done")


def test_initial_figure_is_frame_zero_and_at_frame_shows_that_frame():
    plans = plans_for(3, 6, 2)
    for at in (0, 4):
        fig = vs.grid_figure(plans, at_frame=at)
        running = [tr for tr in fig.data if tr.name == "running now"]
        assert [rect_cells(tr.x, tr.y) for tr in running] == [step_cells(p, [at]) for p in plans]
        assert fig.layout.sliders[0].active == at


def test_long_plans_show_several_steps_per_frame():
    plans = plans_for(6, 128, 16)                             # rnn: 768 steps > 400 frames
    fig = vs.grid_figure(plans)
    assert len(fig.frames) == 384
    assert "2 steps per frame" in fig.layout.title.text
    for f in (0, 1, 200, 383):
        for plan, (_, running, _) in zip(plans, frame_panels(json_frames(fig)[f], 3)):
            assert running == step_cells(plan, [2 * f, 2 * f + 1])


@pytest.mark.parametrize("L,T,chunk", [(6, 25, 4), (3, 7, 1)])
def test_frames_carry_only_what_changes_and_play_the_same_plan(L, T, chunk):
    """A frame updates the animated traces by index with their values only (covers' outlines, the
    running cells' colour, the counter's text); the styles stay in the figure's own traces. Applied
    as plotly.js applies them, every frame shows the plan's cells in their step's colour."""
    plans = plans_for(L, T, chunk)
    fig = vs.grid_figure(plans)
    spec = json.loads(fig.to_json())
    names = [tr.get("name") for tr in spec["data"]]
    for frame in spec["frames"]:
        assert [names[i] for i in frame["traces"]] == ["pending", "running now", "counter"] * 3
        assert [set(d) - {"type"} for d in frame["data"]] == [{"x", "y"}, {"x", "y", "fillcolor"}, {"text"}] * 3
    for f, frame in enumerate(spec["frames"]):
        shown = [dict(spec["data"][i], **d) for i, d in zip(frame["traces"], frame["data"])]  # plotly.js's merge
        for p, plan in enumerate(plans):
            pending, running = shown[3 * p], shown[3 * p + 1]
            assert pending["fillcolor"] == vf.PENDING and running["line"] == {"color": "black", "width": 2}
            if f < plan.n_steps:
                assert running["fillcolor"] == vf.step_colour(f, plan.n_steps)
                assert rect_cells(running["x"], running["y"]) == step_cells(plan, [f])


def test_frames_are_smaller_than_full_traces():
    plans = plans_for(6, 24, 4)
    spec = json.loads(vs.grid_figure(plans).to_json())
    frame_bytes = len(json.dumps(spec["frames"]))
    full = sum(len(json.dumps([dict(spec["data"][i], **d) for i, d in zip(fr["traces"], fr["data"])]))
               for fr in spec["frames"])
    assert frame_bytes < 0.6 * full, (frame_bytes, full)


def test_stacked_grid_puts_one_panel_per_row_with_the_same_frames():
    plans = plans_for(4, 10, 3)
    wide, narrow = vs.grid_figure(plans), vs.grid_figure(plans, stacked=True)
    lay = narrow.layout
    assert all(lay[f"xaxis{'' if i == 1 else i}"].domain == (0.0, 1.0) for i in (1, 2, 3))
    rows = sorted(lay[f"yaxis{'' if i == 1 else i}"].domain for i in (1, 2, 3))
    assert all(a[1] < b[0] for a, b in zip(rows, rows[1:]))              # one under another, not overlapping
    assert narrow.layout.height > wide.layout.height
    assert json.loads(narrow.to_json())["frames"] == json.loads(wide.to_json())["frames"]
    # narrow: the speed buttons on their own line under play (beside it they pushed the plot's right
    # margin out, and on a 390 px phone the plot shrank to 65 px)
    play, speed = narrow.layout.updatemenus
    assert play.x == speed.x == 0 and speed.y < play.y and narrow.layout.sliders[0].y <= speed.y
    assert wide.layout.updatemenus[1].x > 0 and wide.layout.updatemenus[1].y == wide.layout.updatemenus[0].y


def test_a_chunk_longer_than_the_text_is_named_in_the_title():
    plan = make_plan("cascade", n_layer=6, n_tokens=15, chunk=16)
    assert "chunk 16, capped at 15 by the 15 tokens" in vs.plan_title(plan, 16)
    assert "capped" not in vs.plan_title(plan, 8) and "capped" not in vs.plan_title(plan)


@pytest.mark.parametrize("L,T,chunk", [(6, 25, 4), (12, 512, 32), (1, 1, 1), (24, 100, 7), (6, 256, 512)])
def test_step_counts(L, T, chunk):
    counts = sc.step_counts(L, T, chunk)
    assert counts == {"rnn": L * T, "cascade": L + -(-T // chunk) - 1, "parallel": L}
    for plan in plans_for(L, T, chunk):
        assert plan.n_steps == counts[plan.mode]
        assert f"= {counts[plan.mode]} steps" in vs.plan_title(plan)


def test_chunk_changes_the_cascade_panel():
    a, b = (vs.grid_figure(plans_for(6, 40, c)) for c in (4, 16))
    assert "= 15 steps" in a.layout.annotations[1].text and "= 8 steps" in b.layout.annotations[1].text
    boundaries = [tr for tr in b.data if tr.name == "chunk boundaries"][0]
    assert sorted({x for x in boundaries.x if x is not None}) == [15.5, 31.5]


# --- dependencies and the critical path -----------------------------------------------------

@pytest.mark.parametrize("focus", [(0, 0), (0, 5), (2, 9), (3, 4)])
def test_dependency_arrows_and_critical_path_are_the_plans(focus):
    plans = plans_for(4, 10, 3)
    fig = vs.grid_figure(plans, focus=focus)
    paths = [tr for tr in fig.data if tr.name == "critical path"]
    for i, plan in enumerate(plans):
        xref = "x" if i == 0 else f"x{i + 1}"
        cell = plan.cell_at(*focus)
        arrows = {((a.ax, a.ay), (a.x, a.y), a.arrowcolor) for a in fig.layout.annotations
                  if a.showarrow and a.xref == xref}
        want = {(vs.centre(d), vs.centre(cell), RED_LINE if (plan.deps.red_line and d.layer == plan.n_layer - 1
                                                                 and cell.layer == 0) else "black")
                for d in plan.dependencies(cell)}
        assert arrows == want
        path = plan.critical_path(cell)
        assert list(zip(paths[i].x, paths[i].y)) == [vs.centre(c) for c in path]
        # the path is as long as the steps it waits for: every step before the cell's, plus its own
        assert len(path) == plan.step_of(cell) + 1
        focus_box = [s for s in fig.layout.shapes if s.name == "focus" and s.xref == xref][0]
        assert (focus_box.x0, focus_box.x1) == (cell.start - 0.5, cell.stop - 0.5)


def test_red_line_only_in_the_rnn_panel():
    fig = vs.grid_figure(plans_for(3, 6, 2), focus=(0, 3))
    red = [a for a in fig.layout.annotations if a.showarrow and a.arrowcolor == RED_LINE]
    assert [a.xref for a in red] == ["x"]
    lines = [tr for tr in fig.data if tr.name == "the red line"]
    assert len(lines) == 1 and sum(x is None for x in lines[0].x) == 5   # T - 1 links


# --- measured replays -----------------------------------------------------------------------

def test_measured_replay_frame_durations():
    steps = [0.001 * (i % 3 + 1) for i in range(12)]
    frames = vf.measured_frames(steps, slowdown=1000)
    assert frames.durations_ms == pytest.approx([s * 1000 * 1000 for s in steps])   # x slowdown, in ms
    plan = make_plan("cascade", n_layer=4, n_tokens=27, chunk=3)          # 4 + 9 - 1 = 12 steps
    fig = vs.grid_figure([plan], frames=frames, device="test device")
    play = fig.layout.updatemenus[0].buttons[0]
    assert [o["duration"] for o in play.args[1]["frame"]] == pytest.approx(list(frames.durations_ms))
    assert "1,000× slower than measured on test device" in fig.layout.title.text
    assert frame_panels(json_frames(fig)[-1], 1)[0][2].endswith(f"{sum(steps) * 1000:.2f} ms")


def test_race_frames_share_one_clock():
    fast, slow = [0.001] * 6, [0.0005] * 60                        # 6 ms and 30 ms in all
    frames = vf.race_frames([fast, slow], slowdown=200)
    fast_done = next(f for f, w in enumerate(frames.windows) if w[0][0] == 6)   # first frame with nothing left
    assert fast_done / frames.n_frames == pytest.approx(6 / 30, abs=0.05)
    assert frames.windows[-1][0] == (6, 6) and frames.windows[-1][1] == (59, 60)   # the slow one ends last
    for w0, w1 in zip(frames.windows, frames.windows[1:]):                         # time only moves on
        assert all(a0 <= a1 and b0 <= b1 for (a0, b0), (a1, b1) in zip(w0, w1))
    assert all(d == frames.durations_ms[0] for d in frames.durations_ms)
    assert frames.durations_ms[0] * frames.n_frames == pytest.approx(30 * 200, rel=0.01)


def test_nice_slowdown():
    assert vf.nice_slowdown(0.008, 8) == 1000
    assert vf.nice_slowdown(4, 8) == 2
    assert vf.nice_slowdown(0.03, 8) in (200, 500)


# --- exports --------------------------------------------------------------------------------

@pytest.mark.parametrize("L,T,chunk,max_frames", [(3, 5, 2, 120), (6, 40, 8, 50)])
def test_gif_has_one_image_per_frame(L, T, chunk, max_frames):
    plans = plans_for(L, T, chunk)
    want = vf.step_frames([p.n_steps for p in plans], max_frames=max_frames)
    gif = Image.open(io.BytesIO(export.schedule_gif(plans, max_frames=max_frames, frame_ms=90)))
    assert gif.n_frames == want.n_frames == math.ceil(L * T / want.steps_per_frame)
    gif.seek(1)
    assert gif.info["duration"] == 90


def test_gif_at_measured_speed():
    plans = plans_for(2, 4, 2)
    frames = vf.race_frames([[0.01] * p.n_steps for p in plans], slowdown=5, max_frames=30)
    gif = Image.open(io.BytesIO(export.schedule_gif(plans, frames=frames)))
    assert gif.n_frames == frames.n_frames
    assert gif.info["duration"] == round(frames.durations_ms[0])


def test_gif_pixels_follow_the_plan():
    """In the rnn panel after its first frame, layer 0 of token 0 is bright (running), the cell to
    its right pending grey."""
    plan = make_plan("rnn", n_layer=2, n_tokens=3)
    gif = Image.open(io.BytesIO(export.schedule_gif([plan], frame_ms=50)))
    img = gif.convert("RGB")
    top = export.PAD + 22 + export.HEADER
    row0 = top + export.ROW_H * 1 + export.ROW_H // 2             # layer 0 is drawn at the bottom
    tw = export.PANEL_W / 3
    running = img.getpixel((round(export.PAD + tw / 2), row0))
    pending = img.getpixel((round(export.PAD + 1.5 * tw), row0))
    assert running == export._rgb(vf.step_colour(0, plan.n_steps))
    assert pending == export._rgb(vf.PENDING)


def test_html_is_self_contained():
    fig = vs.grid_figure(plans_for(3, 5, 2))
    html = export.figure_html(fig, title="a <test>")
    assert not re.search(r"<script[^>]+src=", html)           # nothing fetched from elsewhere
    assert "plotly.js v" in html or "Plotly" in html[:4_000_000]
    assert len(html) > 3_000_000                                # the library itself is inside
    assert "&lt;test&gt;" in html and "step \\u25b6" in html
    assert html.count('"name":"14"') >= 1 and '"name":"15"' not in html   # 15 frames: 0 … 14


# --- the article's pictures -----------------------------------------------------------------

def test_architecture_pictures():
    rnn = architecture.classic_rnn(n_layer=3, n_tokens=5)
    assert sum(a.name == "red line" for a in rnn.layout.annotations) == 4
    removed = architecture.remove_red_line(n_layer=3, n_tokens=5)
    assert sum(a.name == "red line" for a in removed.layout.annotations) == 0
    assert sum(tr.name.startswith("wave") for tr in removed.data) == 3 + 5 - 1
    gen = architecture.generic_model(tokens=["<b>", "x"], n_layer=2)
    texts = [a.text for a in gen.layout.annotations]
    assert "&lt;b&gt;" in texts and "<b>" not in texts
    block = architecture.rwkv_block()
    assert any("aa, bb, pp" in a.text for a in block.layout.annotations)


# --- model kinds: refused panels, sequential cells ------------------------------------------

@pytest.mark.parametrize("kind", ["rwkv4", "lstm", "redline"])
def test_each_kind_draws_its_own_dependencies_and_refusals(kind):
    from rwkv_core.schedule import Refusal, panels
    out = panels(KINDS[kind].deps, n_layer=4, n_tokens=12, chunk=3)
    plans = [p for p in out if not isinstance(p, Refusal)]
    refused = [p for p in out if isinstance(p, Refusal)]
    fig = vs.grid_figure(plans, refused=refused, focus=(0, 5))
    titles = [a.text for a in fig.layout.annotations if a.xref == "paper"]
    assert len(titles) == 3                                             # one panel per mode, in order
    for plan, title in zip(plans, titles):
        if plan.product_steps == plan.n_steps:   # every step is one product: the step count leads
            assert f"= {plan.n_steps} steps" in title.split("<br>")[0]
            assert f"{plan.product_steps:,} product steps" in title
        else:                                # an LSTM: the products in a row lead, the cell steps come second
            assert f"{plan.product_steps:,} products in a row" in title.split("<br>")[0]
            assert f"{plan.n_steps} steps of cells" in title.split("<br>")[1]
    red = [a for a in fig.layout.annotations if a.showarrow and a.arrowcolor == vs.RED_LINE]
    assert bool(red) == (kind == "redline")                            # the red line's arrow, only where it is
    assert [a for a in fig.layout.annotations if a.name == "refused reason"] == [] or kind == "redline"
    if kind == "redline":
        assert [r.mode for r in refused] == ["cascade", "parallel"]
        reasons = [a.text for a in fig.layout.annotations if a.name == "refused reason"]
        assert len(reasons) == 2 and all("red line" in r.replace("<br>", " ") for r in reasons)
        assert all("not possible" in t for t in titles[1:])
    ticks = [tr for tr in fig.data if tr.name == "sequential inside"]
    # the LSTM's multi-token cells (cascade chunk 3, parallel) are sequential inside; RWKV's are wide
    assert len(ticks) == (2 if kind == "lstm" else 0)
    if kind == "lstm":
        cascade_ticks = sum(x is None for x in ticks[0].x)
        assert cascade_ticks == 4 * (12 - 12 // 3)                      # every boundary inside a chunk, per layer
    assert fig.layout.title.text.endswith(KINDS[kind].title)


def test_critical_path_titles_tell_the_two_parts():
    """L·T for the red line; L + T − 1 at best for the LSTM; L for RWKV in parallel."""
    from rwkv_core.schedule import panels
    L, T = 6, 16
    def product(kind, mode, chunk=1):
        return next(p for p in panels(KINDS[kind].deps, n_layer=L, n_tokens=T, chunk=chunk)
                    if p.mode == mode).product_steps
    assert product("redline", "rnn") == L * T
    assert product("lstm", "cascade", 1) == L + T - 1 and product("lstm", "parallel") == L * T
    assert product("rwkv4", "parallel") == L


@pytest.mark.parametrize("kind", ["rwkv4", "redline"])
def test_the_token_axis_is_named_once_beside_the_buttons_and_details_can_go(kind):
    """Side by side, only the last panel names the token axis (the play and speed buttons sit under
    the first two); stacked, each does. details=False drops the product steps' line (the Lab prints
    it above the chart); the LSTM's critical-path line is never dropped."""
    from rwkv_core.schedule import Refusal, panels
    out = panels(KINDS[kind].deps, n_layer=3, n_tokens=8, chunk=2)
    plans = [p for p in out if not isinstance(p, Refusal)]
    refused = [p for p in out if isinstance(p, Refusal)]
    wide = vs.grid_figure(plans, refused=refused)
    axes = [wide.layout[f"xaxis{i + 1 if i else ''}"].title.text for i in range(len(out))]
    assert axes == [None] * (len(out) - 1) + ["token"]
    stacked = vs.grid_figure(plans, refused=refused, stacked=True)
    assert [stacked.layout[f"xaxis{i + 1 if i else ''}"].title.text for i in range(len(out))] == ["token"] * len(out)
    bare = vs.grid_figure(plans, refused=refused, details=False)
    panel_titles = [a.text for a in bare.layout.annotations if a.xref == "paper"][:len(plans)]
    assert not any("product steps" in t for t in panel_titles)
    assert any("product steps" in a.text for a in wide.layout.annotations if a.xref == "paper")
    lstm = [p for p in panels(KINDS["lstm"].deps, n_layer=3, n_tokens=8, chunk=2) if not isinstance(p, Refusal)]
    assert all("critical path" in a.text for a in vs.grid_figure(lstm, details=False).layout.annotations
               if a.xref == "paper" and "products in a row" in a.text)
