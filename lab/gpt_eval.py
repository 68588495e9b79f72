"""Held-out bits per character of the GPT over texts longer than its context: a sliding window.

RWKV and the LSTMs read each held-out play whole, the state carried (lab.evaluate). A GPT
cannot: its position table has n_ctx rows. So each play is read in windows of n_ctx tokens that
move by `stride` (n_ctx / 2 by default) tokens; every token is scored once, in the first window
where it is among the last `stride` predictions, so after the first window every prediction has
at least n_ctx − stride tokens of context (256 of 512 by default) and at most n_ctx − 1. The
first window's tokens are scored with what precedes them, as RWKV's are.

    windows(n_tokens=1300, window=512, stride=256) → (0, 512, 1), (256, 768, 513), (512, 1024, 769),
                                                      (768, 1280, 1025), (1024, 1299, 1281)
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from rivals import gpt


def windows(n_tokens: int, window: int, stride: int) -> list[tuple[int, int, int]]:
    """(first input, end, first scored target) of each window over a text of n_tokens ids: inputs
    ids[begin:end] predict ids[begin+1:end+1], of which the targets from index `scored` on count."""
    if not 0 < stride <= window:
        raise ValueError(f"the stride must be between 1 and the window ({window}), got {stride}")
    out, begin, scored = [], 0, 1
    while scored < n_tokens:
        end = min(begin + window, n_tokens - 1)
        out.append((begin, end, scored))
        scored, begin = end + 1, begin + stride
    return out


def _window_logits(model, x: torch.Tensor) -> torch.Tensor:
    """Logits (B, W, V) of windows x (B, W), each read from an empty state: a GPT's in one batched
    layer-parallel pass (gpt.forward_batch), any other kind's one window at a time."""
    if getattr(model, "kind", None) == "gpt":
        return gpt.forward_batch(model.weights, x)                        # (B, W, V)
    mode = getattr(model, "schedules", ("parallel",))[-1]
    return torch.stack([model.forward(row, mode=mode)[0] for row in x])   # (B, W, V)


@torch.no_grad()
def nats(model, ids: list[int], window: int, stride: int, batch: int = 8) -> float:
    """The summed cross-entropy (nats) of ids[1:], each token scored once (see windows()), every
    window read from an empty state (for RWKV or an LSTM too: the GPT's conditions, for comparison)."""
    todo = windows(len(ids), window, stride)
    seq = torch.tensor(ids, device=model.device)
    total = 0.0
    full = [w for w in todo if w[1] - w[0] == window]
    rest = [w for w in todo if w[1] - w[0] != window]
    groups = [full[i:i + batch] for i in range(0, len(full), batch)] + [[w] for w in rest]
    for group in groups:
        x = torch.stack([seq[b:e] for b, e, _ in group])                  # (B, W)
        logits = _window_logits(model, x)                                 # (B, W, V)
        for (b, e, scored), lg in zip(group, logits):
            first = scored - 1 - b                                        # the row predicting ids[scored]
            total += F.cross_entropy(lg[first:].float(), seq[scored:e + 1], reduction="sum").item()
    return total


def bits_per_char(model, texts, window: int | None = None, stride: int | None = None) -> dict:
    """lab.evaluate.bits_per_char's numbers for a GPT: the same totals (every token after
    the first of each text, the characters they spell), read with a sliding window (by default
    the model's n_ctx; give it for a model without one)."""
    window = window or model.config.n_ctx
    stride = stride or window // 2
    tok = model.tokenizer
    total, chars, tokens = 0.0, 0, 0
    for text in texts:
        ids = tok.encode(text)
        total += nats(model, ids, window, stride)
        tokens += len(ids) - 1
        chars += len(tok.decode(ids[1:]))
    return {"bits_per_char": total / chars / math.log(2), "nats_per_token": total / tokens,
            "chars": chars, "tokens": tokens, "window": window, "stride": stride}


def held_out(model, val: dict[str, str], window: int | None = None, stride: int | None = None) -> dict:
    """Bits per character per play and over both (summed from the plays), as the rivals' card."""
    plays = {name: bits_per_char(model, [text], window, stride) for name, text in val.items()}
    total = sum(p["nats_per_token"] * p["tokens"] for p in plays.values())
    chars, tokens = sum(p["chars"] for p in plays.values()), sum(p["tokens"] for p in plays.values())
    return {"plays": plays, "total": {"bits_per_char": total / chars / math.log(2), "nats_per_token": total / tokens,
                                      "chars": chars, "tokens": tokens}}
