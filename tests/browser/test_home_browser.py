"""The home page on a 390 px phone in the real Chromium: every page link whole (not cut with "…"), the
description of each page wrapped in full, and the Lessons link leading to the Lessons."""
from __future__ import annotations

import pytest
from streamlit_page import assert_no_exception, wait_idle

pytestmark = pytest.mark.browser
TIMEOUT_MS = 60_000


def test_home_links_whole_on_a_phone(browser, app_url):
    from app.app_pages.home import DESTINATIONS
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1)
    page = context.new_page()
    try:
        page.goto(app_url, timeout=TIMEOUT_MS)
        page.get_by_text("RWKV-4, inside out").first.wait_for(timeout=TIMEOUT_MS)
        wait_idle(page)
        assert_no_exception(page)
        links = page.locator('[data-testid="stMain"] [data-testid="stPageLink"] a')
        assert links.count() == len(DESTINATIONS)
        for i in range(links.count()):
            box = links.nth(i).bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, links.nth(i).inner_text()
            cut = links.nth(i).evaluate("a => [a, ...a.querySelectorAll('*')].some("
                                        "e => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflow !== 'visible')")
            assert not cut, f"link {links.nth(i).inner_text()!r} is cut"
        for _, label, _, text in DESTINATIONS:
            para = page.get_by_text(text, exact=True)
            para.wait_for(timeout=TIMEOUT_MS)
            box = para.bounding_box()
            assert box["x"] + box["width"] <= 390, label          # wrapped inside the screen, not cut
        page.locator('[data-testid="stMain"] [data-testid="stPageLink"] a', has_text="Lessons").click()
        page.wait_for_url("**/lessons**", timeout=TIMEOUT_MS)
    finally:
        context.close()
