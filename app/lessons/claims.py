"""The lessons' claims about the loaded model, computed from it: every sentence a step states
about "this model" (its size, its tokenizer, the range of u, how many μ lie in [0, 1], its
largest key against float16's limit, what a true −∞ does to the blocked WKV, how the libraries
order their sampling filters) is built here from the weights and the recorded example, so a
different model or prompt changes the sentence. No Streamlit: views.py lays them out and
tests/test_lessons_claims.py checks each sentence against its own computation.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import torch

from lab import reference as fm
from rwkv_core import fast, ops
from rwkv_core.protocol import Model
from rwkv_core.sampling import SamplingSettings, probabilities

from .core import Example, max_diff

LN_FLOAT16_MAX = math.log(65504.0)     # ≈ 11.09: e^x is inf in float16 above it
LN_FLOAT32_MAX = math.log(torch.finfo(torch.float32).max)   # ≈ 88.72
U_INIT = math.log(0.3)                 # RWKV-LM's RWKV-4 init: time_first = ln 0.3 + (−0.5, 0, 0.5)


def _n(x: float) -> str:
    """A number for a sentence: the minus sign of print, not a hyphen."""
    return f"{x:.2f}".replace("-", "−")


# --- lesson 1: the model and its tokenizer ---------------------------------------------------------

def describe_model(model: Model) -> str:
    """One sentence on the loaded model's size and tokenizer."""
    c = model.config
    tok = ("and its own tokenizer" if model.tokenizer is not None else
           "and no tokenizer: the lessons feed it a fixed list of token ids and show each token as "
           "a #id chip, so no text can be shown")
    return (f"The loaded model: {c.n_layer} layers, {c.n_embd} numbers per vector, a vocabulary of "
            f"{c.vocab_size:,} tokens, {tok}.")


def word_pieces(ex: Example) -> tuple[list[str], list[str]] | None:
    """The prompt's words as the tokenizer cut them: (words that are one token, words cut into
    several), None without a tokenizer. A word is a run of letters; it is one token when all its
    letters come from the same token."""
    tok = ex.model.tokenizer
    if tok is None:
        return None
    text, owner = "", []
    for n, i in enumerate(ex.ids):
        piece = tok.decode([i])
        text += piece
        owner += [n] * len(piece)                 # which token each character came from
    whole, split = [], []
    for m in re.finditer(r"[^\W\d_]+", text):
        (whole if len(set(owner[m.start(): m.end()])) == 1 else split).append(m.group())
    return whole, split


def tokenizer_sentence(ex: Example) -> str:
    cut = word_pieces(ex)
    if cut is None:
        return ("This model has no tokenizer: it reads token ids only, shown as #id chips; the ids "
                "below are a fixed list, not a text.")
    whole, split = cut
    parts = [f"{len(whole)} of the {len(whole) + len(split)} words of this prompt are a single token"]
    if whole:
        parts.append("(" + ", ".join(repr(w) for w in whole[:4]) + ")")
    if split:
        parts.append("and " + ", ".join(repr(w) for w in split[:4]) + " are cut into pieces")
    return " ".join(parts) + "."


# --- lesson 3: μ, u, the largest key ---------------------------------------------------------------

MU_NAMES = ("att.time_mix_k", "att.time_mix_v", "att.time_mix_r", "ffn.time_mix_k", "ffn.time_mix_r")


def _mus(model: Model, layer: int) -> dict[str, torch.Tensor]:
    b = model.weights.blocks[layer]
    return {n: getattr(getattr(b, n.split(".")[0]), n.split(".")[1]).reshape(-1) for n in MU_NAMES}


def mu_table(model: Model) -> list[dict]:
    """Per layer: the share of the token-shift weights μ (all five kinds) in [0, 1], the share
    above 1 and below 0, and their range."""
    rows = []
    for layer in range(model.config.n_layer):
        mu = torch.cat(list(_mus(model, layer).values())).double()
        rows.append({"layer": layer, "μ in [0, 1]": float(((mu >= 0) & (mu <= 1)).double().mean()),
                     "μ > 1": float((mu > 1).double().mean()), "μ < 0": float((mu < 0).double().mean()),
                     "smallest μ": float(mu.min()), "largest μ": float(mu.max())})
    return rows


