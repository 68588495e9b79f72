"""Real-browser fixtures: the app started exactly as the README says
(`streamlit run app/streamlit_app.py`, on a free port), and Debian's Chromium driven by Playwright.

Without Chromium or Playwright these tests are skipped, unless RWKV_REQUIRE_BROWSER=1 (CI), where
a missing browser is a failure."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from scripts.st_client import LOOPBACK, free_port, start_server, stop_server

CHROMIUM = os.environ.get("RWKV_CHROMIUM", "/usr/bin/chromium")  # Debian's package
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
STARTUP_TIMEOUT_S = 90


def _missing(reason: str):
    if os.environ.get("RWKV_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser tests are required here (RWKV_REQUIRE_BROWSER=1) but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        _missing(f"{CHROMIUM} is not installed (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("the playwright package is not installed (pip install -r requirements-test.txt)")
    return CHROMIUM


@pytest.fixture(scope="session")
def app_url(chromium_path, tmp_path_factory):
    """The app, started as the README does (on 127.0.0.1 and a free port); stopped at the end.
    The server helpers are the load script's (scripts/st_client.py)."""
    port = free_port()
    server = start_server(port, tmp_path_factory.mktemp("streamlit") / "server.log", timeout_s=STARTUP_TIMEOUT_S,
                          env={"OMP_NUM_THREADS": "1"})
    try:
        yield f"http://{LOOPBACK}:{port}"
    finally:
        stop_server(server)


@pytest.fixture(scope="session")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1300})
    p = context.new_page()
    yield p
    context.close()
