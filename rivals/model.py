"""The rivals as models with RWKV's face: `kind`, `deps`, `schedules`, `forward`, `plan_for`,
`run_plan` and a named state. They run the same plans (rwkv_core.schedule) as RWKV, cell by cell;
a plan their dependencies forbid is refused by the schedule module with the reason."""
from __future__ import annotations

from contextlib import nullcontext
from typing import Sequence

import torch

from rivals import lstm
from rivals.lstm import Config, State, Weights
from rwkv_core.model import RWKV, RunResult
from rwkv_core.schedule import Cell, Plan
from rwkv_core.schedule import plan as make_plan
from rwkv_core.timing import StepTimer, run_in_order


class RivalModel:
    """A stacked LSTM language model ("lstm"), or the same with the red line ("redline").

    Cells of a plan: (layer l, tokens s..e) runs lstm_layer over those tokens from layer l's
    state and adds its input (the residual); layer 0 of the red-line RNN also adds the top
    layer's h of the previous token into its gates (one token per cell: its only plan is rnn)."""

    def __init__(self, weights: Weights, config: Config, *, tokenizer=None, source: str = "",
                 fmt: str = "", device="cpu"):
        self.weights = weights
        self.config = config
        self.kind = config.kind
        self.deps = lstm.DEPS[config.kind]
        self.tokenizer = tokenizer
        self.source = source
        self.format = fmt
        self.device = torch.device(device)
        self.dtype = weights.emb.dtype

    def __repr__(self):
        c = self.config
        return (f"{'RedLineRNN' if self.kind == 'redline' else 'LSTM'}({c.n_layer} layers x {c.n_embd}, "
                f"vocab {c.vocab_size}, {c.n_params / 1e6:.2f}M params, {self.dtype}, {self.device})")

    def to(self, device=None, dtype=None) -> "RivalModel":
        """A copy on another device or in another dtype (this one is not changed)."""
        device = torch.device(device) if device is not None else self.device
        sd = {k: v.to(device=device, dtype=dtype or self.dtype) for k, v in self.weights.state_dict().items()}
        return RivalModel(Weights.from_state_dict(sd), self.config, tokenizer=self.tokenizer, source=self.source,
                          fmt=self.format, device=device)

    @property
    def schedules(self) -> tuple[str, ...]:
        return self.deps.allowed(self.config.n_layer)

    def init_state(self) -> State:
        return lstm.init_state(self.config.n_layer, self.config.n_embd, device=self.device, dtype=self.dtype)

    check_tokens = RWKV.check_tokens  # the same ids, the same errors: it reads only config and device

    def forward(self, tokens: Sequence[int] | torch.Tensor, state: State | None = None, *,
                mode: str = "rnn", chunk: int | None = None, all_logits: bool = True):
        """Returns (logits (T, V), or (V,) for the last token when all_logits=False; the state
        after the last token). `state` is not modified."""
        ids = self.check_tokens(tokens)
        result = self.run_plan(self.plan_for(len(ids), mode, chunk), ids, state, all_logits=all_logits)
        return result.logits, result.state

    __call__ = forward

    def plan_for(self, n_tokens: int, mode: str = "rnn", chunk: int | None = None) -> Plan:
        return make_plan(mode, n_layer=self.config.n_layer, n_tokens=n_tokens, chunk=chunk or 1, deps=self.deps)

    def run_plan(self, plan: Plan, tokens, state: State | None = None, *, all_logits: bool = True,
                 timed: bool = False) -> RunResult:
        """Execute the plan's cells in order (as RWKV.run_plan does, one worker)."""
        ids = self.check_tokens(tokens)
        T, L = len(ids), self.config.n_layer
        if (plan.n_tokens, plan.n_layer) != (T, L):
            raise ValueError(f"the plan is for {plan.n_layer} layers x {plan.n_tokens} tokens, not {L} x {T}")
        if (why := self.deps.refusal(plan.mode, L)) is not None:
            raise ValueError(why)  # a plan made for another kind
        layers = list((state or self.init_state()).layers)
        # outs[l]: the pieces (first token, h (t, C)) of layer l's output that the layer above
        # has not read yet; outs[L-1] are the top's, for the head. New tensors, never written in
        # place, so autograd runs through any schedule.
        outs: list[list[tuple[int, torch.Tensor]]] = [[] for _ in range(L)]
        logits: list[torch.Tensor] = []
        timer = StepTimer(self.device) if timed else None
        grad = self.weights.emb.requires_grad or self.weights.head.requires_grad
        with (nullcontext() if grad else torch.inference_mode()):
            if timer:
                timer.begin()
            run_in_order(plan, lambda cell: self._run_cell(cell, ids, layers, outs, logits, all_logits), timer)
            timings = timer.finish(plan) if timer else None
            out = torch.cat(logits) if all_logits else logits[-1][-1]        # (T, V) or (V,)
        return RunResult(out, State(tuple(layers)), timings, plan)

    def _run_cell(self, cell: Cell, ids, layers, outs, logits, all_logits: bool) -> None:
        l, s, e = cell.layer, cell.start, cell.stop
        w, T, L = self.weights, len(ids), self.config.n_layer
        x = w.emb[ids[s:e]] if l == 0 else _take(outs[l - 1], s, e)        # (t, C)
        if l == 0 and w.red_line is not None:
            h, layers[0] = self._red_line_cell(x, layers)                    # (1, C)
        else:
            h, layers[l] = lstm.lstm_layer(x, layers[l], w.layers[l])        # (t, C)
        x = x + h                                                            # (t, C) the residual
        if l < L - 1:
            outs[l].append((s, x))
        elif all_logits:
            logits.append(lstm.head(w, x))                                   # (t, V)
        elif e == T:
            logits.append(lstm.head(w, x[-1:]))                              # (1, V)

    def _red_line_cell(self, x, layers):
        """Layer 0 of the red-line RNN for one token x (1, C): its gates also read the top layer's
        h after the previous token (still in the state: the plan ran that cell just before)."""
        assert x.shape[0] == 1, "the red-line RNN runs one token per cell"
        w0 = self.weights.layers[0]
        xw = lstm.input_products(x[0], w0) + lstm.red_line_products(layers[-1].h, self.weights.red_line)  # (4C,)
        h, new = lstm.recurrent_step(xw, layers[0], w0)                      # (C,)
        return h[None], new


def _take(pieces: list[tuple[int, torch.Tensor]], s: int, e: int) -> torch.Tensor:
    """Tokens s..e of a layer's output from its pieces (in token order); pieces wholly read are
    dropped (the cells of a layer run in token order, so nothing reads them again)."""
    used = [(a, h) for a, h in pieces if a < e and a + len(h) > s]
    x = torch.cat([h for _, h in used]) if len(used) > 1 else used[0][1]   # (≥ e-s, C)
    while pieces and pieces[0][0] + len(pieces[0][1]) <= e:
        pieces.pop(0)
    return x[s - used[0][0]:e - used[0][0]]                                 # (e-s, C)
