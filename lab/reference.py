"""The reference implementation: RWKV-4's equations written the way the lessons state them, one
small function each.

These are NOT the engine's ops (rwkv_core/ops.py, model.py): they are a second, deliberately plain
implementation of the formulas a student reads, and they import nothing from the engine, so that
checking one against the other means something. The lesson pages compute the numbers they show
with them (tests/test_lessons_formulas.py checks them against the engine's recorded values), the
engine's tests use `wkv_naive` as the outside truth for the stable WKV, and lab/analysis.py
reads the half-life and the WKV-as-attention weights from here. When a lesson names a formula in
its front matter (`formulas: [wkv_naive]`), that name is a function here.

Symbols of the RWKV-4 paper (Peng et al., 2023) and the names used here and in the engine:
  mu_r, mu_k, mu_v   time_mix_r, time_mix_k, time_mix_v   (token shift weights)
  w                  -exp(time_decay)  decay per token, negative; the paper writes e^{-(t-1-i)w}
                     with w >= 0, the code stores time_decay and multiplies by e^{w}, w < 0
  u                  time_first        the current token's own weight in its WKV, in place of a
                                       decay (exponent u + k_t); often called a bonus, but
                                       trained models have u < 0 too (RWKV-4 starts at ln 0.3)
  a, b               numerator and denominator of the WKV sum (the recurrent form)
  aa, bb, pp         the stable form's state: a = aa * e^pp, b = bb * e^pp

Vectors are (C,) for one token or (T, C) for a sequence; matrices are (out, in) as stored.
"""
from __future__ import annotations

import torch

# The stable form's "no history yet": e^{pp} = 0. A true -inf works here too (every step stays
# finite); it is the engine's blocked parallel form that would meet -inf - (-inf) = NaN with it.
NEG_INF = -1e38


# --- before the blocks and after them ---------------------------------------------------------

def layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """(x - mean) / sqrt(var + eps) * weight + bias, over the channels of each token."""
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)   # the biased variance, as torch uses
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


def embedding(emb: torch.Tensor, token: int, ln0_weight: torch.Tensor, ln0_bias: torch.Tensor) -> torch.Tensor:
    """A token's input vector: row `token` of the embedding matrix, then layer norm ln0."""
    return layer_norm(emb[token], ln0_weight, ln0_bias)   # (C,)


def logits(head: torch.Tensor, x_top: torch.Tensor, ln_w: torch.Tensor, ln_b: torch.Tensor) -> torch.Tensor:
    """Scores for every vocabulary entry: head · ln_out(x) (one score per token, (V,))."""
    return layer_norm(x_top, ln_w, ln_b) @ head.T


# --- sampling -------------------------------------------------------------------------------

def softmax_with_temperature(logit: torch.Tensor, temperature: float) -> torch.Tensor:
    """p_i = e^{z_i / T} / sum_j e^{z_j / T}; computed in float64 after subtracting the max."""
    z = logit.double() / temperature
    e = torch.exp(z - z.max())
    return e / e.sum()


