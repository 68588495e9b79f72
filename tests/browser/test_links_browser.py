"""Links that keep a student's place, in a real browser: the Lab opened from a link, left for another
page and reached again through the navigation shows the same grid at the same address; one Back leaves
it (each visit is one history entry: app/style.py HISTORY_GUARD); and Back to it restores its settings."""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest
from streamlit_page import assert_no_exception, wait_idle

pytestmark = pytest.mark.browser

TIMEOUT_MS = 90_000
LINK = {"kind": "gpt", "L": "4", "T": "20", "chunk": "8"}
QUERY = "&".join(f"{k}={v}" for k, v in LINK.items())


def lab_address(page) -> dict[str, str]:
    q = parse_qs(urlparse(page.url).query)
    return {k: q[k][0] for k in LINK if k in q}


def path(page) -> str:
    return urlparse(page.url).path.rstrip("/").rsplit("/", 1)[-1]


def nav_to(page, name: str) -> None:
    page.locator('[data-testid="stTopNavLink"]').filter(has_text=name).first.click()
    wait_idle(page)
    assert_no_exception(page)


def grid_title(page) -> str:
    page.locator(".gtitle").filter(has_text="layers ×").first.wait_for(timeout=TIMEOUT_MS)
    return page.locator(".gtitle").filter(has_text="layers ×").first.text_content()


def open_lab(page, app_url) -> None:
    page.goto(f"{app_url}/scheduling_lab?{QUERY}", timeout=TIMEOUT_MS)
    wait_idle(page, TIMEOUT_MS)
    assert_no_exception(page)
    assert grid_title(page).startswith("4 layers × 20 tokens")


def test_the_lab_keeps_its_link_on_a_later_visit(page, app_url):
    open_lab(page, app_url)
    nav_to(page, "Explorer")
    assert path(page) == "explorer"
    nav_to(page, "Scheduling Lab")
    assert path(page) == "scheduling_lab" and lab_address(page) == LINK
    assert grid_title(page).startswith("4 layers × 20 tokens")
    assert page.get_by_role("spinbutton", name="Tokens (T)").input_value() == "20"


def test_one_back_leaves_the_lab_and_back_to_it_restores_it(page, app_url):
    page.goto(app_url, timeout=TIMEOUT_MS)
    wait_idle(page, TIMEOUT_MS)
    open_lab(page, app_url)
    nav_to(page, "Explorer")
    nav_to(page, "Scheduling Lab")
    page.go_back()
    wait_idle(page, TIMEOUT_MS)
    assert path(page) == "explorer", page.url           # one Back: the page before, not the Lab again
    page.go_back()
    wait_idle(page, TIMEOUT_MS)
    assert path(page) == "scheduling_lab" and lab_address(page) == LINK, page.url
    assert grid_title(page).startswith("4 layers × 20 tokens")
    page.go_back()
    wait_idle(page, TIMEOUT_MS)
    assert path(page) == "", page.url                   # and one more: Home, where the tab started


def test_a_lesson_link_to_a_missing_step_says_so(page, app_url):
    page.goto(f"{app_url}/lessons?lesson=1&step=99", timeout=TIMEOUT_MS)
    wait_idle(page, TIMEOUT_MS)
    assert_no_exception(page)
    alert = page.locator('[data-testid="stAlert"]').filter(has_text="There is no step 99 in this lesson")
    assert alert.count() == 1 and "the last" in alert.first.inner_text()
    assert "step=99" not in page.url                      # the address names the step shown


def test_the_explorers_tokens_survive_a_reload_and_steps_add_no_history(page, app_url):
    page.goto(app_url, timeout=TIMEOUT_MS)
    wait_idle(page, TIMEOUT_MS)
    nav_to(page, "Explorer")
    for _ in range(3):
        page.locator('[data-testid="stButton"] button').filter(has_text=re.compile(r"^Step")).first.click()
        wait_idle(page, TIMEOUT_MS)
    gen = parse_qs(urlparse(page.url).query).get("gen", [""])[0]
    assert len(gen.split(",")) == 3, page.url
    text = page.locator('[data-testid="stCode"]').first.inner_text()
    page.reload()
    wait_idle(page, TIMEOUT_MS)
    assert_no_exception(page)
    assert page.locator('[data-testid="stCode"]').first.inner_text() == text
    page.go_back()                                       # the steps added no entries: Back is Home
    wait_idle(page, TIMEOUT_MS)
    assert path(page) == "", page.url


def test_the_explorers_link_carries_the_open_sections_settings(page, app_url):
    """A section's setting changed in the page is written into the address without a history entry,
    and the address, reloaded, opens the section as it was."""
    page.goto(app_url, timeout=TIMEOUT_MS)
    wait_idle(page, TIMEOUT_MS)
    nav_to(page, "Explorer")
    page.get_by_text("State per layer", exact=True).first.click()
    wait_idle(page, TIMEOUT_MS)
    before = page.evaluate("history.length")
    thumb = page.locator('[data-testid="stSlider"]').filter(has_text="Layer").get_by_role("slider").first
    thumb.focus()
    for _ in range(2):
        thumb.press("ArrowRight")
        wait_idle(page, TIMEOUT_MS)
    page.locator(".gtitle").filter(has_text="Layer 2: the state").first.wait_for(timeout=TIMEOUT_MS)
    query = parse_qs(urlparse(page.url).query)
    assert query.get("ex_layer") == ["2"] and query.get("ex_section") == ["State per layer"], page.url
    assert page.evaluate("history.length") == before                 # replaced, not pushed
    page.reload()
    wait_idle(page, TIMEOUT_MS)
    assert_no_exception(page)
    page.locator(".gtitle").filter(has_text="Layer 2: the state").first.wait_for(timeout=TIMEOUT_MS)
