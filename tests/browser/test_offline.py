"""Nothing is fetched from a third party: every page, a lesson step and the Explorer with a section open,
in the real Chromium, ask only the app's own host (127.0.0.1) for anything. A school network may be
offline, and a request elsewhere tells that host about every page view.

Every request is recorded; those to another host are answered with an error here (never sent), and
the test fails naming them. A `:material/...` page icon (a favicon fetched from fonts.gstatic.com)
fails it; an emoji favicon is an inline data: URL, and the Material Symbols font of the navigation
icons is served by the app itself (/static/media/MaterialSymbols-Rounded...woff2)."""
from __future__ import annotations

import re
from urllib.parse import urlparse

import pytest
from streamlit_page import assert_no_exception, wait_idle

pytestmark = pytest.mark.browser
TIMEOUT_MS = 60_000
OWN_HOSTS = {"127.0.0.1", "localhost"}
INLINE = {"data", "blob", "about"}          # made in the page, not fetched from anywhere
# (path, text that shows the page has come)
VISITS = [
    ("", "RWKV-4, inside out"),
    ("/explorer", "Explorer"),
    ("/scheduling_lab", "Scheduling Lab"),
    ("/lessons", "Lessons"),
    ("/lessons?lesson=how-a-text-model-works&step=tokens", "Lessons"),
    ("/lessons?lesson=replacing-qkv-with-rwkv&step=quiz-decay", "Lessons"),
    ("/why_rwkv", "Why RWKV, measured"),
]


def outside(url: str) -> bool:
    parts = urlparse(url)
    return parts.scheme not in INLINE and parts.hostname not in OWN_HOSTS


@pytest.fixture
def recorded(browser):
    """A fresh browser context that records every URL its pages ask for; outside ones are refused."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    urls: list[str] = []

    def route(r):
        urls.append(r.request.url)
        return r.abort() if outside(r.request.url) else r.continue_()

    context.route("**/*", route)
    context.on("request", lambda req: urls.append(req.url))      # also what a route may not see
    page = context.new_page()
    page.on("websocket", lambda ws: urls.append(ws.url))
    yield page, urls
    context.close()


def test_no_request_leaves_the_machine(recorded, app_url):
    page, urls = recorded
    for path, heading in VISITS:
        page.goto(app_url + path, timeout=TIMEOUT_MS)
        page.get_by_text(heading).first.wait_for(timeout=TIMEOUT_MS)
        wait_idle(page)
        assert_no_exception(page)
        if path == "/explorer":                                 # a section open: its figures drawn
            page.get_by_text("WKV as attention", exact=True).first.click()
            page.locator(".gtitle").filter(has_text=re.compile("^What the current token")).first.wait_for(
                timeout=TIMEOUT_MS)
            wait_idle(page)
            assert_no_exception(page)
    page.wait_for_timeout(1000)                                 # a favicon is asked for after the page
    assert any(urlparse(u).hostname in OWN_HOSTS for u in urls)  # the recording works
    away = sorted({u for u in urls if outside(u)})
    assert not away, f"{len(away)} request(s) to another host: {away}"
