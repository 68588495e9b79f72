"""The rivals as models with RWKV's face (rwkv_core.base.ModelBase): `kind`, `deps`, `schedules`,
`forward`, `plan_for`, `run_plan` and a named state. They run the same plans (rwkv_core.schedule)
as RWKV, cell by cell; a plan their dependencies forbid is refused by the schedule module with the
reason."""
from __future__ import annotations

import torch

from rivals import lstm
from rivals.lstm import State
from rwkv_core.base import ModelBase, Run
from rwkv_core.schedule import Cell


class RivalModel(ModelBase):
    """A stacked LSTM language model ("lstm"), or the same with the red line ("redline").

    Cells of a plan: (layer l, tokens s..e) runs lstm_layer over those tokens from layer l's
    state and adds its input (the residual); layer 0 of the red-line RNN also adds the top
    layer's h of the previous token into its gates (one token per cell: its only plan is rnn).
    What a layer reads from the one below is kept as new tensors, never written in place, so
    autograd runs through any schedule."""

    def __init__(self, weights: lstm.Weights, config: lstm.Config, **kw):
        super().__init__(weights, config, **kw)
        self.kind = config.kind
        self.deps = lstm.DEPS[config.kind]

    def __repr__(self):
        c = self.config
        return (f"{'RedLineRNN' if self.kind == 'redline' else 'LSTM'}({c.n_layer} layers x {c.n_embd}, "
                f"vocab {c.vocab_size}, {c.n_params / 1e6:.2f}M params, {self.dtype}, {self.device})")

    def init_state(self) -> State:
        return lstm.init_state(self.config.n_layer, self.config.n_embd, device=self.device, dtype=self.dtype)

    def _head(self, x: torch.Tensor) -> torch.Tensor:
        return lstm.head(self.weights, x)

    def _run_cell(self, run: Run, cell: Cell) -> None:
        l, s, e = cell.layer, cell.start, cell.stop
        w, layers = self.weights, run.layers
        x = w.emb[run.ids[s:e]] if l == 0 else _take(run.acts[l], s, e)   # (t, C)
        if l == 0 and w.red_line is not None:
            h, layers[0] = self._red_line_cell(x, layers)                    # (1, C)
        else:
            h, layers[l] = lstm.lstm_layer(x, layers[l], w.layers[l])        # (t, C)
        x = x + h                                                            # (t, C) the residual
        if l < self.config.n_layer - 1:
            # acts[l+1]: the pieces (first token, x (t, C)) of this layer's output not yet read above
            if run.acts[l + 1] is None:
                run.acts[l + 1] = []
            run.acts[l + 1].append((s, x))
        else:
            self._emit(run, x, e)

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
