"""The "Why RWKV, measured" table: measure and print it (docs/benchmarks.md keeps the output).

    python scripts/why_rwkv_table.py                       # measure both, write docs/compare/*.json, print
    python scripts/why_rwkv_table.py --no-measure          # only print, from the committed files and logs

Measures, for every trained model in models/ (rwkv4, gpt, lstm, redline as they land):
  training    one training step (forward, backward, optimizer) of 6 × 512 tokens, each model in its
              fastest schedule, random weights of the trained shapes, the median of 9 (lab.train_bench)
              → docs/race/throughput.json
  generation  `python -m lab.measure --json docs/compare/generation_cpu.json`: time per
              new token and state bytes after each context
and prints one row per model: held-out bits/char (and at equal tokens / wall-clock, from the
models' .log.json; equal compute = tokens ÷ throughput), training tokens/s, ms per new token and the
state's size from 64 to 4096 tokens read.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from app import compare_core as cc

ROOT = Path(__file__).resolve().parent.parent


def measure_training(repeats: int) -> None:
    """The fair race's training throughput: lab.train_bench at the recipe's batch (6 × 512), the
    median of `repeats` steps at 1 and at 2 threads (each kind's fastest is used), with the load before
    and after (docs/race/throughput.json)."""
    from lab import train_bench
    train_bench.main(["--threads", "1", "2", "--repeats", str(repeats), "--json",
                      str(cc.TRAIN_STEP_FILE.relative_to(ROOT))])


def main(argv=None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--no-measure", action="store_true", help="print from the committed files only")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=9, help="timed training steps per kind (the median is kept)")
    p.add_argument("--contexts", default=",".join(map(str, cc.ALL_CONTEXTS)))
    p.add_argument("--new-tokens", type=int, default=8)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    kinds = list(cc.shipped())
    if not args.no_measure:
        from lab import measure
        measure_training(args.repeats)
        measure.main(["--models", ",".join(cc.stem(k) for k in kinds), "--contexts", args.contexts,
                      "--new-tokens", str(args.new_tokens), "--threads", str(args.threads),
                      "--json", str(cc.GENERATION_FILE)])
    curves = cc.read_curves()
    steps, gen = cc.read_train_steps(), cc.read_generation()
    speed = {r.kind: r.tokens_per_s for r in steps["rows"]} if steps else {}
    table = cc.summary_table(curves, cc.equal_race(curves, speed), steps["rows"] if steps else [],
                             gen["rows"] if gen else {})
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