def mu_sentence(model: Model) -> str:
    rows = mu_table(model)
    inside = [r["μ in [0, 1]"] for r in rows]
    lo, hi = min(r["smallest μ"] for r in rows), max(r["largest μ"] for r in rows)
    if min(inside) == 1.0:
        return f"In this model every μ lies in [0, 1] (from {_n(lo)} to {_n(hi)}): no channel extrapolates."
    return (f"In this model only {min(inside):.0%}–{max(inside):.0%} of the μ per layer lie in [0, 1]; "
            f"they range from {_n(lo)} to {_n(hi)}, so some channels extrapolate.")


def u_range(model: Model) -> tuple[float, float, float]:
    """(smallest u, largest u, share of channels with u < 0) over all layers."""
    u = torch.cat([b.att.time_first.reshape(-1) for b in model.weights.blocks]).double()
    return float(u.min()), float(u.max()), float((u < 0).double().mean())


def u_sentence(model: Model) -> str:
    lo, hi, neg = u_range(model)
    if neg == 1.0:
        verdict = "every u is negative: the current token always counts less than a token one step back with the same k"
    elif neg == 0.0:
        verdict = "every u is positive: the current token always counts more than a token one step back with the same k"
    else:
        verdict = f"{neg:.0%} of the channels have u < 0 (a penalty), the others u > 0 (a bonus)"
    return f"In this model u runs from {_n(lo)} to {_n(hi)}: {verdict}."


@dataclass(frozen=True)
class LargestKey:
    value: float
    layer: int
    channel: int
    token: int
    label: str


def largest_key(ex: Example) -> LargestKey:
    """The largest k over every layer, channel and token of the example."""
    best = None
    for layer in range(ex.model.config.n_layer):
        k = ex.rec[f"blocks.{layer}.att.k"]                                 # (T, C)
        flat = int(torch.argmax(k))
        t, c = divmod(flat, k.shape[-1])
        if best is None or float(k[t, c]) > best.value:
            best = LargestKey(float(k[t, c]), layer, c, t, ex.labels[t])
    return best


def largest_key_sentence(ex: Example) -> str:
    k = largest_key(ex)
    where = f"layer {k.layer}, channel {k.channel}, token {k.token} {k.label!r}"
    head = f"The largest key on this prompt is k = {_n(k.value)} ({where})"
    if k.value > LN_FLOAT16_MAX:
        return f"{head}: above ln 65504 ≈ {LN_FLOAT16_MAX:.2f}, so e^k would already be infinite in float16."
    return (f"{head}: below ln 65504 ≈ {LN_FLOAT16_MAX:.2f}, so e^k fits in float16 on this prompt; "
            f"a sum of many such terms, or another prompt, can still overflow.")


# --- lesson 3: the blocked parallel WKV, and a true −∞ ------------------------------------------------

@dataclass(frozen=True)
class Blocked:
    table: dict[str, list]          # per token: its block, place in the block, wkv both ways, engine
    block: int
    n_blocks: int
    max_diff: dict[str, float]      # all channels of this layer


