"""Lesson 2's live numbers, without Streamlit: why RWKV trains in parallel, on the real models.

  two_parts        the red-line RNN, the stacked LSTM and RWKV-4 (all three trained here, in
                   models/) on the student's prompt: every schedule each kind allows, run and
                   timed, with its critical path in matrix-product steps (Plan.product_steps), and
                   every schedule its dependencies refuse, with the reason
  PRODUCT_STEPS    the critical path each (kind, schedule) has in the lesson's table, as a formula
                   in L and T; the tests check each one against the plans
  chunk_cost       the cascade's time per token against its chunk size, measured on a model as a
                   benchmark record (lab/bench_record.py); scripts/bench_chunks.py writes
                   the committed ones (docs/chunks/*.json) with it
  chunk_facts      what the lesson says about a chunk size, computed: steps, how many layers
                   can work at once, the largest activation a cell holds
  race             the loaded model on the student's tokens in every schedule, timed, the cascade
                   twice: one cell after another (the chunk's effect alone) and with concurrent
                   workers (the wave the animation draws), as many as the device allows

The views (app/lessons/views_scaling.py) only lay these out; the tests run them on the real
embedded model and the real rivals.
"""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import torch

from app import scheduling_core as sc
from lab import bench_record
from lab.kinds import KINDS
from rwkv_core.protocol import Model
from rwkv_core.schedule import MODES, Plan, mode_label
from rwkv_core.timing import Timings, device_name

ROOT = Path(__file__).resolve().parents[2]
CHUNK_DOCS = ROOT / "docs" / "chunks"   # not docs/bench: the Lab reads every *.json there as a scaling record

# --- part 1: the red line, and the nonlinear recurrence -------------------------------------------

STORY = ("redline", "lstm", "rwkv4")   # the lesson's order: the article's RNN, a standard LSTM, RWKV
MAX_TOKENS = 32                        # the prompt is cut to this many tokens: every kind, every schedule
STORY_CHUNK = 1                        # the pure wavefront: the cascade's critical path is L + T − 1

# The critical path in matrix-product steps of each (kind, schedule) at chunk 1, as the lesson's
# table states it. None: the kind's dependencies refuse the schedule.
FORMULAS: dict[str, Callable[[int, int], int]] = {"L·T": lambda L, T: L * T, "L + T − 1": lambda L, T: L + T - 1,
                                                   "L": lambda L, T: L}
PRODUCT_STEPS: dict[tuple[str, str], str | None] = {
    ("redline", "rnn"): "L·T", ("redline", "cascade"): None, ("redline", "parallel"): None,
    ("lstm", "rnn"): "L·T", ("lstm", "cascade"): "L + T − 1", ("lstm", "parallel"): "L·T",
    ("rwkv4", "rnn"): "L·T", ("rwkv4", "cascade"): "L + T − 1", ("rwkv4", "parallel"): "L",
}


def formula_value(formula: str, n_layer: int, n_tokens: int) -> int:
    return FORMULAS[formula](n_layer, n_tokens)


@dataclass(frozen=True)
class ScheduleRow:
    """One (kind, schedule): what ran and how long it took, or why it cannot run."""
    kind: str
    title: str
    mode: str
    n_layer: int
    n_tokens: int
    product_steps: int | None    # the critical path in matrix-product steps (Plan.product_steps)
    width: int | None            # (layer, token) pairs the widest product step works on at once
    ms: float | None             # measured wall time of the whole run
    max_diff: float | None       # max |logits − this kind's rnn logits|: the same numbers, any order
    refusal: str | None          # why the kind cannot run this schedule (None: it ran)

    @property
    def formula(self) -> str | None:
        return PRODUCT_STEPS.get((self.kind, self.mode))


