"""The Scheduling Lab without Streamlit: the runs its page shows, made on the real model.

  run_schedules     rnn, cascade(chunk) and parallel over the same tokens, each timed with the
                    engine's own step timer, and the largest |logit difference| against the rnn
  watch_data        one recorded run for the "watch it run" figure: state norms, embeddings,
                    next-token guesses, and (from a separate, unrecorded run) measured step times
  measure_scaling   wall time against sequence length, as a benchmark record
                    (rwkv_core/bench_record.py, the docs/bench/*.json layout)

The page (app/app_pages/scheduling_lab.py), scripts/bench_scheduling.py and the tests drive
this same code.
"""
from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from rwkv_core import Recorder, analysis, bench_record
from rwkv_core.schedule import KINDS, MODES, Plan, expected_steps, plan as make_plan, takes_chunk
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


def grid_plans(n_layer: int, n_tokens: int, chunk: int) -> list[Plan]:
    """The grid's three panels: the classic RNN (one cell at a time, with the red line), RWKV's
    cascade and RWKV's layer-parallel schedule."""
    return [make_plan("rnn", n_layer=n_layer, n_tokens=n_tokens, deps=KINDS["redline"]),
            make_plan("cascade", n_layer=n_layer, n_tokens=n_tokens, chunk=chunk),
            make_plan("parallel", n_layer=n_layer, n_tokens=n_tokens)]


def _warm_up(model, tokens: list[int]) -> None:
    """One short untimed pass per schedule: the first call pays one-off costs (allocation,
    kernel selection on a GPU) that are not the schedule's."""
    for mode in MODES:
        model.forward(tokens[:8], mode=mode, chunk=4, all_logits=False)


def run_schedules(model, tokens: list[int], chunk: int, *, warm_up: bool = True) -> list[ScheduleRun]:
    """The same tokens through the three schedules, timed; each with its logits' largest
    difference from the rnn's (they compute the same function, so this is rounding only)."""
    if warm_up:
        _warm_up(model, tokens)
    runs, ref = [], None
    for mode in MODES:
        plan = model.plan_for(len(tokens), mode, chunk)
        res = model.run_plan(plan, tokens, timed=True)
        ref = res.logits if ref is None else ref
        diff = float((res.logits - ref).abs().max())
        runs.append(ScheduleRun(plan.label, plan, res.logits, res.timings, diff))
    return runs


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


def token_label(model, token_id: int) -> str:
    return model.tokenizer.display(token_id) if model.tokenizer is not None else f"#{token_id}"


def watch_data(model, tokens: list[int], plan: Plan, *, warm_up: bool = True) -> dict:
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

def measure_scaling(model, lengths: Sequence[int], chunks: Sequence[int], *, repeats: int = 1,
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


def step_counts(n_layer: int, n_tokens: int, chunk: int) -> dict[str, int]:
    """Each mode's step count (rwkv_core.schedule.MODE_INFO: L·T, L + ⌈T/chunk⌉ − 1, L)."""
    return {m: expected_steps(m, n_layer, n_tokens, chunk) for m in MODES}


# --- device -------------------------------------------------------------------------------

def device_label(model) -> str:
    return device_name(model.device)


def timing_device() -> str:
    """Where the timing runs go: the GPU when there is one, else the CPU."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def on_device(model, device: str):
    """The same weights on another device (a new model object; the shared one is never changed)."""
    from rwkv_core import RWKV, Weights
    if torch.device(device) == model.device:
        return model
    sd = {k: v.to(device) for k, v in model.weights.state_dict().items()}
    return RWKV(Weights.from_state_dict(sd), model.config, tokenizer=model.tokenizer, source=model.source,
                fmt=model.format, device=device)
