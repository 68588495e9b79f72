"""Training speed of the four kinds: one training step (forward + backward over a batch of B
sequences of T tokens, the recipe's 6 x 512), each kind in its fastest allowed schedule.

    python -m lab.train_bench                  # the table, on this machine's CPU
    python -m lab.train_bench --device cuda --threads 2 --repeats 3

  rwkv4    layer-parallel (GPT mode): rwkv_core.model.forward_batch, as lab.train runs it
  gpt      layer-parallel: every token's attention at once (torch's fused attention), as
           lab.train_gpt runs it
  lstm     layer by layer, the recurrence token by token inside each layer: torch's fused LSTM
           (the same weights and numbers as our code, tests/test_rivals.py)
  redline  one cell at a time (the red line allows nothing else): the training loop of
           lab.train_rivals
Random weights of the trained models' shapes (speed does not depend on the values).
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from lab.train import TrainConfig, loss_fn
from rwkv_core.timing import device_name

KINDS = ("rwkv4", "gpt", "lstm", "redline")
SCHEDULE = {"rwkv4": "parallel", "gpt": "parallel (fused attention)", "lstm": "parallel (fused torch.lstm)",
            "redline": "rnn"}


@dataclass(frozen=True)
class StepSpeed:
    kind: str
    schedule: str
    params: int
    seconds: float          # one training step (the best of the repeats)
    tokens_per_s: float


def _model(kind: str, n_layer: int, n_embd: int, vocab_size: int, device):
    """(step(ids (B, T+1)): one training step's forward, loss and backward, the parameters,
    their count) for a random model of the kind, run as its training runs it."""
    g = torch.Generator().manual_seed(0)
    if kind == "rwkv4":
        from lab.train import init_weights
        from rwkv_core.config import Config
        from rwkv_core.model import forward_batch
        from rwkv_core.weights import Weights
        cfg = Config(n_layer, n_embd, 4 * n_embd, vocab_size)
        params = {k: v.to(device).requires_grad_(True) for k, v in init_weights(cfg, g).items()}
        w = Weights.from_state_dict(params)

        def step(ids):
            loss_fn(forward_batch(w, ids[:, :-1])[0], ids[:, 1:])[0].backward()
        return step, list(params.values()), cfg.n_params
    if kind == "gpt":
        from lab.train_gpt import N_HEAD
        from rivals import gpt
        cfg = gpt.Config(n_layer, n_embd, N_HEAD if n_embd % N_HEAD == 0 else 1, 4 * n_embd, vocab_size,
                         TrainConfig().ctx_len)             # the trained shape: 6 x 256, 4 heads
        sd = gpt.init_weights(cfg, g)
        params = {k: v.to(device).requires_grad_(v.dtype.is_floating_point) for k, v in sd.items()}
        w = gpt.Weights.from_state_dict(params)

        def step(ids):
            loss_fn(gpt.forward_batch(w, ids[:, :-1]), ids[:, 1:])[0].backward()
        return step, [p for p in params.values() if p.requires_grad], cfg.n_params
    from lab.train_rivals import FORWARD, DeferredGrads, init_weights
    from rivals.lstm import Config, Weights
    cfg = Config(kind, n_layer, n_embd, vocab_size)
    params = {k: v.to(device).requires_grad_(True) for k, v in init_weights(cfg, g).items()}
    w = Weights.from_state_dict(params)

    def step(ids):
        deferred = DeferredGrads() if kind == "redline" else None   # as lab.train_rivals runs it
        logits, _ = FORWARD[kind](w, ids[:, :-1], deferred) if deferred else FORWARD[kind](w, ids[:, :-1])
        loss_fn(logits, ids[:, 1:])[0].backward()
        if deferred:
            deferred.apply()
    return step, list(params.values()), cfg.n_params


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def train_step_speed(kind: str, *, device="cpu", batch: int = 6, ctx: int = 512, n_layer: int = 6,
                     n_embd: int | None = None, vocab_size: int = 2048, repeats: int = 2) -> StepSpeed:
    """Time one training step (forward, loss, backward) of `kind`, after one warm-up step."""
    from lab.train_rivals import N_EMBD
    n_embd = n_embd or (TrainConfig().n_embd if kind in ("rwkv4", "gpt") else N_EMBD)
    step, params, n_params = _model(kind, n_layer, n_embd, vocab_size, device)
    ids = torch.randint(0, vocab_size, (batch, ctx + 1), generator=torch.Generator().manual_seed(1)).to(device)
    best = float("inf")
    for i in range(repeats + 1):              # the first is a warm-up (allocations, kernel choice)
        for p in params:
            p.grad = None
        _sync(device)
        t0 = time.perf_counter()
        step(ids)
        _sync(device)
        if i:
            best = min(best, time.perf_counter() - t0)
    return StepSpeed(kind, SCHEDULE[kind], n_params, best, batch * ctx / best)


def table(rows: list[StepSpeed], device: str, batch: int, ctx: int) -> str:
    lines = [f"One training step (forward + backward), batch {batch} x {ctx} tokens, on {device}:",
             f"{'kind':8s} {'schedule':28s} {'params':>10s} {'s/step':>8s} {'tokens/s':>9s}"]
    for r in rows:
        lines.append(f"{r.kind:8s} {r.schedule:28s} {r.params:>10,d} {r.seconds:8.2f} {r.tokens_per_s:9,.0f}")
    return "\n".join(lines)


def to_record(rows: list[StepSpeed], device: str, batch: int, ctx: int) -> dict:
    """The table as a JSON record (docs/bench/train_step_*.json, read by the Scheduling Lab)."""
    return {"what": "one training step (forward + backward)", "device": device, "batch": batch, "ctx": ctx,
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "rows": [asdict(r) for r in rows]}


def read_records(folder: Path) -> list[dict]:
    """Every train_step_*.json in the folder, with its file name; a file that is not such a
    record is skipped (its name and why in the record's 'problem')."""
    out = []
    for f in sorted(folder.glob("train_step_*.json")):
        try:
            rec = json.loads(f.read_text())
            rows = [StepSpeed(**r) for r in rec["rows"]]
            out.append({**rec, "rows": rows, "file": f.name})
        except (OSError, ValueError, KeyError, TypeError) as e:
            out.append({"file": f.name, "problem": f"{type(e).__name__}: {e}", "rows": []})
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--batch", type=int, default=6)
    p.add_argument("--ctx", type=int, default=512)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--kinds", default=",".join(KINDS))
    p.add_argument("--json", default=None, help="also write the table as a record (e.g. docs/bench/train_step_cpu.json)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = [train_step_speed(k, device=args.device, batch=args.batch, ctx=args.ctx, repeats=args.repeats)
            for k in args.kinds.split(",")]
    print(table(rows, device_name(args.device), args.batch, args.ctx))
    if args.json:
        Path(args.json).write_text(json.dumps(to_record(rows, device_name(args.device), args.batch, args.ctx), indent=1))
    return rows


if __name__ == "__main__":
    main()
