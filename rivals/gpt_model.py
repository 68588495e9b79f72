"""The transformer rival as a model with RWKV's face: `kind` "gpt", `deps`, `schedules`,
`forward`, `plan_for`, `run_plan`, and a state: the KV cache (rivals.gpt.Cache).

Every schedule is valid for a GPT: a cell (layer l, tokens s..e) reads the layer below on tokens
s..e and its own layer's cache (the keys and values of tokens < s), never the layer above: no red
line. So rnn (one token at a time with the cache), the cascade and the layer-parallel schedule
all give the same logits."""
from __future__ import annotations

from contextlib import nullcontext
from typing import Sequence

import torch

from rivals import gpt
from rivals.gpt import Cache, Config, Weights
from rwkv_core.checkpoint import CheckpointError, expect_exactly, file_name, loading
from rwkv_core.model import RWKV, RunResult
from rwkv_core.schedule import Cell, Dependencies, Plan
from rwkv_core.schedule import plan as make_plan
from rwkv_core.timing import StepTimer, run_in_order

PAST_CONTEXT = ("refuse", "clamp")
DEPS = Dependencies("gpt")   # no red line; a cell's products take all its tokens at once


class GPTModel:
    """A loaded GPT-2-style model: weights (read-only), config, tokenizer (or None), device.

    past_context: "refuse" (a ValueError when the cache and the new tokens pass n_ctx, the
    position table) or "clamp" (every position past the table reuses its last row: for timing
    generation at long contexts only; the logits are no longer the model's). See
    with_past_context."""

    kind = "gpt"
    deps = DEPS

    def __init__(self, weights: Weights, config: Config, *, tokenizer=None, source: str = "",
                 fmt: str = "", device="cpu", past_context: str = "refuse"):
        if past_context not in PAST_CONTEXT:
            raise ValueError(f"past_context must be one of {PAST_CONTEXT}, got {past_context!r}")
        self.weights = weights
        self.config = config
        self.tokenizer = tokenizer
        self.source = source
        self.format = fmt
        self.device = torch.device(device)
        self.dtype = weights.wte.dtype
        self.past_context = past_context

    def __repr__(self):
        c = self.config
        return (f"GPT({c.n_layer} layers x {c.n_embd}, {c.n_head} heads, context {c.n_ctx}, vocab {c.vocab_size}, "
                f"{c.n_params / 1e6:.2f}M params, {self.dtype}, {self.device})")

    def to(self, device=None, dtype=None) -> "GPTModel":
        """A copy on another device or in another dtype (this one is not changed)."""
        device = torch.device(device) if device is not None else self.device
        sd = {k: v if k == "transformer.n_head" else v.to(device=device, dtype=dtype or self.dtype)
              for k, v in self.weights.state_dict().items()}
        return GPTModel(Weights.from_state_dict(sd), self.config, tokenizer=self.tokenizer, source=self.source,
                        fmt=self.format, device=device, past_context=self.past_context)

    def with_past_context(self, policy: str = "clamp") -> "GPTModel":
        """The same weights with another past-context policy (the weights are shared, not copied)."""
        return GPTModel(self.weights, self.config, tokenizer=self.tokenizer, source=self.source, fmt=self.format,
                        device=self.device, past_context=policy)

    @property
    def schedules(self) -> tuple[str, ...]:
        return self.deps.allowed(self.config.n_layer)

    def init_state(self) -> Cache:
        """An empty cache: 0 tokens read, 0 bytes."""
        c = self.config
        return gpt.init_cache(c.n_layer, c.n_head, c.head_size, device=self.device, dtype=self.dtype)

    check_tokens = RWKV.check_tokens  # the same ids, the same errors: it reads only config and device

    def forward(self, tokens: Sequence[int] | torch.Tensor, state: Cache | None = None, *,
                mode: str = "rnn", chunk: int | None = None, all_logits: bool = True, recorder=None):
        """Returns (logits (T, V), or (V,) for the last token when all_logits=False; the cache
        after the last token). `state` is not modified: the new cache is a new tensor."""
        ids = self.check_tokens(tokens)
        result = self.run_plan(self.plan_for(len(ids), mode, chunk), ids, state, all_logits=all_logits,
                               recorder=recorder)
        return result.logits, result.state

    __call__ = forward

    def plan_for(self, n_tokens: int, mode: str = "rnn", chunk: int | None = None) -> Plan:
        return make_plan(mode, n_layer=self.config.n_layer, n_tokens=n_tokens, chunk=chunk or 1, deps=self.deps)

    def run_plan(self, plan: Plan, tokens, state: Cache | None = None, *, all_logits: bool = True,
                 timed: bool = False, recorder=None) -> RunResult:
        """Execute the plan's cells in order. A cell (layer, start, stop) reads the layer below on
        its tokens and its own layer's cache, which the layer's earlier cells made longer.

        recorder (rwkv_core.trace.Recorder): names blocks.{i}.attn.q / k / v / y / out (per head,
        (H, T, hs) or (T, C)), blocks.{i}.attn.weights ((H, T, P+T): assembled only when a
        layer is one cell, the parallel schedule, as attention_weights() runs it),
        blocks.{i}.resid_mid / resid, embed."""
        ids = self.check_tokens(tokens)
        T, L = len(ids), self.config.n_layer
        if (plan.n_tokens, plan.n_layer) != (T, L):
            raise ValueError(f"the plan is for {plan.n_layer} layers x {plan.n_tokens} tokens, not {L} x {T}")
        if (why := self.deps.refusal(plan.mode, L)) is not None:
            raise ValueError(why)
        cache = state or self.init_state()
        start = cache.n_tokens                                  # the position of the first new token
        gpt.positions(start, T, self.config.n_ctx, clamp=self.past_context == "clamp")   # refuse early
        layers = list(cache.layers)
        acts: list[torch.Tensor | None] = [None] * L            # acts[l]: layer l's input, all T tokens
        logits: list[torch.Tensor] = []
        timer = StepTimer(self.device) if timed else None
        grad = self.weights.wte.requires_grad or self.weights.head.requires_grad
        with (nullcontext() if grad else torch.inference_mode()):
            if timer:
                timer.begin()
            run_in_order(plan, lambda cell: self._run_cell(cell, ids, start, layers, acts, logits, all_logits,
                                                          recorder), timer)
            timings = timer.finish(plan) if timer else None
            out = torch.cat(logits) if all_logits else logits[-1][-1]         # (T, V) or (V,)
        return RunResult(out, Cache(tuple(layers)), timings, plan)

    def _run_cell(self, cell: Cell, ids, start: int, layers, acts, logits, all_logits: bool, rec) -> None:
        l, s, e = cell.layer, cell.start, cell.stop
        w, T, L = self.weights, len(ids), self.config.n_layer
        if l == 0:
            x = gpt.embed(w, ids[s:e], start + s, clamp=self.past_context == "clamp")   # (t, C)
            gpt._rec(rec, "embed", s, x)
        else:
            x = acts[l][s:e]                                                  # (t, C) from the cell below
        x, layers[l] = gpt.block(x, layers[l], w.blocks[l], w.n_head, rec=rec, prefix=f"blocks.{l}.", start=s)
        if l < L - 1:
            if acts[l + 1] is None:
                acts[l + 1] = x.new_empty(T, x.shape[-1])                     # (T, C)
            acts[l + 1][s:e] = x
        elif all_logits:
            logits.append(gpt.head(w, x))                                     # (t, V)
        elif e == T:
            logits.append(gpt.head(w, x[-1:]))                                # (1, V)


