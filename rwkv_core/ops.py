"""The operations of an RWKV-v4 block, each a small pure function.

Every function works on tensors shaped (..., T, C) or (..., C): the leading dimensions are
free, so the same code runs one sequence for the app and a batch for training.

Paper symbols and our names:
  w  = -exp(time_decay)  per-channel decay per token, always negative (computed in time_mixing)
  u  = time_first        the bonus the current token gets in its own WKV
  aa, bb, pp             WKV numerator, denominator and running maximum exponent: the true
                         numerator is aa * e^pp and the true denominator bb * e^pp (see state.py)

Only the numerically stable form runs here. The naive form
  wkv_t = (sum_{j<t} e^{(t-1-j)w + k_j} v_j + e^{u+k_t} v_t) / (same with v = 1)
overflows for large k; it lives in the tests and the lessons.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .state import NEG_INF

WKV_BLOCK = 8  # tokens per block of the parallel WKV: long enough to vectorise, short enough to stay cheap


def layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    return F.layer_norm(x, (x.shape[-1],), weight, bias, eps=1e-5)


def token_shift(x: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
    """The previous token's vector for every position: `last` (from the state) for the first."""
    if x.shape[-2] == 1:
        return last.unsqueeze(-2)                                 # (..., 1, C)
    return torch.cat([last.unsqueeze(-2), x[..., :-1, :]], dim=-2)  # (..., T, C)


def mix(x: torch.Tensor, prev: torch.Tensor, time_mix: torch.Tensor) -> torch.Tensor:
    """Interpolate each channel between this token and the previous one: mu*x + (1-mu)*prev."""
    return prev + (x - prev) * time_mix  # (..., T, C)


def squared_relu(x: torch.Tensor) -> torch.Tensor:
    return torch.square(torch.relu(x))


def wkv_step(w, u, k, v, aa, bb, pp):
    """One token of the stable WKV recurrence. All tensors (..., C).

    Output: the weighted average of the past values (decayed state) and this token's value
    (with bonus u), each weight written as e^{exponent - p} with p the largest exponent.
    Update: decay the state by e^w and add this token with weight e^k, keeping the max in pp.
    """
    ww = u + k                      # exponent of the current token in its own output
    p = torch.maximum(pp, ww)
    e1 = torch.exp(pp - p)          # weight of the stored past
    e2 = torch.exp(ww - p)          # weight of the current token
    wkv = (e1 * aa + e2 * v) / (e1 * bb + e2)
    ww = pp + w                     # the past, decayed by one more token
    p = torch.maximum(ww, k)
    e1 = torch.exp(ww - p)
    e2 = torch.exp(k - p)
    return wkv, (e1 * aa + e2 * v, e1 * bb + e2, p)


def wkv_sequential(w, u, k, v, aa, bb, pp, *, states: bool = False):
    """The recurrence token by token: k, v (..., T, C). Returns wkv (..., T, C) and the final
    (aa, bb, pp); with states=True also the state after every token, each (..., T, C)."""
    outs, trace = [], []
    for t in range(k.shape[-2]):
        y, (aa, bb, pp) = wkv_step(w, u, k[..., t, :], v[..., t, :], aa, bb, pp)
        outs.append(y)
        if states:
            trace.append((aa, bb, pp))
    wkv = torch.stack(outs, dim=-2)
    if states:
        return wkv, (aa, bb, pp), tuple(torch.stack(s, dim=-2) for s in zip(*trace))
    return wkv, (aa, bb, pp)


def _blocks_wkv(w, u, k, v, aa, bb, pp, L: int):
    """WKV over T = N*L tokens in blocks of L, in three vectorised moves:
    1. inside every block at once, the exponents E[i, j] = (i-1-j)w + k_j (j < i), u + k_i (j = i);
    2. each block's contribution to the state, carried from block to block (N small steps);
    3. every output: the block's own tokens plus the state at the block's start, decayed i times.
    Every sum is taken relative to its largest exponent, as in wkv_step."""
    *lead, T, C = k.shape
    N = T // L
    kb = k.reshape(*lead, N, L, C)                             # (..., N, L, C)
    vb = v.reshape(*lead, N, L, C)                             # (..., N, L, C)
    i = torch.arange(L, device=k.device, dtype=k.dtype)
    dist = (i[:, None] - 1 - i[None, :])[..., None]            # (L, L, 1)   i-1-j
    decay = torch.where(dist >= 0, dist * w, NEG_INF)          # (L, L, C)   masked above the diagonal
    decay = torch.where((dist == -1), u.expand_as(decay), decay)  # diagonal: the bonus u
    E = decay + kb.unsqueeze(-3)                               # (..., N, L, L, C)
    # 2. what each block adds to the state after it: exponents (L-1-j)w + k_j
    S = (L - 1 - i)[:, None] * w + kb                          # (..., N, L, C)
    ps = S.max(dim=-2).values                                  # (..., N, C)
    es = torch.exp(S - ps.unsqueeze(-2))                       # (..., N, L, C)
    a_blk = (es * vb).sum(-2)                                  # (..., N, C)
    b_blk = es.sum(-2)                                         # (..., N, C)
    starts = []
    for n in range(N):
        starts.append((aa, bb, pp))
        ww = pp + L * w                                        # the carried state, decayed over the block
        p = torch.maximum(ww, ps[..., n, :])
        e1, e2 = torch.exp(ww - p), torch.exp(ps[..., n, :] - p)
        aa, bb, pp = e1 * aa + e2 * a_blk[..., n, :], e1 * bb + e2 * b_blk[..., n, :], p
    aa0, bb0, pp0 = (torch.stack(s, dim=-2).unsqueeze(-2) for s in zip(*starts))  # (..., N, 1, C)
    # 3. outputs: p is the largest of the block's exponents and the decayed start state's
    ps_state = pp0 + i[:, None] * w                            # (..., N, L, C)
    p = torch.maximum(E.max(dim=-2).values, ps_state)          # (..., N, L, C)
    e = torch.exp(E - p.unsqueeze(-2))                         # (..., N, L, L, C)
    es0 = torch.exp(ps_state - p)                              # (..., N, L, C)
    num = es0 * aa0 + torch.einsum("...ijc,...jc->...ic", e, vb)
    den = es0 * bb0 + e.sum(-2)
    return (num / den).reshape(*lead, T, C), (aa, bb, pp)


def wkv_parallel(w, u, k, v, aa, bb, pp, *, block: int = WKV_BLOCK):
    """WKV over all T tokens without a Python loop over single tokens: k, v (..., T, C).
    Equal to wkv_sequential up to rounding. Returns wkv (..., T, C) and the final (aa, bb, pp)."""
    T = k.shape[-2]
    if T == 1:
        y, st = wkv_step(w, u, k[..., 0, :], v[..., 0, :], aa, bb, pp)
        return y.unsqueeze(-2), st
    L = min(block, T)
    head = T - T % L
    y, (aa, bb, pp) = _blocks_wkv(w, u, k[..., :head, :], v[..., :head, :], aa, bb, pp, L)
    if head == T:
        return y, (aa, bb, pp)
    y_tail, (aa, bb, pp) = _blocks_wkv(w, u, k[..., head:, :], v[..., head:, :], aa, bb, pp, T - head)
    return torch.cat([y, y_tail], dim=-2), (aa, bb, pp)
