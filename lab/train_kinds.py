"""What the one trainer (lab.train) needs to know about each kind: its hooks. Everything else of
training (data, batches, the learning-rate schedule, AdamW, clipping, resume, validation, the
log, export) is shared. Each kind's `Kind(...)` in lab.kinds names its hooks (`trainer=`).

A kind's hooks say how to build its config from the recipe, how to initialise its tensors, how
to wrap them for its training forward (tokens (B, T) -> logits (B, T, V), autograd through it),
and which model reads them for validation. RWKV-4's initialisation lives here (after BlinkDL's
RWKV-LM); the other kinds' live with their model code (rivals/).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import torch

from lab import ablation
from rivals import gpt, gpt_shift, lstm
from rwkv_core import model as rwkv
from rwkv_core.config import Config as RWKVConfig
from rwkv_core.weights import Weights as RWKVWeights

N_HEAD = 4         # the GPT's heads of 64 channels, GPT-2's head size
RIVAL_WIDTH = 320  # the LSTMs' width: 6 layers x 320 is about RWKV-4's 6.18M parameters (6.24M; 6.65M with the red line)


def _never(name: str) -> bool:
    return False


@dataclass(frozen=True)
class Hooks:
    """A kind's part of training; lab.train runs the rest."""
    make_config: Callable[[Any, int], Any]       # (TrainConfig, vocabulary size) -> the kind's config
    init_weights: Callable[[Any, torch.Generator], dict]   # (config, generator) -> {name: tensor}
    weights: Callable[[dict], Any]               # {name: tensor} -> what forward reads (the same tensors)
    forward: Callable[..., torch.Tensor]         # (weights, ids (B, T)) -> logits (B, T, V), from a zero state
    scorer: Callable[[Any, Any, Any], Any]       # (weights, config, tokenizer) -> a model validation reads
    recipe: dict = field(default_factory=dict)   # this kind's changes to TrainConfig's defaults
    decay_exempt: tuple[str, ...] = ()           # matrices without weight decay (the embeddings)
    own_tokenizer: bool = False                  # trains its BPE on the training plays; else the embedded model's
    half: torch.dtype = torch.float16            # the file's dtype when float32 would pass 25 MB
    prepare: Callable[[dict], dict] | None = None    # a variant's fixed settings of the initial tensors
    frozen: Callable[[str], bool] = _never       # tensors kept as initialised (not trained, not counted)
    deferred: Callable[[], Any] | None = None    # () -> an object that adds gradients after backward (.apply())
    variants: dict[str, "Hooks"] = field(default_factory=dict)   # e.g. RWKV-4's "shift" (lab.ablation)


def hooks_for(trainer: Hooks | None, kind: str, variant: str = "") -> Hooks:
    """A kind's hooks, or its variant's; a clear error for a kind not trained here or an unknown variant."""
    if trainer is None:
        raise ValueError(f"kind {kind!r} has no trainer hooks (lab.kinds: Kind(trainer=...))")
    if not variant:
        return trainer
    if variant not in trainer.variants:
        known = ", ".join(trainer.variants) or "none"
        raise ValueError(f"kind {kind!r} has no training variant {variant!r} (time_mix / variant; known: {known})")
    return trainer.variants[variant]


# --- RWKV-4 (initialisation after RWKV-LM) ----------------------------------------------------