def top_k_filter(p: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k most likely tokens (ties with the k-th kept too); the rest get 0. Not yet
    renormalised: top-p then counts the original probabilities, as the engine does."""
    if k <= 0 or k >= len(p):
        return p
    kth = torch.sort(p, descending=True).values[k - 1]
    return torch.where(p >= kth, p, torch.zeros_like(p))


def top_p_filter(p: torch.Tensor, top_p: float) -> torch.Tensor:
    """Keep the most likely tokens until their total reaches top_p: a token is kept when the
    tokens more likely than it add up to less than top_p (so the top token always stays)."""
    if top_p >= 1:
        return p
    order = torch.argsort(p, descending=True)
    before = torch.cumsum(p[order], 0) - p[order]
    kept = torch.zeros_like(p)
    keep = order[before < top_p]
    kept[keep] = p[keep]
    return kept


def renormalise(p: torch.Tensor) -> torch.Tensor:
    """Divide the kept probabilities by their sum, so they add up to 1 again."""
    return p / p.sum()


# --- time-mix ---------------------------------------------------------------------------------

def token_shift(x: torch.Tensor, x_prev: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
    """mu * x_t + (1 - mu) * x_{t-1}, channel by channel (the paper's mu is the code's time_mix)."""
    return mu * x + (1 - mu) * x_prev


def receptance(W_r: torch.Tensor, xr: torch.Tensor) -> torch.Tensor:
    """r = sigmoid(W_r · xr): between 0 and 1, how much of the WKV each channel lets through."""
    return 1 / (1 + torch.exp(-(xr @ W_r.T)))


def key(W_k: torch.Tensor, xk: torch.Tensor) -> torch.Tensor:
    """k = W_k · xk"""
    return xk @ W_k.T


def value(W_v: torch.Tensor, xv: torch.Tensor) -> torch.Tensor:
    """v = W_v · xv"""
    return xv @ W_v.T


def decay(time_decay: torch.Tensor) -> torch.Tensor:
    """w = -exp(time_decay): always negative, so e^{w} is a factor between 0 and 1 per token."""
    return -torch.exp(time_decay)


def half_life(time_decay: torch.Tensor) -> torch.Tensor:
    """Tokens after which a past token's weight has halved: e^{n w} = 1/2, n = ln 2 / e^{time_decay}."""
    return torch.log(torch.tensor(2.0, dtype=time_decay.dtype)) / torch.exp(time_decay)


def wkv_exponents(w: torch.Tensor, u: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """For the last token t of k (t+1, C): the exponent of each token i <= t in the WKV sum,
    (t-1-i) w + k_i for the past and u + k_t for the token itself. (t+1, C)"""
    t = k.shape[0] - 1
    dist = torch.arange(t, -1, -1, dtype=k.dtype)[:, None] - 1      # t-1-i for i = 0..t
    ex = dist * w + k
    ex[t] = u + k[t]
    return ex


def wkv_weights(w: torch.Tensor, u: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """The share of each token i <= t in the last token's WKV: e^{exponent_i} / sum_j e^{exponent_j},
    per channel (t+1, C); each column sums to 1. (Computed relative to the largest exponent.)"""
    ex = wkv_exponents(w, u, k).double()
    e = torch.exp(ex - ex.max(0).values)
    return e / e.sum(0)


def wkv_naive(w: torch.Tensor, u: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The WKV of every token t, as the sum over the past (T, C) → (T, C):

        wkv_t = (sum_{i<t} e^{(t-1-i)w + k_i} v_i + e^{u+k_t} v_t)
              / (sum_{i<t} e^{(t-1-i)w + k_i}     + e^{u+k_t})

    exp is taken of the exponents as they are: large k overflows (see the stable form)."""
    out = []
    for t in range(k.shape[0]):
        e = torch.exp(wkv_exponents(w, u, k[: t + 1]))                # (t+1, C)
        out.append((e * v[: t + 1]).sum(0) / e.sum(0))
    return torch.stack(out)


def wkv_recurrent(w: torch.Tensor, u: torch.Tensor, k: torch.Tensor, v: torch.Tensor):
    """The same WKV token by token with two running sums a (numerator) and b (denominator):

        wkv_t = (a_{t-1} + e^{u+k_t} v_t) / (b_{t-1} + e^{u+k_t})
        a_t = e^{w} a_{t-1} + e^{k_t} v_t        b_t = e^{w} b_{t-1} + e^{k_t}       a_{-1} = b_{-1} = 0

    Returns wkv, a, b, each (T, C) (a and b after each token). Overflows like the sum form."""
    a = torch.zeros_like(k[0])
    b = torch.zeros_like(k[0])
    outs, As, Bs = [], [], []
    for t in range(k.shape[0]):
        e_now = torch.exp(u + k[t])
        outs.append((a + e_now * v[t]) / (b + e_now))
        a = torch.exp(w) * a + torch.exp(k[t]) * v[t]
        b = torch.exp(w) * b + torch.exp(k[t])
        As.append(a)
        Bs.append(b)
    return torch.stack(outs), torch.stack(As), torch.stack(Bs)


def wkv_stable_step(w, u, k_t, v_t, aa, bb, pp):
    """One token of the stable form: a = aa e^{pp} and b = bb e^{pp} are never built, only aa, bb
    and the exponent pp; every exp is of a number <= 0, so nothing overflows.

        output:  q = max(pp, u + k_t)
                 wkv_t = (e^{pp-q} aa + e^{u+k_t-q} v_t) / (e^{pp-q} bb + e^{u+k_t-q})
        update:  q' = max(pp + w, k_t)
                 aa' = e^{pp+w-q'} aa + e^{k_t-q'} v_t,  bb' = e^{pp+w-q'} bb + e^{k_t-q'},  pp' = q'
    """
    q = torch.maximum(pp, u + k_t)
    e_past, e_now = torch.exp(pp - q), torch.exp(u + k_t - q)
    out = (e_past * aa + e_now * v_t) / (e_past * bb + e_now)
    q2 = torch.maximum(pp + w, k_t)
    e_past, e_now = torch.exp(pp + w - q2), torch.exp(k_t - q2)
    return out, (e_past * aa + e_now * v_t, e_past * bb + e_now, q2)


def wkv_stable(w, u, k, v, aa=None, bb=None, pp=None):
    """wkv_stable_step over every token of k, v (T, C), from a given state (default: nothing seen,
    aa = bb = 0, pp = -inf). Returns wkv, aa, bb, pp, each (T, C)."""
    aa = torch.zeros_like(k[0]) if aa is None else aa
    bb = torch.zeros_like(k[0]) if bb is None else bb
    pp = torch.full_like(k[0], NEG_INF) if pp is None else pp
    rows = []
    for t in range(k.shape[0]):
        out, (aa, bb, pp) = wkv_stable_step(w, u, k[t], v[t], aa, bb, pp)
        rows.append((out, aa, bb, pp))
    return tuple(torch.stack(c) for c in zip(*rows))


def time_mix_output(W_o: torch.Tensor, r: torch.Tensor, wkv: torch.Tensor) -> torch.Tensor:
    """out = W_o · (r ⊙ wkv)"""
    return (r * wkv) @ W_o.T


# --- channel-mix --------------------------------------------------------------------------------

def squared_relu(x: torch.Tensor) -> torch.Tensor:
    """max(x, 0)^2"""
    return torch.clamp(x, min=0) ** 2


def channel_mix(x: torch.Tensor, x_prev: torch.Tensor, mu_k, mu_r, W_k, W_r, W_v) -> dict[str, torch.Tensor]:
    """The channel-mix of one token or a sequence:

        k = max(W_k · (mu_k x + (1-mu_k) x_prev), 0)^2      (F = 4C channels)
        r = sigmoid(W_r · (mu_r x + (1-mu_r) x_prev))
        out = r ⊙ (W_v · k)
    """
    k = squared_relu(token_shift(x, x_prev, mu_k) @ W_k.T)
    r = receptance(W_r, token_shift(x, x_prev, mu_r))
    return {"k": k, "r": r, "out": r * (k @ W_v.T)}


# --- the block ----------------------------------------------------------------------------------

def residual(x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """The residual stream: a sub-layer's output is added to its input, x + out."""
    return x + out
