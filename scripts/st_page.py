"""What every Playwright driver of the app needs from a Streamlit page (the browser tests in
tests/browser/ and the scripts that take screenshots or time clicks): whether the script is idle,
waiting until it stays so, and loading a checkpoint by path in the sidebar."""
from __future__ import annotations

import re

IDLE = "() => document.querySelector('[data-testid=\"stApp\"]')?.dataset.testScriptState === 'notRunning'"


def wait_script(page, timeout_ms: int = 60_000, pad_ms: int = 400) -> None:
    """Until Streamlit has finished running the script, and stays finished for a moment (a click
    takes a little while to start the rerun it asks for)."""
    for _ in range(3):
        page.wait_for_timeout(pad_ms)
        page.wait_for_function(IDLE, timeout=timeout_ms)
        page.wait_for_timeout(pad_ms)
        if page.evaluate(IDLE):
            return


def load_path(page, path: str, wait=wait_script) -> None:
    """Type a checkpoint path into the sidebar's box and press Load (the path source chosen)."""
    side = page.locator('[data-testid="stSidebar"]')
    box = side.get_by_label(re.compile("^Checkpoint file or Hugging Face folder"))
    box.fill(path)
    box.press("Enter")
    wait(page)
    side.get_by_role("button", name="Load", exact=True).click()
    wait(page)