def init_weights(cfg: RWKVConfig, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """RWKV-4's initial tensors: decay and mix vectors set by depth, a tiny embedding (LayerNorm
    after it), orthogonal matrices, zero output projections."""
    C, F_, V, L = cfg.n_embd, cfg.n_ffn, cfg.vocab_size, cfg.n_layer
    h = torch.arange(C, dtype=torch.float32)
    x = h / C                                                    # (C,) 0 … 1 across channels

    def ortho(rows, cols, gain):
        t = torch.empty(rows, cols)
        torch.nn.init.orthogonal_(t, gain=gain * (math.sqrt(rows / cols) if rows > cols else 1.0),
                                  generator=generator)
        return t

    sd = {"emb.weight": torch.empty(V, C).uniform_(-1e-4, 1e-4, generator=generator),
          "blocks.0.ln0.weight": torch.ones(C), "blocks.0.ln0.bias": torch.zeros(C),
          "ln_out.weight": torch.ones(C), "ln_out.bias": torch.zeros(C),
          "head.weight": ortho(V, C, 0.5)}
    for i in range(L):
        b = f"blocks.{i}."
        r01 = i / max(L - 1, 1)             # 0 at the bottom, 1 at the top
        r10 = 1.0 - i / L                   # 1 at the bottom, near 0 at the top
        for ln in ("ln1", "ln2"):
            sd[b + ln + ".weight"], sd[b + ln + ".bias"] = torch.ones(C), torch.zeros(C)
        # decays from fast (-5) to slow (+3) across channels, slower channels higher up
        sd[b + "att.time_decay"] = -5 + 8 * (h / (C - 1)) ** (0.7 + 1.3 * r01)
        zigzag = ((h + 1) % 3 - 1) * 0.5
        sd[b + "att.time_first"] = math.log(0.3) + zigzag
        sd[b + "att.time_mix_k"] = x ** r10
        sd[b + "att.time_mix_v"] = x ** r10 + 0.3 * r01
        sd[b + "att.time_mix_r"] = x ** (0.5 * r10)
        sd[b + "att.key.weight"] = ortho(C, C, 0.1)
        sd[b + "att.value.weight"] = ortho(C, C, 1.0)
        sd[b + "att.receptance.weight"] = torch.zeros(C, C)
        sd[b + "att.output.weight"] = torch.zeros(C, C)
        sd[b + "ffn.time_mix_k"] = x ** r10
        sd[b + "ffn.time_mix_r"] = x ** r10
        sd[b + "ffn.key.weight"] = ortho(F_, C, 1.0)
        sd[b + "ffn.receptance.weight"] = torch.zeros(C, C)
        sd[b + "ffn.value.weight"] = torch.zeros(C, F_)
    return sd


RWKV4 = Hooks(
    make_config=lambda tc, vocab: RWKVConfig(tc.n_layer, tc.n_embd, 4 * tc.n_embd, vocab),
    init_weights=init_weights, weights=RWKVWeights.from_state_dict,
    forward=lambda w, ids: rwkv.forward_batch(w, ids)[0],          # the engine's layer-parallel schedule
    scorer=lambda w, cfg, tok: rwkv.RWKV(w, cfg, tokenizer=tok),    # the engine's own model
    decay_exempt=("emb.weight",), own_tokenizer=True, half=torch.bfloat16)
RWKV4 = replace(RWKV4, variants={"shift": replace(         # the ablation without WKV memory
    RWKV4, forward=ablation.forward_batch, prepare=ablation.shift_only, frozen=ablation.is_frozen)})


# --- the stacked LSTM and the red-line RNN (rivals/lstm.py) -----------------------------------

def _lstm(kind: str, **kw) -> Hooks:
    forward = lstm.FORWARD[kind]
    return Hooks(
        make_config=lambda tc, vocab: lstm.Config(kind, tc.n_layer, tc.n_embd, vocab),
        init_weights=lstm.init_weights, weights=lstm.Weights.from_state_dict,
        forward=lambda w, ids, *deferred: forward(w, ids, *deferred)[0],
        scorer=lambda w, cfg, tok: lstm.TrainingForward(kind, w, tok),
        recipe={"n_embd": RIVAL_WIDTH}, decay_exempt=("lstm.emb.weight",), **kw)


LSTM = _lstm("lstm")
REDLINE = _lstm("redline", deferred=lstm.DeferredGrads)


# --- the GPT (rivals/gpt.py) ------------------------------------------------------------------

def gpt_config(tc, vocab: int) -> gpt.Config:
    """6 x 256 (RWKV's shape), 4 heads of 64, an MLP of 4C, positions for the training context."""
    return gpt.Config(tc.n_layer, tc.n_embd, N_HEAD, 4 * tc.n_embd, vocab, tc.ctx_len)


def _gpt_scorer(w, cfg, tok):
    from rivals.gpt_model import GPTModel
    return GPTModel(w, cfg, tokenizer=tok)   # the model code, over the weights being trained


GPT = Hooks(make_config=gpt_config, init_weights=gpt.init_weights, weights=gpt.Weights.from_state_dict,
            forward=gpt.forward_batch, scorer=_gpt_scorer,
            decay_exempt=("transformer.wte.weight", "transformer.wpe.weight"))
GPT = replace(GPT, variants={"shift": replace(     # the token-shift experiment (lab.gpt_shift), never shipped
    GPT, init_weights=gpt_shift.init_weights, weights=gpt_shift.ShiftWeights.from_state_dict,
    forward=gpt_shift.forward_batch, scorer=gpt_shift.Scorer)})
