"""What every page shares: the loaded model (one read-only copy per process, st.cache_resource)
and the sidebar model picker. Each user's choice lives in st.session_state.

Pages call `current_model()` (and `current_model_key()` to notice a change of model); the
entry file calls `model_picker()` once per run, so the picker is in the sidebar of every page.
Pages must not call `model_picker()` themselves (its widgets would appear twice).

This is an ordinary module, imported once by streamlit_app.py: torch, rwkv_core and plotly are
imported here, never first inside a page script (imports there raced under many users).
"""
from __future__ import annotations

import gc
import hashlib
import logging
import os
import re
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import streamlit as st
import torch
from streamlit.runtime.scriptrunner import get_script_run_ctx

import lab
import rwkv_core
from app import hub
from app.paths import models_on_offer, paths_restricted, typed_path
from lab.kinds import KINDS
from rwkv_core import CheckpointError, calibrate
from rwkv_core.checkpoint import DEFAULT_MODEL, file_name
from rwkv_core.timing import device_name

TORCH_THREADS = 1              # per model run, in the server process (see share_the_cores)
SWITCH_INTERVAL_S = 0.001      # how often Python hands the interpreter lock between threads (default 0.005)
# One upload limit: here, in the widget, on the radio and server.maxUploadSize in .streamlit/config.toml
# (tests/test_hardening.py checks they agree). 1 GB: RWKV-4-Pile-169M in float32 (677 MB) fits. A
# whole number of GB, because the widget writes any size over 512 MB in whole GB ("600" read "1GB").
UPLOAD_LIMIT_MB = 1024


def size_text(mb: int) -> str:
    """A limit in megabytes as the radio and messages write it: whole GB when it is some."""
    return f"{mb // 1024} GB" if mb >= 1024 and mb % 1024 == 0 else f"{mb} MB"


UPLOAD_LIMIT_TEXT = size_text(UPLOAD_LIMIT_MB)
TOO_LARGE_ADVICE = ("A larger file must be put in the server's models folder (by whoever runs the "
                    "server) and loaded as a local checkpoint path.")
UPLOAD_HINT = (f"Up to {UPLOAD_LIMIT_TEXT} (RWKV-4-Pile-169M's 677 MB fits). A larger file is refused by "
               f"your browser, marked red. {TOO_LARGE_ADVICE}")
CHOICE = "model_choice"        # session_state key: {"kind", "ref", "label"} of the model in use
MESSAGE = "model_message"      # session_state key: (level, text) of the picker's last outcome
UPLOADS = "picker_uploads"     # session_state key: how many uploads were cleared (the uploader's key)
DIGEST = "picker_digest"       # session_state key: (file id, SHA-256) of the file in the uploader
EMBEDDED = {"kind": "embedded", "ref": "", "label": "embedded Shakespeare model"}
SOURCES = {"embedded": "Embedded model (Shakespeare, 6 layers)", "path": "Local checkpoint path",
           "upload": f"Upload a file (.safetensors or .pth, ≤ {UPLOAD_LIMIT_TEXT})",
           "hf": "RWKV-4-Pile-169M from Hugging Face"}
log = logging.getLogger(__name__)


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def md_escape(text: str) -> str:
    """Text for Streamlit elements that read Markdown (st.error, st.subheader, st.table, ...):
    every Markdown character backslash-escaped, so a file name or token such as `**x**`,
    `[a](b)`, `:smile:` or `$x$` shows as typed. (HTML is never enabled anywhere.)"""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text))


# --- the server process ----------------------------------------------------------------------------

def share_the_cores() -> None:
    """Settings for a server that many sessions share (scripts/load_test.py, docs/benchmarks.md).

    Each session's script runs in a thread of its own. By default torch gives every one of them a
    team of OpenMP threads, one per core; with 2 cores and several sessions at once the teams wait
    on each other (under load a 25 ms PCA took 3.5 s, and one student opening the Scheduling Lab
    stalled everyone's Step). One thread per run lets the sessions share the cores instead; the
    model is small, so one user loses nothing.

    Every torch call gives up the interpreter lock and must wait to get it back while another
    session's plotly figure is being built: Python hands it over every 5 ms by default, so a step
    of a few hundred torch calls waited seconds behind one Scheduling Lab page. 1 ms cuts that wait."""
    if torch.get_num_threads() != TORCH_THREADS:
        torch.set_num_threads(TORCH_THREADS)
    sys.setswitchinterval(SWITCH_INTERVAL_S)


share_the_cores()  # once, when the router first imports this module (before any model runs)


# --- loading (cached per process, shared by all users, never mutated) -----------------------------

