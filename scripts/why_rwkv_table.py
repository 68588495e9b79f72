"""The "Why RWKV, measured" table: measure and print it (docs/benchmarks.md keeps the output).

    python scripts/why_rwkv_table.py                       # measure both, write docs/compare/*.json, print
    python scripts/why_rwkv_table.py --no-measure          # only print, from the committed files and logs

Measures, for every trained model in models/ (rwkv4, gpt, lstm, redline as they land):
  training    one training step (forward + backward) of batch × ctx tokens, each model in its fastest
              schedule, random weights of the trained shapes (app.compare_core.train_step_speeds)
              → docs/compare/train_step_cpu.json
  generation  `python -m lab.measure --json docs/compare/generation_cpu.json`: time per
              new token and state bytes after each context
and prints one row per model: held-out bits/char (and at equal tokens / wall-clock, from the
models' .log.json), training tokens/s, ms per new token and state bytes at 64, 512, 2048, 4096.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

import torch

from app import compare_core as cc
from rwkv_core.timing import device_name

ROOT = Path(__file__).resolve().parent.parent


def measure_training(kinds, threads: int, batch: int, ctx: int, repeats: int) -> None:
    rows = cc.train_step_speeds(kinds, batch=batch, ctx=ctx, repeats=repeats)
    record = {"what": "one training step (forward + backward)", "device": device_name("cpu"), "batch": batch,
              "ctx": ctx, "threads": threads, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "rows": [asdict(r) for r in rows]}
    cc.TRAIN_STEP_FILE.parent.mkdir(parents=True, exist_ok=True)
    cc.TRAIN_STEP_FILE.write_text(json.dumps(record, indent=1))


def main(argv=None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--no-measure", action="store_true", help="print from the committed files only")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=1, help="sequences per training step (1: a 512-token batch)")
    p.add_argument("--ctx", type=int, default=512)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--contexts", default=",".join(map(str, cc.ALL_CONTEXTS)))
    p.add_argument("--new-tokens", type=int, default=8)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    kinds = list(cc.shipped())
    if not args.no_measure:
        from lab import measure
        measure_training(kinds, args.threads, args.batch, args.ctx, args.repeats)
        measure.main(["--models", ",".join(cc.stem(k) for k in kinds), "--contexts", args.contexts,
                      "--new-tokens", str(args.new_tokens), "--threads", str(args.threads),
                      "--json", str(cc.GENERATION_FILE)])
    curves = cc.read_curves()
    steps, gen = cc.read_train_steps(), cc.read_generation()
    table = cc.summary_table(curves, cc.equal_points(curves) if len(curves) >= 2 else None,
                             steps["rows"] if steps else [], gen["rows"] if gen else {})
    text = cc.markdown_table(table)
    missing = [cc.title(k) for k in cc.order() if k not in kinds]
    print(text)
    if steps:
        print(f"\ntraining: {steps['device']}, batch {steps['batch']} x {steps['ctx']}, {steps['threads']} thread(s), "
              f"{steps['measured_at']}")
    if gen:
        print(f"generation: {gen['device']}, {gen['new_tokens']} new tokens (median), {gen['threads']} thread(s), "
              f"{gen['measured_at']}")
    if missing:
        print("not in models/ yet: " + ", ".join(missing))
    return text


if __name__ == "__main__":
    main()
