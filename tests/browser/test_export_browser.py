"""The exported HTML in the real Chromium: it loads with no script error and its own step buttons move
the animation one frame forward and back (through plotly.js's public Plotly.animate and events)."""
from __future__ import annotations

from rwkv_core.schedule import plan as make_plan
from visuals import export
from visuals import schedule as vs


def test_exported_html_steps_forward_and_back(page, tmp_path):
    plans = [make_plan("rnn", n_layer=3, n_tokens=5), make_plan("cascade", n_layer=3, n_tokens=5, chunk=2),
             make_plan("parallel", n_layer=3, n_tokens=5)]
    path = tmp_path / "grid.html"
    path.write_text(export.figure_html(vs.grid_figure(plans)), encoding="utf-8")
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    page.wait_for_function("() => { const g = document.querySelector('.plotly-graph-div');"
                           " return g && typeof g.on === 'function'; }")
    page.evaluate("() => { window.seen = [];"
                  " document.querySelector('.plotly-graph-div').on('plotly_animatingframe', e => window.seen.push(e.name)); }")
    forward, back = page.get_by_role("button", name="step ▶"), page.get_by_role("button", name="◀ step")
    for want in (["1"], ["1", "2"], ["1", "2", "3"]):
        forward.click()
        page.wait_for_function(f"() => window.seen.length >= {len(want)}")
    back.click()
    page.wait_for_function("() => window.seen.length >= 4")
    assert page.evaluate("() => window.seen") == ["1", "2", "3", "2"]
    assert errors == []
