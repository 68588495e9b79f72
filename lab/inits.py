"""Initialisations the trainer can start from, beside each kind's own (`hooks.init_weights`).

"kind" keeps the kind's initialisation as its reference code does it (RWKV-LM's for RWKV-4, GPT-2's
for the GPT, PyTorch's nn.LSTM for the LSTMs). "torch" gives every matrix PyTorch's default for the
layer it feeds, the same rule for every kind, as a model written with torch.nn and no init code gets:

    nn.Linear    weight (out, in) ~ U(-1/√in, 1/√in)     (kaiming_uniform_ with a = √5)
    nn.Embedding weight (rows, C) ~ N(0, 1)               (the tables looked up by token or position)

Vectors (LayerNorm scales and biases, RWKV-4's time_decay, time_first and time_mix, the LSTM's
biases) keep the kind's values: they are not matrices, and their init is part of what the kind is.
"""
from __future__ import annotations

import math

import torch

INITS = ("kind", "torch")
EMBEDDINGS = ("emb.weight", "wte.weight", "wpe.weight")   # RWKV-4 and the LSTMs: emb; the GPT: wte, wpe


def is_embedding(key: str) -> bool:
    """A table looked up by index, not multiplied: the token (and the GPT's position) embeddings."""
    return ".".join(key.split(".")[-2:]) in EMBEDDINGS


def torch_defaults(sd: dict[str, torch.Tensor], generator: torch.Generator) -> dict[str, torch.Tensor]:
    """A copy of `sd` with every floating matrix drawn as torch.nn's layer would draw it."""
    out = {}
    for key, v in sd.items():
        if not v.dtype.is_floating_point or v.ndim != 2:
            out[key] = v
        elif is_embedding(key):
            out[key] = torch.empty_like(v).normal_(0.0, 1.0, generator=generator)
        else:
            bound = 1 / math.sqrt(v.shape[1])                              # v (out, in)
            out[key] = torch.empty_like(v).uniform_(-bound, bound, generator=generator)
    return out


def initial(sd: dict[str, torch.Tensor], init: str, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """The kind's tensors `sd` as the recipe's `init` starts them."""
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; known: {', '.join(INITS)}")
    return sd if init == "kind" else torch_defaults(sd, generator)
