"""The rivals of RWKV in this project, trained here on the same data: a stacked LSTM ("lstm"),
whose cells can run as a cascade but whose layers are sequential inside, and the article's classic
RNN with the red line ("redline"), which can only run one cell at a time.

    from rivals import from_state_dict, infer_kind
"""
from __future__ import annotations

import torch

from rivals.gpt_model import GPTModel, is_gpt
from rivals.lstm import Config, LayerState, State, Weights, init_state
from rivals.model import RivalModel
from rwkv_core.checkpoint import CheckpointError, expect_exactly, file_name, loading

__all__ = ["infer_kind", "from_state_dict", "validate", "RivalModel", "Config", "State", "LayerState",
           "Weights", "init_state", "GPTModel"]


def infer_kind(sd: dict) -> str | None:
    """"redline" when the tensors carry red_line.weight, "lstm" for lstm.* tensors, else None
    (not a rival checkpoint: RWKV's loader takes over)."""
    if is_gpt(sd):          # transformer.* tensors: the GPT (rivals/gpt.py)
        return "gpt"
    if "red_line.weight" in sd:
        return "redline"
    if any(k.startswith("lstm.") for k in sd):
        return "lstm"
    return None


def validate(sd: dict, name: str) -> Config:
    """Every tensor of the kind there, with the right shape; CheckpointError naming what is wrong."""
    kind = infer_kind(sd)
    if kind == "gpt":
        from rivals import gpt_model
        return gpt_model.validate(sd, name)
    if kind is None:
        raise CheckpointError(f"{name}: no lstm.* tensors: not an LSTM or red-line RNN checkpoint")
    for key in ("lstm.emb.weight", "lstm.layers.0.weight_ih"):
        if key not in sd:
            raise CheckpointError(f"{name}: missing tensor {key!r}: not a complete {kind} checkpoint")
        if sd[key].ndim != 2:
            raise CheckpointError(f"{name}: tensor {key!r} must be a matrix, has shape {tuple(sd[key].shape)}")
    config = Config.from_state_dict(sd)
    expect_exactly(sd, config.expected_shapes(), name, f"{config.n_layer}-layer {kind}")
    return config


def from_state_dict(sd: dict, *, device="cpu", dtype=torch.float32, tokenizer=None, source: str = "",
                    fmt: str = "state dict") -> RivalModel:
    """A rival model from its checkpoint tensors, validated first."""
    if infer_kind(sd) == "gpt":
        from rivals import gpt_model
        return gpt_model.from_state_dict(sd, device=device, dtype=dtype, tokenizer=tokenizer, source=source, fmt=fmt)
    name = file_name(source) if source else "state dict"
    config = validate(sd, name)
    if tokenizer is not None and tokenizer.vocab_size > config.vocab_size:
        raise CheckpointError(f"{name}: the tokenizer has {tokenizer.vocab_size} tokens but the model only "
                              f"{config.vocab_size}: they do not belong together")
    with loading(name, "the model could not be built"):    # e.g. MemoryError casting to dtype
        weights = Weights.from_state_dict({k: sd[k].to(device=device, dtype=dtype).contiguous()
                                           for k in config.expected_shapes()})
        return RivalModel(weights, config, tokenizer=tokenizer, source=source, fmt=fmt, device=device)
