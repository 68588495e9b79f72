"""Execution plans: the order in which the (layer, token-range) cells of a forward pass run.

The plan is data. The engine executes it (model.run_plan) and the app animates the very same
plan, so what a user watches is the real execution order. This module is the one home of the
schedule vocabulary: the modes, their labels and step counts, and what each model kind's cells
depend on (`Dependencies`), which decides the modes a kind can run.

  rnn       one (layer, token) cell at a time, token by token: L*T steps. The only order the seed
            article's red-line RNN (the top layer of token t feeds the first layer of token t+1)
            can run in; a standard stacked RNN or LSTM has no such link.
  cascade   the wavefront: a cell needs only the cell below it (same tokens, previous layer)
            and the previous chunk of its own layer (through the state). Cut the tokens into
            chunks of `chunk`; at step s every cell with layer + chunk_index = s can run:
            L + ceil(T/chunk) - 1 steps.
  parallel  GPT mode, how RWKV trains: each layer over all tokens at once: L steps of matrix
            products (inside each, RWKV-4's WKV still walks the T tokens per channel: a cheap scan).

Adding a mode is one `Mode` entry in MODE_INFO (its cells, step count and formula, its words);
the Lab's controls, labels, benchmark records and charts read the modes from there.
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class Dependencies:
    """What a cell (layer l, tokens a..b) of a model kind reads, as data: every plan of that kind
    is drawn and checked with it.

    Every kind reads the layer below on the same tokens and its own layer's state after token
    a-1 (the cell to the left). Two things differ between kinds:
      red_line  layer 0 at token t also reads the top layer's output at token t-1 (the seed
                article's red-line RNN; a standard stacked RNN or LSTM has no such link): no cell of token t can start before token t-1 has left the
                top layer, so only the rnn order is possible.
      wide      a cell over n tokens is ONE step, n tokens wide (True: its matrix products take
                all n tokens at once, as RWKV's and a transformer's do), or n sequential steps
                (False: the recurrence puts W_h h[t-1] inside a nonlinearity, as an LSTM's does,
                so each token's products wait for the previous token's result).
    """
    kind: str
    red_line: bool = False
    wide: bool = True

    def refusal(self, mode: str, n_layer: int) -> str | None:
        """Why this kind cannot run `mode`, or None when it can."""
        if self.red_line and not MODE_INFO[mode].token_by_token:
            return (f"{self.kind}: {mode} needs layer 0 of token t+1 to start before layer {n_layer - 1} "
                    f"(the top) of token t is done, but the red line feeds the top layer's output at "
                    f"token t into layer 0 at token t+1: every cell waits for the one before it, so "
                    f"only the rnn order (L·T steps) is possible")
        return None

    def allowed(self, n_layer: int = 2) -> tuple[str, ...]:
        return tuple(m for m in MODES if self.refusal(m, n_layer) is None)


# RWKV-4's cells: no red line, and a cell's products take all its tokens at once. The other kinds'
# dependencies are data too, in the registry of model kinds (lab/kinds.py), beside their names.
RWKV4 = Dependencies("rwkv4")


@dataclass(frozen=True, order=True)
class Cell:
    layer: int
    start: int  # first token
    stop: int   # one past the last token

    @property
    def n_tokens(self) -> int:
        return self.stop - self.start


# --- the modes: each one's cells, step count and names --------------------------------------

def _one_cell_at_a_time(n_layer: int, n_tokens: int, chunk: int) -> list[tuple[Cell, ...]]:
    return [(Cell(layer, t, t + 1),) for t in range(n_tokens) for layer in range(n_layer)]


def _wavefront(n_layer: int, n_tokens: int, chunk: int) -> list[tuple[Cell, ...]]:
    bounds = [(s, min(s + chunk, n_tokens)) for s in range(0, n_tokens, chunk)]
    # lower layers first inside a step: they work on later chunks, the wave's front
    return [tuple(Cell(layer, *bounds[s - layer]) for layer in range(n_layer) if 0 <= s - layer < len(bounds))
            for s in range(n_layer + len(bounds) - 1)]


def _layer_by_layer(n_layer: int, n_tokens: int, chunk: int) -> list[tuple[Cell, ...]]:
    return [(Cell(layer, 0, n_tokens),) for layer in range(n_layer)]


@dataclass(frozen=True)
class Mode:
    """One schedule mode. Adding a mode is one entry in MODE_INFO: the app's controls, labels,
    step counts, benchmark records and charts all read it from here."""
    name: str
    words: str            # what it is, in a few words
    formula: str          # its step count in L (layers), T (tokens) and chunk
    steps: Callable[[int, int, int], int]                            # (L, T, chunk) -> the step count
    build: Callable[[int, int, int], list[tuple[Cell, ...]]]         # (L, T, chunk <= T) -> the steps
    chunked: bool = False  # its cells are cut by a chunk size (the others ignore it)
    token_by_token: bool = False  # one (layer, token) cell at a time, token after token: the only
                                  # order a red line allows, and one that workers cannot overlap


MODE_INFO = {m.name: m for m in (
    Mode("rnn", "one cell at a time", "L·T", lambda L, T, chunk: L * T, _one_cell_at_a_time, token_by_token=True),
    Mode("cascade", "the cascade (diagonal wavefront)", "L + ⌈T/chunk⌉ − 1",
         lambda L, T, chunk: L + math.ceil(T / chunk) - 1, _wavefront, chunked=True),
    Mode("parallel", "layer-parallel (GPT mode)", "L", lambda L, T, chunk: L, _layer_by_layer),
)}
MODES = tuple(MODE_INFO)
MODE_NAMES = {name: m.words for name, m in MODE_INFO.items()}


def takes_chunk(mode: str) -> bool:
    """Whether a mode's cells are cut by a chunk size (the cascade's); the others ignore it."""
    return MODE_INFO[mode].chunked


def mode_label(mode: str, chunk: int | None = None, workers: int | None = None) -> str:
    """The one short name of a schedule on screen and in records: "rnn", "cascade (chunk 32)"."""
    label = f"{mode} (chunk {chunk})" if takes_chunk(mode) else mode
    return label + (f", {workers} workers" if workers and workers > 1 else "")


def step_formula(mode: str, *, chunk: int | None = None, n_layer: int | None = None,
                 n_tokens: int | None = None) -> str:
    """A mode's step count as a formula, "L + ⌈T/chunk⌉ − 1", with the values given filled in."""
    text = MODE_INFO[mode].formula
    for symbol, value in (("chunk", chunk), ("L", n_layer), ("T", n_tokens)):
        text = text if value is None else text.replace(symbol, str(value))
    return text