def _calibrate_soon(model) -> None:
    """rwkv_core.calibrate.warm_up in a thread of its own, started as the model is loaded: the page
    that loaded it does not wait (0.7 s for the embedded model on the 2-core AMD EPYC, longer when
    loaded), and the students' first Steps, which come seconds after their first page, find the
    routes chosen. Met first in a student's run instead, each shape class took its measuring lock
    while 60 students' first Steps queued behind it: their steps took up to 8 s
    (scripts/load_test.py --sessions 60). A run that meets a class still being measured waits for it
    on the route table's lock, as before.

    Not a daemon, said explicitly (a thread started from a daemon thread, as Streamlit's script threads
    are, is a daemon unless told otherwise): the interpreter waits for it at exit (a second or so). A
    daemon thread still in a torch call when the process ends aborts it ("terminate called without an
    active exception", SIGABRT, tests/test_resources_calibrate.py)."""
    threading.Thread(target=calibrate.warm_up, args=(model,), name="calibrate-routes", daemon=False).start()


def _freeze() -> None:
    """Move everything alive now (the model's objects) out of the garbage collector's sight:
    Streamlit collects after every rerun, and scanning a loaded torch model cost ~250 ms."""
    gc.collect()
    gc.freeze()


@st.cache_resource(max_entries=4, show_spinner="Loading the model…")
def load_path(path: str, mtime_ns: int) -> rwkv_core.RWKV:
    """A checkpoint file or Hugging Face folder ("" = the embedded model). mtime_ns is part of the
    cache key so a replaced file is read again."""
    model = lab.load_model(path or None)
    _calibrate_soon(model)
    _freeze()
    return model


@st.cache_resource(max_entries=4, show_spinner="Loading the rival model…")
def rival_model(path: str, mtime_ns: int):
    """One of the rivals trained here (models/lstm-shakespeare.safetensors, …), for the Scheduling
    Lab's model-kind control: loaded once per server, shared read-only, apart from the picker's cache."""
    model = lab.load_model(path)
    _calibrate_soon(model)
    _freeze()
    return model


@st.cache_resource(max_entries=2, show_spinner="Reading the uploaded checkpoint…")
def load_upload(digest: str, suffix: str, _data: bytes | None, _name: str = "") -> rwkv_core.RWKV:
    """An uploaded checkpoint, keyed by its SHA-256; read through rwkv_core.load_model only
    (weights_only for .pth: a pickle that carries code is refused). Written under the user's
    file name (its base name), so that the engine's messages name the file they sent."""
    if _data is None:
        raise CheckpointError("the uploaded model is no longer in memory: upload it again")
    with tempfile.TemporaryDirectory() as folder:
        plain = _name.endswith(suffix) and not set("/?\\") & set(_name) and len(_name.encode()) < 200
        name = _name if plain else f"upload{suffix}"
        file = Path(folder) / name
        file.write_bytes(_data)
        model = lab.load_model(file)
    _calibrate_soon(model)
    _freeze()
    return model


def _mtime(path: Path) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except (OSError, ValueError):      # missing, a name too long, a NUL byte: the loader says which
        return 0


def _load(choice: dict) -> rwkv_core.RWKV:
    if choice["kind"] == "upload":
        return load_upload(choice["ref"], choice["suffix"], None)
    path = Path(choice["ref"]) if choice["ref"] else DEFAULT_MODEL
    return load_path(choice["ref"], _mtime(path))


# --- what pages use -------------------------------------------------------------------------------

def current_model() -> rwkv_core.RWKV:
    """The model this user picked in the sidebar (the embedded one until they pick another).
    Read-only: shared with every other user. If it cannot be loaded, the page stops with the reason."""
    choice = st.session_state.get(CHOICE, EMBEDDED)
    try:
        return _load(choice)
    except Exception as e:  # noqa: BLE001 - a page must never fall over on its model
        if not isinstance(e, CheckpointError):
            log.exception("loading %s failed", choice["label"])
        reason = str(e) if isinstance(e, CheckpointError) else f"an unexpected {type(e).__name__}"
        if choice["kind"] != "embedded":
            st.session_state[CHOICE] = EMBEDDED
            st.session_state[MESSAGE] = ("error", (f"{choice['label']} is no longer available ({reason}); "
                                                   "back to the embedded model."))
            return current_model()
        st.error(md_escape(f"The embedded model cannot be loaded: {reason}"))
        st.stop()


def current_model_key() -> str:
    """Identifies the model in use; a page that keeps per-model state resets when it changes."""
    choice = st.session_state.get(CHOICE, EMBEDDED)
    ref = choice["ref"] or str(DEFAULT_MODEL)
    stamp = "" if choice["kind"] == "upload" else f"@{_mtime(Path(ref))}"
    return f"{choice['kind']}:{ref}{stamp}"


# --- the sidebar picker -------------------------------------------------------------------------

