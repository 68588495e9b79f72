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

WKV_BLOCK = 4  # tokens per block of the parallel WKV: the fastest on a 2-core CPU (T=512, C=768: 16 ms vs 37 ms token by token)


def layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    return F.layer_norm(x, (x.shape[-1],), weight, bias, eps=1e-5)


def token_shift(x: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
    """The previous token's vector for every position: `last` (from the state) for the first."""
    if x.shape[-2] == 1:
        return last.unsqueeze(-2)                                 # (..., 1, C)
    return torch.cat([last.unsqueeze(-2), x[..., :-1, :]], dim=-2)  # (..., T, C)


def mix(x: torch.Tensor, prev: torch.Tensor, time_mix: torch.Tensor) -> torch.Tensor:
    """Interpolate each channel between this token and the previous one: mu*x + (1-mu)*prev."""
    return torch.lerp(prev, x, time_mix)  # (..., T, C) prev + mu*(x - prev), in one pass


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
    1. what each block adds to the state after it, all blocks at once: exponents (L-1-j)w + k_j;
    2. the state carried from block to block (N small steps);
    3. every output at once, as a loop over the offset d = i - j inside a block (L small steps):
       token j weighs e^{(d-1)w + k_j} in output i (d >= 1), the token itself e^{u + k_i} (d = 0),
       and the state at the block's start e^{pp + i*w}.
    Every sum is taken relative to its largest exponent p, as in wkv_step. p only rescales
    numerator and denominator alike, so it is computed without gradient."""
    *lead, T, C = k.shape
    N = T // L
    kb = k.reshape(*lead, N, L, C)                             # (..., N, L, C)
    vb = v.reshape(*lead, N, L, C)                             # (..., N, L, C)
    i = torch.arange(L, device=k.device, dtype=k.dtype)[:, None]  # (L, 1) position in the block
    # 1. each block's contribution to the state after it
    S = (L - 1 - i) * w + kb                                   # (..., N, L, C)
    ps = S.max(dim=-2).values.detach()                         # (..., N, C)
    es = torch.exp(S - ps.unsqueeze(-2))                       # (..., N, L, C)
    a_blk, b_blk = (es * vb).sum(-2), es.sum(-2)               # (..., N, C)
    # 2. carry the state across blocks
    starts = []
    for n in range(N):
        starts.append((aa, bb, pp))
        ww = pp + L * w                                        # the carried state, decayed over the block
        p = torch.maximum(ww, ps[..., n, :])
        e1, e2 = torch.exp(ww - p), torch.exp(ps[..., n, :] - p)
        aa, bb, pp = e1 * aa + e2 * a_blk[..., n, :], e1 * bb + e2 * b_blk[..., n, :], p
    aa0, bb0, pp0 = (torch.stack(s, dim=-2).unsqueeze(-2) for s in zip(*starts))  # (..., N, 1, C)
    # 3. outputs: first the largest exponent of each output, then the weighted sums
    state_exp = pp0 + i * w                                    # (..., N, L, C)
    self_exp = u + kb                                          # (..., N, L, C)
    with torch.no_grad():
        p = torch.maximum(state_exp, self_exp)                 # (..., N, L, C)
        for d in range(1, L):
            torch.maximum(p[..., d:, :], kb[..., :L - d, :] + (d - 1) * w, out=p[..., d:, :])
    e = torch.exp(state_exp - p)
    num, den = e * aa0, e * bb0                                # (..., N, L, C)
    e = torch.exp(self_exp - p)
    num, den = num + e * vb, den + e
    for d in range(1, L):                                      # token j = i - d of the same block
        e = torch.exp(kb[..., :L - d, :] + (d - 1) * w - p[..., d:, :])   # (..., N, L-d, C)
        num[..., d:, :] += e * vb[..., :L - d, :]
        den[..., d:, :] += e
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