def attention_weights(model: GPTModel, tokens, state: Cache | None = None) -> list[torch.Tensor]:
    """Per layer, the attention weights of the tokens (H, T, P+T) (P: the tokens in `state`),
    from the model's own forward pass (the parallel schedule, one cell per layer)."""
    from rwkv_core.trace import Recorder
    rec = Recorder("blocks.*.attn.weights")
    model.forward(tokens, state, mode="parallel", recorder=rec)
    return [rec[f"blocks.{l}.attn.weights"] for l in range(model.config.n_layer)]


# --- loading ----------------------------------------------------------------------------------

def is_gpt(sd: dict) -> bool:
    return "transformer.wte.weight" in sd or any(k.startswith("transformer.h.") for k in sd)


def validate(sd: dict, name: str) -> Config:
    """Every tensor of a GPT there, with the right shape; CheckpointError naming what is wrong."""
    for key in ("transformer.wte.weight", "transformer.wpe.weight", "transformer.h.0.mlp.c_fc.weight"):
        if key not in sd:
            raise CheckpointError(f"{name}: missing tensor {key!r}: not a complete gpt checkpoint")
        if sd[key].ndim != 2:
            raise CheckpointError(f"{name}: tensor {key!r} must be a matrix, has shape {tuple(sd[key].shape)}")
    n_head = sd.get("transformer.n_head")
    if n_head is None:
        raise CheckpointError(f"{name}: missing tensor 'transformer.n_head' (the number of attention heads, "
                              f"one integer)")
    C = sd["transformer.wte.weight"].shape[1]
    if (n_head.numel() != 1 or n_head.dtype.is_floating_point or int(n_head.reshape(-1)[0]) < 1
            or C % int(n_head.reshape(-1)[0])):
        raise CheckpointError(f"{name}: tensor 'transformer.n_head' must be one positive integer dividing the "
                              f"width {C}, is {n_head.reshape(-1)[:4].tolist()} ({n_head.dtype})")
    config = Config.from_state_dict(sd)
    expect_exactly(sd, config.expected_shapes(), name, f"{config.n_layer}-layer gpt", ignore={"transformer.n_head"})
    return config


def from_state_dict(sd: dict, *, device="cpu", dtype=torch.float32, tokenizer=None, source: str = "",
                    fmt: str = "state dict") -> GPTModel:
    """A GPT from its checkpoint tensors, validated first."""
    name = file_name(source) if source else "state dict"
    config = validate(sd, name)
    if tokenizer is not None and tokenizer.vocab_size > config.vocab_size:
        raise CheckpointError(f"{name}: the tokenizer has {tokenizer.vocab_size} tokens but the model only "
                              f"{config.vocab_size}: they do not belong together")
    with loading(name, "the model could not be built"):
        tensors = {k: sd[k].to(device=device, dtype=dtype).contiguous() for k in config.expected_shapes()}
        tensors["transformer.n_head"] = sd["transformer.n_head"].reshape(1).to(torch.int64)
        weights = Weights.from_state_dict(tensors)
        return GPTModel(weights, config, tokenizer=tokenizer, source=source, fmt=fmt, device=device)


__all__ = ["GPTModel", "Config", "Cache", "Weights", "attention_weights", "validate", "from_state_dict",
           "is_gpt"]
