"""Why RWKV, measured, in a real browser: the page opens on the models trained here, "Measure
generation cost here" runs on them and draws one line per model, and the same prompt is generated
by each model side by side."""
from __future__ import annotations

import pytest
from streamlit_page import assert_no_exception, wait_idle

from app import compare_core as cc

pytestmark = pytest.mark.browser

TIMEOUT_MS = 120_000
LANDED = ("rwkv4", "gpt", "lstm", "redline")   # the four models trained here (models/*-shakespeare.*)

# the names of the traces of the last plotly chart whose title starts with `prefix`
TRACES_JS = """prefix => {
    const gs = [...document.querySelectorAll('.js-plotly-plot')].filter(g =>
        (g.querySelector('.gtitle')?.textContent || '').startsWith(prefix));
    const g = gs[gs.length - 1];
    return g && g.data ? g.data.map(t => t.name) : null;
}"""


@pytest.fixture(scope="module")
def kinds():
    found = cc.shipped()
    assert set(LANDED) <= set(found), f"the trained models must be in models/: found {sorted(found)}"
    return list(found)


@pytest.fixture
def compare(page, app_url, kinds):
    page.goto(app_url + "/why_rwkv", timeout=TIMEOUT_MS)
    page.get_by_role("heading", name="Why RWKV, measured").first.wait_for(timeout=TIMEOUT_MS)
    wait_idle(page, TIMEOUT_MS)
    assert_no_exception(page)
    return page


def test_generation_cost_measured_live_for_every_model(compare, kinds):
    compare.get_by_role("button", name="Measure generation cost here").click()
    compare.get_by_text("Measured here, contexts", exact=False).first.wait_for(timeout=TIMEOUT_MS)
    wait_idle(compare, TIMEOUT_MS)
    done = compare.get_by_text("Measured here, contexts", exact=False).first.inner_text()
    titles = [cc.title(k) for k in kinds]
    assert all(t in done for t in titles), done
    compare.wait_for_function(f"() => ({TRACES_JS})('Generation: time per new token') !== null", timeout=TIMEOUT_MS)
    assert compare.evaluate(TRACES_JS, "Generation: time per new token") == titles
    assert_no_exception(compare)


def test_the_same_prompt_side_by_side(compare, kinds):
    compare.get_by_role("button", name="Generate with every model").click()
    for kind in kinds:
        compare.get_by_text(cc.title(kind), exact=True).first.wait_for(timeout=TIMEOUT_MS)
    compare.locator('[data-testid="stMetric"]').filter(has_text="tokens / s").nth(len(kinds) - 1).wait_for(
        timeout=TIMEOUT_MS)
    wait_idle(compare, TIMEOUT_MS)
    blocks = compare.locator('[data-testid="stCode"]')
    assert blocks.count() == len(kinds)
    assert all(blocks.nth(i).inner_text().startswith("ROMEO.") for i in range(len(kinds)))
    assert_no_exception(compare)
