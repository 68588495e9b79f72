"""A toy model kind, for tests/test_toy_kind.py: the smallest thing that is a model kind here, written
as the recipe in lab/kinds.py says (a subclass of rwkv_core.base.ModelBase and its loading
functions), to show that one registry entry is all the rest of the project needs.

The toy: an embedding, L layers that each add a per-channel share of the previous token's input
(a token shift, the whole of its memory), and a linear head.
    x_l+1[t] = x_l[t] + mix_l * x_l[t-1]          logits = head · x_L
Its cells take all their tokens at once and there is no red line: every schedule is allowed.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from lab.kinds import Kind
from rwkv_core.base import ModelBase, Run
from rwkv_core.checkpoint import CheckpointError, expect_exactly, file_name
from rwkv_core.schedule import Cell, Dependencies


@dataclass(frozen=True)
class Config:
    n_layer: int
    n_embd: int
    vocab_size: int

    @property
    def n_params(self) -> int:
        return (2 * self.vocab_size + self.n_layer) * self.n_embd

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        V, C = self.vocab_size, self.n_embd
        return {"toy.emb.weight": (V, C), "toy.head.weight": (V, C),
                **{f"toy.layers.{i}.mix": (C,) for i in range(self.n_layer)}}


@dataclass(frozen=True)
class Weights:
    emb: torch.Tensor                 # toy.emb.weight (V, C)
    head: torch.Tensor                # toy.head.weight (V, C)
    mix: tuple[torch.Tensor, ...]     # toy.layers.{i}.mix (C,): how much of the previous token each layer adds

    @classmethod
    def from_state_dict(cls, sd: dict[str, torch.Tensor]) -> "Weights":
        n = sum(k.startswith("toy.layers.") for k in sd)
        return cls(sd["toy.emb.weight"], sd["toy.head.weight"], tuple(sd[f"toy.layers.{i}.mix"] for i in range(n)))

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"toy.emb.weight": self.emb, "toy.head.weight": self.head,
                **{f"toy.layers.{i}.mix": m for i, m in enumerate(self.mix)}}


@dataclass(frozen=True)
class State:
    layers: tuple[torch.Tensor, ...]  # per layer, its input at the last token read (C,)

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.layers)


class ToyModel(ModelBase):
    kind = "toy"
    deps = Dependencies("toy")

    def __repr__(self):
        return f"Toy({self.config.n_layer} layers x {self.config.n_embd}, {self.dtype}, {self.device})"

    def init_state(self) -> State:
        return State(tuple(torch.zeros(self.config.n_embd, device=self.device, dtype=self.dtype)
                           for _ in range(self.config.n_layer)))

    def _head(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weights.head.T                                       # (t, V)

    def _run_cell(self, run: Run, cell: Cell) -> None:
        l, s, e = cell.layer, cell.start, cell.stop
        x = self.weights.emb[run.ids[s:e]] if l == 0 else run.acts[l].pop(s)   # (t, C)
        prev = torch.cat([run.layers[l][None], x[:-1]])                         # (t, C) each token's previous
        x, run.layers[l] = x + self.weights.mix[l] * prev, x[-1]
        if l < self.config.n_layer - 1:
            run.acts[l + 1] = run.acts[l + 1] or {}
            run.acts[l + 1][s] = x              # the cell above reads the same tokens s..e
        else:
            self._emit(run, x, e)


def recognise(sd: dict) -> bool:
    return "toy.emb.weight" in sd


def validate(sd: dict, name: str) -> Config:
    emb = sd.get("toy.emb.weight")
    if emb is None or emb.ndim != 2:
        raise CheckpointError(f"{name}: no matrix 'toy.emb.weight': not a toy checkpoint")
    config = Config(sum(k.startswith("toy.layers.") for k in sd), emb.shape[1], emb.shape[0])
    expect_exactly(sd, config.expected_shapes(), name, f"{config.n_layer}-layer toy")
    return config


def build(sd: dict, *, device="cpu", dtype=torch.float32, tokenizer=None, source: str = "",
          fmt: str = "state dict") -> ToyModel:
    config = validate(sd, file_name(source) if source else "state dict")
    weights = Weights.from_state_dict({k: v.to(device=device, dtype=dtype) for k, v in sd.items()})
    return ToyModel(weights, config, tokenizer=tokenizer, source=source, fmt=fmt, device=device)


def random_state_dict(n_layer: int = 2, n_embd: int = 8, vocab_size: int = 2048, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(shape, generator=g) for k, shape in Config(n_layer, n_embd, vocab_size)
            .expected_shapes().items()}


KIND = Kind("toy", "toy kind", ToyModel.deps, colour="purple", recognise=recognise, validate=validate, build=build,
            why="each layer adds the previous token's input, a token shift: no red line, all tokens at once")
# trainer: see tests/test_trainer.py (the one trainer, lab.train, with a kind's hooks: Kind.trainer)
