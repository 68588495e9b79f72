"""Training speed of every kind: one training step (forward, loss, backward, gradient clipping and
the AdamW step) over a batch of B sequences of T tokens, each kind in its fastest allowed schedule.

    python -m lab.train_bench                  # the recipe's 6 x 512, the shipped shapes, this CPU
    python -m lab.train_bench --threads 1 2 --repeats 9 --json docs/race/throughput.json   # the fair race's
    python -m lab.train_bench --device cuda --shape shipped 169m --batch 6 fill --repeats 5 --json race.json

Each kind runs as the one trainer (lab.train) runs it, through its hooks (lab.train_kinds):
  rwkv4    layer-parallel (GPT mode): rwkv_core.model.forward_batch
  gpt      layer-parallel: every token's attention at once (torch's fused attention)
  lstm     layer by layer, the recurrence token by token inside each layer: torch's fused LSTM
           (cuDNN on a GPU; the same weights and numbers as our code, tests/test_rivals.py)
  redline  one cell at a time (the red line allows nothing else), its weights' gradients taken
           in one wide product per layer after backward (DeferredGrads)

The kinds are the registry's (lab.kinds.KINDS); a kind without trainer hooks is skipped and named.
Shapes: "shipped" is each kind's recipe (lab.train.recipe: 6 layers, 256 wide for RWKV-4 and the
GPT, 320 for the two LSTMs, about 6.2M parameters each; vocabulary 2048), "169m" the RWKV-4-169M
shape for every kind (12 x 768, vocabulary 50277; the GPT with 12 heads, GPT-2 small's). Random
weights: speed does not depend on the values. A step's time is the median of the repeats after
one warm-up step; on a GPU a batch that does not fit is halved until it does (the row says which
batch ran, and the peak memory).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch

from rwkv_core.timing import device_name

SCHEDULE = {"rwkv4": "parallel", "gpt": "parallel (fused attention)", "lstm": "parallel (fused torch.lstm)",
            "redline": "rnn"}


@dataclass(frozen=True)
class Shape:
    n_layer: int | None        # None: the kind's own recipe (lab.train.recipe), as the shipped models were trained
    n_embd: int | None
    vocab_size: int
    n_head: int | None = None  # the GPT's heads (None: its recipe's)
    n_ctx: int = 512           # the GPT's position table (at least the timed context)
    fill_batch: int = 6        # `--batch fill`: a batch of 512-token sequences near an 80 GB GPU's memory


SHAPES = {
    "shipped": Shape(None, None, 2048, fill_batch=256),
    "169m": Shape(12, 768, 50277, n_head=12, n_ctx=1024, fill_batch=32),  # RWKV-4: ~1 GB of activations a sequence
}


@dataclass(frozen=True)
class StepSpeed:
    kind: str
    schedule: str
    params: int
    seconds: float                  # one training step: the median of the repeats (older records: the best)
    tokens_per_s: float             # batch * ctx / seconds
    seconds_min: float | None = None
    seconds_max: float | None = None
    repeats: int | None = None
    batch: int | None = None        # the batch that ran (a GPU halves one that does not fit)
    peak_bytes: int | None = None   # the GPU's peak allocated memory during the steps


def kinds() -> list[str]:
    """Every registered kind, in the registry's order."""
    from lab.kinds import KINDS
    return list(KINDS)


# --- each kind's random weights and training forward -----------------------------------------

