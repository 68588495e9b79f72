"""Fetching RWKV-4-Pile-169M from the Hugging Face Hub without ever hanging the page.

In order: the local cache (no network at all); offline mode (HF_HUB_OFFLINE) says so at once;
a preflight request with a 3 s timeout tells an offline machine apart before any download
starts; the download itself runs in a thread with per-request timeouts, and the caller
polls it and gives up after an overall limit. No Streamlit here: the picker passes a callback.
"""
from __future__ import annotations

import io
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# huggingface_hub reads these when it is imported; a dead connection must fail in seconds
os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", "10")
os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", "20")

from tqdm import tqdm  # noqa: E402

PILE_169M = "RWKV/rwkv-4-169m-pile"
# what the engine reads from a Hugging Face folder; the repo holds pytorch_model.bin (677 MB)
FILES = ["config.json", "tokenizer.json", "model.safetensors", "pytorch_model.bin"]
PREFLIGHT_TIMEOUT_S = 3.0
OVERALL_TIMEOUT_S = 30 * 60  # a slow but live connection may take minutes for 677 MB


class HubUnavailable(RuntimeError):
    """The Hub cannot be used now; the message says why and what to do instead."""


def endpoint() -> str:
    """The Hub's address: HF_ENDPOINT when set (read now, not at import), else huggingface.co."""
    return os.environ.get("HF_ENDPOINT", "").rstrip("/") or "https://huggingface.co"


def offline_mode() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _has_model(folder: Path) -> bool:
    return (folder / "config.json").is_file() and any((folder / f).is_file() for f in FILES[2:])


def cached_snapshot(repo: str = PILE_169M) -> Path | None:
    """The repo's folder in the local Hugging Face cache when a complete copy is there."""
    from huggingface_hub import snapshot_download
    try:
        folder = Path(snapshot_download(repo, allow_patterns=FILES, local_files_only=True))
    except Exception:  # LocalEntryNotFoundError and friends: simply not cached
        return None
    return folder if _has_model(folder) else None


def preflight(url: str | None = None, timeout: float = PREFLIGHT_TIMEOUT_S) -> None:
    """One short request to the Hub; HubUnavailable when nothing answers in `timeout` seconds.
    Any HTTP answer, even an error status, means the network is there. The request runs in a
    thread: a name lookup on a machine without DNS can block longer than any socket timeout."""
    url = url or endpoint()
    outcome: dict = {}

    def ask():
        try:
            urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout).close()
            outcome["ok"] = True
        except urllib.error.HTTPError:
            outcome["ok"] = True
        except (urllib.error.URLError, OSError, ValueError) as e:
            outcome["error"] = getattr(e, "reason", e)

    thread = threading.Thread(target=ask, name="hub preflight", daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    if not outcome.get("ok"):
        reason = outcome.get("error", f"no answer in {timeout:.0f} s")
        raise HubUnavailable(f"Cannot reach the Hugging Face Hub at {url} ({reason}). This machine looks "
                             "offline: use the embedded model, a local checkpoint path, or upload a file.")


@dataclass
class Progress:
    """Bytes done and expected, summed over the download's progress bars (updated from threads)."""
    bars: list = field(default_factory=list)

    def bytes(self) -> tuple[int, int]:
        byte_bars = [b for b in self.bars if getattr(b, "unit", "") == "B"]
        return (int(sum(b.n for b in byte_bars)), int(sum(b.total or 0 for b in byte_bars)))


def _bar_class(progress: Progress):
    class _Bar(tqdm):
        """A tqdm that writes nowhere and lets the page read its counts."""
        def __init__(self, *args, **kwargs):
            kwargs.pop("name", None)
            kwargs.update(file=io.StringIO(), disable=False)
            super().__init__(*args, **kwargs)
            progress.bars.append(self)
    return _Bar


def download(repo: str = PILE_169M, *, on_progress: Callable[[float, str], None] | None = None,
             timeout_s: float = OVERALL_TIMEOUT_S, poll_s: float = 0.5) -> Path:
    """The repo's folder, from the cache or downloaded. Raises HubUnavailable, never hangs:
    on_progress(fraction 0..1, text) is called from the caller's thread while it waits."""
    cached = cached_snapshot(repo)
    if cached is not None:
        return cached
    if offline_mode():
        raise HubUnavailable(f"Offline mode is on (HF_HUB_OFFLINE) and {repo} is not in the local cache. "
                             "Unset HF_HUB_OFFLINE on a connected machine, or use a local checkpoint.")
    preflight()
    from huggingface_hub import snapshot_download
    progress, result = Progress(), {}

    def work():
        try:
            result["path"] = snapshot_download(repo, allow_patterns=FILES, endpoint=endpoint(), etag_timeout=10,
                                               tqdm_class=_bar_class(progress), max_workers=2)
        except Exception as e:  # reported to the caller's thread below
            result["error"] = e

    thread = threading.Thread(target=work, name=f"download {repo}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while thread.is_alive():
        thread.join(poll_s)
        done, total = progress.bytes()
        if on_progress is not None:
            text = f"{done / 1e6:,.0f} MB of {total / 1e6:,.0f} MB" if total else "asking the Hub for the files…"
            on_progress(done / total if total else 0.0, text)
        if time.monotonic() > deadline:
            raise HubUnavailable(f"The download of {repo} did not finish in {timeout_s / 60:.0f} minutes; "
                                 "it goes on in the background: try again later.")
    if "error" in result:
        e = result["error"]
        raise HubUnavailable(f"The download of {repo} failed: {type(e).__name__}: {str(e).splitlines()[0][:300]}")
    folder = Path(result["path"])
    if not _has_model(folder):
        raise HubUnavailable(f"{repo}: the download has no config.json and weights file")
    return folder
