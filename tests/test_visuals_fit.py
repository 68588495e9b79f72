"""Figures that fit a phone and a projector (issue 27): token chips that hold a long token and a
5-digit id, speed buttons short enough for a 390 px phone, chart titles wrapped for a phone, and a
classroom chart no taller than a 1280 × 720 screen."""
from __future__ import annotations

import plotly.graph_objects as go

from rwkv_core.schedule import plan as make_plan
from visuals import frames as vf
from visuals import schedule as vs
from visuals import states, theme, timing, tokens
from visuals.theme import display_spec, figure, visible_text


def test_a_long_token_is_cut_on_its_chip_and_whole_on_hover():
    long = "␣extraordinarily"
    fig = tokens.token_strip(["To", long], [410, 50256], 1, per_row=tokens.PHONE_ROW)
    text = fig.data[0]
    assert text.text[1] == "␣extrao…<br><sub>50256</sub>"              # 8 characters with "…", then the id
    assert text.hovertext[1] == long                                    # the whole token on hover
    assert tokens.chip_text("short") == "short" and len(tokens.chip_text(long)) == tokens.MAX_CHARS
    assert fig.layout.margin.l <= 10 and fig.layout.margin.r <= 10      # no axes: the chips take the width
    assert fig.layout.xaxis.range == (-0.55, tokens.PHONE_ROW - 0.45)   # four to a row on a phone
    # the id is plotly's <sub> of the 16 px text: 70 %, at least 11 px
    assert theme.FONT_SIZE * 0.7 >= 11


def test_the_speed_buttons_are_short():
    plans = [make_plan(m, n_layer=2, n_tokens=6, chunk=2) for m in ("rnn", "cascade", "parallel")]
    fig = vs.grid_figure(plans, stacked=True)
    speed = fig.layout.updatemenus[1]
    labels = [b.label for b in speed.buttons]
    assert labels == ["speed ¼×", "½×", "1×", "2×", "4×"]
    assert sum(len(x) for x in labels) <= 20 and speed.font.size >= 11
    assert vf.speed_label(0.25, first=True) == "speed ¼×" and vf.speed_label(4) == "4×"


def test_a_classroom_chart_fits_one_screen():
    tall = figure([], title="A tall chart", caption="c", height=900)
    spec = display_spec(tall.to_dict(), classroom=True)
    assert spec["layout"]["height"] == theme.SCREEN_HEIGHT <= 720 - 64
    short = display_spec(figure([], title="A short chart", caption="c", height=200).to_dict(), classroom=True)
    assert short["layout"]["height"] < theme.SCREEN_HEIGHT
    assert display_spec(tall.to_dict())["layout"]["height"] > theme.SCREEN_HEIGHT    # only in classroom mode


def test_a_phone_wraps_titles_shorter():
    title = "Scaling with sequence length · CPU: AMD EPYC, 2 threads, measured here on this machine today"
    wide = display_spec(figure([], title=title, caption="c").to_dict())["layout"]["title"]["text"]
    phone = display_spec(figure([], title=title, caption="c").to_dict(),
                         title_chars=theme.PHONE_TITLE_CHARS)["layout"]["title"]["text"]
    assert all(len(visible_text(line)) <= theme.PHONE_TITLE_CHARS for line in phone.split("<br>"))
    assert phone.count("<br>") > wide.count("<br>")


def test_a_phone_legend_gets_the_rows_it_needs():
    fig = figure([go.Scatter(x=[1], y=[1], name=f"chunk {c}, 2 workers") for c in (1, 4, 16, 64)],
                 title="Scaling", caption="c")
    wide = display_spec(fig.to_dict())["layout"]
    phone = display_spec(fig.to_dict(), legend_width=theme.PHONE_LEGEND_WIDTH)["layout"]
    assert phone["margin"]["t"] > wide["margin"]["t"] and phone["height"] > wide["height"]


def test_log_axes_label_the_powers_of_ten_only():
    """The Lab's scaling charts: plotly's in-between labels (2, 5, 3 … 9) ran into each other."""
    recs = [{"shape": {"n_layer": 2}, "device": "cpu",
             "rows": []}]
    for fig in (timing.scaling_figure(recs), timing.chunk_figure(recs)):
        assert fig.layout.xaxis.dtick == 1 and fig.layout.yaxis.dtick == 1


def test_the_memory_chart_s_legend_sits_above_the_plot():
    """Inside the plot it covered the "now" label, and on a phone squeezed the plot to 60 px."""
    fig = states.state_vs_kv_cache([1, 10, 100], 30_720, {"GPT-2": [10, 100, 1000]}, 10)
    assert fig.layout.legend.orientation == "h" and fig.layout.legend.y >= 1


def test_panel_subtitles_are_not_raised_onto_the_title():
    """A panel title's second line is a 70 % span, not plotly's <sup>, whose raised baseline put it on
    the line above when a phone shows both at 11 px."""
    plan = make_plan("cascade", n_layer=2, n_tokens=6, chunk=2)
    title = vs.plan_title(plan, 16)
    assert "<sup>" not in title and title.count('<span style="font-size:70%">') == 2


def test_the_layer_lens_labels_have_room_above_the_highest_point():
    from visuals import lessons
    fig = lessons.layer_lens(["embed", "blocks.0.resid"], [10.0, 40.0], ["a", "doth"], [0.46, 0.00004])
    assert fig.data[0].cliponaxis is False and fig.layout.yaxis.range[1] >= 1.15 * 40
    assert fig.data[0].text[1].endswith("0.004%")                     # a small probability is not 0%
