"""Execution plans: the order in which the (layer, token-range) cells of a forward pass run.

The plan is data. The engine executes it (model.run_plan) and the app animates the very same
plan, so what a user watches is the real execution order.

  rnn       a classic stacked RNN: the top layer of token t feeds the first layer of token t+1
            (the "red line"), so every one of the L*T cells waits for the one before: L*T steps.
  cascade   RWKV's wavefront: a cell needs only the cell below it (same tokens, previous layer)
            and the previous chunk of its own layer (through the state). Cut the tokens into
            chunks of `chunk`; at step s every cell with layer + chunk_index = s can run:
            L + ceil(T/chunk) - 1 steps.
  parallel  GPT mode, how RWKV trains: each layer over all tokens at once: L steps.
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

MODES = ("rnn", "cascade", "parallel")


@dataclass(frozen=True, order=True)
class Cell:
    layer: int
    start: int  # first token
    stop: int   # one past the last token

    @property
    def n_tokens(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class Plan:
    mode: str
    n_layer: int
    n_tokens: int
    chunk: int
    steps: tuple[tuple[Cell, ...], ...]
    _step_of: dict = field(default=None, repr=False, compare=False)
    _by_layer: dict = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_step_of", {c: s for s, cells in enumerate(self.steps) for c in cells})
        by_layer: dict[int, list[Cell]] = {}
        for c in sorted(self._step_of):
            by_layer.setdefault(c.layer, []).append(c)
        # per layer: the cells sorted by start, and their starts, to find a token's cell by bisection
        object.__setattr__(self, "_by_layer", {l: (cells, [c.start for c in cells]) for l, cells in by_layer.items()})

    @property
    def n_steps(self) -> int:
        return len(self.steps)

    @property
    def cells(self) -> list[Cell]:
        return [c for step in self.steps for c in step]

    def step_of(self, cell: Cell) -> int:
        return self._step_of[cell]

    def cell_at(self, layer: int, token: int) -> Cell:
        """The cell that computes this layer for this token."""
        cells, starts = self._by_layer.get(layer, ((), []))
        i = bisect.bisect_right(starts, token) - 1
        if i < 0 or not cells[i].start <= token < cells[i].stop:
            raise KeyError((layer, token))
        return cells[i]

    def dependencies(self, cell: Cell) -> list[Cell]:
        """The cells whose results this one reads. Below: the previous layer on the same tokens
        (possibly several cells if chunks differ). Left: this layer's previous chunk, through the
        state. In the rnn plan also the red line: the top layer of the previous token."""
        deps: list[Cell] = []
        if cell.layer > 0:
            deps += sorted({self.cell_at(cell.layer - 1, t) for t in range(cell.start, cell.stop)})
        if cell.start > 0:
            deps.append(self.cell_at(cell.layer, cell.start - 1))
            if self.mode == "rnn" and cell.layer == 0:
                deps.append(self.cell_at(self.n_layer - 1, cell.start - 1))  # the red line
        return deps

    def critical_path(self, cell: Cell | None = None) -> list[Cell]:
        """The longest chain of dependencies that ends at `cell` (default: the last cell)."""
        cell = cell or self.steps[-1][-1]
        path = [cell]
        while deps := self.dependencies(path[-1]):
            path.append(max(deps, key=self.step_of))
        return path[::-1]

    def validate(self) -> None:
        """Every (layer, token) is computed exactly once, and every cell runs after its inputs."""
        seen = [[0] * self.n_tokens for _ in range(self.n_layer)]
        for c in self.cells:
            for t in range(c.start, c.stop):
                seen[c.layer][t] += 1
        if any(n != 1 for row in seen for n in row):
            raise AssertionError("a (layer, token) is computed zero or several times")
        for c in self.cells:
            for d in self.dependencies(c):
                if self.step_of(d) >= self.step_of(c):
                    raise AssertionError(f"{c} runs before or with its input {d}")


def expected_steps(mode: str, n_layer: int, n_tokens: int, chunk: int = 1) -> int:
    if mode == "rnn":
        return n_layer * n_tokens
    if mode == "cascade":
        return n_layer + math.ceil(n_tokens / chunk) - 1
    return n_layer


def plan(mode: str, *, n_layer: int, n_tokens: int, chunk: int = 1) -> Plan:
    """The plan for one schedule. `chunk` is used by the cascade (1 = the pure wavefront,
    n_tokens = layer-parallel)."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}: choose one of {', '.join(MODES)}")
    if n_layer < 1 or n_tokens < 1:
        raise ValueError(f"a plan needs at least one layer and one token (got {n_layer} layers, {n_tokens} tokens)")
    if not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be a positive whole number of tokens (got {chunk!r})")
    if mode == "rnn":
        steps = [(Cell(layer, t, t + 1),) for t in range(n_tokens) for layer in range(n_layer)]
        chunk = 1
    elif mode == "parallel":
        steps = [(Cell(layer, 0, n_tokens),) for layer in range(n_layer)]
        chunk = n_tokens
    else:
        chunk = min(chunk, n_tokens)
        bounds = [(s, min(s + chunk, n_tokens)) for s in range(0, n_tokens, chunk)]
        steps = []
        for s in range(n_layer + len(bounds) - 1):
            # lower layers first inside a step: they work on later chunks, the wave's front
            steps.append(tuple(Cell(layer, *bounds[s - layer])
                               for layer in range(n_layer) if 0 <= s - layer < len(bounds)))
    return Plan(mode, n_layer, n_tokens, chunk, tuple(steps))
