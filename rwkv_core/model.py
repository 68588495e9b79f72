"""The RWKV-v4 model: time-mixing, channel-mixing and blocks as pure functions, and a model
object that executes a schedule plan (schedule.py) cell by cell.

A block, for tokens x (..., T, C) of one layer:
    x = x + time_mixing(ln1(x))      token shift, R K V, the WKV average over the past, output
    x = x + channel_mixing(ln2(x))   token shift, squared-ReLU MLP gated by a receptance
"""
from __future__ import annotations

import torch

from rwkv_core import fast, ops
from rwkv_core.base import ModelBase, Run
from rwkv_core.schedule import RWKV4, Cell
from rwkv_core.state import LayerState, State, init_state
from rwkv_core.weights import AttWeights, BlockWeights, FfnWeights, Weights


def _rec(rec, name: str, start: int, value: torch.Tensor) -> None:
    if rec is not None and rec.wants(name):
        rec.record(name, start, value)


def time_mixing(x, state: LayerState, att: AttWeights, *, rec=None, prefix="", start=0, rows: int | None = None):
    """x: (..., T, C), the layer-normed input. Returns the output (..., T, C) and the new
    (x_att, aa, bb, pp). rows=n: the output of the last n tokens only, (..., n, C); the state
    still takes in every token (block_last)."""
    prev = ops.token_shift(x, state.x_att)          # (..., T, C) the previous token's x
    xk = ops.mix(x, prev, att.time_mix_k)           # (..., T, C)
    xv = ops.mix(x, prev, att.time_mix_v)           # (..., T, C)
    xr = ops.mix(x, prev, att.time_mix_r)           # (..., T, C)
    if rows is not None:
        xr = xr[..., -rows:, :]                     # (..., rows, C)
    r = torch.sigmoid(fast.linear(xr, att.receptance))  # (..., T, C) how much of the WKV to let through
    k = fast.linear(xk, att.key)                     # (..., T, C)
    v = fast.linear(xv, att.value)                   # (..., T, C)
    w = -torch.exp(att.time_decay)                  # (C,) decay per token: always negative
    # every token's WKV at once, in blocks; it computes what ops.wkv_step does token by token (read that first)
    wkv, (aa, bb, pp) = fast.wkv_parallel(w, att.time_first, k, v, state.aa, state.bb, state.pp)
    out = fast.linear(r * wkv[..., -r.shape[-2]:, :], att.output)   # (..., T, C)
    if rec is not None:
        for name, value in (("xk", xk), ("xv", xv), ("xr", xr), ("r", r), ("k", k), ("v", v),
                            ("wkv", wkv), ("out", out)):
            _rec(rec, f"{prefix}att.{name}", start, value)
        if any(rec.wants(f"{prefix}att.{n}") for n in ("aa", "bb", "pp")):
            # the state after every token, from the plain recurrence (only when asked for)
            _, _, trace = ops.wkv_sequential(w, att.time_first, k, v, state.aa, state.bb, state.pp,
                                             states=True)
            for name, value in zip(("aa", "bb", "pp"), trace):
                _rec(rec, f"{prefix}att.{name}", start, value)
    return out, (x[..., -1, :], aa, bb, pp)


def channel_mixing(x, x_ffn, ffn: FfnWeights, *, rec=None, prefix="", start=0):
    """x: (..., T, C), the layer-normed input. Returns the output (..., T, C) and the new x_ffn."""
    prev = ops.token_shift(x, x_ffn)                      # (..., T, C)
    xk = ops.mix(x, prev, ffn.time_mix_k)                 # (..., T, C)
    xr = ops.mix(x, prev, ffn.time_mix_r)                 # (..., T, C)
    r = torch.sigmoid(fast.linear(xr, ffn.receptance))     # (..., T, C)
    k = ops.squared_relu(fast.linear(xk, ffn.key))         # (..., T, F)
    out = r * fast.linear(k, ffn.value)                    # (..., T, C)
    if rec is not None:
        for name, value in (("k", k), ("r", r), ("out", out)):
            _rec(rec, f"{prefix}ffn.{name}", start, value)
    return out, x[..., -1, :]


def block(x, state: LayerState, bw: BlockWeights, *, rec=None, prefix="", start=0):
    """One RWKV block over tokens x (..., T, C) of one layer. Returns (x, new layer state)."""
    att_out, (x_att, aa, bb, pp) = time_mixing(ops.layer_norm(x, bw.ln1.weight, bw.ln1.bias), state,
                                               bw.att, rec=rec, prefix=prefix, start=start)
    x = x + att_out                                                              # (..., T, C)
    _rec(rec, prefix + "resid_mid", start, x)
    ffn_out, x_ffn = channel_mixing(ops.layer_norm(x, bw.ln2.weight, bw.ln2.bias), state.x_ffn,
                                    bw.ffn, rec=rec, prefix=prefix, start=start)
    x = x + ffn_out                                                              # (..., T, C)
    _rec(rec, prefix + "resid", start, x)
    return x, LayerState(x_att, aa, bb, pp, x_ffn)


