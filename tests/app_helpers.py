"""Shared by the visuals and app tests: the one way to start the app (started_app) and to find
a chart on its page (chart), the real embedded model, loaded once, and a session that has read
a prompt and generated a few tokens."""
from __future__ import annotations

import functools
import json
import os
from pathlib import Path

from streamlit.testing.v1 import AppTest

import lab
from rwkv_core.sampling import SamplingSettings

PROMPT = "To be, or not to be, that is the question"
ENTRY = str(Path(__file__).resolve().parent.parent / "app" / "streamlit_app.py")   # the app as README starts it
APP_TIMEOUT = 180      # seconds a run of the app may take in a test (the Lab's timed runs are the longest)


def missing(what: str, reason: str):
    """A tool a test needs is not here: a failure in CI (CI=true, or RWKV_REQUIRE_BROWSER=1), a skip elsewhere."""
    import pytest
    if os.environ.get("CI") == "true" or os.environ.get("RWKV_REQUIRE_BROWSER") == "1":
        pytest.fail(f"the {what} tests are required here (CI) but {reason}")
    pytest.skip(reason)


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def started_app(page: str | None = None, query: dict[str, str] | None = None) -> AppTest:
    """The app run through its entry file, then switched to `page`, without an exception. With
    `query` (a deep link such as {"lesson": "3"}) the first run is the page's own, so that it
    reads the address as a visitor's browser sends it."""
    app = AppTest.from_file(ENTRY, default_timeout=APP_TIMEOUT)
    for k, v in (query or {}).items():
        app.query_params[k] = v
    if query is None:
        app.run()
        no_exception(app)
    if page:
        app.switch_page(page)
        app.run()
    no_exception(app)
    return app


def charts(at: AppTest) -> list[dict]:
    """Every plotly chart on the page, as the browser gets it, in page order."""
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def chart_titles(at: AppTest) -> list[str]:
    return [spec["layout"]["title"]["text"] for spec in charts(at)]


def chart(at: AppTest, prefix: str, last: bool = False) -> dict:
    """The first chart whose title starts with `prefix` (the last one with last=True)."""
    found = [spec for spec in charts(at) if spec["layout"]["title"]["text"].startswith(prefix)]
    if not found:
        raise AssertionError(f"no chart titled {prefix!r}: {chart_titles(at)}")
    return found[-1] if last else found[0]


@functools.lru_cache(maxsize=1)
def embedded():
    return lab.load_model()


def stepped_session(n_steps: int = 4, prompt: str = PROMPT, seed: int = 3):
    from app import explorer_core as ec
    model = embedded()
    s = ec.ExplorerSession(model, "embedded")
    s.start(ec.encode_prompt(model, prompt))
    for _ in range(n_steps):
        s.step(s.next_sample(SamplingSettings(temperature=0.9), seed).token)
    return s
