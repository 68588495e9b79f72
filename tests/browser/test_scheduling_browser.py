"""The Scheduling Lab in a real browser: the grid animation plays (its frame slider advances after
▶ play), the chunk control changes the cascade's step count, "Run and time" finishes with equal
outputs, and "Watch it run" plays a recorded run of the embedded model to its last frame.

Plotly draws the animation in the page: a chart is found by its title, and its frame is read
from plotly's own state (the slider's `active` step, and the "frame N" label it shows above its rail)."""
from __future__ import annotations

import math
import re

import pytest
from streamlit_page import assert_no_exception, wait_idle

pytestmark = pytest.mark.browser

TIMEOUT_MS = 90_000

# the plotly chart whose title starts with `prefix`, as a JS expression (the graph div)
CHART_JS = ("[...document.querySelectorAll('.js-plotly-plot')].find(g => "
            "(g.querySelector('.gtitle')?.textContent || '').startsWith({prefix!r}))")





def chart_frame(page, prefix: str) -> dict:
    """The animation state of a chart: the slider's active step, the number of steps, the label."""
    return page.evaluate(f"""() => {{
        const g = {CHART_JS.format(prefix=prefix)};
        const s = g._fullLayout.sliders[0];
        return {{active: s.active, n: s.steps.length,
                 label: g.querySelector('.slider-group > .slider-label')?.textContent || ''}};
    }}""")


def wait_chart(page, prefix: str) -> None:
    page.wait_for_function(f"() => {{ const g = {CHART_JS.format(prefix=prefix)}; "
                           "return g && g._fullLayout && g._fullLayout.sliders && g._fullLayout.sliders.length; }",
                           timeout=TIMEOUT_MS)


def press_play(page, prefix: str) -> None:
    """Click the chart's own ▶ play button (plotly's updatemenu, drawn in SVG)."""
    page.evaluate(f"""() => {{
        const g = {CHART_JS.format(prefix=prefix)};
        g.scrollIntoView({{block: 'center'}});
    }}""")
    chart = page.locator(".js-plotly-plot").filter(
        has=page.locator(".gtitle", has_text=re.compile("^" + re.escape(prefix)))).first
    chart.locator(".updatemenu-button", has_text="▶ play").first.click()


def metric(page, label: str) -> int:
    box = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return int(box.locator('[data-testid="stMetricValue"]').inner_text().replace(",", ""))


def wait_metric(page, label: str, expected: int) -> None:
    for _ in range(int(TIMEOUT_MS / 250)):
        if metric(page, label) == expected:
            return
        page.wait_for_timeout(250)
    assert metric(page, label) == expected


@pytest.fixture
def lab(page, app_url):
    page.goto(app_url + "/scheduling_lab", timeout=TIMEOUT_MS)
    page.get_by_role("heading", name="Scheduling Lab").first.wait_for(timeout=TIMEOUT_MS)
    wait_idle(page, TIMEOUT_MS)
    assert_no_exception(page)
    return page


def grid_size(page) -> tuple[int, int]:
    L, rnn = metric(page, "parallel steps: L"), metric(page, "rnn steps: L·T")
    return L, rnn // L


def test_grid_animation_plays(lab):
    L, T = grid_size(lab)
    title = f"{L} layers × {T} tokens"
    wait_chart(lab, title)
    before = chart_frame(lab, title)
    assert before["active"] == 0 and before["label"].strip() == "frame 0"
    assert before["n"] == L * T if L * T <= 400 else before["n"] > 3          # one frame per rnn step
    press_play(lab, title)
    lab.wait_for_function(f"() => {CHART_JS.format(prefix=title)}._fullLayout.sliders[0].active >= 3",
                          timeout=TIMEOUT_MS)
    after = chart_frame(lab, title)
    assert after["active"] > 0 and after["label"].strip() != "frame 0", after
    assert_no_exception(lab)


def test_chunk_control_changes_the_step_count(lab):
    L, T = grid_size(lab)
    label = "cascade steps: L + ⌈T/chunk⌉ − 1"
    assert metric(lab, label) == L + math.ceil(T / 4) - 1                # the default chunk, 4
    chunk = lab.locator('[data-testid="stSlider"]').filter(has_text="Cascade chunk").get_by_role("slider")
    chunk.focus()
    for chunk_size in (8, 16):                                           # one notch right each
        chunk.press("ArrowRight")
        wait_idle(lab, TIMEOUT_MS)
        wait_metric(lab, label, L + math.ceil(T / chunk_size) - 1)
    title = f"{L} layers × {T} tokens"
    wait_chart(lab, title)
    subtitle = f"cascade (chunk 16): L + ⌈T/16⌉ − 1 = {L + math.ceil(T / 16) - 1} steps"
    lab.locator(".annotation-text", has_text=subtitle).first.wait_for(timeout=TIMEOUT_MS)   # the grid redrawn
    assert_no_exception(lab)


