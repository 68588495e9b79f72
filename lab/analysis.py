"""Analyses of a model and its runs that the figures show: PCA, nearest neighbours, the WKV read
as attention weights, state norms and the size of a transformer's KV cache. Tensors in, tensors
out. RWKV's own formulas (the decay, the half-life, the WKV weights) are the reference
implementation's (lab/reference.py), each written once there.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from lab import reference

# GPT-2 small (124M parameters): 12 layers, width 768: the usual yardstick for a small transformer
GPT2_SMALL = {"n_layer": 12, "n_embd": 768}


# --- projections ----------------------------------------------------------------------------

@dataclass(frozen=True)
class PCA:
    mean: torch.Tensor        # (C,) subtracted before projecting
    components: torch.Tensor  # (k, C) unit directions, the largest variance first
    explained: torch.Tensor   # (k,) fraction of the total variance each direction carries

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C) → (N, k)."""
        return (x.double() - self.mean) @ self.components.T


def pca(x: torch.Tensor, k: int = 3) -> PCA:
    """Principal components of the rows of x (N, C). From the C x C covariance when N >= C (the
    embedding matrix), else from the SVD of the N centred rows (a residual path of a dozen
    stages: far cheaper than a C x C eigenproblem). Deterministic: each direction's sign makes
    its largest loading positive."""
    x = x.detach().double()
    mean = x.mean(0)                                   # (C,)
    xc = x - mean                                      # (N, C)
    if len(x) >= x.shape[1]:
        cov = xc.T @ xc / max(len(x) - 1, 1)           # (C, C)
        values, vectors = torch.linalg.eigh(cov)       # ascending
        order = torch.argsort(values, descending=True)[:k]
        comps = vectors[:, order].T                    # (k, C)
        values = values[order].clamp(min=0)
        total = torch.diagonal(cov).sum()              # the trace: the total variance
    else:
        _, s, vh = torch.linalg.svd(xc, full_matrices=False)   # s descending, vh (N, C)
        comps = vh[:k]                                 # (k, C)
        values = s[:k] ** 2 / max(len(x) - 1, 1)
        total = (s ** 2).sum() / max(len(x) - 1, 1)
    signs = torch.sign(comps.gather(1, comps.abs().argmax(1, keepdim=True)))
    comps = comps * signs
    return PCA(mean, comps, values / total)


def unit_rows(emb: torch.Tensor) -> torch.Tensor:
    """Rows scaled to length 1 (V, C): cosine similarity becomes a dot product."""
    return torch.nn.functional.normalize(emb.detach().float(), dim=-1)


def nearest_neighbours(emb: torch.Tensor, ids: list[int], k: int = 5, *,
                       normalized: bool = False) -> dict[int, list[tuple[int, float]]]:
    """For each id, the k other rows of emb (V, C) with the highest cosine similarity.
    normalized=True: emb is already unit_rows(...) (a large vocabulary need not be redone each time)."""
    unit = emb if normalized else unit_rows(emb)                       # (V, C)
    rows = list(dict.fromkeys(ids))
    sims = unit[rows] @ unit.T                                         # (n, V)
    sims[torch.arange(len(rows)), rows] = -math.inf                    # not itself
    top = torch.topk(sims, min(k, sims.shape[1] - 1), dim=-1)
    out = {}
    for n, i in enumerate(rows):
        out[i] = [(int(j), float(v)) for j, v in zip(top.indices[n].tolist(), top.values[n].tolist())]
    return out


# --- memory ---------------------------------------------------------------------------------

def implicit_attention(k: torch.Tensor, time_decay: torch.Tensor, time_first: torch.Tensor,
                       t: int) -> torch.Tensor:
    """The WKV of token t written as attention: weights (t+1, C) over tokens 0..t, per channel,
    summing to 1, such that wkv_t = sum_j weights[j] * v_j (from an empty starting state):
    reference.wkv_weights of the recorded k (t+1, C), in float64."""
    w = reference.decay(time_decay.detach().double())           # (C,) decay per token, negative
    return reference.wkv_weights(w, time_first.detach().double(), k[: t + 1].detach().double())   # (t+1, C)


def wkv_from_attention(weights: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Weights (t+1, C) and values v (>= t+1, C) → the weighted average (C,)."""
    return (weights * v[: len(weights)].double()).sum(0)


# --- sizes ----------------------------------------------------------------------------------

def kv_cache_bytes(n_layer: int, n_embd: int, n_tokens: int, bytes_per_value: int = 4) -> int:
    """A transformer keeps a key and a value vector per layer for every token seen:
    2 x layers x width x tokens numbers, growing with the length."""
    return 2 * n_layer * n_embd * n_tokens * bytes_per_value


def state_norms(fields: dict[str, torch.Tensor], skip=("pp",)) -> torch.Tensor:
    """Per token, the Euclidean norm of a layer's state: fields {name: (T, C)} → (T,).
    pp is skipped: it is a log-scale exponent (and -1e38 before the first token)."""
    parts = [v.double() for n, v in fields.items() if n not in skip]
    return torch.linalg.vector_norm(torch.cat(parts, dim=-1), dim=-1)
