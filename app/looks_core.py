"""Where each model looks: the GPT's attention weights beside RWKV's implicit attention (its WKV
written as weights over earlier tokens), for the same text, without Streamlit. The Why page and the
Explorer's "WKV as attention" section (app/compare_view.py) draw them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from lab import analysis
from rwkv_core import Recorder

MAX_LOOK_TOKENS = 64                            # a matrix a person can read


def gpt_attention(gpt_model, tokens: Sequence[int]) -> torch.Tensor:
    """The GPT's real attention weights for tokens (at most its context): (L, H, T, T), from its
    own forward pass (rivals.gpt_model.attention_weights); each row sums to 1."""
    from rivals.gpt_model import attention_weights
    return torch.stack(attention_weights(gpt_model, list(tokens)))          # (L, H, T, T)


@dataclass(frozen=True)
class Implicit:
    weights: torch.Tensor      # (L, T, T): row t, RWKV's weights over tokens 0..t (mean over channels)
    max_diff: float            # max |WKV rebuilt from the per-channel weights - WKV recorded|


def rwkv_implicit_attention(model, tokens: Sequence[int]) -> Implicit:
    """RWKV's WKV of every token written as weights over the tokens so far (analysis.implicit_attention,
    per channel), averaged over channels: (L, T, T), lower triangular, rows summing to 1. Each
    channel's weights rebuild the recorded WKV (max_diff)."""
    rec = Recorder(["blocks.*.att.k", "blocks.*.att.v", "blocks.*.att.wkv"])
    model.forward(list(tokens), mode="parallel", recorder=rec, all_logits=False)
    T, worst, layers = len(tokens), 0.0, []
    for i, bw in enumerate(model.weights.blocks):
        p = f"blocks.{i}.att."
        k, v, wkv = rec[p + "k"], rec[p + "v"], rec[p + "wkv"]                 # (T, C) each
        rows = torch.zeros(T, T, dtype=torch.float64)
        for t in range(T):
            w = analysis.implicit_attention(k, bw.att.time_decay, bw.att.time_first, t)   # (t+1, C)
            worst = max(worst, float((analysis.wkv_from_attention(w, v) - wkv[t].double()).abs().max()))
            rows[t, : t + 1] = w.mean(1)
        layers.append(rows)
    return Implicit(torch.stack(layers), worst)                                  # (L, T, T)


@dataclass(frozen=True)
class Looks:
    labels: list[str]          # the tokens as shown
    rwkv: Implicit
    gpt: torch.Tensor          # (L, H, T, T)


def look_tokens(model, text: str, limit: int = MAX_LOOK_TOKENS) -> list[int]:
    ids = model.tokenizer.encode(text)
    if not ids:
        raise ValueError("the text is empty")
    return ids[:limit]


def where_they_look(rwkv_model, gpt_model, tokens: Sequence[int]) -> Looks:
    """The same tokens through both: RWKV's implicit attention and the GPT's attention weights."""
    labels = [rwkv_model.tokenizer.display(t) for t in tokens]
    return Looks(labels, rwkv_implicit_attention(rwkv_model, tokens), gpt_attention(gpt_model, tokens))


def pick_head(gpt_weights: torch.Tensor, head: int | None) -> torch.Tensor:
    """(L, H, T, T) → (L, T, T): one head, or the mean over heads (None)."""
    return gpt_weights.mean(1) if head is None else gpt_weights[:, head]


def last_row(weights: torch.Tensor) -> torch.Tensor:
    """(L, T, T) → (L, T): every layer's weights for the last token."""
    return weights[:, -1, :]


def distance(weights: torch.Tensor) -> torch.Tensor:
    """(L, T, T) → (L,): per layer, how far back a token looks on average (weighted distance in
    tokens, averaged over the tokens), a one-number summary of 'where it looks'."""
    T = weights.shape[-1]
    gap = (torch.arange(T)[:, None] - torch.arange(T)[None, :]).clamp(min=0).to(weights.dtype)   # (T, T)
    return (weights * gap).sum(-1).mean(-1)                                   # (L,)
