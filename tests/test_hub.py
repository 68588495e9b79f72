"""The Hugging Face download never hangs and says clearly when the machine is offline. Nothing
here contacts huggingface.co: the endpoint points at a closed local port (127.0.0.1:9)."""
import time

import pytest

from app import hub

DEAD = "http://127.0.0.1:9"


@pytest.fixture
def offline_endpoint(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_ENDPOINT", DEAD)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return DEAD


def test_endpoint_is_read_at_call_time(offline_endpoint):
    assert hub.endpoint() == DEAD


def test_preflight_fails_fast_on_a_dead_endpoint(offline_endpoint):
    t0 = time.monotonic()
    with pytest.raises(hub.HubUnavailable, match="offline"):
        hub.preflight()
    assert time.monotonic() - t0 < hub.PREFLIGHT_TIMEOUT_S + 1


def test_preflight_times_out_on_a_silent_server():
    """A server that accepts the connection but never answers: the timeout ends the wait."""
    import socket
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    try:
        t0 = time.monotonic()
        with pytest.raises(hub.HubUnavailable):
            hub.preflight(f"http://127.0.0.1:{srv.getsockname()[1]}", timeout=0.5)
        assert time.monotonic() - t0 < 3
    finally:
        srv.close()


def test_download_offline_gives_a_clear_message(offline_endpoint):
    if hub.cached_snapshot() is not None:
        pytest.skip("the model is in this machine's Hugging Face cache")
    progress = []
    t0 = time.monotonic()
    with pytest.raises(hub.HubUnavailable, match="Cannot reach the Hugging Face Hub at http://127.0.0.1:9"):
        hub.download(on_progress=lambda f, text: progress.append(f))
    assert time.monotonic() - t0 < 10 and progress == []       # stopped before any download started


def test_download_in_offline_mode(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_ENDPOINT", DEAD)
    if hub.cached_snapshot() is not None:
        pytest.skip("the model is in this machine's Hugging Face cache")
    with pytest.raises(hub.HubUnavailable, match="HF_HUB_OFFLINE"):
        hub.download()


def test_progress_sums_byte_bars():
    p = hub.Progress()
    Bar = hub._bar_class(p)
    a, b, files = Bar(total=100, unit="B"), Bar(total=300, unit="B"), Bar(total=2, unit="it")
    a.update(50)
    b.update(30)
    files.update(1)
    assert p.bytes() == (80, 400)
