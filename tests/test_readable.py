"""Readable on a projector and a phone (issue 19 items 4, 5): classroom mode enlarges the charts
with the text on every page, titles wrap and never sit under a legend, probability axes stay
readable for a flat distribution over a big vocabulary, and every chart carries alt text."""
from __future__ import annotations

import json
import re

import plotly.graph_objects as go
import pytest
import torch
from app_helpers import ENTRY, stepped_session
from streamlit.testing.v1 import AppTest

from app import explorer_core as ec
from app import style
from rwkv_core.sampling import SamplingSettings, sample
from visuals import probabilities, theme, tokens

APP = ENTRY


def fonts(node) -> list[float]:
    """Every font size in a figure's plain data."""
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k.endswith("font") and isinstance(v, dict) and isinstance(v.get("size"), (int, float)):
                out.append(v["size"])
            out += fonts(v)
    elif isinstance(node, list):
        for v in node:
            out += fonts(v)
    return out


def d3_percent(value: float, fmt: str) -> str:
    """What plotly's d3 format ".N%" prints for `value`."""
    decimals = int(re.fullmatch(r"\.(\d+)%", fmt).group(1))
    return f"{value * 100:.{decimals}f}%"


# --- classroom mode: larger type in the charts ----------------------------------------------------

def test_presenter_scales_every_font_and_keeps_the_original():
    fig = theme.figure([go.Bar(x=[1, 2], y=[3, 4], text=["a", "b"], textfont=dict(size=14), name="a"),
                        go.Bar(x=[1, 2], y=[2, 1], name="b")], title="A title", caption="c",
                       x_title="x", y_title="y", annotations=[dict(text="note", x=1, y=1, font=dict(size=15))])
    before = json.dumps(fig.to_dict(), default=str)
    big = theme.presenter(fig)
    assert json.dumps(fig.to_dict(), default=str) == before            # the (maybe cached) figure is untouched
    small, large = fonts(fig.to_dict()), fonts(big.to_dict())
    assert len(small) == len(large) >= 4                               # layout, title, bar text, annotation
    assert all(b == pytest.approx(a * theme.CLASSROOM_SCALE, abs=0.1) for a, b in zip(small, large))
    assert big.layout.font.size > 22 and big.layout.title.font.size > 28
    assert big.layout.uniformtext.minsize > theme.MIN_TEXT
    assert big.layout.height > fig.layout.height and big.layout.margin.t > fig.layout.margin.t
    assert theme.presenter(big).layout.font.size == big.layout.font.size   # never enlarged twice


def test_display_spec_wraps_a_long_title_and_makes_room_for_it():
    long = "Layer 3, channel 12: wkv = 0.1234, a weighted average of v (w = 0.123, u = -0.456) over &lt;b&gt;"
    fig = theme.figure([go.Scatter(x=[0, 1], y=[0, 1])], title=long, caption="c")
    spec = theme.display_spec(fig.to_dict())
    lines = spec["layout"]["title"]["text"].split("<br>")
    assert len(lines) == 2 and all(len(theme.visible_text(s)) <= theme.TITLE_CHARS for s in lines)
    assert theme.visible_text(" ".join(lines)) == theme.visible_text(long)     # nothing lost, entities whole
    assert spec["layout"]["margin"]["t"] >= theme.top_margin(spec["layout"]["title"]["text"], 0, theme.FONT_SIZE)
    assert spec["layout"]["title"]["xanchor"] == "left"                # cut, if ever, at one end only
    big = theme.display_spec(fig.to_dict(), classroom=True)
    assert len(big["layout"]["title"]["text"].split("<br>")) > len(lines)   # larger letters, shorter lines


def test_a_legend_gets_its_own_rows_under_the_title():
    labels = {i: f"t{i}" for i in range(50)}
    p = torch.softmax(torch.randn(50, generator=torch.Generator().manual_seed(0)), 0)
    fig = probabilities.compare_bars(labels, p, p.flip(0), ("state as it was", "edited state"), title="T")
    rows = theme._legend_rows(fig.data, {}, theme.FONT_SIZE)
    assert rows == 1
    # the title's line, then one legend row: the legend (anchored just above the plot) stays below the title
    title_px = 12 + (theme.FONT_SIZE + 4) * 1.3
    assert fig.layout.margin.t >= title_px + rows * theme.FONT_SIZE * 1.5
    assert fig.layout.legend.yanchor == "bottom" and fig.layout.title.yref == "container"
    many = theme.figure([go.Scatter(x=[0], y=[0], name=f"a long model name {i}") for i in range(8)],
                        title="T", caption="c")
    assert many.layout.margin.t > fig.layout.margin.t                 # more names, more rows, more room
    # past one row plotly gives every entry the widest one's width: one long name makes a row per entry
    names = ["RWKV-4", "GPT", "stacked LSTM", "N = 4", "N = 8", "N = 16"]
    traces = [go.Scatter(x=[0], y=[0], name=n) for n in names]
    widest = len("stacked LSTM") * theme.FONT_SIZE * 0.6 + 45
    assert theme._legend_rows(traces, {}, theme.FONT_SIZE, width=widest * 1.5) == len(names)
    assert theme._legend_rows(traces, {}, theme.FONT_SIZE, width=widest * 3) == 2
    assert theme._legend_rows(traces, {}, theme.FONT_SIZE, width=10_000) == 1