@dataclass
class Attempt:
    """A model the user asked for: `load()` returns (the new choice, its model) or raises."""
    label: str                                   # how messages call it ("notes.pth", "upload x.pth")
    name: str                                    # the file name the engine's messages start with
    load: Callable[[], tuple[dict, rwkv_core.RWKV]]
    on_failure: Callable[[], None] = lambda: None
    on_success: Callable[[], None] = lambda: None


def _reason(e: BaseException, name: str) -> str:
    """The engine's message without the file name the sidebar's message already gives."""
    text = str(e)
    return text[len(name) + 2:] if name and text.startswith(f"{name}: ") else text


def try_out(model: rwkv_core.RWKV) -> None:
    """First use, before a model replaces the user's: the sidebar's facts, one token through the
    model (its output must be numbers), and the tokenizer both ways. Raises if any of it fails."""
    if model.kind != "rwkv4":
        raise CheckpointError(f"this is a {KINDS[model.kind].title or model.kind}, one of RWKV's rivals, not an "
                              "RWKV-4 model: the Explorer and the Lessons show RWKV-4; the Scheduling Lab shows the "
                              "rivals trained here beside it (its 'Model kind' control)")
    model_info(model)
    logits, _ = model.forward([0])
    if not torch.isfinite(logits).all():
        raise CheckpointError("its output for a first token is not a number (NaN or infinity): "
                              "the weights are broken")
    if model.tokenizer is not None:
        model.tokenizer.decode(model.tokenizer.encode("Hello"))


def _use(attempt: Attempt) -> None:
    """Load and try the new model, and switch to it only if all of that worked: on any error the
    user keeps the model they had (and with it their tokens), and the message says why."""
    try:
        with st.spinner(md_escape(f"Loading {attempt.label}…")):
            choice, model = attempt.load()
            try_out(model)
    except hub.HubUnavailable as e:
        reason = str(e)
    except CheckpointError as e:
        reason = f"Could not load {attempt.label}: {_reason(e, attempt.name)}"
    except Exception as e:  # noqa: BLE001 - anything at all: the session must survive it
        log.exception("loading %s failed", attempt.label)
        reason = (f"Could not load {attempt.label}: an unexpected {type(e).__name__} while reading it "
                  "(the details are in the server's log).")
    else:
        st.session_state[CHOICE] = choice
        st.session_state[MESSAGE] = ("success", f"Loaded {choice['label']}.")
        attempt.on_success()
        return
    in_use = st.session_state.get(CHOICE, EMBEDDED)["label"]
    st.session_state[MESSAGE] = ("error", f"{reason.rstrip('.')}. The previous model is still loaded: {in_use}.")
    attempt.on_failure()


def _forget_message() -> None:
    st.session_state.pop(MESSAGE, None)


def _pick_path() -> Attempt | None:
    restricted = paths_restricted()
    text = st.text_input("Checkpoint file or Hugging Face folder in the models folder" if restricted else
                         "Checkpoint file or Hugging Face folder on this machine", key="picker_path",
                         placeholder="RWKV-4-Pile-169M.pth" if restricted else "/path/to/RWKV-4-Pile-169M.pth")
    if restricted:
        offer = models_on_offer()
        st.caption(md_escape("This server reads only its models folder" +
                             (f": {', '.join(offer)}." if offer else ".")))
    if not st.button("Load", key="picker_load_path"):
        return None
    text = text.strip()
    if not text:
        st.session_state[MESSAGE] = ("error", "Type a path first.")
        return None
    def load():
        path = typed_path(text)
        attempt.name = file_name(path)     # what the engine's messages start with ("~" is "root")
        return {"kind": "path", "ref": str(path), "label": file_name(path)}, load_path(str(path), _mtime(path))
    attempt = Attempt(_path_label(text), file_name(text), load)
    return attempt


SYSTEM_PATH = re.compile(r"^/(dev|proc|sys)(/|$)")


def _path_label(text: str) -> str:
    """How messages name a typed path: its base name (no server folder is ever echoed), except a
    system path (/dev, /proc, /sys), named as typed: "Could not load /dev/zero", not "… zero"."""
    return text if SYSTEM_PATH.match(text) and len(text) <= 80 else file_name(text)


# --- uploads ---------------------------------------------------------------------------------

def _uploader_key() -> str:
    """The uploader's key; a new one empties the widget (Streamlit cannot clear it otherwise)."""
    return f"picker_upload_{st.session_state.get(UPLOADS, 0)}"


def _clear_upload(file_id: str | None = None) -> None:
    """Forget an upload once it has been read (loaded or refused): an empty uploader after a rerun,
    so it is not read again on every run, and the session's copy of the file's bytes dropped from
    Streamlit's upload store (which keeps them until the session ends otherwise). A loaded model
    stays in load_upload's cache under its SHA-256: every session that uploads the same file shares
    that one model and keeps none of the bytes."""
    ctx = get_script_run_ctx()
    if file_id is not None and ctx is not None:
        ctx.uploaded_file_mgr.remove_file(ctx.session_id, file_id)
    st.session_state[UPLOADS] = st.session_state.get(UPLOADS, 0) + 1
    st.rerun()