def build(kind: str, shape: Shape, device, ctx: int) -> tuple[dict[str, torch.Tensor], Callable] | None:
    """(trained tensors by name, forward) for a random model of the kind, built and run through its
    trainer hooks (lab.kinds: Kind.trainer), as lab.train runs it; forward(ids (B, T)) returns
    (logits (B, T, V), an after-backward call or None). None for a kind without hooks."""
    from dataclasses import fields, replace

    from lab.kinds import KINDS
    from lab.train import recipe
    hooks = KINDS[kind].trainer if kind in KINDS else None
    if hooks is None:
        return None
    tc = recipe(kind)
    tc = replace(tc, n_layer=shape.n_layer or tc.n_layer, n_embd=shape.n_embd or tc.n_embd,
                 ctx_len=max(ctx, shape.n_ctx))
    config = hooks.make_config(tc, shape.vocab_size)
    if shape.n_head and "n_head" in {f.name for f in fields(config)}:
        config = replace(config, n_head=shape.n_head)
    sd = hooks.init_weights(config, torch.Generator().manual_seed(0))   # values do not change the speed
    params = {k: v.to(device).requires_grad_(True) for k, v in sd.items() if v.dtype.is_floating_point}
    fixed = {k: v.to(device) for k, v in sd.items() if k not in params}   # e.g. the GPT's head count
    w = hooks.weights({**params, **fixed})

    def forward(ids):
        deferred = hooks.deferred() if hooks.deferred else None           # the red line's batched gradients
        logits = hooks.forward(w, ids, deferred) if deferred else hooks.forward(w, ids)
        return logits, deferred.apply if deferred else None
    return params, forward


# --- timing -----------------------------------------------------------------------------------

def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def _time_steps(params: dict, forward: Callable, ids: torch.Tensor, repeats: int, device) -> list[float]:
    """Seconds of each of `repeats` training steps, after one warm-up step."""
    from lab.train import loss_fn  # the trainers' loss: cross-entropy + L2Wrap
    opt = torch.optim.AdamW(params.values(), lr=1e-4, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.01)
    times = []
    for i in range(repeats + 1):         # the first is a warm-up (allocations, kernel choice, AdamW's state)
        _sync(device)
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        logits, after_backward = forward(ids[:, :-1])                  # (B, T, V)
        loss_fn(logits, ids[:, 1:])[0].backward()
        if after_backward:
            after_backward()
        torch.nn.utils.clip_grad_norm_(params.values(), 1.0)
        opt.step()
        _sync(device)
        if i:
            times.append(time.perf_counter() - t0)
    return times


def measure(kind: str, params: dict, forward: Callable, *, device, batch: int, ctx: int, vocab_size: int,
            repeats: int) -> StepSpeed:
    """Time one training step of a built model (median of `repeats`); on a GPU a batch that does
    not fit is halved until it does."""
    cuda = torch.device(device).type == "cuda"
    while True:
        g = torch.Generator().manual_seed(1)
        ids = torch.randint(0, vocab_size, (batch, ctx + 1), generator=g).to(device)   # (B, T+1)
        if cuda:
            torch.cuda.reset_peak_memory_stats(device)
        try:
            times = _time_steps(params, forward, ids, repeats, device)
        except torch.OutOfMemoryError:
            if batch == 1:
                raise
            times = None                     # freed once the exception is gone: halve and try again
        if times is not None:
            break
        batch //= 2
        for p in params.values():
            p.grad = None
        torch.cuda.empty_cache()
    s = statistics.median(times)
    peak = torch.cuda.max_memory_allocated(device) if cuda else None
    n_params = sum(p.numel() for p in params.values())
    return StepSpeed(kind, SCHEDULE.get(kind, "?"), n_params, s, batch * ctx / s, min(times), max(times),
                     repeats, batch, peak)


def train_step_speed(kind: str, *, device="cpu", batch: int = 6, ctx: int = 512, shape: str | Shape = "shipped",
                     repeats: int = 2) -> StepSpeed | None:
    """One training step of a random `kind` of the shape, timed; None for a kind without trainer hooks."""
    shape = SHAPES[shape] if isinstance(shape, str) else shape
    built = build(kind, shape, device, ctx)
    if built is None:
        return None
    return measure(kind, *built, device=device, batch=batch, ctx=ctx, vocab_size=shape.vocab_size, repeats=repeats)