# --- probability axes for a flat distribution -------------------------------------------------------

@pytest.mark.parametrize("top", [0.9, 0.2, 0.05, 0.004, 2e-4, 3e-5])
def test_percent_ticks_differ_and_are_never_all_zero(top):
    fmt = theme.percent_format(top)
    step = top / 4                     # plotly puts ~5 ticks on the axis: 0 … top
    ticks = [d3_percent(i * step, fmt) for i in range(5)]
    assert len(set(ticks)) == 5, ticks
    assert re.fullmatch(r"0(\.0+)?%", ticks[-1]) is None


def test_flat_distribution_over_50k_tokens_reads_on_the_axis_and_bars():
    V = 50277
    logits = torch.randn(V, generator=torch.Generator().manual_seed(1)) * 0.3     # nearly flat
    probs = torch.softmax(logits, 0)
    smp = sample(logits, SamplingSettings(), torch.Generator().manual_seed(0))
    fig = probabilities.next_token_bars(smp.probs, smp.raw_probs, {}, smp.token, smp.entropy_bits)
    top = float(probs.max())
    assert top < 1e-3                                                  # every token under 0.1%
    fmt = fig.layout.xaxis.tickformat
    assert fmt != ".0%" and d3_percent(top, fmt) != d3_percent(0, fmt)
    assert all(not re.fullmatch(r"0\.0+%", t) for t in fig.data[0].text)   # bar labels: 0.0021%, not 0.0%
    assert theme.percent(2.1e-5) == "0.0021%" and theme.percent(0.25) == "25.0%"


# --- alt text ----------------------------------------------------------------------------------------

def test_alt_text_says_what_a_figure_shows():
    s = stepped_session()
    fig, _ = ec.fig_next_token(s, SamplingSettings(), 0)
    alt = theme.alt_text(fig)
    assert alt.startswith(theme.visible_text(fig.layout.title.text))
    assert "Axes: probability and token (id)" in alt and "12 bars" in alt and "x 0" in alt
    heat = theme.alt_text(ec.fig_state_heatmaps(s, 0))
    assert "heatmap" in heat and re.search(r"\d+×\d+", heat)
    strip = tokens.token_strip(["<b>x</b>"], [5], 1)
    assert "<b>" not in theme.alt_text(strip) and len(theme.alt_text(strip)) <= 400


# --- the app: one classroom switch for every page, alt text on every chart -----------------------------

