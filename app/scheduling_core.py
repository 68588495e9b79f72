"""The Scheduling Lab without Streamlit: the runs its page shows, made on the real model.

  kind_panels       a model kind's grid: the plans its dependencies allow, and the refused modes
  run_schedules     every schedule a model's kind allows over the same tokens, each timed with
                    the engine's own step timer, and the largest |logit difference| against the rnn
  run_kinds         the same text through every model kind (RWKV and the trained rivals) and
                    each one's allowed schedules: the equal-output proof per kind
  watch_data        one recorded run for the "watch it run" figure: state norms, embeddings,
                    next-token guesses, and (from a separate, unrecorded run) measured step times
  measure_scaling   wall time against sequence length, as a benchmark record
                    (lab/bench_record.py, the docs/bench/*.json layout)
  parse_link, chunk_note
                    the grid's controls: deep links (?kind=&L=&T=&chunk=) checked, with a message
                    for whatever is refused or changed (typed numbers: app.widgets.number_box)

The page (app/app_pages/scheduling_lab.py), scripts/bench_scheduling.py and the tests drive
this same code.
"""
from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Mapping, Sequence

import torch

from app.explorer_core import token_label
from app.formats import count
from lab import analysis, bench_record, kinds
from lab.kinds import KINDS
from rwkv_core import Recorder
from rwkv_core.protocol import Model
from rwkv_core.schedule import MODES, Plan, Refusal, expected_steps, mode_label, panels, takes_chunk
from rwkv_core.timing import Timings, device_name

DEFAULT_PROMPT = "ROMEO:\nBut soft, what light through yonder window breaks?\nIt is the east, and Juliet is the sun."
CHUNKS = tuple(2 ** i for i in range(10))          # 1, 2, 4, ..., 512: the chunk control's choices
MAX_GRID_TOKENS = 512                              # the grid control's upper bound
MAX_LIVE_TOKENS = 256                              # the live scaling measurement's longest sequence
MAX_WATCH_TOKENS = 128                             # the recorded "watch it run" replay
TOP_NEXT = 6                                       # next-token guesses shown per token
SAME_TOLERANCE = 1e-3                              # |logit difference| still called equal: float32 rounding

# One big figure is built at a time in the whole server. Building the grid is ~0.5 s of pure-Python
# plotly work that holds the interpreter lock; 30 students opening the Lab together built 30 at once,
# and every Step in the class waited behind all of them (seconds, scripts/load_test.py). Queued,
# a Step shares the lock with at most one build; the Lab pages take as long in total as before.
FIGURE_LOCK = threading.Lock()


def grid_tokens(prompt: Sequence[int], n_tokens: int) -> list[int]:
    """The prompt cut or repeated to n_tokens: the grid's size can differ from the prompt's."""
    if not prompt:
        raise ValueError("no tokens to run: the prompt is empty")
    return [prompt[i % len(prompt)] for i in range(n_tokens)]


@dataclass(frozen=True)
class ScheduleRun:
    label: str                    # "rnn", "cascade (chunk 32)", "parallel"
    plan: Plan
    logits: torch.Tensor          # (T, V)
    timings: Timings
    max_diff_vs_rnn: float        # max |logits - rnn logits|, 0.0 for the rnn itself

    @property
    def tokens_per_second(self) -> float:
        return self.plan.n_tokens / self.timings.total_seconds

    def light(self) -> "ScheduleRun":
        """The run without its logits, as a session keeps it: the page shows only their largest
        difference (a (T, V) float32 per schedule would be ~300 MB a student for the 169M model at
        512 tokens). logits.shape[-1] still gives the vocabulary size."""
        return replace(self, logits=torch.empty(0, self.logits.shape[-1], dtype=self.logits.dtype))


def shipped_rivals(models_dir: Path | None = None) -> dict[str, Path]:
    """The rival kinds whose trained checkpoint is in the models folder (lab.kinds.SHIPPED: trained
    here on the same plays and tokenizer as the embedded model), in KINDS order."""
    return {k: p for k, p in kinds.shipped_paths(models_dir).items() if k != "rwkv4"}


def kind_panels(kind: str, n_layer: int, n_tokens: int, chunk: int) -> tuple[list[Plan], list[Refusal]]:
    """A kind's grid: the plans of the modes its dependencies allow, and the modes they forbid."""
    out = panels(KINDS[kind].deps, n_layer=n_layer, n_tokens=n_tokens, chunk=chunk)
    return [p for p in out if isinstance(p, Plan)], [p for p in out if isinstance(p, Refusal)]


