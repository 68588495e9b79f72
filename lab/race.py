"""The fair race, read from its files: is it fair yet, and what does training cost in compute time.

    sweep       docs/race/sweep.json       `python -m lab.sweep json docs/race/sweep.json`
    throughput  docs/race/throughput.json  `python -m lab.train_bench --repeats 9 --json docs/race/throughput.json`

A race is fair when (issue "A fair race") the tuning sweep is complete, every shipped model was
trained with its kind's chosen setting (peak rate, warm-up and the kind's own loss; the red-line RNN
borrows the LSTM's, lab.sweep.BORROWS) and every one saw the recipe's full training tokens.
`unfair()` lists what is not yet so, worded from the files, so the pages say it whatever a rerun finds.

Compute time: a run's training tokens divided by its kind's clean throughput (one training step of
the recipe's batch, the median of the repeats on a quiet machine). Wall-clock from runs that shared
the CPU unequally does not compare kinds; tokens ÷ throughput does.
"""
from __future__ import annotations

import json
from pathlib import Path

from lab import kinds
from lab.sweep import BORROWS, LOSS, TUNED

ROOT = Path(__file__).resolve().parent.parent
SWEEP_FILE = ROOT / "docs" / "race" / "sweep.json"
THROUGHPUT_FILE = ROOT / "docs" / "race" / "throughput.json"
RACE_KINDS = ("rwkv4", "gpt", "lstm", "redline")   # the four models of the race (each kind's main shipped model)


def read(path: Path) -> dict | None:
    """A committed JSON file, or None when it is not there."""
    return json.loads(path.read_text()) if path.is_file() else None


def setting(kind: str, sweep: dict) -> dict | None:
    """The kind's chosen setting {lr, warmup, bits_per_char} (a borrower's is its lender's), or None."""
    return sweep.get("chosen", {}).get(BORROWS.get(kind, kind))


def sweep_series(sweep: dict) -> dict[str, list[tuple[float, float]]]:
    """Per tuned kind, stage 1's finished runs as (peak rate, held-out bits/char), by rate."""
    out: dict[str, list[tuple[float, float]]] = {}
    for r in sweep["runs"]:
        if r["done"] and r["warmup"] == sweep["warmup"]:
            out.setdefault(r["kind"], []).append((r["lr"], r["bits_per_char"]))
    return {k: sorted(v) for k, v in out.items()}


def sweep_done(sweep: dict) -> tuple[int, int]:
    """(finished runs, planned runs): every run listed so far, and a stage-2 run for each tuned kind
    that has none listed yet (a lower bound until stage 1 ends: lab.sweep may add a rate beyond
    the grid where a kind's best is at its edge)."""
    runs = sweep["runs"]
    missing = [k for k in TUNED if not any(r["kind"] == k and r["warmup"] == sweep["warmup_2"] for r in runs)]
    return sum(r["done"] for r in runs), len(runs) + len(missing)


def done_text(sweep: dict) -> str:
    done, planned = sweep_done(sweep)
    return f"{done} of {planned} runs done" if sweep.get("complete") else f"{done} of at least {planned} runs done"


def full_tokens(log: dict) -> int:
    """The recipe's training tokens: steps × batch × context."""
    r = log["recipe"]
    return r["total_steps"] * r["batch_size"] * r["ctx_len"]


def seen_tokens(log: dict) -> int:
    return log["val"][-1]["train_tokens"] if log.get("val") else 0


def unfair(sweep: dict | None, logs: dict[str, dict]) -> list[str]:
    """Why the race is not fair yet, one sentence each; empty when it is. logs: kind → the shipped
    model's training log (lab.train_log's schema)."""
    if sweep is None:
        return ["no tuning sweep is committed (docs/race/sweep.json)"]
    reasons = []
    if not sweep.get("complete"):
        reasons.append(f"the tuning sweep is not finished: {done_text(sweep)}")
    for kind, log in logs.items():
        name, r = kinds.title(kind), log["recipe"]
        want, loss = setting(kind, sweep), LOSS.get(BORROWS.get(kind, kind), "ce")
        if want is not None and (r["lr_peak"], r["warmup_steps"]) != (want["lr"], want["warmup"]):
            reasons.append(f"the shipped {name} was trained at a peak rate of {r['lr_peak']:g} with "
                           f"{r['warmup_steps']} warm-up steps; the sweep chose {want['lr']:g} and {want['warmup']}")
        if r.get("loss", "ce+l2wrap") != loss:
            reasons.append(f"the shipped {name} was trained with the {r.get('loss')} loss, not its own ({loss})")
        if seen_tokens(log) < full_tokens(log):
            reasons.append(f"the shipped {name} saw {seen_tokens(log) / 1e6:.2f}M of the recipe's "
                           f"{full_tokens(log) / 1e6:.2f}M training tokens")
    return reasons


def shipped_logs(models_dir: Path | None = None) -> dict[str, dict]:
    """kind → its main shipped model's training log, for the race's kinds that have one."""
    folder, out = Path(models_dir or kinds.MODELS_DIR), {}
    for kind in RACE_KINDS:
        main = kinds.main_model(kind)
        path = folder / f"{main.stem}.log.json" if main else None
        if path is not None and path.is_file():
            out[kind] = json.loads(path.read_text())
    return out


def throughput(race: dict | None, batch: int = 6, shape: str = "shipped") -> dict[str, float]:
    """kind → clean training tokens per second at the recipe's batch, from a train_bench race."""
    for rec in (race or {}).get("records", []):
        if rec.get("batch") == batch and rec.get("shape", "shipped") == shape:
            return {r["kind"]: r["tokens_per_s"] for r in rec["rows"]}
    return {}


def compute_seconds(tokens: float, kind: str, speed: dict[str, float]) -> float | None:
    """Training tokens ÷ the kind's clean throughput: the seconds of one quiet machine's compute."""
    return tokens / speed[kind] if speed.get(kind) else None
