"""The article's cliffhanger as a model: RWKV-4 whose time-mix keeps only the token shift.

"Because we removed a fundamental core of LSTM, the model will perform poorly" — to measure it,
this ablation keeps everything of RWKV-4 except the WKV memory: time-mix's output is
W_o (σ(r) ⊙ v), with r and v read from the token-shifted input, so a layer sees its own token
and the one before it, nothing further back (through L layers, at most 2L tokens back).

It is trained with the embedded model's recipe (`python -m lab.train --time-mix shift`)
and shipped as an ordinary RWKV-4 checkpoint that any page can load: WKV with u = +10^4 and
k = 0 gives the current token all the weight,

    wkv_t = (e^{pp−q} aa + e^{u+k_t−q} v_t) / (e^{pp−q} bb + e^{u+k_t−q}),  q = u + k_t
          = (0 · aa + v_t) / (0 · bb + 1) = v_t          (e^{pp − 10^4} is 0 in float32)

so the engine runs it unchanged and every schedule gives the same output as `forward_batch`
below (tests/test_ablation.py).
"""
from __future__ import annotations

import torch

from rwkv_core import fast, ops
from rwkv_core.model import channel_mixing, embed, head
from rwkv_core.weights import AttWeights, Weights

SHIFT_ONLY_U = 1e4                  # u: the current token's exponent beats any stored one by ~10^4
FROZEN = ("att.key.weight", "att.time_first", "att.time_decay")   # unused by the ablation


def shift_only(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Set the tensors the ablation does not use so that the full WKV reduces to v (in place)."""
    for name, t in sd.items():
        if name.endswith("att.key.weight"):
            t.zero_()
        elif name.endswith("att.time_first"):
            t.fill_(SHIFT_ONLY_U)
        elif name.endswith("att.time_decay"):
            t.zero_()                                            # w = −1; multiplied by weight 0
    return sd


def is_frozen(name: str) -> bool:
    return name.endswith(FROZEN)


def time_mixing_shift_only(x, x_att, att: AttWeights):
    """x: (..., T, C), the layer-normed input. Token shift, R and V; no K, no WKV."""
    prev = ops.token_shift(x, x_att)                     # (..., T, C)
    xv = ops.mix(x, prev, att.time_mix_v)                # (..., T, C)
    xr = ops.mix(x, prev, att.time_mix_r)                # (..., T, C)
    r = torch.sigmoid(fast.linear(xr, att.receptance))   # (..., T, C)
    v = fast.linear(xv, att.value)                       # (..., T, C)
    return fast.linear(r * v, att.output)                # (..., T, C)


def forward_batch(weights: Weights, ids: torch.Tensor) -> torch.Tensor:
    """ids (B, T) → logits (B, T, V), from a zero state, for training the ablation."""
    x = embed(weights, ids)                                                      # (B, T, C)
    zero = torch.zeros(*ids.shape[:-1], x.shape[-1], dtype=x.dtype)              # (B, C)
    for bw in weights.blocks:
        x = x + time_mixing_shift_only(ops.layer_norm(x, bw.ln1.weight, bw.ln1.bias), zero, bw.att)
        x = x + channel_mixing(ops.layer_norm(x, bw.ln2.weight, bw.ln2.bias), zero, bw.ffn)[0]
    return head(weights, x)                                                      # (B, T, V)