def _digest(up) -> str:
    """The upload's SHA-256, computed once per uploaded file (not on every rerun)."""
    known = st.session_state.get(DIGEST)
    if known is None or known[0] != up.file_id:
        known = (up.file_id, hashlib.sha256(up.getvalue()).hexdigest())
        st.session_state[DIGEST] = known
    return known[1]


def _pick_upload() -> Attempt | None:
    up = st.file_uploader("Checkpoint", type=["safetensors", "pth"], key=_uploader_key(),
                          max_upload_size=UPLOAD_LIMIT_MB,
                          help=".pth files are read with weights_only: a file carrying code is refused.")
    st.caption(UPLOAD_HINT)
    if up is None:
        return None
    name = file_name(up.name)
    if up.size > UPLOAD_LIMIT_MB * 1024 ** 2:
        st.session_state[MESSAGE] = ("error", (f"{name} is {up.size / 1024 ** 2:.0f} MB; the limit is "
                                               f"{size_text(UPLOAD_LIMIT_MB)}. {TOO_LARGE_ADVICE}"))
        _clear_upload()
    digest = _digest(up)
    if st.session_state.get(CHOICE, EMBEDDED)["ref"] == digest:
        return None  # already in use
    suffix = ".safetensors" if name.lower().endswith(".safetensors") else ".pth"
    label = f"upload {name}"
    choice = {"kind": "upload", "ref": digest, "suffix": suffix, "label": label}
    return Attempt(label, name, lambda: (choice, load_upload(digest, suffix, up.getvalue(), name)),
                   on_failure=lambda: _clear_upload(up.file_id), on_success=lambda: _clear_upload(up.file_id))


def _pick_hub() -> Attempt | None:
    st.caption(f"{hub.PILE_169M}: 12 layers x 768, 169M parameters, a 677 MB download (once; then cached).")
    if not st.button("Download and load", key="picker_hf"):
        return None

    def load():
        bar = st.progress(0.0, text="Checking the connection…")
        try:
            folder = hub.download(on_progress=lambda f, text: bar.progress(min(max(f, 0.0), 1.0), text=text))
        finally:
            bar.empty()
        choice = {"kind": "hf", "ref": str(folder), "label": "RWKV-4-Pile-169M"}
        return choice, load_path(str(folder), _mtime(folder))
    return Attempt("RWKV-4-Pile-169M", "", load)


def _pick_embedded() -> Attempt | None:
    if st.session_state.get(CHOICE, EMBEDDED)["kind"] == "embedded":
        return None
    if not st.button("Use the embedded model", key="picker_embedded"):
        return None
    return Attempt(EMBEDDED["label"], DEFAULT_MODEL.name, lambda: (EMBEDDED, _load(EMBEDDED)))


PICKERS = {"embedded": _pick_embedded, "path": _pick_path, "upload": _pick_upload, "hf": _pick_hub}


def model_info(model: rwkv_core.RWKV) -> dict[str, str]:
    """The facts the sidebar shows about a model."""
    c = model.config
    return {"layers x width": f"{c.n_layer} x {c.n_embd}", "channel-mix width": str(c.n_ffn),
            "vocabulary": f"{c.vocab_size:,}", "parameters": f"{c.n_params / 1e6:.1f} M",
            "state size": f"{model.init_state().nbytes() / 1024:.1f} KiB (any length)",
            "device": f"{device_name(model.device)} ({str(model.dtype).replace('torch.', '')})",
            "format": model.format, "tokenizer": "yes" if model.tokenizer is not None else "none (type ids)"}


def model_picker() -> rwkv_core.RWKV:
    """The sidebar: choose where the model comes from, load it, see what it is. Called once per
    run by streamlit_app.py; returns the model in use."""
    with st.sidebar:
        st.header("Model")
        kind = st.radio("Source", list(SOURCES), format_func=SOURCES.get, key="picker_source",
                        on_change=_forget_message)
        attempt = PICKERS[kind]()
        slot = st.empty()                 # the last outcome; a new attempt replaces it at once
        if attempt is not None:
            with slot.container():
                _use(attempt)
        level, text = st.session_state.get(MESSAGE, (None, ""))
        if level == "error":
            slot.error(md_escape(text))
        elif level == "success":
            slot.success(md_escape(text))
        else:
            slot.empty()
        model = current_model()
        st.subheader(md_escape(st.session_state.get(CHOICE, EMBEDDED)["label"]))
        info = model_info(model)
        st.table({"": list(info), "value": [md_escape(v) for v in info.values()]}, border="horizontal", hide_index=True,
                 hide_header=True)
    return model
