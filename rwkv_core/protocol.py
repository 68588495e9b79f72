"""What the app, the figures and the lab use of a model, whatever its kind: the face that every
model class has through rwkv_core.base.ModelBase (RWKV here, the rivals in rivals/, a new kind
registered in lab/kinds.py). The app types its `model` parameters with it, so that an editor or
a type checker can follow a call from a page to the engine; tests/test_model_protocol.py checks
that every shipped kind's model is one.
"""
from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable

import torch

from rwkv_core.schedule import Dependencies, Plan


@runtime_checkable
class Model(Protocol):
    kind: str                      # "rwkv4", "lstm", "redline", "gpt": a key of lab.kinds.KINDS
    deps: Dependencies             # what its cells read: decides the schedules it can run
    weights: Any                   # its tensors, in frozen dataclasses named after the checkpoint keys
    config: Any                    # its shape: n_layer, n_embd, vocab_size, n_params at least
    tokenizer: Any                 # a rwkv_core.tokenizer.Tokenizer, or None (ids only)
    source: str                    # the file it was read from ("" when built in memory)
    format: str                    # how it was stored: "safetensors", "pth", "state dict", ...
    device: torch.device
    dtype: torch.dtype

    @property
    def schedules(self) -> tuple[str, ...]:
        """The modes its dependencies allow."""

    def init_state(self) -> Any:
        """The state before any token (its `layers`, and nbytes())."""

    def check_tokens(self, tokens) -> torch.Tensor:
        """Token ids as a 1-D long tensor on its device; ValueError naming a bad id."""

    def forward(self, tokens: Sequence[int] | torch.Tensor, state: Any = None, *, mode: str = "rnn",
                chunk: int | None = None, all_logits: bool = True, recorder: Any = None,
                workers: int = 1) -> tuple[torch.Tensor, Any]:
        """(logits (T, V), or (V,) with all_logits=False; the state after the last token).
        recorder: a rwkv_core.trace.Recorder, filled with the kind's named points."""

    def plan_for(self, n_tokens: int, mode: str = "rnn", chunk: int | None = None) -> Plan:
        """The plan of one schedule for n_tokens, refused with the reason if its deps forbid it."""

    def run_plan(self, plan: Plan, tokens, state: Any = None, *, recorder: Any = None, all_logits: bool = True,
                 timed: bool = False, workers: int = 1) -> Any:
        """Execute the plan cell by cell: a rwkv_core.base.RunResult (logits, state, timings, plan).
        workers > 1: the cascade's layer groups run as a pipeline."""

    def to(self, device=None, dtype=None) -> "Model":
        """A copy on another device or in another dtype (this one is not changed)."""
