"""The operations of an RWKV-v4 block, each a small pure function, in their plain form: the
token-shift mix, the squared ReLU and the stable WKV recurrence token by token.

Every function works on tensors shaped (..., T, C) or (..., C): the leading dimensions are
free, so the same code runs one sequence for the app and a batch for training.

Paper symbols and our names:
  w  = -exp(time_decay)  per-channel decay per token, always negative (computed in time_mixing)
  u  = time_first        the current token's own weight in its WKV (exponent u + k), in place of a
                         decay: a bonus when u > 0, a penalty when u < 0
  aa, bb, pp             WKV numerator, denominator and running maximum exponent: the true
                         numerator is aa * e^pp and the true denominator bb * e^pp (see state.py)

Only the numerically stable form runs here. The naive form
  wkv_t = (sum_{j<t} e^{(t-1-j)w + k_j} v_j + e^{u+k_t} v_t) / (same with v = 1)
overflows for large k; it lives in lab/reference.py, for the tests and the lessons.

How the same numbers are computed fast (the WKV of many tokens in blocks, the products routed by
their size on a CPU) is rwkv_core/fast.py: model.py calls fast.linear and fast.wkv_parallel.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

# --- the WKV recurrence, token by token -------------------------------------------------------

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
    return wkv, decay_and_add(aa, bb, pp, w, k, v)


def decay_and_add(aa, bb, pp, decay, k, a, b=None):
    """The state update: decay the stored sums by e^decay and add a*e^k to the numerator and
    b*e^k to the denominator (b = 1: one token), keeping the largest exponent in pp. Used for a
    token (decay w) and for a whole block of n tokens (decay n*w, fast._carry)."""
    ww = pp + decay                 # the past, decayed
    p = torch.maximum(ww, k)
    e1 = torch.exp(ww - p)
    e2 = torch.exp(k - p)
    return e1 * aa + e2 * a, e1 * bb + (e2 if b is None else e2 * b), p


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


# --- the other operations of a block -------------------------------------------------------------

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
