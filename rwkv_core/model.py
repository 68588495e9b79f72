"""The RWKV-v4 model: time-mixing, channel-mixing and blocks as pure functions, and a model
object that executes a schedule plan (schedule.py) cell by cell.

A block, for tokens x (..., T, C) of one layer:
    x = x + time_mixing(ln1(x))      token shift, R K V, the WKV average over the past, output
    x = x + channel_mixing(ln2(x))   token shift, squared-ReLU MLP gated by a receptance
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import torch

from rwkv_core import fast, ops
from rwkv_core.config import Config
from rwkv_core.schedule import MODE_INFO, RWKV4, Cell, Plan
from rwkv_core.schedule import plan as make_plan
from rwkv_core.state import LayerState, State, init_state
from rwkv_core.timing import StepTimer, Timings, run_in_order
from rwkv_core.trace import Recorder
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


@lru_cache(maxsize=256)
def _plan(mode: str, n_layer: int, n_tokens: int, chunk: int, deps) -> Plan:
    """make_plan, remembered: a plan is immutable, and a decode loop asks for the same one-token
    plan at every step (building it was ~15% of a small model's one-token call)."""
    return make_plan(mode, n_layer=n_layer, n_tokens=n_tokens, chunk=chunk, deps=deps)


@dataclass(frozen=True)
class RunResult:
    """What running a plan gives: logits, the final state, and (when timed) the timings."""
    logits: torch.Tensor           # (T, V), or (V,) for the last token only
    state: State
    timings: Timings | None
    plan: Plan


@dataclass(frozen=True)
class _Run:
    """One execution of a plan: the tokens, what its cells fill in, and how. The lists are filled
    in place, cell by cell (from several threads when pipelined, each writing its own layers)."""
    ids: torch.Tensor                      # (T,)
    layers: list[LayerState]               # each layer's state, replaced as its cells run
    acts: list[torch.Tensor | None]        # acts[l]: the input of layer l for all tokens (acts[L]: the top's)
    logits: torch.Tensor                   # (T, V), or (1, V) for the last token only
    recorder: Recorder | None
    all_logits: bool
    timer: StepTimer | None


class RWKV:
    """A loaded RWKV-v4 model: weights (read-only), config, tokenizer (or None), device.

    Every model kind (RWKV and its rivals in rivals/) has the same face: `kind`,
    `deps` (its cell dependencies, rwkv_core.schedule.Dependencies), `schedules` (the modes they
    allow), `forward(tokens, state, *, mode, chunk, all_logits)` and a state with `nbytes()`."""

    kind = "rwkv4"
    deps = RWKV4

    def __init__(self, weights: Weights, config: Config, *, tokenizer=None, source: str = "",
                 fmt: str = "", device="cpu"):
        self.weights = weights
        self.config = config
        self.tokenizer = tokenizer
        self.source = source
        self.format = fmt
        self.device = torch.device(device)
        self.dtype = weights.emb.dtype

    def __repr__(self):
        c = self.config
        return (f"RWKV(v4, {c.n_layer} layers x {c.n_embd}, ffn {c.n_ffn}, vocab {c.vocab_size}, "
                f"{c.n_params / 1e6:.1f}M params, {self.dtype}, {self.device})")

    def to(self, device=None, dtype=None) -> "RWKV":
        """A copy of the model on another device or in another dtype (this one is not changed)."""
        device = torch.device(device) if device is not None else self.device
        dtype = dtype or self.dtype
        sd = {k: v.to(device=device, dtype=dtype) for k, v in self.weights.state_dict().items()}
        return RWKV(Weights.from_state_dict(sd), self.config, tokenizer=self.tokenizer, source=self.source,
                    fmt=self.format, device=device)

    @property
    def schedules(self) -> tuple[str, ...]:
        return self.deps.allowed(self.config.n_layer)

    def init_state(self) -> State:
        return init_state(self.config.n_layer, self.config.n_embd, device=self.device, dtype=self.dtype)

    def check_tokens(self, tokens) -> torch.Tensor:
        """Token ids as a 1-D long tensor on the model's device; ValueError for bad ids."""
        if type(tokens) in (list, tuple) and 0 < len(tokens) <= 16 and all(type(t) is int for t in tokens):
            # a few plain ints (every decode step): checked in Python, no tensor operations
            V = self.config.vocab_size
            for t in tokens:
                if not 0 <= t < V:
                    raise ValueError(f"token id {t} is outside the vocabulary (ids 0 to {V - 1}, "
                                     f"vocabulary size {V})")
            return torch.tensor(tokens, dtype=torch.long, device=self.device)
        ids = torch.as_tensor(tokens).reshape(-1) if not isinstance(tokens, torch.Tensor) else tokens
        if ids.ndim != 1:
            raise ValueError(f"tokens must be a flat list of ids, got shape {tuple(ids.shape)}")
        if ids.numel() == 0:
            raise ValueError("the token list is empty: give at least one token")
        if ids.dtype.is_floating_point or ids.dtype == torch.bool:
            raise ValueError(f"token ids must be whole numbers, got {ids.dtype}")
        V = self.config.vocab_size
        bad = ids[(ids < 0) | (ids >= V)]
        if bad.numel():
            raise ValueError(f"token id {int(bad[0])} is outside the vocabulary (ids 0 to {V - 1}, "
                             f"vocabulary size {V})")
        return ids.to(self.device, torch.long)

    def forward(self, tokens: Sequence[int] | torch.Tensor, state: State | None = None, *,
                mode: str = "rnn", chunk: int | None = None, recorder=None, all_logits: bool = True,
                workers: int = 1):
        """Run the tokens through the model in one of the three schedules.

        Returns (logits, state): logits (T, V) for every position, or (V,) for the last only when
        all_logits=False; the state after the last token. `state` is not modified.
        workers > 1 runs the cascade's wavefront concurrently (see run_plan)."""
        ids = self.check_tokens(tokens)
        result = self._execute(self.plan_for(len(ids), mode, chunk), ids, state, recorder=recorder,
                               all_logits=all_logits, timed=False, workers=workers)
        return result.logits, result.state

    __call__ = forward

    def plan_for(self, n_tokens: int, mode: str = "rnn", chunk: int | None = None) -> Plan:
        chunk = chunk or 1
        if not isinstance(chunk, int) or not isinstance(n_tokens, int):   # make_plan says what is wrong
            return make_plan(mode, n_layer=self.config.n_layer, n_tokens=n_tokens, chunk=chunk, deps=self.deps)
        return _plan(mode, self.config.n_layer, n_tokens, chunk, self.deps)

    def run_plan(self, plan: Plan, tokens, state: State | None = None, *, recorder=None,
                 all_logits: bool = True, timed: bool = False, workers: int = 1) -> "RunResult":
        """Execute the plan's cells in order. A cell (layer, start, stop) reads the layer below
        on its tokens and its own layer's state, which the previous chunk left behind.

        workers > 1 (cascade): the layers are split into `workers` groups, each run by its own
        thread (one intra-op thread each on a CPU, its own CUDA stream on a GPU), as a pipeline:
        a cell starts as soon as the cell below it is done, so the cells of one wavefront step
        really run at the same time."""
        return self._execute(plan, self.check_tokens(tokens), state, recorder=recorder, all_logits=all_logits,
                             timed=timed, workers=workers)

    def _execute(self, plan: Plan, ids: torch.Tensor, state: State | None, *, recorder, all_logits: bool,
                 timed: bool, workers: int) -> "RunResult":
        """run_plan for token ids already checked (check_tokens)."""
        T, L = len(ids), self.config.n_layer
        if (plan.n_tokens, plan.n_layer) != (T, L):
            raise ValueError(f"the plan is for {plan.n_layer} layers x {plan.n_tokens} tokens, "
                             f"not {L} x {T}")
        if not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be a positive whole number, got {workers!r}")
        run = _Run(ids, list((state or self.init_state()).layers), [None] * (L + 1),
                   torch.empty(T if all_logits else 1, self.config.vocab_size, device=self.device, dtype=self.dtype),
                   recorder, all_logits, StepTimer(self.device) if timed else None)
        timer = run.timer
        grad = any(t.requires_grad for t in (self.weights.emb, self.weights.head))
        with (nullcontext() if grad else torch.inference_mode()):
            if timer:
                timer.begin()
            if workers == 1 or MODE_INFO[plan.mode].token_by_token:
                run_in_order(plan, lambda cell: self._run_cell(run, cell), timer)
            else:
                self._run_pipelined(run, plan, min(workers, L))
            timings = timer.finish(plan) if timer else None
        out = run.logits if all_logits else run.logits[0]
        return RunResult(out, State(tuple(run.layers)), timings, plan)

    def _run_pipelined(self, run: _Run, plan: Plan, workers: int) -> None:
        """Each worker owns a contiguous group of layers and runs its cells in plan order,
        waiting only for the cell below (in the previous group) to be done."""
        import threading
        L = self.config.n_layer
        owner = [min(l * workers // L, workers - 1) for l in range(L)]
        done = {c: threading.Event() for c in plan.cells}
        cuda = self.device.type == "cuda"
        streams = [torch.cuda.Stream(self.device) for _ in range(workers)] if cuda else None
        ready = {}  # cell → CUDA event recorded after it, so another stream can wait on the GPU
        errors: list[BaseException] = []
        timer = run.timer

        def work(g: int) -> None:
            try:
                with (torch.cuda.stream(streams[g]) if cuda else nullcontext()), torch.inference_mode():
                    for cell in (c for c in plan.cells if owner[c.layer] == g):
                        for dep in plan.dependencies(cell):
                            if owner[dep.layer] != g:
                                done[dep].wait()
                                if errors:
                                    return
                                if cuda:
                                    streams[g].wait_event(ready[dep])
                        t0 = timer.mark() if timer else None
                        # on a GPU a buffer freed here could be reused by another stream too early
                        self._run_cell(run, cell, free=not cuda)
                        if timer:
                            timer.record(cell, t0, timer.mark())
                        if cuda:
                            ready[cell] = torch.cuda.Event()
                            ready[cell].record(streams[g])
                        done[cell].set()
            except BaseException as e:  # hand the error to the caller, release the waiting workers
                errors.append(e)
                for ev in done.values():
                    ev.set()

        threads_before = torch.get_num_threads()
        if not cuda:
            torch.set_num_threads(1)  # one intra-op thread per worker: the workers are the parallelism
        try:
            pool = [threading.Thread(target=work, args=(g,), name=f"rwkv-stage-{g}") for g in range(workers)]
            for t in pool:
                t.start()
            for t in pool:
                t.join()
        finally:
            torch.set_num_threads(threads_before)
        if cuda:
            torch.cuda.current_stream(self.device).wait_stream(streams[-1])
            for s in streams:
                torch.cuda.current_stream(self.device).wait_stream(s)
        if errors:
            raise errors[0]

    def _run_cell(self, run: _Run, cell: Cell, free: bool = True) -> None:
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
            if e == T:
                run.logits[0] = head(w, x)[0]
            return
        x, layers[l] = block(x, layers[l], w.blocks[l], rec=rec, prefix=f"blocks.{l}.", start=s)
        if l == self.config.n_layer - 1:
            if run.all_logits:
                run.logits[s:e] = head(w, x)
                _rec(rec, "ln_out", s, ops.layer_norm(x, w.ln_out.weight, w.ln_out.bias))
            elif e == T:
                run.logits[0] = head(w, x[-1:])[0]
            return
        if acts[l + 1] is None:
            acts[l + 1] = torch.empty(T, x.shape[-1], device=x.device, dtype=x.dtype)
        acts[l + 1][s:e] = x
        if e == T and free:
            acts[l] = None  # every cell of layer l has now read it
