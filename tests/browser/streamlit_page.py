"""What every browser test needs from a Streamlit page: wait until the script has run, and check
that no exception reached the screen."""
from __future__ import annotations

IDLE = "() => document.querySelector('[data-testid=\"stApp\"]')?.dataset.testScriptState === 'notRunning'"


def wait_idle(page, timeout_ms: int = 60_000) -> None:
    """Until Streamlit has finished running the script, and stays finished for a moment (a click
    takes a little while to start the rerun it asks for)."""
    for _ in range(3):
        page.wait_for_timeout(400)
        page.wait_for_function(IDLE, timeout=timeout_ms)
        page.wait_for_timeout(400)
        if page.evaluate(IDLE):
            return


def assert_no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, page.inner_text("body")[:2000]
    body = page.inner_text("body")
    assert "Traceback" not in body and "This app has encountered an error" not in body
