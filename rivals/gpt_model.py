"""The transformer rival as a model with RWKV's face (rwkv_core.base.ModelBase): `kind` "gpt",
`deps`, `schedules`, `forward`, `plan_for`, `run_plan`, and a state: the KV cache (rivals.gpt.Cache).

Every schedule is valid for a GPT: a cell (layer l, tokens s..e) reads the layer below on tokens
s..e and its own layer's cache (the keys and values of tokens < s), never the layer above: no red
line. So rnn (one token at a time with the cache), the cascade and the layer-parallel schedule
all give the same logits."""
from __future__ import annotations

import copy

import torch

from rivals import gpt
from rivals.gpt import Cache, Config, Weights
from rwkv_core.base import ModelBase, Run
from rwkv_core.checkpoint import CheckpointError, expect_exactly, file_name, loading
from rwkv_core.schedule import Cell, Dependencies

PAST_CONTEXT = ("refuse", "clamp")
DEPS = Dependencies("gpt")   # no red line; a cell's products take all its tokens at once


class GPTModel(ModelBase):
    """A loaded GPT-2-style model: weights (read-only), config, tokenizer (or None), device.

    past_context: "refuse" (a ValueError when the cache and the new tokens pass n_ctx, the
    position table) or "clamp" (every position past the table reuses its last row: for timing
    generation at long contexts only; the logits are no longer the model's). See
    with_past_context.

    A cell (layer, start, stop) reads the layer below on its tokens and its own layer's cache,
    which the layer's earlier cells made longer. recorder (rwkv_core.trace.Recorder): names
    blocks.{i}.attn.q / k / v / y / out (per head, (H, T, hs) or (T, C)), blocks.{i}.attn.weights
    ((H, T, P+T): assembled only when a layer is one cell, the parallel schedule, as
    attention_weights() runs it), blocks.{i}.resid_mid / resid, embed."""

    kind = "gpt"
    deps = DEPS
    embedding = "wte"

    def __init__(self, weights: Weights, config: Config, *, past_context: str = "refuse", **kw):
        if past_context not in PAST_CONTEXT:
            raise ValueError(f"past_context must be one of {PAST_CONTEXT}, got {past_context!r}")
        super().__init__(weights, config, **kw)
        self.past_context = past_context

    def __repr__(self):
        c = self.config
        return (f"GPT({c.n_layer} layers x {c.n_embd}, {c.n_head} heads, context {c.n_ctx}, vocab {c.vocab_size}, "
                f"{c.n_params / 1e6:.2f}M params, {self.dtype}, {self.device})")

    def with_past_context(self, policy: str = "clamp") -> "GPTModel":
        """The same weights with another past-context policy (the weights are shared, not copied)."""
        if policy not in PAST_CONTEXT:
            raise ValueError(f"past_context must be one of {PAST_CONTEXT}, got {policy!r}")
        new = copy.copy(self)
        new.past_context = policy
        return new

    def init_state(self) -> Cache:
        """An empty cache: 0 tokens read, 0 bytes."""
        c = self.config
        return gpt.init_cache(c.n_layer, c.n_head, c.head_size, device=self.device, dtype=self.dtype)

    def _execute(self, plan, ids, state, **kw):
        """Refused before any cell runs when the cache and the new tokens pass the position table."""
        state = state or self.init_state()
        gpt.positions(state.n_tokens, len(ids), self.config.n_ctx, clamp=self.past_context == "clamp")
        return super()._execute(plan, ids, state, **kw)

    def _head(self, x: torch.Tensor) -> torch.Tensor:
        return gpt.head(self.weights, x)

    def _run_cell(self, run: Run, cell: Cell) -> None:
        l, s, e = cell.layer, cell.start, cell.stop
        w, rec = self.weights, run.recorder
        if l == 0:
            start = run.before.n_tokens                                       # the position of the first new token
            x = gpt.embed(w, run.ids[s:e], start + s, clamp=self.past_context == "clamp")   # (t, C)
            gpt._rec(rec, "embed", s, x)
        else:
            x = run.acts[l][s:e]                                              # (t, C) from the cell below
        x, run.layers[l] = gpt.block(x, run.layers[l], w.blocks[l], w.n_head, rec=rec, prefix=f"blocks.{l}.",
                                     start=s)
        if l < self.config.n_layer - 1:
            if run.acts[l + 1] is None:
                run.acts[l + 1] = x.new_empty(len(run.ids), x.shape[-1])      # (T, C)
            run.acts[l + 1][s:e] = x
        else:
            self._emit(run, x, e)


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