def test_run_and_time_shows_equal_outputs(lab):
    lab.get_by_role("button", name="Run and time").click()
    lab.get_by_text("Same outputs", exact=False).first.wait_for(timeout=TIMEOUT_MS)
    wait_idle(lab, TIMEOUT_MS)
    text = lab.get_by_text("Same outputs", exact=False).first.inner_text()
    assert "differ by at most" in text
    lab.locator(".gtitle", has_text=re.compile("^Whole forward pass")).first.wait_for(timeout=TIMEOUT_MS)
    assert lab.locator(".gtitle", has_text="replayed").count() >= 1       # the race at measured speed
    assert_no_exception(lab)


def test_watch_it_run_plays_to_its_end(lab):
    L, T = grid_size(lab)
    radio = lab.locator('[data-testid="stRadio"]').filter(has_text="Schedule").first
    radio.get_by_text("cascade", exact=True).click()
    wait_idle(lab, TIMEOUT_MS)
    lab.get_by_role("button", name="Record and watch").click()
    title = "Watch it run: cascade"
    lab.locator(".gtitle", has_text=re.compile("^" + re.escape(title))).first.wait_for(timeout=TIMEOUT_MS)
    wait_idle(lab, TIMEOUT_MS)
    wait_chart(lab, title)
    start = chart_frame(lab, title)
    assert start["n"] == L + math.ceil(min(T, 128) / 4) - 1 and start["active"] == 0
    press_play(lab, title)
    last = start["n"] - 1
    lab.wait_for_function(f"() => {CHART_JS.format(prefix=title)}._fullLayout.sliders[0].active === {last}",
                          timeout=TIMEOUT_MS)
    end = chart_frame(lab, title)
    assert end["active"] == last and end["label"].strip() == f"frame {last}", end
    assert_no_exception(lab)


KIND_LABELS = (("RWKV-4", "Same outputs, RWKV-4"), ("stacked LSTM", "Same outputs, stacked LSTM"),
               ("red-line RNN", "red-line RNN can run only one cell"))


def test_each_model_kind_plays_and_is_timed(lab):
    """Pick each kind: its grid (titled with the kind) plays, and Run and time finishes for it."""
    L, T = grid_size(lab)
    title = f"{L} layers × {T} tokens"
    kinds = lab.locator('[data-testid="stRadio"]').filter(has_text="Model kind").first
    for name, outcome in KIND_LABELS:
        kinds.get_by_text(name, exact=False).first.click()
        lab.wait_for_function(f"() => {{ const g = {CHART_JS.format(prefix=title)}; "
                              f"return g && g.querySelector('.gtitle').textContent.endsWith({name!r}); }}",
                              timeout=TIMEOUT_MS)
        wait_idle(lab, TIMEOUT_MS)
        wait_chart(lab, title)
        assert chart_frame(lab, title)["active"] == 0
        press_play(lab, title)
        lab.wait_for_function(f"() => {CHART_JS.format(prefix=title)}._fullLayout.sliders[0].active >= 3",
                              timeout=TIMEOUT_MS)
        if name == "red-line RNN":
            assert lab.get_by_text("not possible", exact=True).count() == 2          # cascade and parallel refused
        lab.get_by_role("button", name="Run and time").click()
        lab.get_by_text(outcome, exact=False).first.wait_for(timeout=TIMEOUT_MS)
        wait_idle(lab, TIMEOUT_MS)
        assert_no_exception(lab)


# --- deep links, light frames, a phone ------------------------------------------------------

def test_a_deep_link_opens_that_grid_and_the_address_follows_the_controls(page, app_url):
    page.goto(app_url + "/scheduling_lab?kind=rwkv4&L=3&T=20&chunk=8", timeout=TIMEOUT_MS)
    page.get_by_role("heading", name="Scheduling Lab").first.wait_for(timeout=TIMEOUT_MS)
    wait_idle(page, TIMEOUT_MS)
    assert grid_size(page) == (3, 20) and metric(page, "cascade steps: L + ⌈T/chunk⌉ − 1") == 3 + 3 - 1
    slider = page.locator('[data-testid="stSlider"]', has_text="Cascade chunk").get_by_role("slider")
    slider.focus()
    page.keyboard.press("ArrowRight")                                     # chunk 8 -> 16
    wait_metric(page, "cascade steps: L + ⌈T/chunk⌉ − 1", 3 + 2 - 1)
    page.wait_for_function("() => location.search.includes('chunk=16')", timeout=TIMEOUT_MS)
    assert "L=3" in page.url and "T=20" in page.url
    assert_no_exception(page)


