"""What every model kind shares: the face the pages, the lab and the benchmarks use (the
protocol in protocol.py), and the executor of a schedule plan. A kind subclasses ModelBase and
writes only what is its own: its state (`init_state`), what one cell does (`_run_cell`), its
head (`_head`), and `__repr__`.

A plan (schedule.py) is a list of steps of cells; a cell (layer l, tokens s..e) reads the layer
below on its tokens and its own layer's state, which the cell to its left left behind. The
executor runs the cells in plan order, or (workers > 1, cascade) as a pipeline of layer groups.
"""
from __future__ import annotations

import copy
import threading
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Sequence

import torch

from rwkv_core.schedule import MODE_INFO, Cell, Dependencies, Plan
from rwkv_core.schedule import plan as make_plan
from rwkv_core.timing import StepTimer, Timings, run_in_order


@lru_cache(maxsize=256)
def _plan(mode: str, n_layer: int, n_tokens: int, chunk: int, deps: Dependencies) -> Plan:
    """make_plan, remembered: a plan is immutable, and a decode loop asks for the same one-token
    plan at every step (building it was ~15% of a small model's one-token call)."""
    return make_plan(mode, n_layer=n_layer, n_tokens=n_tokens, chunk=chunk, deps=deps)


@dataclass(frozen=True)
class RunResult:
    """What running a plan gives: logits, the final state, and (when timed) the timings."""
    logits: torch.Tensor           # (T, V), or (V,) for the last token only
    state: Any
    timings: Timings | None
    plan: Plan


@dataclass
class Run:
    """One execution of a plan: the tokens, and what its cells fill in, cell by cell (from
    several threads when pipelined, each writing its own layers)."""
    ids: torch.Tensor                  # (T,)
    before: Any                        # the state before the first token (never modified)
    layers: list                       # each layer's state, replaced as its cells run
    acts: list                         # acts[l]: what layer l reads from the layer below (the kind's own form)
    recorder: Any                      # a rwkv_core.trace.Recorder, or None
    all_logits: bool
    timer: StepTimer | None
    logits: list[torch.Tensor] = field(default_factory=list)   # the head's (t, V) pieces, in token order
    keep_acts: bool = False            # a GPU pipeline: a freed buffer could be reused by another stream too early