def _warm_up(model: Model, tokens: list[int]) -> None:
    """One short untimed pass per schedule: the first call pays one-off costs (allocation,
    kernel selection on a GPU) that are not the schedule's."""
    for mode in model.schedules:
        model.forward(tokens[:8], mode=mode, chunk=4, all_logits=False)


def cascade_workers(model: Model) -> int:
    """The cascade's workers on this device: one per layer where it can (a CUDA stream each on a
    GPU), on a CPU one per thread torch may use, at most L. One worker runs a wave's cells one
    after another; they cannot be fused into one product (each cell is another layer, with other
    weights), so a wave needs a worker per layer group to run at once."""
    L = model.config.n_layer
    return L if model.device.type == "cuda" else max(1, min(L, torch.get_num_threads()))


def timed_run(model: Model, tokens: list[int], mode: str, chunk: int, workers: int = 1):
    """One timed run of a plan, after an untimed one of the same plan (its one-off costs)."""
    plan = model.plan_for(len(tokens), mode, chunk)
    model.run_plan(plan, tokens, all_logits=False, workers=workers)
    return model.run_plan(plan, tokens, timed=True, workers=workers)


def concurrent_cascade(model: Model, tokens: list[int], chunk: int, rnn_logits: torch.Tensor) -> ScheduleRun | None:
    """The cascade as the grid draws it: its wave's cells at the same time, one worker per layer
    group (cascade_workers), timed after an untimed run; None where the device allows one worker
    or the kind cannot cascade."""
    workers = cascade_workers(model)
    if workers < 2 or "cascade" not in model.schedules:
        return None
    res = timed_run(model, tokens, "cascade", chunk, workers)
    return ScheduleRun(mode_label("cascade", res.plan.chunk, workers), res.plan, res.logits, res.timings,
                       float((res.logits - rnn_logits).abs().max()))


def run_schedules(model: Model, tokens: list[int], chunk: int, *, warm_up: bool = True) -> list[ScheduleRun]:
    """The same tokens through every schedule the model's kind allows, timed; each with its
    logits' largest difference from the rnn's (the same function, so this is rounding only)."""
    if warm_up:
        _warm_up(model, tokens)
    runs, ref = [], None
    for mode in model.schedules:
        plan = model.plan_for(len(tokens), mode, chunk)
        res = model.run_plan(plan, tokens, timed=True)
        ref = res.logits if ref is None else ref
        diff = float((res.logits - ref).abs().max())
        runs.append(ScheduleRun(plan.label, plan, res.logits, res.timings, diff))
    return runs


def kind_tokens(model: Model, text: str | None, ids: Sequence[int], n_tokens: int) -> list[int]:
    """The tokens a kind reads in the comparison: the text in its own tokenizer (the rivals share
    the embedded model's), or the ids themselves when there is no text; cut or repeated to n."""
    if text and model.tokenizer is not None:
        ids = model.tokenizer.encode(text)
    ids = [i for i in ids if 0 <= i < model.config.vocab_size]
    return grid_tokens(ids, n_tokens)


@dataclass(frozen=True)
class KindRuns:
    kind: str
    title: str
    params: int
    runs: list[ScheduleRun]
    refused: list[Refusal]

    @property
    def max_diff(self) -> float:
        return max(r.max_diff_vs_rnn for r in self.runs)


def run_kinds(models: dict[str, Model], text: str | None, ids: Sequence[int], n_tokens: int,
              chunk: int) -> list[KindRuns]:
    """Every kind through every schedule it allows, on the same text and length: timings and
    each kind's largest difference between its schedules."""
    out = []
    for kind, model in models.items():
        tokens = kind_tokens(model, text, ids, n_tokens)
        _, refused = kind_panels(kind, model.config.n_layer, n_tokens, chunk)
        out.append(KindRuns(kind, KINDS[kind].title, model.config.n_params,
                            [r.light() for r in run_schedules(model, tokens, chunk)], refused))
    return out


