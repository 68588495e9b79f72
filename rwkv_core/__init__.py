"""rwkv_core: an exact RWKV-v4 engine that runs one model in three schedules (rnn, cascade,
parallel), with named state, recording points, timing and sampling. No UI imports here."""
from __future__ import annotations

from pathlib import Path

import torch

from .checkpoint import DEFAULT_MODEL, CheckpointError, read_checkpoint, to_weights_dict
from .config import Config
from .model import RWKV, RunResult
from .sampling import Sample, SamplingSettings, make_generator, sample
from .schedule import Cell, Plan, plan
from .state import LayerState, State, init_state
from .trace import Recorder
from .weights import Weights

__all__ = ["load_model", "RWKV", "Config", "CheckpointError", "State", "LayerState", "init_state",
           "Recorder", "plan", "Plan", "Cell", "SamplingSettings", "Sample", "sample", "make_generator",
           "RunResult", "Weights", "DEFAULT_MODEL", "from_state_dict"]


def from_state_dict(sd: dict, *, device="cpu", dtype=torch.float32, tokenizer=None, source="",
                    fmt="state dict") -> RWKV:
    """A model from BlinkDL-named tensors already in memory (validated like a file)."""
    from .checkpoint import file_name, loading, validate
    name = file_name(source) if source else "state dict"
    config = validate(sd, name)
    with loading(name, "the model could not be built"):    # e.g. MemoryError casting to dtype
        weights = Weights.from_state_dict(to_weights_dict(sd, config, device=device, dtype=dtype))
        return RWKV(weights, config, tokenizer=tokenizer, source=source, fmt=fmt, device=device)


def _read_tokenizer(path: Path):
    """A tokenizer JSON, checked like a checkpoint (a regular file of a bounded size) first."""
    from .checkpoint import MAX_JSON_BYTES, check_file, file_name, loading
    from .tokenizer import Tokenizer
    with loading(file_name(path), "not a usable tokenizer"):
        check_file(path, MAX_JSON_BYTES)
        return Tokenizer(path)


def load_model(path: str | Path | None = None, *, device="cpu", dtype=torch.float32,
               tokenizer: str | Path | None = None) -> RWKV:
    """Load an RWKV-4 checkpoint (BlinkDL .pth, .safetensors, Hugging Face folder), or the
    embedded default model when path is None; a rival's (an LSTM or the red-line RNN,
    rwkv_core.rivals) is recognised by its tensor names. Raises CheckpointError with the reason."""
    from . import rivals
    from .checkpoint import read_tensors, validate
    from .tokenizer import find_tokenizer
    sd, fmt, resolved = read_tensors(path)
    kind = rivals.infer_kind(sd)
    config = rivals.validate(sd, resolved.name) if kind else validate(sd, resolved.name)
    tok_path = Path(tokenizer) if tokenizer else find_tokenizer(resolved)
    tok = _read_tokenizer(tok_path) if tok_path else None
    if tok is not None and tok.vocab_size > config.vocab_size:
        raise CheckpointError(f"{tok_path.name}: the tokenizer has {tok.vocab_size} tokens but the model only "
                              f"{config.vocab_size}: they do not belong together")
    build = rivals.from_state_dict if kind else from_state_dict
    return build(sd, device=device, dtype=dtype, tokenizer=tok, source=str(resolved), fmt=fmt)
