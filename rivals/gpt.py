"""The maths of the transformer rival ("gpt"): a small GPT-2, written like the engine.

GPT-2's layout (so Hugging Face's GPT2LMHeadModel with the same weights gives the same logits):
learned positions, pre-LayerNorm blocks, causal multi-head attention, an MLP with GELU (the tanh
approximation, 'gelu_new'), a final LayerNorm and a head (untied here; tied when lm_head.weight is
absent). One block, for tokens x (..., T, C) of one layer:

    x = x + attention(ln_1(x))    every token looks back at every earlier token of its layer
    x = x + mlp(ln_2(x))          per token: c_fc, GELU, c_proj

Attention, per head, for the new tokens' queries q (T, hs) against every key so far (P cached + T):
    K = [cache.k ; k],  V = [cache.v ; v]                       (P+T, hs) the cache grows
    weights = softmax(q Kᵀ / √hs, keys after the query masked)  (T, P+T) each row sums to 1
    y = weights V                                               (T, hs)

That is QKV against RWKV's WKV: a token reads the keys and values of every earlier token, so its
state (the KV cache) grows with the text and each new token costs time in proportion to the text
read; RWKV folds the past into a fixed-size state (aa, bb, pp) with a fixed decay.

The state is the cache: per layer the keys and values of every token read (`LayerCache(k, v)`),
never written in place: a step returns a longer cache. Tensor names are nanoGPT's (and HF's
GPT-2 names under `transformer.`), in nn.Linear's (out, in) layout: HF's Conv1D stores the
transpose.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

LN_EPS = 1e-5  # GPT-2's layer_norm_epsilon


# --- weights, named after the checkpoint keys -------------------------------------------------

@dataclass(frozen=True)
class Linear:                 # a (out, in) matrix and its bias
    weight: torch.Tensor
    bias: torch.Tensor


@dataclass(frozen=True)
class Norm:                   # a LayerNorm's scale and shift, (C,) each
    weight: torch.Tensor
    bias: torch.Tensor


@dataclass(frozen=True)
class BlockWeights:           # transformer.h.{i}.*
    ln_1: Norm
    c_attn: Linear            # attn.c_attn (3C, C): q | k | v
    c_proj: Linear            # attn.c_proj (C, C): the heads' outputs back to the stream
    ln_2: Norm
    c_fc: Linear              # mlp.c_fc (F, C)
    mlp_proj: Linear          # mlp.c_proj (C, F)


BLOCK_KEYS = {  # field → checkpoint name inside transformer.h.{i}.
    "ln_1": "ln_1", "c_attn": "attn.c_attn", "c_proj": "attn.c_proj",
    "ln_2": "ln_2", "c_fc": "mlp.c_fc", "mlp_proj": "mlp.c_proj",
}
NORMS = ("ln_1", "ln_2")


@dataclass(frozen=True)
class Weights:
    wte: torch.Tensor                  # transformer.wte.weight (V, C) token embedding
    wpe: torch.Tensor                  # transformer.wpe.weight (n_ctx, C) one row per position
    blocks: tuple[BlockWeights, ...]   # transformer.h.{i}
    ln_f: Norm                         # transformer.ln_f
    head: torch.Tensor                 # lm_head.weight (V, C); wte itself when tied
    n_head: int                        # transformer.n_head: the one number the shapes do not show
    tied: bool = False                 # no lm_head.weight in the checkpoint: the head is wte

    @classmethod
    def from_state_dict(cls, sd: dict[str, torch.Tensor]) -> "Weights":
        n = 1 + max(int(k.split(".")[2]) for k in sd if k.startswith("transformer.h."))

        def part(key: str, field: str):
            make = Norm if field in NORMS else Linear
            return make(sd[key + ".weight"], sd[key + ".bias"])

        blocks = tuple(BlockWeights(**{f: part(f"transformer.h.{i}.{k}", f) for f, k in BLOCK_KEYS.items()})
                       for i in range(n))
        tied = "lm_head.weight" not in sd
        return cls(sd["transformer.wte.weight"], sd["transformer.wpe.weight"], blocks,
                   Norm(sd["transformer.ln_f.weight"], sd["transformer.ln_f.bias"]),
                   sd["transformer.wte.weight"] if tied else sd["lm_head.weight"],
                   int(sd["transformer.n_head"].reshape(-1)[0]), tied)

    def state_dict(self) -> dict[str, torch.Tensor]:
        sd = {"transformer.wte.weight": self.wte, "transformer.wpe.weight": self.wpe,
              "transformer.n_head": n_head_tensor(self.n_head),
              "transformer.ln_f.weight": self.ln_f.weight, "transformer.ln_f.bias": self.ln_f.bias}
        for i, bw in enumerate(self.blocks):
            for f, k in BLOCK_KEYS.items():
                sd[f"transformer.h.{i}.{k}.weight"] = getattr(bw, f).weight
                sd[f"transformer.h.{i}.{k}.bias"] = getattr(bw, f).bias
        if not self.tied:
            sd["lm_head.weight"] = self.head
        return sd


def n_head_tensor(n_head: int) -> torch.Tensor:
    """The head count, stored as a one-element integer tensor so that the checkpoint alone
    describes the model (no config file beside it)."""
    return torch.tensor([n_head], dtype=torch.int64)


@dataclass(frozen=True)
class Config:
    n_layer: int      # blocks
    n_embd: int       # width C of the residual stream
    n_head: int       # attention heads; head size C / n_head
    n_ffn: int        # MLP width F (4C in GPT-2)
    vocab_size: int   # rows of wte and the head
    n_ctx: int        # rows of wpe: the most tokens the model can read (its training context)
    tied: bool = False
    kind: str = "gpt"

    @classmethod
    def from_state_dict(cls, sd: dict[str, torch.Tensor]) -> "Config":
        layers = {int(k.split(".")[2]) for k in sd if k.startswith("transformer.h.")}
        V, C = sd["transformer.wte.weight"].shape
        n_ctx = sd["transformer.wpe.weight"].shape[0]
        F_ = sd["transformer.h.0.mlp.c_fc.weight"].shape[0]
        return cls(max(layers) + 1, int(C), int(sd["transformer.n_head"].reshape(-1)[0]), int(F_), int(V),
                   int(n_ctx), "lm_head.weight" not in sd)

    @property
    def head_size(self) -> int:
        return self.n_embd // self.n_head

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every float tensor's shape (transformer.n_head, an integer, is checked on its own)."""
        C, F_, V = self.n_embd, self.n_ffn, self.vocab_size
        shapes = {"transformer.wte.weight": (V, C), "transformer.wpe.weight": (self.n_ctx, C),
                  "transformer.ln_f.weight": (C,), "transformer.ln_f.bias": (C,)}
        for i in range(self.n_layer):
            h = f"transformer.h.{i}."
            for part, (rows, cols) in (("attn.c_attn", (3 * C, C)), ("attn.c_proj", (C, C)),
                                       ("mlp.c_fc", (F_, C)), ("mlp.c_proj", (C, F_))):
                shapes[h + part + ".weight"], shapes[h + part + ".bias"] = (rows, cols), (rows,)
            for ln in NORMS:
                shapes[h + ln + ".weight"], shapes[h + ln + ".bias"] = (C,), (C,)
        if not self.tied:
            shapes["lm_head.weight"] = (V, C)
        return shapes

    @property
    def n_params(self) -> int:
        return sum(int(torch.Size(s).numel()) for s in self.expected_shapes().values())

    def cache_bytes(self, n_tokens: int, bytes_per_value: int = 4) -> int:
        """Keys and values of every layer for n_tokens tokens: 2·L·C values per token."""
        return 2 * self.n_layer * self.n_embd * n_tokens * bytes_per_value