def table(rows: list[StepSpeed], device: str, batch: int | str, ctx: int) -> str:
    lines = [f"One training step (forward, backward, optimizer), batch {batch} x {ctx} tokens, on {device}:",
             f"{'kind':8s} {'schedule':28s} {'params':>11s} {'batch':>5s} {'s/step':>8s} {'range':>15s} {'tokens/s':>10s}"]
    for r in rows:
        spread = f"{r.seconds_min:.3f}-{r.seconds_max:.3f}" if r.seconds_min is not None else ""
        lines.append(f"{r.kind:8s} {r.schedule:28s} {r.params:>11,d} {r.batch or batch!s:>5s} {r.seconds:8.3f} "
                     f"{spread:>15s} {r.tokens_per_s:10,.0f}")
    return "\n".join(lines)


def to_record(rows: list[StepSpeed], device: str, batch: int, ctx: int, shape: str = "shipped") -> dict:
    """One table as a JSON record (docs/compare/train_step_*.json, read by the Scheduling Lab)."""
    return {"what": "one training step (forward, backward, optimizer)", "device": device, "torch": torch.__version__,
            "shape": shape, "batch": batch, "ctx": ctx, "threads": torch.get_num_threads(),
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "rows": [asdict(r) for r in rows]}


def read_records(folder: Path) -> list[dict]:
    """Every train_step_*.json in the folder, with its file name; a file that is not such a
    record is skipped (its name and why in the record's 'problem'). A race file (`--json`: a list
    of records) gives each of its records, with the race's conditions (load, repeats, command)."""
    out = []
    for f in sorted(folder.glob("train_step_*.json")):
        try:
            out += read_record_file(f)
        except (OSError, ValueError, KeyError, TypeError) as e:
            out.append({"file": f.name, "problem": f"{type(e).__name__}: {e}", "rows": []})
    return out


def read_record_file(f: Path) -> list[dict]:
    """One file's records, their rows as StepSpeed: a single record (to_record's layout) or a race's."""
    rec = json.loads(f.read_text())
    if "records" in rec:
        shared = {k: v for k, v in rec.items() if k not in ("records", "skipped")}
        return [{**shared, **r, "rows": [StepSpeed(**row) for row in r["rows"]], "file": f.name}
                for r in rec["records"]]
    return [{**rec, "rows": [StepSpeed(**r) for r in rec["rows"]], "file": f.name}]


def parse_batch(text: str) -> int | str:
    """A --batch value: a positive number, or "fill" (the shape's fill_batch)."""
    if text == "fill" or (text.isdigit() and int(text) > 0):
        return text if text == "fill" else int(text)
    raise argparse.ArgumentTypeError(f"a batch is a positive number or 'fill', not {text!r}")


def race(kind_names: list[str], shapes: list[str], batches: list, *, device: str, ctx: int, repeats: int,
         log=print, threads: list[int] | None = None) -> dict:
    """The training race: a record per (thread count, shape, batch), each in to_record's layout (with its
    threads), in one JSON object. Each kind is built once per shape and thread count. A kind that fails
    (an error, not a slow step) is named in "skipped" with the error, and the race goes on. threads: the
    CPU thread counts to time each kind at (a small model's sequential steps can run faster on one
    thread than on two: lab.race.throughput gives each kind its fastest); None: torch's as set."""
    dev = device_name(device)
    if threads and torch.device(device).type == "cpu":      # each record says its own count
        dev = dev.rsplit(",", 1)[0] + ", " + " and ".join(map(str, threads)) + " threads"
    out = {"what": "the training race: one training step per kind", "device": dev, "torch": torch.__version__,
           "cuda": torch.version.cuda, "tf32_matmul": torch.backends.cuda.matmul.allow_tf32, "ctx": ctx,
           "repeats": repeats, "statistic": "median",
           "threads": list(threads) if threads else torch.get_num_threads(),
           "load_before": load_average(), "records": [], "skipped": []}
    for n in threads or [None]:
        if n:
            torch.set_num_threads(n)
        _race_at(out, kind_names, shapes, batches, device=device, ctx=ctx, repeats=repeats, log=log)
    out["load_after"] = load_average()
    return out


