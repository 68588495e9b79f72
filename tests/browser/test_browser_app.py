"""The app in a real browser: every page loads, the Explorer reads a typed prompt, steps, and
re-samples when the temperature changes; no exception anywhere. Screenshots go to a temporary folder (streamlit_page.SHOTS)."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from streamlit_page import SHOTS, assert_no_exception, wait_idle

from app import explorer_sections

pytestmark = pytest.mark.browser

TIMEOUT_MS = 60_000





def step_button(page):
    """The Explorer's Step button (its text also shows its keyboard shortcut, S)."""
    return page.locator('[data-testid="stButton"] button').filter(has_text=re.compile(r"^Step")).first


def chart_title(page, prefix: str) -> str:
    loc = page.locator(".gtitle").filter(has_text=re.compile("^" + re.escape(prefix)))
    loc.first.wait_for(timeout=TIMEOUT_MS)
    return loc.first.text_content()


def shot(page, name: str, at=None) -> None:
    """A screenshot of the window, scrolled to `at` (a locator) when given."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    if at is not None:
        at.evaluate("e => e.scrollIntoView({block: 'start'})")
        page.wait_for_timeout(300)
    page.screenshot(path=str(SHOTS / name))


def test_home(page, app_url):
    page.goto(app_url, timeout=TIMEOUT_MS)
    page.get_by_text("RWKV-4, inside out").first.wait_for(timeout=TIMEOUT_MS)
    wait_idle(page)
    assert_no_exception(page)
    expect(page.get_by_text("Model", exact=True).first).to_be_visible(timeout=TIMEOUT_MS)  # the picker, in the sidebar
    shot(page, "home.png")


def test_explorer_prompt_step_temperature(page, app_url):
    page.goto(app_url + "/explorer", timeout=TIMEOUT_MS)
    page.get_by_role("heading", name="Explorer").first.wait_for(timeout=TIMEOUT_MS)
    wait_idle(page)
    prompt = page.get_by_label(re.compile("^Prompt"))
    prompt.fill("ROMEO: But soft, what light 😀 <b>")
    page.get_by_role("button", name="Read the prompt").click()
    wait_idle(page)
    strip = page.locator(".gtitle").filter(has_text=re.compile(r"^\d+ tokens")).first
    strip.wait_for(timeout=TIMEOUT_MS)
    n = int(strip.text_content().split()[0])
    assert n > 5
    step_button(page).click()
    page.locator(".gtitle").filter(has_text=re.compile(rf"^{n + 1} tokens")).first.wait_for(timeout=TIMEOUT_MS)
    wait_idle(page)
    before = chart_title(page, "Next token")
    slider = page.get_by_role("slider").first                                # temperature
    slider.focus()
    for _ in range(12):
        slider.press("ArrowRight")
    wait_idle(page)
    page.wait_for_function(f"() => [...document.querySelectorAll('.gtitle')].some(t => "
                           f"t.textContent.startsWith('Next token') && t.textContent !== {before!r})",
                           timeout=TIMEOUT_MS)
    assert chart_title(page, "Next token") != before
    assert_no_exception(page)
    text_so_far = page.locator('[data-testid="stCode"]').first.inner_text()
    assert text_so_far.startswith("ROMEO: But soft, what light 😀 <b>")   # shown as written, not as markup
    shot(page, "explorer.png", page.get_by_role("heading", name="Explorer").first)
    # every registered section (app/explorer_sections.py): the chart it draws on opening, shot from
    # "Look inside" down (explorer-state.png, explorer-wkv.png, ...)
    for section in explorer_sections.SECTIONS.values():
        page.get_by_text(section.label, exact=True).first.click()
        wait_idle(page)
        assert_no_exception(page)
        if section.chart:
            chart_title(page, section.chart)
            shot(page, f"explorer-{section.name}.png", page.get_by_text("Look inside").first)
        if section.name == "state":
            chart_title(page, "Memory needed")
            norms = page.locator(".gtitle").filter(has_text="State size per layer").first
            shot(page, "explorer-state-vs-kv.png", norms)


def test_every_page_in_the_navigation(page, app_url):
    """Whatever pages the router lists (Explorer, Scheduling Lab, Lessons, ...), each one loads."""
    page.goto(app_url, timeout=TIMEOUT_MS)
    nav = page.locator('[data-testid="stTopNavLink"], [data-testid="stSidebarNav"] a')   # top navigation (app/streamlit_app.py)
    nav.first.wait_for(timeout=TIMEOUT_MS)
    hrefs = [a.get_attribute("href") for a in nav.all()]
    assert len(hrefs) >= 3, hrefs
    for href in hrefs:
        slug = href.rstrip("/").rsplit("/", 1)[-1] if href.rstrip("/") != app_url.rstrip("/") else ""
        page.goto(app_url + "/" + slug, timeout=TIMEOUT_MS)
        page.get_by_role("heading").first.wait_for(timeout=TIMEOUT_MS)
        wait_idle(page)
        assert_no_exception(page)
        if slug not in ("", "explorer"):                                  # those two have their own
            shot(page, f"page-{slug}.png")


def tokens_shown(page) -> int:
    page.locator(".gtitle").filter(has_text=re.compile(r"^\d+ tokens")).first.wait_for(timeout=TIMEOUT_MS)
    titles = page.eval_on_selector_all(".gtitle", "els => els.map(e => e.textContent)")
    return next(int(t.split()[0]) for t in titles if re.match(r"^\d+ tokens", t))


def test_explorer_counts_every_step_click(page, app_url):
    """Five fast clicks on Step: each adds its token, or is visibly refused while the model is busy
    (the button greyed out) — never a click taken and silently dropped. Then the S shortcut steps."""
    page.goto(app_url + "/explorer", timeout=TIMEOUT_MS)
    page.get_by_role("heading", name="Explorer").first.wait_for(timeout=TIMEOUT_MS)
    wait_idle(page)
    n = tokens_shown(page)
    # a click goes through only to an enabled button; record, in the page, each click the button took
    page.evaluate("""() => { window.__taken = 0;
        document.addEventListener('click', e => { const b = e.target.closest('button');
          if (b && !b.disabled && b.innerText.trim().split('\\n')[0] === 'Step') window.__taken++; }, true); }""")
    refused = 0
    for _ in range(5):
        step = step_button(page)
        # in one go in the page: greyed out (with the reason) and refused, or clicked
        outcome = step.evaluate("b => b.disabled ? 'refused: ' + b.title : (b.click(), 'taken')")
        if outcome != "taken":
            refused += 1
            assert "Busy" in outcome                                      # says why
        page.wait_for_timeout(60)
    wait_idle(page)
    taken = page.evaluate("() => window.__taken")
    page.locator(".gtitle").filter(has_text=re.compile(rf"^{n + taken} tokens")).first.wait_for(timeout=TIMEOUT_MS)
    assert taken + refused == 5 and taken >= 1
    assert tokens_shown(page) == n + taken                                  # every click taken added a token
    page.locator("body").press("s")                                         # the keyboard shortcut
    page.locator(".gtitle").filter(has_text=re.compile(rf"^{n + taken + 1} tokens")).first.wait_for(
        timeout=TIMEOUT_MS)
    wait_idle(page)
    assert_no_exception(page)