# --- state: the KV cache ----------------------------------------------------------------------

@dataclass(frozen=True)
class LayerCache:
    k: torch.Tensor  # (..., H, P, hs) the keys of the P tokens read so far
    v: torch.Tensor  # (..., H, P, hs) their values

    @property
    def n_tokens(self) -> int:
        return self.k.shape[-2]

    def clone(self) -> "LayerCache":
        return LayerCache(self.k.clone(), self.v.clone())


@dataclass(frozen=True)
class Cache:
    """The GPT's state: per layer the keys and values of every token read. It grows by 2·L·C
    values per token (RWKV's state stays 5·L·C values, whatever the length)."""
    layers: tuple[LayerCache, ...]

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i: int) -> LayerCache:
        return self.layers[i]

    @property
    def n_tokens(self) -> int:
        """Tokens read so far: the position of the next one."""
        return self.layers[0].n_tokens

    def clone(self) -> "Cache":
        return Cache(tuple(layer.clone() for layer in self.layers))

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for layer in self.layers for t in (layer.k, layer.v))


def init_cache(n_layer: int, n_head: int, head_size: int, *, batch: tuple[int, ...] = (), device="cpu",
               dtype=torch.float32) -> Cache:
    """Before any token: no keys, no values (0 tokens long)."""
    def empty():
        return torch.zeros(*batch, n_head, 0, head_size, device=device, dtype=dtype)
    return Cache(tuple(LayerCache(empty(), empty()) for _ in range(n_layer)))