@dataclass(frozen=True)
class TwoParts:
    rows: list[ScheduleRow]      # kinds in STORY order, schedules in MODES order
    n_tokens: int
    device: str
    params: dict[str, int]       # kind → parameters
    workers: int = 1             # RWKV-4's concurrent cascade: its workers (race_workers)
    concurrent_ms: float | None = None   # and its measured wall time (None: one worker only, or no RWKV-4)

    def row(self, kind: str, mode: str) -> ScheduleRow:
        return next(r for r in self.rows if r.kind == kind and r.mode == mode)


def story_tokens(ids: Sequence[int], max_tokens: int = MAX_TOKENS) -> int:
    """How many tokens the comparison reads: the prompt's, at most max_tokens."""
    if not ids:
        raise ValueError("no tokens to run: the prompt is empty")
    return min(len(ids), max_tokens)


def two_parts(models: Mapping[str, Model], text: str | None, ids: Sequence[int], *,
              max_tokens: int = MAX_TOKENS) -> TwoParts:
    """Every kind of `models` (kind → model; STORY order kept) through every schedule it allows,
    on the same text cut to at most max_tokens tokens, timed; the refused schedules with the reason."""
    n = story_tokens(ids, max_tokens)
    ordered = {k: models[k] for k in STORY if k in models}
    for model in ordered.values():
        _warm_up(model, sc.kind_tokens(model, text, ids, n))
    rows, device = [], ""
    for kr in sc.run_kinds(ordered, text, ids, n, STORY_CHUNK):
        L = ordered[kr.kind].config.n_layer
        ran = {r.plan.mode: r for r in kr.runs}
        refused = {r.mode: r.reason for r in kr.refused}
        for mode in MODES:
            if mode in ran:
                r = ran[mode]
                device = r.timings.device
                rows.append(ScheduleRow(kr.kind, kr.title, mode, L, n, r.plan.product_steps, r.plan.step_width,
                                        r.timings.total_seconds * 1000, r.max_diff_vs_rnn, None))
            else:
                rows.append(ScheduleRow(kr.kind, kr.title, mode, L, n, None, None, None, None, refused[mode]))
    workers, concurrent = 1, None
    if "rwkv4" in ordered:      # the rivals run one cell after another only; the engine can overlap the wave
        rwkv = ordered["rwkv4"]
        workers = race_workers(rwkv)
        if workers > 1:
            tokens = sc.kind_tokens(rwkv, text, ids, n)
            concurrent = timed_run(rwkv, tokens, "cascade", STORY_CHUNK, workers).timings.total_seconds * 1000
    return TwoParts(rows, n, device, {k: m.config.n_params for k, m in ordered.items()}, workers, concurrent)


def _warm_up(model: Model, tokens: list[int]) -> None:
    """Its widest schedule once, untimed, on these very tokens: the first product of a new shape
    (T rows) pays a one-off cost (the engine picks its fastest route then, rwkv_core/calibrate.py)
    that belongs to no schedule. The narrow ones are warmed by run_kinds itself."""
    widest = "parallel" if "parallel" in model.schedules else model.schedules[-1]
    model.forward(tokens, mode=widest, chunk=len(tokens))


def two_parts_table(tp: TwoParts) -> list[dict]:
    """The rows as the page's table shows them."""
    out = []
    for r in tp.rows:
        out.append({"model": r.title, "schedule": r.mode,
                    "critical path (matrix-product steps)": "refused" if r.refusal else
                    f"{r.product_steps} = {r.formula}",
                    "widest step ((layer, token) pairs)": r.width if r.width is not None else "",
                    "measured (ms)": round(r.ms, 2) if r.ms is not None else "",
                    "max |logits − rnn logits|": f"{r.max_diff:.1e}" if r.max_diff is not None else ""})
    return out


def kind_sentence(kind: str) -> str:
    """The one-sentence reason of a kind's dependencies (rwkv_core.schedule.KINDS)."""
    return f"{KINDS[kind].title}: {KINDS[kind].why}."


# --- the race: the student's tokens in every schedule, the cascade as drawn ----------------------------

RACE_CHUNK = 4         # tokens per cascade cell in the race


