"""The Memory lab in a real browser: the page opens on the committed results and tiny models
(docs/memory/results.json, models/memory/), the live probe answers once per model trained at the
first N (the smallest trained), "New pairs" draws another sequence and every one of them answers
it, and a bad pair is refused with its reason."""
from __future__ import annotations

import re

import pytest
from streamlit_page import SHOTS, assert_no_exception, wait_idle

from app import memory_core as mc

pytestmark = pytest.mark.browser

TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def names():
    groups = mc.by_trained_n(mc.model_paths())
    assert groups, mc.MISSING_MODELS
    found = [p.stem for p in groups[min(groups)]]            # the probe opens at the smallest trained N
    assert mc.read_results() is not None, mc.MISSING_RESULTS
    return found


@pytest.fixture
def lab_page(page, app_url, names):
    page.goto(app_url + "/memory_lab", timeout=TIMEOUT_MS)
    page.get_by_role("heading", name="Memory lab").first.wait_for(timeout=TIMEOUT_MS)
    wait_idle(page, TIMEOUT_MS)
    assert_no_exception(page)
    return page


def answer_lines(page) -> list[str]:
    return [t for t in page.locator('[data-testid="stMarkdownContainer"]').all_inner_texts() if " answered " in t]


def test_the_probe_gives_one_answer_per_model(lab_page, names):
    results = mc.read_results()
    labels = [mc.label(n, results) for n in names]
    lines = answer_lines(lab_page)
    assert [line.split(" answered ")[0] for line in lines] == labels
    from playwright.sync_api import expect
    sequence = lab_page.get_by_text("The sequence the models read", exact=False).first
    before = sequence.inner_text()
    lab_page.get_by_role("button", name="New pairs").click()
    expect(sequence).not_to_have_text(before, timeout=TIMEOUT_MS)
    wait_idle(lab_page, TIMEOUT_MS)
    lines = answer_lines(lab_page)
    assert len(lines) == len(names) and all(re.search(r"answered \d+ of \d+ right", t) for t in lines), lines
    lab_page.screenshot(path=str(SHOTS / "memory_lab.png"), full_page=True)
    assert_no_exception(lab_page)


def test_a_bad_pair_is_refused_and_kept(lab_page):
    box = lab_page.get_by_role("textbox", name="Pairs (key:value)")
    box.fill("3:200, 3:201")
    box.press("Enter")
    wait_idle(lab_page, TIMEOUT_MS)
    lab_page.get_by_text("each key once", exact=False).first.wait_for(timeout=TIMEOUT_MS)
    assert box.input_value() == "3:200, 3:201" and not answer_lines(lab_page)
    assert_no_exception(lab_page)
