"""The GPT with RWKV-4's token shift before each sublayer: an experiment on the GPT's slow start
(lab.gpt_shift trains it; never shipped).

Each block mixes its layer-normed input with the previous token's, per channel, before the attention
and before the MLP, as RWKV-4's time-mix and channel-mix do before their projections:

    h_t = ln(x_t);   h'_t = μ ⊙ h_t + (1 − μ) ⊙ h_{t−1}   (h_{−1} = 0);   x_t += attn(h')_t  (then the MLP)

with μ = `transformer.h.{i}.time_mix_1` (before the attention) and `time_mix_2` (before the MLP), one
(C,) vector each, initialised as RWKV-LM initialises RWKV-4's time_mix_k (lab.train_kinds:
(c / C) ** (1 − i / L), channel c of layer i of L). μ = 1 everywhere is the plain GPT (tests/test_gpt_shift.py).
The shift and the mix are the engine's own (rwkv_core.ops.token_shift, ops.mix).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from rivals import gpt
from rwkv_core import ops

MIXES = ("time_mix_1", "time_mix_2")         # before the attention, before the MLP


def mix_key(layer: int, which: str) -> str:
    return f"transformer.h.{layer}.{which}"


# --- the model --------------------------------------------------------------------------------

@dataclass(frozen=True)
class ShiftWeights:
    gpt: gpt.Weights                                  # every tensor of the plain GPT
    mix: tuple[tuple[torch.Tensor, torch.Tensor], ...]   # per block: (time_mix_1, time_mix_2), (C,) each

    @classmethod
    def from_state_dict(cls, sd: dict[str, torch.Tensor]) -> "ShiftWeights":
        w = gpt.Weights.from_state_dict(sd)
        return cls(w, tuple(tuple(sd[mix_key(i, m)] for m in MIXES) for i in range(len(w.blocks))))


def init_weights(config: gpt.Config, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """The GPT's tensors (GPT-2's init), plus each block's two mix vectors, set as RWKV-LM sets time_mix_k."""
    sd = gpt.init_weights(config, generator)
    C, L = config.n_embd, config.n_layer
    ratio = torch.arange(C, dtype=torch.float32) / C               # (C,) 0 … 1 across channels
    for i in range(L):
        for m in MIXES:
            sd[mix_key(i, m)] = ratio ** (1.0 - i / L)             # (C,) near 0: mostly the previous token
    return sd


def token_shift(h: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
    """h (..., T, C) → μ ⊙ h_t + (1 − μ) ⊙ h_{t−1}, with zeros before the first token (RWKV-4's, per sequence)."""
    prev = ops.token_shift(h, h.new_zeros(h.shape[:-2] + h.shape[-1:]))   # (..., T, C) h_{t−1}: the engine's
    return ops.mix(h, prev, mu)                                    # (..., T, C) the engine's time-mix


def forward_batch(w: ShiftWeights, ids: torch.Tensor) -> torch.Tensor:
    """ids (B, T) → logits (B, T, V) from an empty context: gpt.forward_batch with the shift added."""
    g = w.gpt
    C, H = g.wte.shape[1], g.n_head
    x = gpt.embed(g, ids)                                          # (B, T, C)
    empty = gpt.init_cache(1, H, C // H, batch=ids.shape[:-1], device=ids.device, dtype=x.dtype)[0]
    for bw, (mu_1, mu_2) in zip(g.blocks, w.mix):
        h = token_shift(gpt.layer_norm(x, bw.ln_1), mu_1)          # (B, T, C)
        att, _ = gpt.attention(h, empty, bw.c_attn, bw.c_proj, H, fused=True)
        x = x + att                                                # (B, T, C)
        x = x + gpt.mlp(token_shift(gpt.layer_norm(x, bw.ln_2), mu_2), bw)   # (B, T, C)
    return gpt.head(g, x)                                          # (B, T, V)


class Scorer:
    """What validation reads (lab.gpt_eval: windows of n_ctx tokens, each from an empty context)."""
    kind, schedules, device = "gpt-shift", ("parallel",), "cpu"

    def __init__(self, weights: ShiftWeights, config: gpt.Config, tokenizer):
        self.weights, self.config, self.tokenizer = weights, config, tokenizer

    def forward(self, tokens, state=None, *, mode: str = "parallel", all_logits: bool = True):
        with torch.no_grad():
            logits = forward_batch(self.weights, torch.as_tensor(tokens)[None])[0]   # (T, V)
        return (logits if all_logits else logits[-1]), None