def kinds_table(kind_runs: list[KindRuns]) -> dict[str, list]:
    """One row per (kind, schedule), refused schedules included with the reason."""
    rows = []
    for kr in kind_runs:
        for r in kr.runs:
            rows.append((kr.title, r.label, r.plan.n_steps, r.plan.product_steps, round(r.timings.total_seconds * 1000, 2),
                         round(r.tokens_per_second), f"{r.max_diff_vs_rnn:.2e}"))
        for ref in kr.refused:
            rows.append((kr.title, f"{ref.mode}: not possible (the red line)" if ref.deps.red_line else
                         f"{ref.mode}: not possible", None, None, None, None, ""))
    names = ("kind", "schedule", "steps", "product steps", "wall time (ms)", "tokens / s", "max |logits − rnn logits|")
    return {n: [row[i] for row in rows] for i, n in enumerate(names)}


COMPARE = Path(__file__).resolve().parent.parent / "docs" / "compare"   # committed comparison figures


RACE_SPEED = COMPARE.parent / "race" / "throughput.json"   # the fair race's clean training throughput


def training_step_records(folder: Path = COMPARE, race: Path = RACE_SPEED) -> list[dict]:
    """The committed training-step tables: the fair race's throughput (`python -m lab.train_bench
    --threads 1 2 --repeats 9 --json docs/race/throughput.json`) first, then any train_step_*.json in the folder."""
    from lab.train_bench import read_record_file, read_records
    return (read_record_file(race) if race.is_file() else []) + read_records(folder)


def record_key(rec: dict) -> str:
    """A widget key for one training-step record: a file can hold several (batches, shapes, thread counts)."""
    return "_".join(str(rec.get(k)) for k in ("file", "shape", "batch", "threads"))


def training_step_stamp(folder: Path = COMPARE, race: Path = RACE_SPEED) -> tuple:
    files = [*folder.glob("train_step_*.json"), *([race] if race.is_file() else [])]
    return tuple(sorted((f.name, f.stat().st_mtime_ns) for f in files))


def measure_training_steps(device: str, kinds: Sequence[str] | None = None) -> list:
    """One training step of each kind (default: every registered one), live, at the recipe's batch
    (6 × 512 tokens)."""
    from lab.train_bench import train_step_speed
    return [train_step_speed(k, device=device, repeats=1) for k in (kinds or list(KINDS))]


def speed_table(rows) -> dict[str, list]:
    return {"kind": [KINDS[r.kind].title for r in rows], "schedule": [r.schedule for r in rows],
            "parameters": [f"{r.params:,}" for r in rows], "seconds / step": [round(r.seconds, 2) for r in rows],
            "tokens / s": [round(r.tokens_per_s) for r in rows]}


# --- watch it run -------------------------------------------------------------------------

WATCH_POINTS = ["embed", "blocks.*.att.aa", "blocks.*.att.bb"]


def memory_norms(rec: Recorder, n_layer: int) -> list[list[float]]:
    """Per layer and token, the size of what the layer's WKV memory holds after that token:
    ‖aa / bb‖, aa/bb being per channel the decayed average of the values seen so far (the
    stable form keeps both scaled by the same e^-pp, so their ratio is the true average)."""
    rows = []
    for i in range(n_layer):
        avg = rec[f"blocks.{i}.att.aa"] / rec[f"blocks.{i}.att.bb"]          # (T, C)
        rows.append(torch.linalg.vector_norm(avg.double(), dim=-1).tolist())  # (T,)
    return rows




def watch_data(model: Model, tokens: list[int], plan: Plan, *, warm_up: bool = True) -> dict:
    """Everything the watch figure needs, from two runs of the plan: one recorded (states,
    embeddings, probabilities) and one timed without recording (recording adds copies)."""
    rec = Recorder(WATCH_POINTS)
    res = model.run_plan(plan, tokens, recorder=rec)
    if warm_up:
        _warm_up(model, tokens)
    timed = model.run_plan(plan, tokens, timed=True)
    xy = analysis.pca(rec["embed"], k=2).project(rec["embed"])                # (T, 2)
    probs = torch.softmax(res.logits.double(), dim=-1)                        # (T, V)
    top = torch.topk(probs, min(TOP_NEXT, probs.shape[-1]), dim=-1)
    top_next = [[(token_label(model, int(i)), float(p)) for i, p in zip(ids, ps)]
                for ids, ps in zip(top.indices, top.values)]
    return {"token_labels": [token_label(model, t) for t in tokens],
            "state_norms": memory_norms(rec, model.config.n_layer),
            "embed_xy": [tuple(map(float, p)) for p in xy], "top_next": top_next,
            "step_seconds": list(timed.timings.step_seconds), "device": timed.timings.device,
            "max_diff_recorded_vs_timed": float((res.logits - timed.logits).abs().max())}


