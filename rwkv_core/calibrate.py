"""Which route each matrix product takes on this machine, chosen from what this machine measures.

fast.linear can compute x @ W.T in several ways (its routes: F.linear, a two-core split of the
output columns, oneDNN's kernel, a matrix-vector call). Which one is fastest depends on the CPU
(its cores, caches and memory), the torch build, the number of threads and the product's shape:
the split and oneDNN won on the AMD EPYC the engine was first tuned on and did not on an Intel
Xeon of the same size. So nothing here is a constant tuned on one CPU. The first time a product
of a new *shape class* is met, a short calibration runs:

  shape class  (rows bucket, out, in, dtype, column-major weight?, torch threads)
  measure      every route that applies is checked against F.linear on the same input (a route
               that raises or differs is marked failed), then timed in paired rounds: each round
               times every route once, in a rotating order, so that all see the same machine
  choose       a pure function of the measurements (choose / choose_one): the route whose median
               per-round time ratio to F.linear is lowest, if it beats F.linear by MARGIN;
               else F.linear. Ties go to the earlier route in ROUTE_ORDER. A failed route is
               never chosen.

Memory-bound classes (few rows) are timed over copies of the weight that together exceed the
last-level cache, as decode streams its weights from memory. The choices are cached for the
process (RouteTable); a shape class costs a few to a few tens of milliseconds once
(on a loaded machine: a warm-up and MIN_ROUNDS rounds, then no more once BUDGET_S has passed).

    python -m lab.bench              # prints the choices for the 169M shape last
"""
from __future__ import annotations

import math
import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, NamedTuple

import torch
import torch.nn.functional as F

from rwkv_core.schedule import takes_chunk

# The routes in order of preference when two are equally fast (the plain product first).
ROUTE_ORDER = ("linear", "split", "onednn", "mv")
MARGIN = 0.03          # a route must be at least 3% faster than F.linear to replace it
ROUNDS = 4             # timed rounds per shape class (after one warm-up round) ...
MIN_ROUNDS = 3         # ... or fewer, but at least this many, once BUDGET_S has been spent
BUDGET_S = 0.15        # seconds per shape class: a loaded machine gets fewer rounds, not a long wait
# (largest rows in the bucket, rows the bucket is measured with); None: no upper end
ROW_BUCKETS = ((1, 1), (16, 8), (64, 32), (None, 128))
STREAM_BYTES = 48 << 20     # few-row classes are timed over copies of the weight filling this much
MAX_COPIES = 32


class ShapeClass(NamedTuple):
    """The products that share a route: a rows bucket, the weight's shape, dtype and layout, and
    the number of torch threads they run with. A plain tuple underneath: fast.linear looks its
    route up with one at every product."""
    max_rows: int | None      # the bucket's upper end (None: no upper end)
    out_f: int
    in_f: int
    dtype: torch.dtype
    column_major: bool
    threads: int

    def __str__(self):
        rows = f"≤{self.max_rows}" if self.max_rows else f">{ROW_BUCKETS[-2][0]}"
        return (f"rows {rows:>4s}  {self.out_f:>6d} x {self.in_f:<5d} {str(self.dtype).replace('torch.', '')} "
                f"{'col' if self.column_major else 'row'}-major, {self.threads} thread{'s' * (self.threads != 1)}")


@dataclass(frozen=True)
class Measurement:
    """One shape class measured: seconds per round for each route that passed its check (the same
    number of rounds each, round i of every route measured together), and why each failed one did."""
    seconds: Mapping[str, tuple[float, ...]]
    failed: Mapping[str, str] = field(default_factory=dict)


def bucket(rows: int) -> tuple[int | None, int]:
    """(the bucket's upper end, the rows it is measured with) for a product of `rows` rows."""
    for top, measured in ROW_BUCKETS:
        if top is None or rows <= top:
            return top, measured
    raise AssertionError("the last bucket has no upper end")


# --- the choice: a pure function of the measurements ---------------------------------------------

def ratios(m: Measurement) -> dict[str, float]:
    """Each route's median over rounds of (its time / F.linear's time in the same round); F.linear
    itself 1.0. Only routes that passed their check and have as many rounds as F.linear."""
    base = m.seconds.get("linear")
    if not base:
        return {}
    out = {}
    for name, secs in m.seconds.items():
        if name in m.failed or len(secs) != len(base) or not all(s > 0 for s in secs):
            continue
        out[name] = statistics.median(s / b for s, b in zip(secs, base))
    return out


def choose_one(m: Measurement, margin: float = MARGIN) -> str:
    """The route for one shape class: the lowest median ratio to F.linear if it is below
    1 - margin, ties to the earlier route in ROUTE_ORDER; F.linear when nothing is faster."""
    r = ratios(m)
    order = {name: i for i, name in enumerate(ROUTE_ORDER)}
    ranked = sorted((ratio, order.get(name, len(order)), name) for name, ratio in r.items())
    if not ranked or ranked[0][0] >= 1.0 - margin:
        return "linear"
    return ranked[0][2]


def choose(measurements: Mapping[ShapeClass, Measurement], margin: float = MARGIN) -> dict[ShapeClass, str]:
    """The route for every shape class measured (see choose_one)."""
    return {key: choose_one(m, margin) for key, m in measurements.items()}