race_workers = sc.cascade_workers   # one definition, shared with the Scheduling Lab's timed run
timed_run = sc.timed_run


@dataclass(frozen=True)
class RaceRun:
    plan: Plan
    workers: int
    timings: Timings
    max_diff: float              # max |logits − the rnn order's logits|: rounding only

    @property
    def label(self) -> str:
        return mode_label(self.plan.mode, self.plan.chunk if self.plan.mode == "cascade" else None, self.workers)

    @property
    def clock_steps(self) -> list[float]:
        """Seconds from one step's end to the next's, on the run's own clock: concurrent steps
        overlap, so their own spans would add up to more than the run took."""
        ends = [max(b for _, b in step) for step in self.timings.cell_spans]
        done = [max(ends[: i + 1]) for i in range(len(ends))]
        return [b - a for a, b in zip([0.0, *done[:-1]], done)]


def race(model: Model, tokens: list[int], chunk: int = RACE_CHUNK) -> list[RaceRun]:
    """The tokens through rnn, the cascade with one worker (what chunking alone buys), the
    cascade with race_workers (the wave as drawn; left out when the device allows only one) and
    parallel, each timed, with its logits' largest difference from the rnn order's."""
    if not tokens:
        raise ValueError("no tokens to run: the prompt is empty")
    workers = race_workers(model)
    order = [("rnn", 1), ("cascade", 1)] + ([("cascade", workers)] if workers > 1 else []) + [("parallel", 1)]
    runs, ref = [], None
    for mode, w in order:
        res = timed_run(model, tokens, mode, chunk, w)
        ref = res.logits if ref is None else ref
        runs.append(RaceRun(res.plan, w, res.timings, float((res.logits - ref).abs().max())))
    return runs


def race_caption(runs: list[RaceRun]) -> str:
    """What the timed cascade was: its workers, and the chunk-only run beside it."""
    one, many = (next((r for r in runs if r.plan.mode == "cascade" and (r.workers > 1) == c), None)
                 for c in (False, True))
    if many is None:
        return (f"This device allows one worker: the cascade's cells ran one after another, so its time shows "
                f"what chunks of {one.plan.chunk} buy ({one.timings.total_seconds * 1000:.1f} ms), not the wave.")
    return (f"The cascade panel ran with {many.workers} workers, each owning a group of layers, so a wave's cells "
            f"ran at the same time: {many.timings.total_seconds * 1000:.1f} ms. With 1 worker the same plan took "
            f"{one.timings.total_seconds * 1000:.1f} ms: that is what chunks of {one.plan.chunk} alone buy.")


# --- part 2: chunk sizes ----------------------------------------------------------------------------

CHUNK_SIZES = (1, 4, 16, 32, 64, 128, 256, 512)
MIN_TOKENS = 64        # each chunk size reads max(chunk, 64) tokens: per token, a longer run costs the same
WIDE = (32, 512)       # the chunk sizes where the measured fixed cost is shared out (cost_summary)


def chunk_tokens(chunk: int, min_tokens: int = MIN_TOKENS) -> int:
    """The tokens a chunk size is timed on: a whole number of chunks, at least min_tokens."""
    return chunk * math.ceil(min_tokens / chunk)


STATS = {"median": statistics.median, "fastest": min}


