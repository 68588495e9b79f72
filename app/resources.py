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
import re
import sys
import tempfile
from pathlib import Path

import streamlit as st
import torch

import rwkv_core
from app import hub
from rwkv_core import CheckpointError
from rwkv_core.checkpoint import DEFAULT_MODEL
from rwkv_core.timing import device_name

TORCH_THREADS = 1              # per model run, in the server process (see share_the_cores)
SWITCH_INTERVAL_S = 0.001      # how often Python hands the interpreter lock between threads (default 0.005)
UPLOAD_LIMIT_MB = 600          # a 430M model in float16 fits; also server.maxUploadSize in .streamlit/config.toml
CHOICE = "model_choice"        # session_state key: {"kind", "ref", "label"} of the model in use
MESSAGE = "model_message"      # session_state key: (level, text) of the picker's last outcome
EMBEDDED = {"kind": "embedded", "ref": "", "label": "embedded Shakespeare model"}
SOURCES = {"embedded": "Embedded model (Shakespeare, 6 layers)", "path": "Local checkpoint path",
           "upload": f"Upload a file (.safetensors or .pth, ≤ {UPLOAD_LIMIT_MB} MB)",
           "hf": "RWKV-4-Pile-169M from Hugging Face"}


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

def _freeze() -> None:
    """Move everything alive now (the model's objects) out of the garbage collector's sight:
    Streamlit collects after every rerun, and scanning a loaded torch model cost ~250 ms."""
    gc.collect()
    gc.freeze()


@st.cache_resource(max_entries=4, show_spinner="Loading the model…")
def load_path(path: str, mtime_ns: int) -> rwkv_core.RWKV:
    """A checkpoint file or Hugging Face folder ("" = the embedded model). mtime_ns is part of the
    cache key so a replaced file is read again."""
    model = rwkv_core.load_model(path or None)
    _freeze()
    return model


@st.cache_resource(max_entries=2, show_spinner="Reading the uploaded checkpoint…")
def load_upload(digest: str, suffix: str, _data: bytes | None) -> rwkv_core.RWKV:
    """An uploaded checkpoint, keyed by its SHA-256; read through rwkv_core.load_model only
    (weights_only for .pth: a pickle that carries code is refused)."""
    if _data is None:
        raise CheckpointError("the uploaded model is no longer in memory: upload it again")
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / f"upload{suffix}"
        file.write_bytes(_data)
        model = rwkv_core.load_model(file)
    _freeze()
    return model


def _mtime(path: Path) -> int:
    return path.stat().st_mtime_ns if path.exists() else 0


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
    except CheckpointError as e:
        if choice["kind"] != "embedded":
            st.session_state[CHOICE] = EMBEDDED
            st.session_state[MESSAGE] = ("error", (f"{choice['label']} is no longer available ({e}); "
                                                   "back to the embedded model."))
            return current_model()
        st.error(md_escape(f"The embedded model cannot be loaded: {e}"))
        st.stop()


def current_model_key() -> str:
    """Identifies the model in use; a page that keeps per-model state resets when it changes."""
    choice = st.session_state.get(CHOICE, EMBEDDED)
    ref = choice["ref"] or str(DEFAULT_MODEL)
    stamp = "" if choice["kind"] == "upload" else f"@{_mtime(Path(ref))}"
    return f"{choice['kind']}:{ref}{stamp}"


# --- the sidebar picker -------------------------------------------------------------------------

def _use(choice: dict, loader) -> None:
    """Load, and switch to the new model only if that worked: on an error the old one stays."""
    try:
        loader()
    except CheckpointError as e:
        st.session_state[MESSAGE] = ("error", (f"Could not load {choice['label']}: {e} "
                                               "The previous model is still loaded."))
        return
    st.session_state[CHOICE] = choice
    st.session_state[MESSAGE] = ("success", f"Loaded {choice['label']}.")


def _pick_path() -> None:
    text = st.text_input("Checkpoint file or Hugging Face folder on this machine", key="picker_path",
                         placeholder="/path/to/RWKV-4-Pile-169M.pth")
    if st.button("Load", key="picker_load_path"):
        if not text.strip():
            st.session_state[MESSAGE] = ("error", "Type a path first.")
            return
        path = Path(text.strip()).expanduser().resolve()
        choice = {"kind": "path", "ref": str(path), "label": path.name or str(path)}
        _use(choice, lambda: load_path(str(path), _mtime(path)))


def _pick_upload() -> None:
    up = st.file_uploader("Checkpoint", type=["safetensors", "pth"], key="picker_upload",
                          max_upload_size=UPLOAD_LIMIT_MB,
                          help=f"Up to {UPLOAD_LIMIT_MB} MB. .pth files are read with weights_only: "
                               "a file carrying code is refused.")
    if up is None:
        return
    if up.size > UPLOAD_LIMIT_MB * 1024 ** 2:
        st.session_state[MESSAGE] = ("error", (f"{up.name} is {up.size / 1024 ** 2:.0f} MB; the limit is "
                                               f"{UPLOAD_LIMIT_MB} MB."))
        return
    data = up.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    if st.session_state.get(CHOICE, EMBEDDED)["ref"] == digest:
        return  # already in use
    suffix = ".safetensors" if up.name.lower().endswith(".safetensors") else ".pth"
    choice = {"kind": "upload", "ref": digest, "suffix": suffix, "label": f"upload {up.name}"}
    _use(choice, lambda: load_upload(digest, suffix, data))


def _pick_hub() -> None:
    st.caption(f"{hub.PILE_169M}: 12 layers x 768, 169M parameters, a 677 MB download (once; then cached).")
    if not st.button("Download and load", key="picker_hf"):
        return
    bar = st.progress(0.0, text="Checking the connection…")
    try:
        folder = hub.download(on_progress=lambda f, text: bar.progress(min(max(f, 0.0), 1.0), text=text))
    except hub.HubUnavailable as e:
        bar.empty()
        st.session_state[MESSAGE] = ("error", str(e))
        return
    bar.empty()
    choice = {"kind": "hf", "ref": str(folder), "label": "RWKV-4-Pile-169M"}
    _use(choice, lambda: load_path(str(folder), _mtime(folder)))


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
        kind = st.radio("Source", list(SOURCES), format_func=SOURCES.get, key="picker_source")
        if kind == "embedded" and st.session_state.get(CHOICE, EMBEDDED)["kind"] != "embedded":
            if st.button("Use the embedded model", key="picker_embedded"):
                _use(EMBEDDED, lambda: _load(EMBEDDED))
        elif kind == "path":
            _pick_path()
        elif kind == "upload":
            _pick_upload()
        elif kind == "hf":
            _pick_hub()
        level, text = st.session_state.get(MESSAGE, (None, ""))
        if level == "error":
            st.error(md_escape(text))
        elif level == "success":
            st.success(md_escape(text))
        model = current_model()
        st.subheader(md_escape(st.session_state.get(CHOICE, EMBEDDED)["label"]))
        info = model_info(model)
        st.table({"": list(info), "value": [md_escape(v) for v in info.values()]}, border="horizontal", hide_index=True,
                 hide_header=True)
    return model
