"""What every browser test needs from a Streamlit page: wait until the script has run, and check
that no exception reached the screen."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from scripts.st_page import IDLE, load_path, wait_script  # noqa: F401  (the tests import them from here)

# Where the browser tests put their screenshots: a temporary folder, so a test run never writes into
# tracked files. The README's pictures are made on purpose, by scripts/screenshots.py (or by pointing
# RWKV_SHOTS_DIR at docs/screenshots for one run).
SHOTS = Path(os.environ.get("RWKV_SHOTS_DIR") or tempfile.mkdtemp(prefix="rwkv-browser-shots-"))


def wait_idle(page, timeout_ms: int = 60_000) -> None:
    """Until Streamlit has finished running the script, and stays finished for a moment."""
    wait_script(page, timeout_ms)


def assert_no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, page.inner_text("body")[:2000]
    body = page.inner_text("body")
    assert "Traceback" not in body and "This app has encountered an error" not in body