def chunk_cost(model: Model, chunks: Sequence[int] = CHUNK_SIZES, *, min_tokens: int = MIN_TOKENS,
               repeats: int = 1, stat: str = "median", seed: int = 0, name: str | None = None,
               note: str | None = None) -> dict:
    """The cascade at each chunk size, timed with the engine's step timer: a benchmark record
    (one "cascade" row per chunk: the median, or the fastest, of `repeats` runs; on a machine
    shared with other work the fastest run is the one least disturbed). Random token ids
    (seeded): the time does not depend on which tokens they are. Only the last token's logits
    are computed, as when an engine reads a prompt."""
    g = torch.Generator().manual_seed(seed)
    longest = max(chunk_tokens(c, min_tokens) for c in chunks)
    ids = torch.randint(0, model.config.vocab_size, (longest,), generator=g).tolist()
    rows = []
    for c in chunks:
        # one cell per layer of this width, untimed: the one-off costs of a new product shape
        # (allocation, the engine's route choice, rwkv_core/calibrate.py) are not the chunk size's
        model.forward(ids[:c], mode="cascade", chunk=c, all_logits=False)
        n = chunk_tokens(c, min_tokens)
        plan = model.plan_for(n, "cascade", c)
        secs = [model.run_plan(plan, ids[:n], all_logits=False, timed=True).timings.total_seconds
                for _ in range(repeats)]
        rows.append(bench_record.row("cascade", c, n, STATS[stat](secs)))
    return bench_record.record(device=device_name(model.device), config=model.config, rows=rows,
                               dtype=str(model.dtype).replace("torch.", ""),
                               model=name or model.source.rsplit("/", 1)[-1] or "random weights",
                               note=note or f"cascade, {stat} of {repeats}, only the last token's logits",
                               measured_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))


def per_token_ms(record: Mapping) -> list[tuple[int, float]]:
    """A chunk record as (chunk, milliseconds per token), by chunk."""
    series = bench_record.series(bench_record.parse(record))
    out = {}
    for (mode, chunk, workers), pts in series.items():
        if mode == "cascade" and not workers:
            out[chunk] = statistics.median(1000 * s / n for n, s in pts.items())
    return sorted(out.items())


def record_label(record: Mapping) -> str:
    """'rwkv4-shakespeare (6 × 256)' for a chunk record."""
    shape = record["shape"]
    return f"{record.get('model', 'model')} ({shape['n_layer']} × {shape.get('n_embd', '?')})"


def committed_chunk_costs(folder: Path = CHUNK_DOCS) -> tuple[list[dict], list[str]]:
    """The committed chunk records (scripts/bench_chunks.py), checked, and a message for each
    file that is not one (bench_record.read_folder)."""
    return bench_record.read_folder(folder)


@dataclass(frozen=True)
class ChunkFacts:
    chunk: int
    n_layer: int
    n_tokens: int
    steps: dict[str, int]        # mode → steps (rwkv_core.schedule's counts)
    n_chunks: int
    busy_layers: float           # layers at work per cascade step, on average (one worker per layer)
    cell_bytes: int              # the largest activation of one cell: channel-mix's hidden layer

    @property
    def overlap(self) -> float:
        """The share of (layer, step) slots of the wave that have work: 1 = every layer busy."""
        return self.busy_layers / self.n_layer


def chunk_facts(n_layer: int, n_ffn: int, n_tokens: int, chunk: int, bytes_per_value: int = 4) -> ChunkFacts:
    """What a chunk size means for a model of n_layer layers (and channel-mix width n_ffn) over n_tokens."""
    steps = sc.step_counts(n_layer, n_tokens, chunk)
    n_chunks = math.ceil(n_tokens / chunk)
    return ChunkFacts(chunk, n_layer, n_tokens, steps, n_chunks, n_layer * n_chunks / steps["cascade"],
                      min(chunk, n_tokens) * n_ffn * bytes_per_value)


def cost_summary(points: Sequence[tuple[int, float]]) -> dict[str, float]:
    """From (chunk, ms/token), what the lesson says about them: chunk 1's cost; how many times
    less a token costs at chunk 32 (`first`); the best chunk inside 32–512, its cost and how many
    times less than at 32 it is (`then`); and chunk 1 against that best (`speedup`)."""
    d = dict(points)
    inside = {c: v for c, v in d.items() if WIDE[0] <= c <= WIDE[1]}
    best = min(inside, key=inside.get)
    return {"one": d[1], "first": d[1] / d[WIDE[0]], "best_chunk": best, "best": inside[best],
            "then": d[WIDE[0]] / inside[best], "speedup": d[1] / inside[best]}