def _race_at(out: dict, kind_names: list[str], shapes: list[str], batches: list, *, device: str, ctx: int,
             repeats: int, log) -> None:
    """race's records at the current thread count, appended to out."""
    dev, cuda = device_name(device), torch.device(device).type == "cuda"

    def skip(kind, shape, batches, why):
        for batch in batches:
            out["skipped"].append({"kind": kind, "shape": shape, "batch": batch, "why": why})
        log(f"  {shape} {kind}: skipped ({why})")

    for shape in shapes:
        sizes = [SHAPES[shape].fill_batch if b == "fill" else b for b in batches]
        rows: dict[int, list[StepSpeed]] = {b: [] for b in sizes}
        for kind in kind_names:
            t0 = time.perf_counter()
            try:
                built, why = build(kind, SHAPES[shape], device, ctx), "no trainer hooks (lab.kinds: Kind.trainer)"
            except Exception as e:          # noqa: BLE001  (one kind's failure must not lose the others' rows)
                built, why = None, f"building: {type(e).__name__}: {str(e)[:300]}"
            if built is None:
                skip(kind, shape, sizes, why)
                continue
            for batch in sizes:
                try:
                    row = measure(kind, *built, device=device, batch=batch, ctx=ctx,
                                  vocab_size=SHAPES[shape].vocab_size, repeats=repeats)
                except Exception as e:      # noqa: BLE001
                    skip(kind, shape, [batch], f"{type(e).__name__}: {str(e)[:300]}")
                    continue
                rows[batch].append(row)
                log(f"  {shape} {kind} batch {row.batch}, {torch.get_num_threads()} thread(s): "
                    f"{row.tokens_per_s:,.0f} tokens/s "
                    f"({time.perf_counter() - t0:.1f} s since building began)")
            del built                        # free this kind's tensors before the next is built
            if cuda:
                torch.cuda.empty_cache()
        for batch in sizes:
            out["records"].append(to_record(rows[batch], dev, batch, ctx, shape))
            log(table(rows[batch], dev, batch, ctx) + "\n")


def load_average() -> list[float] | None:
    """The machine's 1, 5 and 15-minute load averages (None where the OS has none): a quiet
    machine's is near 0, and a figure taken beside other work says so."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", help="cpu or cuda (cuda falls back to cpu where there is none)")
    p.add_argument("--threads", type=int, nargs="+", default=None,
                   help="torch CPU threads; several: each kind timed at each (default: torch's)")
    p.add_argument("--batch", type=parse_batch, nargs="+", default=[6],
                   help="one table per batch size, e.g. 6 fill (fill: the shape's batch that about fills an 80 GB GPU)")
    p.add_argument("--ctx", type=int, default=512)
    p.add_argument("--shape", nargs="+", default=["shipped"], choices=sorted(SHAPES))
    p.add_argument("--repeats", type=int, default=2, help="timed steps after the warm-up (the median is kept)")
    p.add_argument("--kinds", default=None, help="comma-separated (default: every registered kind)")
    p.add_argument("--json", default=None, help="also write the race as JSON (a record per shape and batch)")
    args = p.parse_args(argv)
    if args.ctx < 1 or args.repeats < 1:
        p.error("--ctx and --repeats must be at least 1")
    names = args.kinds.split(",") if args.kinds else kinds()
    unknown = [k for k in names if k not in kinds()]
    if unknown:
        p.error(f"unknown kind(s) {', '.join(unknown)}; registered: {', '.join(kinds())}")
    device = args.device if args.device != "cuda" or torch.cuda.is_available() else "cpu"
    if device != args.device:
        print(f"(no CUDA device here: running on {device})")
    if args.threads and min(args.threads) < 1:
        p.error("--threads must be at least 1")
    result = race(names, args.shape, args.batch, device=device, ctx=args.ctx, repeats=args.repeats,
                  threads=args.threads)
    result["command"] = " ".join(["python -m lab.train_bench", *(sys.argv[1:] if argv is None else argv)])
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