def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def chart_specs(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def classroom_css(at) -> list:
    return [h for h in at.get("html") if "stSidebar" in h.proto.body]


def test_classroom_link_enlarges_the_explorer_and_survives_page_changes():
    at = AppTest.from_file(APP, default_timeout=180)
    at.switch_page("app_pages/explorer.py")
    at.query_params["classroom"] = "1"
    run(at)
    assert at.toggle(key=style.TOGGLE).value is True and classroom_css(at)
    specs = chart_specs(at)
    assert specs and all(s["layout"]["font"]["size"] == pytest.approx(theme.FONT_SIZE * theme.CLASSROOM_SCALE,
                                                                      abs=0.1) for s in specs)
    alts = [c.proto.alt for c in at.get("plotly_chart")]
    assert all(a and a.startswith(theme.visible_text(s["layout"]["title"]["text"]).split(" ")[0])
               for a, s in zip(alts, specs))
    # tables grow with the text: the sampling table is an HTML table here, a canvas dataframe otherwise
    assert any("p at T = 1, unfiltered" in str(t.proto) for t in at.get("table"))
    run(at.switch_page("app_pages/home.py"))
    assert classroom_css(at) and at.toggle(key=style.TOGGLE).value is True
    run(at.switch_page("app_pages/lessons.py"))                       # the Lessons' own toggle follows
    assert at.toggle(key=style.LESSONS_KEY).value is True and classroom_css(at)
    at.toggle(key=style.LESSONS_KEY).set_value(False)
    run(at)
    assert not classroom_css(at)
    run(at.switch_page("app_pages/explorer.py"))                       # and off everywhere
    assert at.toggle(key=style.TOGGLE).value is False and not classroom_css(at)
    assert all(s["layout"]["font"]["size"] == theme.FONT_SIZE for s in chart_specs(at))
    # the sampled token's table is an HTML table in both modes (widgets.table(html=True): cheap to redraw on a Step)
    assert any("p at T = 1, unfiltered" in str(t.proto) for t in at.get("table"))


def test_the_toggle_turns_classroom_mode_on_and_writes_the_link():
    at = AppTest.from_file(APP, default_timeout=180)
    run(at)
    assert at.toggle(key=style.TOGGLE).value is False and not classroom_css(at)
    assert any("@media (max-width: 640px)" in h.proto.body for h in at.get("html"))   # the phone layout, always
    at.toggle(key=style.TOGGLE).set_value(True)
    run(at)
    assert classroom_css(at) and at.query_params.get("classroom") in ("1", ["1"])
    at.toggle(key=style.TOGGLE).set_value(False)
    run(at)
    assert not classroom_css(at) and "classroom" not in at.query_params


def test_widgets_table_is_html_and_escaped_in_classroom_mode(monkeypatch):
    def page():
        from app import widgets
        widgets.table({"token": ["**x**", "[a](b)"], "p": [0.5, 0.25]}, classroom=True)
        widgets.table({"token": ["**x**"]}, classroom=False)

    at = AppTest.from_function(page, default_timeout=60)
    run(at)
    assert len(at.table) == 1 and len(at.dataframe) == 1
    cells = at.table[0].value["token"].tolist()
    assert cells == [r"\*\*x\*\*", r"\[a\]\(b\)"]
    assert at.table[0].value["p"].tolist() == ["50.0%", "25.0%"]     # one precision per quantity (app/formats.py)


def test_panel_titles_of_several_lines_sit_between_the_title_and_the_plot():
    from plotly.subplots import make_subplots
    fig = make_subplots(rows=1, cols=2, subplot_titles=["rnn: 42 steps<br><sup>42 product steps</sup><br>x", "b"])
    fig = theme.style(fig, title="6 layers × 7 tokens", caption="c")
    title_px = 12 + (theme.FONT_SIZE + 4) * 1.3
    assert fig.layout.margin.t >= title_px + 3 * theme.FONT_SIZE * 1.3   # three lines of panel title


def test_a_wrapped_title_is_moved_down_into_the_figure():
    # plotly lifts a top-anchored title of several lines by ~0.7 em (measured in Chromium)
    fig = theme.figure([go.Scatter(x=[0], y=[0])], title="word " * 30, caption="c")
    spec = theme.display_spec(fig.to_dict())
    t = spec["layout"]["title"]
    assert "<br>" in t["text"] and t["pad"]["t"] >= 10 + 0.7 * t["font"]["size"]
    short = theme.display_spec(theme.figure([go.Scatter(x=[0], y=[0])], title="short", caption="c").to_dict())
    assert short["layout"]["title"]["pad"]["t"] == 10


def test_a_subtitle_keeps_its_own_line():
    fig = theme.figure([go.Scatter(x=[0], y=[0])], caption="c",
                       title="What the current token's WKV averages over (mean over channels)"
                             "<br><sup>WKV rebuilt from these weights = recorded WKV, max |diff| 2.9e-07</sup>")
    lines = theme.display_spec(fig.to_dict())["layout"]["title"]["text"].split("<br>")
    assert lines[-1].startswith("<sup>") or lines[-2].startswith("<sup>")
    assert not any("channels) <sup>" in line for line in lines)


def test_a_tag_broken_across_lines_is_closed_and_opened_again():
    text = theme.wrap_title("<sup>WKV rebuilt from these weights = recorded WKV, max |diff| 2.9e-07</sup> and &lt;b&gt;", 20)
    for line in text.split("<br>"):
        assert line.count("<sup>") == line.count("</sup>"), text
    assert theme.visible_text(text) == theme.visible_text("WKV rebuilt from these weights = recorded WKV, "
                                                           "max |diff| 2.9e-07 and &lt;b&gt;")


def test_twelve_layers_get_twelve_colours():
    from visuals import states
    norms = torch.rand(12, 5)
    fig = states.state_norm_lines(norms, [f"{i}:t" for i in range(5)])
    colours = [tr.line.color for tr in fig.data]
    assert len(set(colours)) == 12
    six = states.state_norm_lines(torch.rand(6, 5), [f"{i}:t" for i in range(5)])
    assert [tr.line.color for tr in six.data] == theme.SEQUENCE[:6]          # small models keep the palette
