"""The lab: everything around the RWKV-4 engine that compares it with its rivals. The registry of
model kinds and shipped models (lab.kinds), the loader of any kind (`load_model`), training
(lab.train), evaluation (lab.evaluate, lab.recall, lab.measure), benchmarks (lab.bench,
lab.train_bench) and model cards (lab.card). It imports the engine (rwkv_core) and the rival
models (rivals), never the app or the figures.

    import lab
    model = lab.load_model("models/lstm-shakespeare.safetensors")   # any kind, recognised by its tensors
"""
from __future__ import annotations

from pathlib import Path

import torch

from lab.kinds import KINDS, MODELS_DIR, SHIPPED, Kind, Shipped

__all__ = ["load_model", "KINDS", "SHIPPED", "MODELS_DIR", "Kind", "Shipped"]


def load_model(path: str | Path | None = None, *, device="cpu", dtype=torch.float32,
               tokenizer: str | Path | None = None):
    """Load a checkpoint of any registered kind (lab.kinds.KINDS), recognised by its tensor names:
    RWKV-4 (BlinkDL .pth, .safetensors, a Hugging Face folder), the stacked LSTM, the red-line RNN,
    the GPT; the embedded RWKV-4 when path is None. Raises CheckpointError with the reason."""
    from lab.kinds import kind_of
    from rwkv_core import tokenizer_for
    from rwkv_core.checkpoint import read_tensors
    sd, fmt, resolved = read_tensors(path)
    kind = kind_of(sd) or KINDS["rwkv4"]          # RWKV-4's validation names what is missing
    tok = tokenizer_for(kind.validate(sd, resolved.name), resolved, tokenizer)
    return kind.build(sd, device=device, dtype=dtype, tokenizer=tok, source=str(resolved), fmt=fmt)
