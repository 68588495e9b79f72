"""The lessons in a real browser: walk lesson 1 to its end with the Next button (answering its
first quiz on the way), then open a deep link into lesson 3, in normal and in classroom mode.
Screenshots of one step in both modes go to docs/screenshots/ for the README."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.lessons import content as ls

from playwright.sync_api import expect
from streamlit_page import IDLE, assert_no_exception

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
TIMEOUT_MS = 60_000
LESSONS = ls.load_lessons()


def wait_idle(page) -> None:
    """Until Streamlit has finished the current run (its 'running' indicator is gone)."""
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
                           timeout=TIMEOUT_MS)
    page.wait_for_function(IDLE, timeout=TIMEOUT_MS)


def font_size(page) -> float:
    return page.locator('[data-testid="stMarkdownContainer"] p').first.evaluate(
        "e => parseFloat(getComputedStyle(e).fontSize)")





def wait_for_step(page, title: str) -> None:
    page.get_by_role("heading", name=title, exact=True).first.wait_for(timeout=TIMEOUT_MS)
    wait_idle(page)
    assert_no_exception(page)


def query(page) -> dict:
    return dict(re.findall(r"[?&](\w+)=([^&#]*)", page.url))


def test_walk_lesson_1_to_its_end_with_next(page, app_url):
    steps = LESSONS[0].steps
    page.goto(app_url + "/lessons", timeout=TIMEOUT_MS)
    wait_for_step(page, steps[0].title)
    assert query(page) == {"lesson": "1", "step": "1"}
    for i, step in enumerate(steps[1:], start=2):
        page.get_by_role("button", name="Next →").first.click()
        wait_for_step(page, step.title)
        assert query(page)["step"] == str(i) and query(page)["lesson"] == "1"
        page.get_by_text(f"Lesson 1 of 3 · step {i} of {len(steps)}").first.wait_for(timeout=TIMEOUT_MS)
        if step.quiz is not None and i == next(j for j, s in enumerate(steps, 1) if s.quiz):
            page.get_by_text(step.quiz.options[step.quiz.answer], exact=True).first.click()
            page.get_by_text("Right. ").first.wait_for(timeout=TIMEOUT_MS)
    # the end of lesson 1 leads on to lesson 2
    page.get_by_role("button", name="Next →").first.click()
    wait_for_step(page, LESSONS[1].steps[0].title)
    assert query(page) == {"lesson": "2", "step": "1"}


def shot_of_step(page, name: str) -> None:
    """Wait for the step's chart to be drawn, scroll to the step's heading, take the picture."""
    page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=TIMEOUT_MS)
    page.locator("h2").first.evaluate("e => e.scrollIntoView({block: 'start'})")   # instant: nothing to wait for
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name))


def test_deep_link_into_lesson_3_normal_and_classroom(page, app_url):
    step = LESSONS[2].steps[3]
    page.goto(app_url + "/lessons?lesson=3&step=4", timeout=TIMEOUT_MS)
    wait_for_step(page, step.title)
    page.get_by_text(f"Lesson 3 of 3 · step 4 of {len(LESSONS[2].steps)}").first.wait_for(timeout=TIMEOUT_MS)
    page.get_by_text("Formula = engine").first.wait_for(timeout=TIMEOUT_MS)
    expect(page.locator('[data-testid="stSidebar"]').first).to_be_visible(timeout=TIMEOUT_MS)

    wkv = LESSONS[2].steps[2]                         # the same step in both modes, for the README
    page.goto(app_url + "/lessons?lesson=3&step=3", timeout=TIMEOUT_MS)
    wait_for_step(page, wkv.title)
    normal = font_size(page)
    shot_of_step(page, "lessons-step.png")

    page.goto(app_url + "/lessons?lesson=3&step=3&classroom=1", timeout=TIMEOUT_MS)
    wait_for_step(page, wkv.title)
    assert query(page).get("classroom") == "1"
    # hidden for the projector: waited for (the page's style arrives with the run), never timed
    expect(page.locator('[data-testid="stSidebar"]').first).to_be_hidden(timeout=TIMEOUT_MS)
    page.wait_for_function("""(n) => {
        const p = document.querySelector('[data-testid="stMarkdownContainer"] p');
        return p && parseFloat(getComputedStyle(p).fontSize) >= Math.max(24, 1.4 * n); }""",
        arg=normal, timeout=TIMEOUT_MS)
    large = font_size(page)
    assert large >= 24 and large >= 1.4 * normal, (normal, large)                  # large type
    shot_of_step(page, "lessons-classroom.png")
