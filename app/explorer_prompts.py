"""Prompts read once per model and shared by every Explorer session (app/explorer_core.py).

A class opens the Explorer on the same default prompt: its forward pass, with every token's
intermediates recorded, is run once per model and prompt, not once per student. Without Streamlit;
the shared tensors are never written into (the engine does not modify a state it is given, and
ExplorerSession makes new tensors for everything it changes).
"""
from __future__ import annotations

import threading
import weakref
from collections import OrderedDict

import torch

from rwkv_core import RWKV, Recorder, State

# what a step records: enough to rebuild the state after every token, the residual path and the WKV
TRACE_POINTS = ["embed", "blocks.*.resid_mid", "blocks.*.resid", "blocks.*.att.k", "blocks.*.att.v",
                "blocks.*.att.wkv", "blocks.*.att.aa", "blocks.*.att.bb", "blocks.*.att.pp"]
PROMPT_CACHE = 32        # prompts kept per model (a class opening on one prompt needs one)
_PROMPTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()     # model → OrderedDict(ids → read)
_PROMPTS_LOCK = threading.Lock()


def read_prompt(model: RWKV, ids: tuple[int, ...]) -> tuple[dict[str, torch.Tensor], State, torch.Tensor]:
    """A prompt run once in parallel with its intermediates recorded: (trace, state after it, logits
    of the next token (V,)). Kept per model for the last PROMPT_CACHE prompts and shared by every
    session that reads the same ids; never to be written into (the state is not, by the engine's
    contract; ExplorerSession makes new tensors for everything it changes)."""
    with _PROMPTS_LOCK:
        known = _PROMPTS.setdefault(model, OrderedDict())
        if ids in known:
            known.move_to_end(ids)
            return known[ids]
    rec = Recorder(TRACE_POINTS)
    logits, state = model.forward(list(ids), None, recorder=rec, mode="parallel")   # (T, V)
    read = (rec.as_dict(), state, logits[-1].clone())                               # (V,)
    with _PROMPTS_LOCK:
        known[ids] = read
        while len(known) > PROMPT_CACHE:
            known.popitem(last=False)
    return read