def block_last(x, state: LayerState, bw: BlockWeights):
    """The block when only its last token's output is wanted (the top layer, last logits only):
    the same new state as block(), but the output projection runs for the last two tokens and
    channel-mixing for the last one (the token before it is only its token shift's input).
    Returns (x of the last token (..., 1, C), new layer state)."""
    att_out, (x_att, aa, bb, pp) = time_mixing(ops.layer_norm(x, bw.ln1.weight, bw.ln1.bias), state,
                                               bw.att, rows=2)
    x = x[..., -att_out.shape[-2]:, :] + att_out                                 # (..., ≤2, C)
    xx = ops.layer_norm(x, bw.ln2.weight, bw.ln2.bias)                           # (..., ≤2, C)
    prev = xx[..., -2, :] if xx.shape[-2] == 2 else state.x_ffn                  # (..., C)
    ffn_out, x_ffn = channel_mixing(xx[..., -1:, :], prev, bw.ffn)
    return x[..., -1:, :] + ffn_out, LayerState(x_att, aa, bb, pp, x_ffn)


def embed(weights: Weights, ids: torch.Tensor) -> torch.Tensor:
    """Token ids (..., T) → the input of block 0, (..., T, C): embedding then ln0."""
    return ops.layer_norm(weights.emb[ids], weights.ln0.weight, weights.ln0.bias)


def head(weights: Weights, x: torch.Tensor) -> torch.Tensor:
    """Top-layer output (..., T, C) → logits (..., T, V)."""
    return fast.linear(ops.layer_norm(x, weights.ln_out.weight, weights.ln_out.bias), weights.head)


def forward_batch(weights: Weights, ids: torch.Tensor, state: State | None = None):
    """Layer-parallel (GPT mode) over a batch, for training: ids (B, T) → logits (B, T, V).
    The same block function as every other schedule."""
    C = weights.emb.shape[1]
    state = state or init_state(len(weights.blocks), C, batch=ids.shape[:-1], device=ids.device,
                                dtype=weights.emb.dtype)
    x = embed(weights, ids)                          # (B, T, C)
    layers = []
    for bw, st in zip(weights.blocks, state.layers):
        x, st = block(x, st, bw)
        layers.append(st)
    return head(weights, x), State(tuple(layers))   # (B, T, V)


class RWKV(ModelBase):
    """A loaded RWKV-v4 model: weights (read-only), config, tokenizer (or None), device. The face
    every kind shares, and the executor of a plan, are ModelBase's (base.py); this class runs one
    cell: embed, block, head.

    recorder (rwkv_core.trace.Recorder): names embed, blocks.{i}.att.* / ffn.* (block's),
    blocks.{i}.resid_mid / resid, ln_out."""

    kind = "rwkv4"
    deps = RWKV4

    def __repr__(self):
        c = self.config
        return (f"RWKV(v4, {c.n_layer} layers x {c.n_embd}, ffn {c.n_ffn}, vocab {c.vocab_size}, "
                f"{c.n_params / 1e6:.1f}M params, {self.dtype}, {self.device})")

    def init_state(self) -> State:
        return init_state(self.config.n_layer, self.config.n_embd, device=self.device, dtype=self.dtype)

    def _head(self, x: torch.Tensor) -> torch.Tensor:
        return head(self.weights, x)

    def _run_cell(self, run: Run, cell: Cell) -> None:
        l, s, e = cell.layer, cell.start, cell.stop
        w, T, rec, layers, acts = self.weights, len(run.ids), run.recorder, run.layers, run.acts
        if l == 0:
            x = embed(w, run.ids[s:e])                           # (t, C)
            _rec(rec, "embed", s, x)
        else:
            x = acts[l][s:e]                                     # (t, C) from the cell below
        if l == self.config.n_layer - 1 and not run.all_logits and rec is None:
            # only the last token's output is wanted (and the state): skip the rest of the top layer
            x, layers[l] = block_last(x, layers[l], w.blocks[l])                 # (1, C)
            self._emit(run, x, e)
            return
        x, layers[l] = block(x, layers[l], w.blocks[l], rec=rec, prefix=f"blocks.{l}.", start=s)
        if l == self.config.n_layer - 1:
            self._emit(run, x, e)
            if run.all_logits:
                _rec(rec, "ln_out", s, ops.layer_norm(x, w.ln_out.weight, w.ln_out.bias))
            return
        if acts[l + 1] is None:
            acts[l + 1] = torch.empty(T, x.shape[-1], device=x.device, dtype=x.dtype)
        acts[l + 1][s:e] = x
        if e == T and not run.keep_acts:
            acts[l] = None  # every cell of layer l has now read it