def expected_steps(mode: str, n_layer: int, n_tokens: int, chunk: int = 1) -> int:
    return MODE_INFO[mode].steps(n_layer, n_tokens, chunk)


@dataclass(frozen=True)
class Plan:
    mode: str
    n_layer: int
    n_tokens: int
    chunk: int
    steps: tuple[tuple[Cell, ...], ...]
    deps: Dependencies = RWKV4
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
        state. For a kind with the red line also the top layer of the previous token."""
        deps: list[Cell] = []
        if cell.layer > 0:
            deps += sorted({self.cell_at(cell.layer - 1, t) for t in range(cell.start, cell.stop)})
        if cell.start > 0:
            deps.append(self.cell_at(cell.layer, cell.start - 1))
            if self.deps.red_line and cell.layer == 0:
                deps.append(self.cell_at(self.n_layer - 1, cell.start - 1))  # the red line
        return deps

    def critical_path(self, cell: Cell | None = None) -> list[Cell]:
        """The longest chain of dependencies that ends at `cell` (default: the last cell)."""
        cell = cell or self.steps[-1][-1]
        path = [cell]
        while deps := self.dependencies(path[-1]):
            path.append(max(deps, key=self.step_of))
        return path[::-1]

    @property
    def product_steps(self) -> int:
        """The critical path in matrix-product steps: a step of wide cells is one product step; a
        step whose cells are sequential inside (an LSTM's) lasts as many as its longest cell has tokens."""
        if self.deps.wide:
            return self.n_steps
        return sum(max(c.n_tokens for c in cells) for cells in self.steps)

    @property
    def step_width(self) -> int:
        """How many (layer, token) pairs the widest product step works on at once: a wide cell
        brings all its tokens, a sequential-inside cell one token per product step."""
        if self.deps.wide:
            return max(sum(c.n_tokens for c in cells) for cells in self.steps)
        return max(len(cells) for cells in self.steps)

    @property
    def label(self) -> str:
        return mode_label(self.mode, self.chunk)

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


def plan(mode: str, *, n_layer: int, n_tokens: int, chunk: int = 1,
         deps: Dependencies = RWKV4) -> Plan:
    """The plan for one schedule of a model kind (`deps`, RWKV-4 by default). `chunk` is used by
    the cascade (1 = the pure wavefront, n_tokens = layer-parallel). ValueError, naming the
    dependency, for a mode the kind's dependencies forbid."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}: choose one of {', '.join(MODES)}")
    if (why := deps.refusal(mode, n_layer)) is not None:
        raise ValueError(why)
    if n_layer < 1 or n_tokens < 1:
        raise ValueError(f"a plan needs at least one layer and one token (got {n_layer} layers, {n_tokens} tokens)")
    if not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be a positive whole number of tokens (got {chunk!r})")
    steps = tuple(MODE_INFO[mode].build(n_layer, n_tokens, min(chunk, n_tokens)))
    widest = max(c.n_tokens for cells in steps for c in cells)     # the chunk the plan really uses
    return Plan(mode, n_layer, n_tokens, widest, steps, deps)


@dataclass(frozen=True)
class Refusal:
    """A mode a kind's dependencies forbid, with the reason: drawn as a refused panel."""
    mode: str
    deps: Dependencies
    reason: str


def panels(deps: Dependencies, *, n_layer: int, n_tokens: int, chunk: int = 1) -> list[Plan | Refusal]:
    """Every mode for one kind, in MODES order: its plan, or why the kind cannot run it."""
    out: list[Plan | Refusal] = []
    for mode in MODES:
        why = deps.refusal(mode, n_layer)
        out.append(Refusal(mode, deps, why) if why else plan(mode, n_layer=n_layer, n_tokens=n_tokens,
                                                               chunk=chunk, deps=deps))
    return out