class ModelBase:
    """A loaded model of some kind: weights (read-only), config, tokenizer (or None), device.

    Every kind has the same face: `kind`, `deps` (its cells' dependencies, which decide the
    `schedules` it allows), `forward(tokens, state, *, mode, chunk, all_logits, recorder,
    workers)`, `plan_for`, `run_plan`, `init_state`, `check_tokens`, `to`, and a state with
    `layers` and `nbytes()`. Its weights have `state_dict()` and `from_state_dict()`."""

    kind: str
    deps: Dependencies
    embedding = "emb"          # the weights' embedding field: with `head`, it says whether gradients are wanted

    def __init__(self, weights, config, *, tokenizer=None, source: str = "", fmt: str = "", device="cpu"):
        self.weights = weights
        self.config = config
        self.tokenizer = tokenizer
        self.source = source
        self.format = fmt
        self.device = torch.device(device)
        self.dtype = weights.head.dtype

    # --- what a kind writes ---------------------------------------------------------------------

    def init_state(self):
        """The state before any token: a tuple of per-layer states in `layers`, with nbytes()."""
        raise NotImplementedError

    def _run_cell(self, run: Run, cell: Cell) -> None:
        """Run one cell: read run.ids or run.acts, replace run.layers[cell.layer], and write what
        the layer above reads (run.acts) or, on the top layer, the logits (self._emit)."""
        raise NotImplementedError

    def _head(self, x: torch.Tensor) -> torch.Tensor:
        """The top layer's output (t, C) → logits (t, V)."""
        raise NotImplementedError

    # --- the face -------------------------------------------------------------------------------

    def to(self, device=None, dtype=None):
        """A copy of the model on another device or in another dtype (this one is not changed).
        Tensors that hold counts, not weights (the GPT's n_head), keep their dtype and place."""
        device = torch.device(device) if device is not None else self.device
        dtype = dtype or self.dtype
        sd = {k: v.to(device=device, dtype=dtype) if v.is_floating_point() else v
              for k, v in self.weights.state_dict().items()}
        new = copy.copy(self)          # every other setting (the GPT's past_context) comes along
        new.weights, new.device, new.dtype = type(self.weights).from_state_dict(sd), device, dtype
        return new

    @property
    def schedules(self) -> tuple[str, ...]:
        """The modes its dependencies allow."""
        return self.deps.allowed(self.config.n_layer)

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

    def plan_for(self, n_tokens: int, mode: str = "rnn", chunk: int | None = None) -> Plan:
        """The plan of one schedule for n_tokens, refused with the reason if its deps forbid it."""
        chunk = chunk or 1
        if not isinstance(chunk, int) or not isinstance(n_tokens, int):   # make_plan says what is wrong
            return make_plan(mode, n_layer=self.config.n_layer, n_tokens=n_tokens, chunk=chunk, deps=self.deps)
        return _plan(mode, self.config.n_layer, n_tokens, chunk, self.deps)

    def forward(self, tokens: Sequence[int] | torch.Tensor, state=None, *, mode: str = "rnn",
                chunk: int | None = None, all_logits: bool = True, recorder=None, workers: int = 1):
        """Run the tokens through the model in one of the schedules its kind allows.

        Returns (logits, state): logits (T, V) for every position, or (V,) for the last only when
        all_logits=False; the state after the last token. `state` is not modified.
        workers > 1 runs the cascade's wavefront concurrently (see run_plan)."""
        ids = self.check_tokens(tokens)
        result = self._execute(self.plan_for(len(ids), mode, chunk), ids, state, recorder=recorder,
                               all_logits=all_logits, timed=False, workers=workers)
        return result.logits, result.state

    __call__ = forward

    def run_plan(self, plan: Plan, tokens, state=None, *, recorder=None, all_logits: bool = True,
                 timed: bool = False, workers: int = 1) -> RunResult:
        """Execute the plan's cells in order: a RunResult (logits, state, timings, plan).

        workers > 1 (cascade): the layers are split into `workers` groups, each run by its own
        thread (one intra-op thread each on a CPU, its own CUDA stream on a GPU), as a pipeline:
        a cell starts as soon as the cell below it is done, so the cells of one wavefront step
        really run at the same time."""
        ids = self.check_tokens(tokens)
        T, L = len(ids), self.config.n_layer
        if (plan.n_tokens, plan.n_layer) != (T, L):
            raise ValueError(f"the plan is for {plan.n_layer} layers x {plan.n_tokens} tokens, not {L} x {T}")
        if (why := self.deps.refusal(plan.mode, L)) is not None:
            raise ValueError(why)      # a plan made for another kind
        return self._execute(plan, ids, state, recorder=recorder, all_logits=all_logits, timed=timed,
                             workers=workers)

    # --- the executor ---------------------------------------------------------------------------

    def _execute(self, plan: Plan, ids: torch.Tensor, state, *, recorder, all_logits: bool, timed: bool,
                 workers: int) -> RunResult:
        """run_plan for token ids already checked (check_tokens) and a plan that fits them."""
        if workers != 1 and (not isinstance(workers, int) or workers < 1):
            raise ValueError(f"workers must be a positive whole number, got {workers!r}")
        before = state or self.init_state()
        run = Run(ids, before, list(before.layers), [None] * (self.config.n_layer + 1), recorder, all_logits,
                  StepTimer(self.device) if timed else None)
        w = self.weights
        grad = getattr(w, self.embedding).requires_grad or w.head.requires_grad
        with (nullcontext() if grad else torch.inference_mode()):
            if run.timer:
                run.timer.begin()
            if workers == 1 or MODE_INFO[plan.mode].token_by_token:
                run_in_order(plan, lambda cell: self._run_cell(run, cell), run.timer)
            else:
                self._run_pipelined(run, plan, min(workers, self.config.n_layer))
            timings = run.timer.finish(plan) if run.timer else None
            pieces = run.logits
            logits = (pieces[0] if len(pieces) == 1 else torch.cat(pieces)) if all_logits else pieces[-1][-1]
        return RunResult(logits, type(before)(tuple(run.layers)), timings, plan)   # (T, V) or (V,)

    def _emit(self, run: Run, x: torch.Tensor, stop: int) -> None:
        """The top layer's output x (t, C) for tokens ..stop: its logits, or only the last
        token's when all_logits=False (and only once that token is reached)."""
        if run.all_logits:
            run.logits.append(self._head(x))              # (t, V)
        elif stop == len(run.ids):
            run.logits.append(self._head(x[-1:]))         # (1, V)

    def _run_pipelined(self, run: Run, plan: Plan, workers: int) -> None:
        """Each worker owns a contiguous group of layers and runs its cells in plan order,
        waiting only for the cell below (in the previous group) to be done."""
        L = self.config.n_layer
        owner = [min(l * workers // L, workers - 1) for l in range(L)]
        done = {c: threading.Event() for c in plan.cells}
        cuda = self.device.type == "cuda"
        run.keep_acts = cuda
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
                        self._run_cell(run, cell)
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
            pool = [threading.Thread(target=work, args=(g,), name=f"{self.kind}-stage-{g}") for g in range(workers)]
            for t in pool:
                t.start()
            for t in pool:
                t.join()
        finally:
            torch.set_num_threads(threads_before)
        if cuda:
            for s in streams:
                torch.cuda.current_stream(self.device).wait_stream(s)
        if errors:
            raise errors[0]