def test_a_link_out_of_range_is_refused_with_a_message(page, app_url):
    page.goto(app_url + "/scheduling_lab?T=9999&chunk=3", timeout=TIMEOUT_MS)
    page.get_by_role("heading", name="Scheduling Lab").first.wait_for(timeout=TIMEOUT_MS)
    wait_idle(page, TIMEOUT_MS)
    alert = page.locator('[data-testid="stAlert"]', has_text="This link's").first.inner_text()
    assert "T='9999' is not a whole number from 1 to 512" in alert and "chunk='3'" in alert
    assert_no_exception(page)


def test_partial_frames_keep_the_traces_style_and_show_the_steps_colour(lab):
    """Frames carry only values: while it plays, the running cover shows the outline and colour of
    the frame the slider is on (give or take the one being drawn) and keeps the figure's black
    outline, which no frame carries."""
    L, T = grid_size(lab)
    title = f"{L} layers × {T} tokens"
    wait_chart(lab, title)
    press_play(lab, title)
    lab.wait_for_function(f"() => {CHART_JS.format(prefix=title)}._fullLayout.sliders[0].active >= 3",
                          timeout=TIMEOUT_MS)
    got = lab.evaluate(f"""() => {{
        const g = {CHART_JS.format(prefix=title)};
        const active = g._fullLayout.sliders[0].active;
        const frames = g._transitionData._frames.filter(f => Math.abs(Number(f.name) - active) <= 1);
        const i = frames[0].traces[1];                                   // the first panel's running cover
        const t = g.data[i];
        return {{line: t.line, colours: frames.map(f => f.data[1].fillcolor), shown: t.fillcolor,
                 xs: frames.map(f => JSON.stringify(f.data[1].x)), x: JSON.stringify(t.x),
                 keys: Object.keys(frames[0].data[1]).sort()}};
    }}""")
    assert got["shown"] in got["colours"] and got["x"] in got["xs"], got
    assert got["line"]["color"] == "black" and got["line"]["width"] == 2
    assert got["keys"] == ["fillcolor", "type", "x", "y"]


def test_a_phone_gets_one_panel_per_row(browser, app_url):
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                              user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
                                         "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1")
    page = ctx.new_page()
    try:
        page.goto(app_url + "/scheduling_lab", timeout=TIMEOUT_MS)
        page.get_by_role("heading", name="Scheduling Lab").first.wait_for(timeout=TIMEOUT_MS)
        wait_idle(page, TIMEOUT_MS)
        L, T = grid_size(page)
        title = f"{L} layers × {T} tokens"
        wait_chart(page, title)
        domains = page.evaluate(f"""() => {{ const l = {CHART_JS.format(prefix=title)}._fullLayout;
            return [1, 2, 3].map(i => [l['xaxis' + (i > 1 ? i : '')].domain, l['yaxis' + (i > 1 ? i : '')].domain]); }}""")
        assert all(x == [0, 1] for x, _ in domains)                       # full width each
        ys = sorted(y for _, y in domains)
        assert all(a[1] < b[0] for a, b in zip(ys, ys[1:]))               # one under another
        assert_no_exception(page)
    finally:
        ctx.close()


def test_pausing_the_animation_raises_nothing(page, app_url):
    """Pausing the grid's animation mid-play leaves no uncaught error in the page (plotly rejects the
    interrupted animation's promise without a reason: app/style.py's page guard marks it handled)."""
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(app_url + "/scheduling_lab?kind=rwkv4&L=2&T=12&chunk=4", timeout=TIMEOUT_MS)
    page.get_by_role("heading", name="Scheduling Lab").first.wait_for(timeout=TIMEOUT_MS)
    wait_idle(page, TIMEOUT_MS)
    play = page.locator(".updatemenu-button").filter(has_text="play").first
    pause = page.locator(".updatemenu-button").filter(has_text="pause").first
    for _ in range(3):
        play.click()
        page.wait_for_timeout(400)
        pause.click()
        page.wait_for_timeout(300)
    assert errors == []
    assert_no_exception(page)