# --- measuring -----------------------------------------------------------------------------------

def check(fn: Callable, x: torch.Tensor, weight: torch.Tensor, ref: torch.Tensor) -> str | None:
    """None when fn(x, weight) equals F.linear's result (up to float rounding), else why not."""
    try:
        y = fn(x, weight)
    except Exception as e:  # a route that cannot run here is simply not used
        return f"raised {type(e).__name__}: {e}"
    if y.shape != ref.shape or y.dtype != ref.dtype:
        return f"gave shape {tuple(y.shape)} {y.dtype}, not {tuple(ref.shape)} {ref.dtype}"
    tol = 1e-4 * float(ref.abs().max()) + 1e-6
    diff = float((y - ref).abs().max())
    return None if diff <= tol else f"differs from F.linear by {diff:.3g} (allowed {tol:.3g})"


def measure(routes: Mapping[str, Callable], weight: torch.Tensor, rows: int, *, rounds: int = ROUNDS,
            stream: bool | None = None) -> Measurement:
    """Check then time each route (fn(x (rows, in), weight) -> (rows, out)) on this weight's
    shape and layout in paired rounds; "linear" (F.linear) is always measured.
    stream (default: rows ≤ 64) times each route over copies of the weight that together exceed
    the last-level cache, as a pass through a whole model reads them."""
    routes = {"linear": F.linear, **{k: v for k, v in routes.items() if k != "linear"}}
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        x = torch.randn(rows, weight.shape[1], generator=g).to(weight.dtype)   # (rows, in)
        ref = F.linear(x, weight)
        failed = {name: why for name, fn in routes.items() if name != "linear"
                  for why in [check(fn, x, weight, ref)] if why}
        ok = [name for name in routes if name not in failed]
        stream = rows <= 64 if stream is None else stream
        n = min(MAX_COPIES, max(1, math.ceil(STREAM_BYTES / max(1, weight.nbytes)))) if stream else 1
        weights = [weight] + [weight.clone() for _ in range(n - 1)]   # clone keeps the layout
        secs = {name: [] for name in ok}
        start = time.perf_counter()
        for r in range(rounds + 1):                    # round 0 warms up and is not kept
            if r > min(MIN_ROUNDS, rounds) and time.perf_counter() - start > BUDGET_S:
                break
            for i in range(len(ok)):
                name = ok[(i + r) % len(ok)]           # a rotating order: no route always first
                fn = routes[name]
                t0 = time.perf_counter()
                for w in weights:
                    fn(x, w)
                if r:
                    secs[name].append(time.perf_counter() - t0)
    return Measurement({k: tuple(v) for k, v in secs.items()}, failed)


class RouteTable:
    """The per-process cache of route choices: shape class → (chosen route, its measurement).
    `route(key, weight, routes)` measures a class the first time it is met (under a lock, so
    concurrent workers measure it once), then answers from the cache."""

    def __init__(self):
        self.chosen: dict[tuple, str] = {}     # read directly by fast.linear: key → route
        self._measured: dict[ShapeClass, Measurement] = {}
        self._lock = threading.Lock()

    def route(self, key: ShapeClass, weight: torch.Tensor, routes: Mapping[str, Callable], rows: int) -> str:
        with self._lock:
            if key not in self.chosen:
                m = measure(routes, weight, rows)
                self._measured[ShapeClass(*key)] = m
                self.chosen[key] = choose_one(m)
            return self.chosen[key]

    def report(self) -> list[tuple[ShapeClass, str, dict[str, float], dict[str, str]]]:
        """(shape class, chosen route, each route's time ratio to F.linear, failed routes), in the
        order the classes were met."""
        return [(k, self.chosen[k], ratios(m), dict(m.failed)) for k, m in list(self._measured.items())]

    def clear(self) -> None:
        with self._lock:
            self.chosen.clear()
            self._measured.clear()


def warm_up(model) -> None:
    """Run a model once per rows bucket (ROW_BUCKETS: 1, 8, 32 and 128 tokens a product), in its
    parallel schedule where it has one, so that every shape class its products meet is measured now,
    not in a later run that would wait on the measuring lock. Any model kind with the engine's
    forward(tokens, mode=, chunk=) and schedules will do; a model of fixed positions (n_ctx) reads
    at most n_ctx tokens."""
    mode = "parallel" if "parallel" in model.schedules else model.schedules[-1]
    most = getattr(model.config, "n_ctx", None) or max(rows for _, rows in ROW_BUCKETS)
    with torch.no_grad():
        for _, rows in ROW_BUCKETS:
            n = min(rows, most)
            model.forward([0] * n, mode=mode, chunk=n if takes_chunk(mode) else None)   # every head row too


def format_report(rows) -> str:
    lines = [f"{'shape class':52s} {'chosen':>7s}   time / F.linear's (median of paired rounds)"]
    for key, chosen, r, failed in rows:
        cells = "  ".join(f"{n} {v:.2f}" for n, v in sorted(r.items(), key=lambda kv: ROUTE_ORDER.index(kv[0])
                                                                if kv[0] in ROUTE_ORDER else 99))
        cells += "".join(f"  {n} FAILED" for n in failed)
        lines.append(f"{str(key):52s} {chosen:>7s}   {cells}")
    return "\n".join(lines)
