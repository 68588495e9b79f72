"""rwkv_core: an exact RWKV-v4 engine that runs one model in three schedules (rnn, cascade,
parallel), with named state, recording points, timing and sampling. No UI imports here."""
from __future__ import annotations

from pathlib import Path

import torch

from rwkv_core.base import RunResult
from rwkv_core.checkpoint import DEFAULT_MODEL, CheckpointError, to_weights_dict
from rwkv_core.config import Config
from rwkv_core.model import RWKV
from rwkv_core.sampling import Sample, SamplingSettings, make_generator, sample
from rwkv_core.schedule import Cell, Plan, plan
from rwkv_core.state import LayerState, State, init_state
from rwkv_core.trace import Recorder
from rwkv_core.weights import Weights

__all__ = ["load_model", "RWKV", "Config", "CheckpointError", "State", "LayerState", "init_state",
           "Recorder", "plan", "Plan", "Cell", "SamplingSettings", "Sample", "sample", "make_generator",
           "RunResult", "Weights", "DEFAULT_MODEL", "from_state_dict", "tokenizer_for"]


def from_state_dict(sd: dict, *, device="cpu", dtype=torch.float32, tokenizer=None, source="",
                    fmt="state dict") -> RWKV:
    """A model from BlinkDL-named tensors already in memory (validated like a file)."""
    from rwkv_core.checkpoint import file_name, loading, validate
    name = file_name(source) if source else "state dict"
    config = validate(sd, name)
    with loading(name, "the model could not be built"):    # e.g. MemoryError casting to dtype
        weights = Weights.from_state_dict(to_weights_dict(sd, config, device=device, dtype=dtype))
        return RWKV(weights, config, tokenizer=tokenizer, source=source, fmt=fmt, device=device)


def _read_tokenizer(path: Path):
    """A tokenizer JSON, checked like a checkpoint (a regular file of a bounded size) first."""
    from rwkv_core.checkpoint import MAX_JSON_BYTES, check_file, file_name, loading
    from rwkv_core.tokenizer import Tokenizer
    with loading(file_name(path), "not a usable tokenizer"):
        check_file(path, MAX_JSON_BYTES)
        return Tokenizer(path)


def tokenizer_for(config, resolved: Path, tokenizer: str | Path | None = None):
    """The tokenizer of a checkpoint: `tokenizer` when given, else a JSON found beside the file
    (rwkv_core.tokenizer.find_tokenizer), else None; CheckpointError when it has more tokens than
    the model (`config.vocab_size`): they do not belong together."""
    from rwkv_core.tokenizer import find_tokenizer
    tok_path = Path(tokenizer) if tokenizer else find_tokenizer(resolved)
    tok = _read_tokenizer(tok_path) if tok_path else None
    if tok is not None and tok.vocab_size > config.vocab_size:
        raise CheckpointError(f"{tok_path.name}: the tokenizer has {tok.vocab_size} tokens but the model only "
                              f"{config.vocab_size}: they do not belong together")
    return tok


def load_model(path: str | Path | None = None, *, device="cpu", dtype=torch.float32,
               tokenizer: str | Path | None = None) -> RWKV:
    """Load an RWKV-4 checkpoint (BlinkDL .pth, .safetensors, Hugging Face folder), or the
    embedded default model when path is None. Raises CheckpointError with the reason. (Any model
    kind of this project, an LSTM's or a GPT's too: `lab.load_model`.)"""
    from rwkv_core.checkpoint import read_tensors, validate
    sd, fmt, resolved = read_tensors(path)
    tok = tokenizer_for(validate(sd, resolved.name), resolved, tokenizer)
    return from_state_dict(sd, device=device, dtype=dtype, tokenizer=tok, source=str(resolved), fmt=fmt)