# --- the maths --------------------------------------------------------------------------------

def layer_norm(x: torch.Tensor, n: Norm) -> torch.Tensor:
    return F.layer_norm(x, x.shape[-1:], n.weight, n.bias, LN_EPS)


def split_heads(x: torch.Tensor, n_head: int) -> torch.Tensor:
    """(..., T, C) → (..., H, T, hs)."""
    *lead, T, C = x.shape
    return x.reshape(*lead, T, n_head, C // n_head).transpose(-3, -2)    # (..., H, T, hs)


def merge_heads(y: torch.Tensor) -> torch.Tensor:
    """(..., H, T, hs) → (..., T, C)."""
    *lead, H, T, hs = y.shape
    return y.transpose(-3, -2).reshape(*lead, T, H * hs)                 # (..., T, C)


def attention_weights(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Causal softmax weights of the new tokens' queries q (..., H, T, hs) over all keys
    k (..., H, P+T, hs), the first P of them cached: query i (position P+i) sees keys 0..P+i.
    Returns (..., H, T, P+T); each row sums to 1."""
    T, S = q.shape[-2], k.shape[-2]
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])          # (..., H, T, P+T)
    if T > 1:
        seen = torch.arange(S, device=q.device) <= torch.arange(S - T, S, device=q.device)[:, None]  # (T, P+T)
        scores = scores.masked_fill(~seen, float("-inf"))
    return torch.softmax(scores, dim=-1)                                # (..., H, T, P+T)


def attention(x: torch.Tensor, cache: LayerCache, c_attn: Linear, c_proj: Linear, n_head: int, *,
              fused: bool = False, rec=None, prefix: str = "", start: int = 0):
    """Causal self-attention of tokens x (..., T, C) (layer-normed), after the P tokens in `cache`.
    Returns (output (..., T, C), the cache with these T tokens' keys and values appended).

    fused=True (an empty cache only, for training): torch's scaled_dot_product_attention, the same
    numbers without building the (T, T) weights."""
    C = x.shape[-1]
    q, k, v = F.linear(x, c_attn.weight, c_attn.bias).split(C, dim=-1)  # (..., T, C) each
    q, k, v = (split_heads(t, n_head) for t in (q, k, v))              # (..., H, T, hs)
    keys = torch.cat([cache.k, k], dim=-2)                              # (..., H, P+T, hs) new tensors:
    values = torch.cat([cache.v, v], dim=-2)                            # the old cache is never written
    if fused and cache.n_tokens == 0:
        y = F.scaled_dot_product_attention(q, keys, values, is_causal=True)   # (..., H, T, hs)
    else:
        weights = attention_weights(q, keys)                           # (..., H, T, P+T)
        y = weights @ values                                           # (..., H, T, hs)
        _rec(rec, prefix + "attn.weights", start, weights)
    out = F.linear(merge_heads(y), c_proj.weight, c_proj.bias)         # (..., T, C)
    for name, value in (("q", q), ("k", k), ("v", v), ("y", y), ("out", out)):
        _rec(rec, f"{prefix}attn.{name}", start, value)
    return out, LayerCache(keys, values)


def mlp(x: torch.Tensor, bw: BlockWeights) -> torch.Tensor:
    """Per token: x (..., T, C) → c_fc → GELU (tanh approximation, GPT-2's) → c_proj (..., T, C)."""
    h = F.gelu(F.linear(x, bw.c_fc.weight, bw.c_fc.bias), approximate="tanh")   # (..., T, F)
    return F.linear(h, bw.mlp_proj.weight, bw.mlp_proj.bias)                    # (..., T, C)


def block(x: torch.Tensor, cache: LayerCache, bw: BlockWeights, n_head: int, *, fused: bool = False,
          rec=None, prefix: str = "", start: int = 0):
    """One pre-LN block over tokens x (..., T, C). Returns (x, the layer's longer cache)."""
    att, cache = attention(layer_norm(x, bw.ln_1), cache, bw.c_attn, bw.c_proj, n_head, fused=fused,
                           rec=rec, prefix=prefix, start=start)
    x = x + att                                                         # (..., T, C)
    _rec(rec, prefix + "resid_mid", start, x)
    x = x + mlp(layer_norm(x, bw.ln_2), bw)                            # (..., T, C)
    _rec(rec, prefix + "resid", start, x)
    return x, cache


def positions(start: int, n: int, n_ctx: int, *, clamp: bool = False, device="cpu") -> torch.Tensor:
    """The position ids start..start+n-1 (n,). Past the table (n_ctx rows): ValueError, or with
    clamp=True the last row again (for timing only: the numbers are no longer the model's)."""
    if start + n > n_ctx and not clamp:
        raise ValueError(f"the GPT reads at most {n_ctx} tokens (its position table, the training context); "
                         f"asked for positions {start}..{start + n - 1}. Start a new cache, or slide a window "
                         f"(lab.gpt_eval.bits_per_char reads long texts so)")
    return torch.arange(start, start + n, device=device).clamp(max=n_ctx - 1)    # (n,)


def embed(w: Weights, ids: torch.Tensor, start: int = 0, *, clamp: bool = False) -> torch.Tensor:
    """Token ids (..., T) from position `start` on → the input of block 0 (..., T, C)."""
    pos = positions(start, ids.shape[-1], w.wpe.shape[0], clamp=clamp, device=ids.device)
    return w.wte[ids] + w.wpe[pos]                                      # (..., T, C)


def head(w: Weights, x: torch.Tensor) -> torch.Tensor:
    """Top-layer output (..., T, C) → logits (..., T, V)."""
    return F.linear(layer_norm(x, w.ln_f), w.head)                     # (..., T, V)


def forward_batch(w: Weights, ids: torch.Tensor) -> torch.Tensor:
    """Every layer over all tokens (the parallel schedule) for a batch, from an empty cache, with
    torch's fused attention: ids (B, T) → logits (B, T, V). Training and validation run this; the
    same block() as every schedule of the model (tests/test_gpt.py proves them equal)."""
    C, H = w.wte.shape[1], w.n_head
    x = embed(w, ids)                                                   # (B, T, C)
    empty = init_cache(1, H, C // H, batch=ids.shape[:-1], device=ids.device, dtype=x.dtype)[0]
    for bw in w.blocks:
        x, _ = block(x, empty, bw, H, fused=True)                       # (B, T, C)
    return head(w, x)                                                   # (B, T, V)


def _rec(rec, name: str, start: int, value: torch.Tensor) -> None:
    if rec is not None and rec.wants(name):
        rec.record(name, start, value)


# --- initialisation (nanoGPT's / GPT-2's) -----------------------------------------------------

def init_weights(config: Config, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Normal(0, 0.02) matrices and embeddings, zero biases, LayerNorms at identity; the two
    projections into the residual stream (attn.c_proj, mlp.c_proj) scaled by 1/√(2L), as GPT-2."""
    sd = {"transformer.n_head": n_head_tensor(config.n_head)}
    for key, shape in config.expected_shapes().items():
        if key.endswith(".bias"):
            sd[key] = torch.zeros(shape)
        elif len(shape) == 1:                                           # LayerNorm scales
            sd[key] = torch.ones(shape)
        else:
            std = 0.02 / math.sqrt(2 * config.n_layer) if key.endswith("c_proj.weight") else 0.02
            sd[key] = torch.empty(shape).normal_(0.0, std, generator=generator)
    return sd