# --- scaling ------------------------------------------------------------------------------

def measure_scaling(model: Model, lengths: Sequence[int], chunks: Sequence[int], *, repeats: int = 1,
                    seed: int = 0, on_progress: Callable[[float, str], None] | None = None) -> dict:
    """Wall time of the whole forward pass for each schedule and length, as a benchmark record
    (the docs/bench JSON layout): a row per mode, at each chunk for a mode that takes one (the
    cascade); the median of `repeats` runs each."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, model.config.vocab_size, (max(lengths),), generator=g).tolist()
    _warm_up(model, ids)
    jobs = [(m, c, n) for n in lengths for m in MODES for c in (chunks if takes_chunk(m) else [None])]
    rows = []
    for j, (mode, chunk, n) in enumerate(jobs):
        if on_progress:
            on_progress(j / len(jobs), f"{mode}{f' chunk {chunk}' if chunk else ''}, {n} tokens")
        plan = model.plan_for(n, mode, chunk)
        secs = [model.run_plan(plan, ids[:n], all_logits=False, timed=True).timings.total_seconds
                for _ in range(repeats)]
        rows.append(bench_record.row(mode, chunk, n, statistics.median(secs)))
    return bench_record.record(device=device_name(model.device), config=model.config, rows=rows,
                               dtype=str(model.dtype).replace("torch.", ""), model=model.source.rsplit("/", 1)[-1],
                               note=f"median of {repeats}, measured live",
                               measured_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))


# --- the grid's controls: typed numbers and deep links ----------------------------------------

def chunk_note(chunk: int, n_tokens: int) -> str | None:
    """What the cascade really runs when the chunk is longer than the text."""
    if chunk <= n_tokens:
        return None
    return (f"Cascade chunk {chunk}, capped at {n_tokens} by the {count(n_tokens, 'token')}: one cell holds the whole "
            f"text, so the cascade runs like parallel (L steps).")


LINK_NAMES = ("kind", "L", "T", "chunk")     # the Lab's settings in its address: ?kind=lstm&L=6&T=24&chunk=4


def parse_link(params: Mapping[str, str], *, kinds: Sequence[str], max_layers: int) -> tuple[dict, list[str]]:
    """The Lab's settings read from a link's query parameters: ({name: value} of those that are
    valid, one message per refused one, saying what is allowed). Only whole numbers written as
    digits are taken ("1e9", "2.5" and "-3" are refused, never turned into something else)."""
    good, bad = {}, []
    limits = {"L": (1, max_layers), "T": (1, MAX_GRID_TOKENS)}
    for name in LINK_NAMES:
        if name not in params:
            continue
        raw = str(params[name])
        if name == "kind":
            if raw in kinds:
                good[name] = raw
            else:
                bad.append(f"kind={raw[:40]!r} is not a model kind here (one of {', '.join(kinds)})")
        elif name == "chunk":
            if raw.isdigit() and int(raw) in CHUNKS:
                good[name] = int(raw)
            else:
                bad.append(f"chunk={raw[:40]!r} is not one of the chunks {', '.join(map(str, CHUNKS))}")
        else:
            lo, hi = limits[name]
            if raw.isdigit() and lo <= int(raw) <= hi:
                good[name] = int(raw)
            else:
                bad.append(f"{name}={raw[:40]!r} is not a whole number from {lo} to {hi}")
    return good, bad


def step_counts(n_layer: int, n_tokens: int, chunk: int) -> dict[str, int]:
    """Each mode's step count (rwkv_core.schedule.MODE_INFO: L·T, L + ⌈T/chunk⌉ − 1, L)."""
    return {m: expected_steps(m, n_layer, n_tokens, chunk) for m in MODES}


# --- device -------------------------------------------------------------------------------

def device_label(model) -> str:
    return device_name(model.device)


def timing_device() -> str:
    """Where the timing runs go: the GPU when there is one, else the CPU."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def on_device(model: Model, device: str):
    """The same weights on another device (a new model object; the shared one is never changed)."""
    return model if torch.device(device) == model.device else model.to(device)
