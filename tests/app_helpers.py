"""Shared by the visuals and app tests: the real embedded model, loaded once, and a session
that has read a prompt and generated a few tokens."""
from __future__ import annotations

import functools
from pathlib import Path

from streamlit.testing.v1 import AppTest

import rwkv_core
from rwkv_core.sampling import SamplingSettings

PROMPT = "To be, or not to be, that is the question"
ENTRY = str(Path(__file__).resolve().parent.parent / "app" / "streamlit_app.py")   # the app as README starts it


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def started_app(page: str | None = None) -> AppTest:
    """The app run through its entry file (then switched to `page`), without an exception."""
    app = AppTest.from_file(ENTRY, default_timeout=90)
    app.run()
    if page:
        app.switch_page(page)
        app.run()
    no_exception(app)
    return app


@functools.lru_cache(maxsize=1)
def embedded():
    return rwkv_core.load_model()


def stepped_session(n_steps: int = 4, prompt: str = PROMPT, seed: int = 3):
    from app import explorer_core as ec
    model = embedded()
    s = ec.ExplorerSession(model, "embedded")
    s.start(ec.encode_prompt(model, prompt))
    for _ in range(n_steps):
        s.step(s.next_sample(SamplingSettings(temperature=0.9), seed).token)
    return s
