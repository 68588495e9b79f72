"""Bad checkpoints in a real browser (issue 18): a text file renamed .pth, typed as a path and
then uploaded, and /dev/zero typed as a path. Each gets the sidebar's "Could not load …" message
in place of the last one, the failed upload is cleared, and the session keeps its model and its
tokens: every page still opens and Step still steps. The upload limit reads the same everywhere."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from streamlit_page import assert_no_exception, load_path, wait_idle

pytestmark = pytest.mark.browser

TIMEOUT_MS = 60_000
TOKENS = re.compile(r"^(\d+) tokens")


def token_count(page) -> int:
    """The Explorer's token strip says how many tokens the session holds ("12 tokens …")."""
    strip = page.locator(".gtitle").filter(has_text=TOKENS).first
    strip.wait_for(timeout=TIMEOUT_MS)
    return int(TOKENS.match(strip.text_content()).group(1))


def expect_tokens(page, n: int) -> None:
    expect(page.locator(".gtitle").filter(has_text=re.compile(rf"^{n} tokens")).first).to_be_visible(timeout=TIMEOUT_MS)


def open_explorer(page, url: str) -> None:
    page.goto(url + "/explorer", timeout=TIMEOUT_MS)
    page.get_by_role("heading", name="Explorer").first.wait_for(timeout=TIMEOUT_MS)
    wait_idle(page)


def sidebar_message(page, text: str):
    """Waits until the sidebar shows exactly one message, and it starts with `text`."""
    alerts = page.locator('[data-testid="stSidebar"] [data-testid="stAlert"]')
    expect(alerts.filter(has_text=text)).to_have_count(1, timeout=TIMEOUT_MS)
    expect(alerts).to_have_count(1, timeout=TIMEOUT_MS)
    return alerts.first.inner_text()


def choose_source(page, label: str) -> None:
    page.locator('[data-testid="stSidebar"]').get_by_text(label).first.click()
    wait_idle(page)


def test_bad_checkpoints_by_path_and_upload_keep_the_session(page, app_url, tmp_path):
    notes = tmp_path / "notes.pth"
    notes.write_text("root:x:0:0:root:/root:/bin/bash\n" * 30)
    open_explorer(page, app_url)
    page.get_by_role("button", name=re.compile(r"^Step")).first.click()   # its name also shows the shortcut
    wait_idle(page)
    n = token_count(page)

    choose_source(page, "Local checkpoint path")
    load_path(page, str(notes))
    shown = sidebar_message(page, "Could not load notes.pth: not a checkpoint: the file is text")
    assert "The previous model is still loaded: embedded Shakespeare model." in shown
    assert str(tmp_path) not in shown                                    # no server folder named
    assert_no_exception(page)
    expect_tokens(page, n)

    load_path(page, "/dev/zero")                                        # refused before it is opened
    sidebar_message(page, "Could not load /dev/zero: not a regular file (it is a device)")   # replaces the last
    assert_no_exception(page)

    choose_source(page, "Upload a file")
    side = page.locator('[data-testid="stSidebar"]')
    expect(side.get_by_text("1GB per file")).to_be_visible(timeout=TIMEOUT_MS)         # the widget's limit,
    expect(side.get_by_text("≤ 1 GB")).to_be_visible(timeout=TIMEOUT_MS)               # the radio's,
    expect(side.get_by_text(re.compile(r"^Up to 1 GB .*models folder"))).to_be_visible(timeout=TIMEOUT_MS)  # why
    side.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(notes))
    sidebar_message(page, "Could not load upload notes.pth: not a checkpoint: the file is text")
    expect(side.locator('[data-testid="stFileChip"]')).to_have_count(0, timeout=TIMEOUT_MS)   # cleared
    assert_no_exception(page)
    expect_tokens(page, n)

    page.get_by_role("link", name="Home").first.click()                 # another page, the same session
    page.get_by_text("RWKV-4, inside out").first.wait_for(timeout=TIMEOUT_MS)
    wait_idle(page)
    assert_no_exception(page)
    page.get_by_role("link", name="Explorer").first.click()
    wait_idle(page)
    expect_tokens(page, n)                                              # the same session, its tokens kept
    page.get_by_role("button", name=re.compile(r"^Step")).first.click()   # its name also shows the shortcut
    expect_tokens(page, n + 1)
    assert_no_exception(page)