def wkv_blocked_view(ex: Example, layer: int, channel: int, block: int = fast.WKV_BLOCK) -> Blocked:
    """The engine's blocked parallel WKV (fast.wkv_parallel) beside the token-by-token recurrence
    (ops.wkv_sequential), both from the empty state, and the value the engine recorded."""
    att, p = ex.block(layer).att, f"blocks.{layer}.att."
    w, u = fm.decay(att.time_decay), att.time_first
    k, v = ex.rec[p + "k"], ex.rec[p + "v"]                                  # (T, C)
    empty = _empty(k.shape[-1], k.dtype)
    seq, _ = ops.wkv_sequential(w, u, k, v, *empty)                         # (T, C)
    par, _ = fast.wkv_parallel(w, u, k, v, *empty, block=block)              # (T, C)
    T = k.shape[0]
    size = min(block, T)
    head = T - T % size
    blocks = [t // size if t < head else head // size for t in range(T)]
    table = {"token": list(ex.labels), "block": blocks,
             "place in block": [t % size if t < head else t - head for t in range(T)],
             "wkv (recurrence)": seq[:, channel].tolist(), "wkv (blocked)": par[:, channel].tolist(),
             "wkv (engine)": ex.rec[p + "wkv"][:, channel].tolist()}
    return Blocked(table, size, len(set(blocks)),
                   {"blocked vs recurrence": max_diff(par, seq), "blocked vs engine": max_diff(par, ex.rec[p + "wkv"])})


def _empty(C: int, dtype, pp: float | None = None):
    z = torch.zeros(C, dtype=dtype)
    return z, z.clone(), torch.full((C,), fm.NEG_INF if pp is None else pp, dtype=dtype)


def neg_inf_rows(ex: Example, layer: int) -> list[dict]:
    """pp started at a true −∞ and at the engine's −1e38, run token by token and in the engine's
    blocks: this prompt's k and v repeated until there are more blocks than fast.CARRY_GROUP (the
    grouped carry, where a true −∞ meets −∞ − (−∞) = NaN)."""
    att, p = ex.block(layer).att, f"blocks.{layer}.att."
    w, u = fm.decay(att.time_decay), att.time_first
    k, v = ex.rec[p + "k"], ex.rec[p + "v"]
    need = (fast.CARRY_GROUP + 1) * fast.WKV_BLOCK
    reps = -(-need // k.shape[0])
    k, v = k.repeat(reps, 1), v.repeat(reps, 1)                              # (T', C)
    rows = []
    for name, start in (("true −∞", float("-inf")), ("−1e38 (the engine's)", fm.NEG_INF)):
        empty = _empty(k.shape[-1], k.dtype, start)
        seq, _ = ops.wkv_sequential(w, u, k, v, *empty)
        par, _ = fast.wkv_parallel(w, u, k, v, *empty)
        rows.append({"pp before the first token": name, "tokens": k.shape[0],
                     "token by token: outputs not finite": int((~torch.isfinite(seq)).sum()),
                     f"blocks of {fast.WKV_BLOCK}: outputs not finite": int((~torch.isfinite(par)).sum())})
    return rows


# --- lesson 1: the order of the sampling filters ---------------------------------------------------

def hf_order(logits: torch.Tensor, s: SamplingSettings) -> torch.Tensor:
    """Hugging Face generate's order: logits / T, then top-k, then top-p counted on the
    probabilities renormalised after top-k; (V,) float64."""
    p = fm.softmax_with_temperature(logits, s.temperature)
    p = fm.renormalise(fm.top_k_filter(p, s.top_k))
    return fm.renormalise(fm.top_p_filter(p, s.top_p))


def blinkdl_order(logits: torch.Tensor, s: SamplingSettings) -> torch.Tensor:
    """BlinkDL's rwkv package (PIPELINE.sample_logits, CPU path): top-p on the float32
    probabilities at temperature 1 (keeping every token at least as likely as the first one where
    the running sum reaches p), then top-k, then the temperature as p^(1/T); (V,) float64.
    Its float32 running sum may stop just short of 1: then top_p = 1 keeps only the top token,
    and so does this copy of its order."""
    p = torch.softmax(logits.detach().float().reshape(-1), -1)                   # (V,) float32, as the package
    ordered = np.sort(p.numpy())[::-1]
    cut = float(ordered[int(np.argmax(np.cumsum(ordered) >= s.top_p))])         # index 0 when never reached
    p = torch.where(p >= cut, p, 0.0).double()
    p = fm.top_k_filter(p, s.top_k)
    return fm.renormalise(p ** (1.0 / s.temperature))


def sampling_orders(logits: torch.Tensor, s: SamplingSettings) -> list[dict]:
    """How many tokens each library's order keeps with the same settings (temperature > 0)."""
    out = []
    for name, p in (("this engine: T, top-k, top-p on the same probabilities", probabilities(logits, s)),
                    ("Hugging Face: T, top-k, top-p on the renormalised ones", hf_order(logits, s)),
                    ("BlinkDL rwkv: top-p at T = 1, top-k, then T", blinkdl_order(logits, s))):
        out.append({"order": name, "tokens kept": int((p > 0).sum()), "most likely token's probability": float(p.max())})
    return out


def blinkdl_note(logits: torch.Tensor, s: SamplingSettings) -> str:
    """A note when the rwkv package's top-p = 1 is not "off": its float32 running sum of the
    sorted probabilities ends short of 1, so no token reaches it and only the top one is kept."""
    if s.top_p < 1:
        return ""
    p = torch.softmax(logits.detach().float().reshape(-1), -1).numpy()
    total = float(np.cumsum(np.sort(p)[::-1])[-1])                  # summed from the top, as the package
    if total >= s.top_p:
        return ""
    return (f"The rwkv package's top-p = 1 is not \"off\" here: its float32 running sum of these "
            f"probabilities ends at {total:.7f}, short of 1, so it keeps only the top token. Its own "
            f"default is top-p = 0.85.")

