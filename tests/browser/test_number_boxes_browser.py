"""Number boxes typed into in the real Chromium: what the browser sends for 1e9, 3.5, a 23-digit number
and -1 reaches the app, the box then shows the value used, and one note under it says so (the
Explorer's "Tokens to run", the Why page's "New tokens each"). Before app.widgets.number_box an
integer box read 1e9 as 1 and 3.5 as 3, and a bounded one kept -1 in red while the old value ran."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from streamlit_page import assert_no_exception, wait_idle

pytestmark = pytest.mark.browser
TIMEOUT_MS = 60_000
MAX_RUN = 64


def typed(page, box, text: str, shows: int) -> None:
    """Type `text` into the box and press Enter: the app's answer puts `shows` in the box (waited for:
    on a busy machine the rerun may start late)."""
    box.fill(text)
    box.press("Enter")
    expect(box).to_have_value(str(shows), timeout=TIMEOUT_MS)
    wait_idle(page)
    assert_no_exception(page)
    assert box.input_value() == str(shows), text


def notes(page, starting: str) -> list[str]:
    alerts = page.locator('[data-testid="stAlert"]').all_inner_texts()
    return [a.strip() for a in alerts if a.strip().startswith(starting)]


def test_explorer_tokens_to_run(page, app_url):
    page.goto(app_url + "/explorer", timeout=TIMEOUT_MS)
    page.get_by_role("heading", name="Explorer").first.wait_for(timeout=TIMEOUT_MS)
    wait_idle(page)
    box = page.get_by_role("spinbutton", name="Tokens to run")
    run = page.locator('[data-testid="stButton"] button').filter(has_text=re.compile(r"^Run \d+"))
    for text, used, words in [("1e9", 64, "1e+09 is above 64, the largest; 64 is used."),
                              ("3.5", 3, "3.5 is not a whole number; 3 is used."),
                              ("12345678901234567890123", 64, "1.23457e+22 is above 64, the largest; 64 is used."),
                              ("-1", 1, "-1 is below 1, the smallest; 1 is used.")]:
        typed(page, box, text, used)
        assert run.first.inner_text().startswith(f"Run {used}"), text
        assert notes(page, "Tokens to run") == [f"Tokens to run = {words}"], text     # one note: replaced
    typed(page, box, "5", 5)
    assert not notes(page, "Tokens to run")                                          # cleared


def test_why_page_new_tokens_each(page, app_url):
    page.goto(app_url + "/why_rwkv", timeout=TIMEOUT_MS)
    page.get_by_role("heading", name="Why RWKV, measured").first.wait_for(timeout=TIMEOUT_MS)
    wait_idle(page)
    box = page.get_by_role("spinbutton", name="New tokens each")
    box.scroll_into_view_if_needed()
    typed(page, box, "-1", 1)
    assert notes(page, "New tokens each") == ["New tokens each = -1 is below 1, the smallest; 1 is used."]
    typed(page, box, "1e9", 32)
    assert notes(page, "New tokens each") == ["New tokens each = 1e+09 is above 32, the largest; 32 is used."]
    typed(page, box, "3.5", 3)
    assert notes(page, "New tokens each") == ["New tokens each = 3.5 is not a whole number; 3 is used."]
