"""The lessons in a real browser: walk lesson 1 to its end with the Next button (answering its
first quiz on the way), answer a quiz wrongly and see that option's own explanation, type a prompt
and see the lesson's numbers change, then open deep links into lesson 3 (by id, and an old one by
position), in normal and in classroom mode. Screenshots of one step in both modes go to a
temporary folder (streamlit_page.SHOTS)."""
from __future__ import annotations

import re

import pytest
from app_helpers import embedded
from playwright.sync_api import expect
from streamlit_page import IDLE, SHOTS, assert_no_exception

from app.lessons import content as ls
from app.lessons import core as lc
from app.lessons.quiz import LIVE

pytestmark = pytest.mark.browser

TIMEOUT_MS = 120_000     # a wait on a condition: generous, since the machine may be loaded
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


def filled(quiz, prompt: str = lc.EXAMPLE_PROMPT):
    """The quiz as the page shows it for this prompt (layer 2, last token)."""
    if not quiz.live:
        return quiz
    ex = lc.run_example(embedded(), prompt)
    return quiz.filled(LIVE[quiz.live](ex, lc.DEFAULT_LAYER, ex.n_tokens - 1))


def test_walk_lesson_1_to_its_end_with_next(page, app_url):
    steps = LESSONS[0].steps
    page.goto(app_url + "/lessons", timeout=TIMEOUT_MS)
    wait_for_step(page, steps[0].title)
    assert query(page) == ls.link(LESSONS, (1, 1))
    for i, step in enumerate(steps[1:], start=2):
        page.get_by_role("button", name="Next →").first.click()
        wait_for_step(page, step.title)
        assert query(page) == ls.link(LESSONS, (1, i))                   # the step's id in the address
        page.get_by_text(f"Lesson 1 of 3 · step {i} of {len(steps)}").first.wait_for(timeout=TIMEOUT_MS)
        if step.quiz is not None and i == next(j for j, s in enumerate(steps, 1) if s.quiz):
            quiz = filled(step.quiz)
            page.get_by_text(quiz.options[quiz.answer], exact=True).first.click()
            page.get_by_text("Right. " + quiz.explain[quiz.answer]).first.wait_for(timeout=TIMEOUT_MS)
    # the end of lesson 1 leads on to lesson 2
    page.get_by_role("button", name="Next →").first.click()
    wait_for_step(page, LESSONS[1].steps[0].title)
    assert query(page) == ls.link(LESSONS, (2, 1))


def test_a_wrong_answer_shows_that_options_explanation(page, app_url):
    """Lesson 3's quiz on the WKV weights asks about a number of this example; each wrong option,
    clicked, shows its own reason, and the right one its own."""
    lesson = LESSONS[2]
    step = lesson.steps[lesson.step_index("quiz-decay")]
    quiz = filled(step.quiz)
    page.goto(app_url + "/lessons?lesson=replacing-qkv-with-rwkv&step=quiz-decay", timeout=TIMEOUT_MS)
    wait_for_step(page, step.title)
    page.get_by_text(quiz.question).first.wait_for(timeout=TIMEOUT_MS)       # the live number, on screen
    for wrong in (1, 2):
        page.get_by_text(quiz.options[wrong], exact=True).first.click()
        alert = page.locator('[data-testid="stAlertContentError"]').first
        expect(alert).to_contain_text("Not quite. " + quiz.explain[wrong], timeout=TIMEOUT_MS)
        wait_idle(page)
    page.get_by_text(quiz.options[quiz.answer], exact=True).first.click()
    expect(page.locator('[data-testid="stAlertContentSuccess"]').first).to_contain_text(
        "Right. " + quiz.explain[quiz.answer], timeout=TIMEOUT_MS)
    wait_idle(page)
    assert_no_exception(page)


def test_a_students_prompt_changes_the_lessons_numbers(page, app_url):
    """The tokens step counts the example's tokens: type another prompt and the count is its own;
    a prompt that is too short is refused with a message, and the count stays."""
    step = LESSONS[0].steps[LESSONS[0].step_index("tokens")]
    mine = "To be, or not to be, that is the question"
    n_default, n_mine = (len(lc.lesson_prompt(embedded(), p)) for p in (lc.EXAMPLE_PROMPT, mine))
    assert n_default != n_mine
    page.goto(app_url + "/lessons?lesson=how-a-text-model-works&step=tokens", timeout=TIMEOUT_MS)
    wait_for_step(page, step.title)
    count = page.locator('[data-testid="stMetric"]').filter(has_text="tokens in this prompt").first
    expect(count).to_contain_text(str(n_default), timeout=TIMEOUT_MS)
    page.get_by_text("The example: your prompt").first.click()              # open the expander
    box = page.get_by_role("textbox", name="Your prompt (the lessons' numbers follow it)")
    box.fill(mine)
    box.press("Control+Enter")
    expect(count).to_contain_text(str(n_mine), timeout=TIMEOUT_MS)
    wait_idle(page)
    box.fill("a")
    box.press("Control+Enter")
    expect(page.locator('[data-testid="stAlertContentError"]').first).to_contain_text(
        "at least 2", timeout=TIMEOUT_MS)
    expect(count).to_contain_text(str(n_mine), timeout=TIMEOUT_MS)             # the previous prompt kept
    wait_idle(page)
    assert_no_exception(page)


def shot_of_step(page, name: str) -> None:
    """Wait for the step's chart to be drawn, scroll to the step's heading, take the picture."""
    page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=TIMEOUT_MS)
    page.locator("h2").first.evaluate("e => e.scrollIntoView({block: 'start'})")   # instant: nothing to wait for
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name))


def test_deep_link_into_lesson_3_normal_and_classroom(page, app_url):
    n = LESSONS[2].step_index("wkv-recurrent") + 1
    step = LESSONS[2].steps[n - 1]
    page.goto(app_url + "/lessons?lesson=3&step=4", timeout=TIMEOUT_MS)     # an old link, by position
    wait_for_step(page, step.title)
    assert query(page) == {"lesson": "replacing-qkv-with-rwkv", "step": "wkv-recurrent"}
    page.get_by_text(f"Lesson 3 of 3 · step {n} of {len(LESSONS[2].steps)}").first.wait_for(timeout=TIMEOUT_MS)
    page.get_by_text("Formula = engine").first.wait_for(timeout=TIMEOUT_MS)
    expect(page.locator('[data-testid="stSidebar"]').first).to_be_visible(timeout=TIMEOUT_MS)

    wkv = LESSONS[2].steps[LESSONS[2].step_index("wkv-sum")]   # the same step in both modes, for the README
    page.goto(app_url + "/lessons?lesson=replacing-qkv-with-rwkv&step=wkv-sum", timeout=TIMEOUT_MS)
    wait_for_step(page, wkv.title)
    normal = font_size(page)
    shot_of_step(page, "lessons-step.png")

    page.goto(app_url + "/lessons?lesson=replacing-qkv-with-rwkv&step=wkv-sum&classroom=1", timeout=TIMEOUT_MS)
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
