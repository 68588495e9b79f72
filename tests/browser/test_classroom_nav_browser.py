"""Classroom mode keeps page navigation at every width: under 768 px Streamlit folds the header's page
links into the sidebar, which classroom mode hides, so the page shows its own row of links there
(app/style.py nav_row). Every page is reached by clicking, at a phone's 390 px and a half-screen 700 px;
at 1280 px the header has the links and the row stays hidden."""
from __future__ import annotations

from urllib.parse import urlparse

import pytest
from streamlit_page import assert_no_exception, wait_idle

pytestmark = pytest.mark.browser

TIMEOUT_MS = 90_000
PAGES = {"Home": "", "Explorer": "explorer", "Scheduling Lab": "scheduling_lab", "Lessons": "lessons",
         "Why RWKV, measured": "why_rwkv", "Memory lab": "memory_lab"}
ROW = ".st-key-classroom_nav"


def slug(page) -> str:
    path = urlparse(page.url).path.rstrip("/")
    return "" if path == "" else path.rsplit("/", 1)[-1]


@pytest.fixture(params=[390, 700], ids=lambda w: f"{w}px")
def narrow(browser, request):
    context = browser.new_context(viewport={"width": request.param, "height": 844})
    yield context.new_page()
    context.close()


def test_every_page_is_reached_by_clicking_in_classroom_mode(narrow, app_url):
    page = narrow
    page.goto(f"{app_url}/?classroom=1", timeout=TIMEOUT_MS)
    wait_idle(page, TIMEOUT_MS)
    assert page.locator('[data-testid="stTopNavLink"]').filter(visible=True).count() == 0   # the header has none here
    for name, target in [*list(PAGES.items())[1:], ("Home", "")]:
        link = page.locator(ROW).get_by_role("link", name=name, exact=True)
        link.wait_for(state="visible", timeout=TIMEOUT_MS)
        box = link.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= page.viewport_size["width"], (name, box)
        link.click()
        page.wait_for_url(lambda url, t=target: urlparse(url).path.rstrip("/").endswith("/" + t) if t
                          else urlparse(url).path.rstrip("/") == "", timeout=TIMEOUT_MS)
        wait_idle(page, TIMEOUT_MS)
        assert_no_exception(page)
        assert slug(page) == target and "classroom=1" in page.url, page.url     # still in classroom mode


def test_the_row_is_hidden_where_the_header_has_the_links(browser, app_url):
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    try:
        page.goto(f"{app_url}/?classroom=1", timeout=TIMEOUT_MS)
        wait_idle(page, TIMEOUT_MS)
        assert page.locator('[data-testid="stTopNavLink"]').filter(visible=True).count() == len(PAGES)
        assert page.locator(ROW).count() == 1 and not page.locator(ROW).is_visible()
    finally:
        context.close()
