"""What the app needs from a model, whatever its kind: the face RWKV (model.py) and the rivals
(rivals/model.py) share. The app types its `model` parameters with it, so that an editor or a
type checker can follow a call from a page to the engine.
"""
from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable

import torch

from rwkv_core.schedule import Dependencies, Plan


@runtime_checkable
class Model(Protocol):
    kind: str                      # "rwkv4", "lstm", "redline": a key of rwkv_core.schedule.KINDS
    deps: Dependencies             # what its cells read: decides the schedules it can run
    config: Any                    # its shape: n_layer, n_embd, vocab_size at least
    tokenizer: Any                 # a rwkv_core.tokenizer.Tokenizer, or None (ids only)
    device: torch.device
    dtype: torch.dtype

    @property
    def schedules(self) -> tuple[str, ...]:
        """The modes its dependencies allow."""

    def init_state(self) -> Any:
        """The state before any token (it has nbytes())."""

    def check_tokens(self, tokens) -> torch.Tensor:
        """Token ids as a 1-D long tensor on its device; ValueError naming a bad id."""

    def forward(self, tokens: Sequence[int] | torch.Tensor, state: Any = None, *, mode: str = "rnn",
                chunk: int | None = None, all_logits: bool = True) -> tuple[torch.Tensor, Any]:
        """(logits (T, V), or (V,) with all_logits=False; the state after the last token)."""

    def plan_for(self, n_tokens: int, mode: str = "rnn", chunk: int | None = None) -> Plan:
        """The plan of one schedule for n_tokens, refused with the reason if its deps forbid it."""

    def run_plan(self, plan: Plan, tokens, state: Any = None, *, all_logits: bool = True,
                 timed: bool = False) -> Any:
        """Execute the plan cell by cell: a RunResult (logits, state, timings, plan)."""
