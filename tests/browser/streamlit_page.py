"""What every browser test needs from a Streamlit page: wait until the script has run, and check
that no exception reached the screen."""
from __future__ import annotations

from scripts.st_page import IDLE, load_path, wait_script  # noqa: F401  (the tests import them from here)


def wait_idle(page, timeout_ms: int = 60_000) -> None:
    """Until Streamlit has finished running the script, and stays finished for a moment."""
    wait_script(page, timeout_ms)


def assert_no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, page.inner_text("body")[:2000]
    body = page.inner_text("body")
    assert "Traceback" not in body and "This app has encountered an error" not in body
