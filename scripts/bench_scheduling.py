"""Time the Scheduling Lab's "Run and time" on the embedded model: the same tokens as an rnn, a
cascade and in parallel, with the engine's own step timer, and the logits compared.

    python scripts/bench_scheduling.py [--tokens 128] [--chunk 32] [--device cuda] [--json out.json]
    python scripts/bench_scheduling.py --scaling 16,32,64,128,256 --chunks 4,32 --json docs/bench/cpu.json

Target: under 10 s in total on a laptop CPU for 128 tokens. --json writes the measured rows in the
docs/bench layout (lab/bench_record.py), which the Lab's scaling charts read."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import rwkv_core
from app import scheduling_core as sc
from lab import bench_record
from rwkv_core.timing import device_name


def ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def timing_run(model, n_tokens: int, chunk: int) -> dict:
    prompt = model.tokenizer.encode(sc.DEFAULT_PROMPT) if model.tokenizer else list(range(24))
    runs = sc.run_schedules(model, sc.grid_tokens(prompt, n_tokens), chunk)
    print(f"{'schedule':<20}{'steps':>7}{'seconds':>11}{'tokens/s':>11}{'max |diff| vs rnn':>20}")
    for r in runs:
        print(f"{r.label:<20}{r.plan.n_steps:>7}{r.timings.total_seconds:>11.4f}{r.tokens_per_second:>11,.0f}"
              f"{r.max_diff_vs_rnn:>20.2e}")
    worst = max(r.max_diff_vs_rnn for r in runs)
    print(f"same outputs: {'yes' if worst < sc.SAME_TOLERANCE else 'NO'} (max |diff| {worst:.2e})")
    return bench_record.record(device=runs[0].timings.device, config=model.config,
                               dtype=str(model.dtype).replace("torch.", ""),
                               note="scripts/bench_scheduling.py, one run each",
                               rows=[bench_record.row(r.plan.mode, r.plan.chunk, n_tokens, r.timings.total_seconds)
                                     for r in runs])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tokens", type=int, default=128)
    p.add_argument("--chunk", type=int, default=32)
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    p.add_argument("--scaling", type=ints, default=None, help="lengths for a scaling run, e.g. 16,32,64")
    p.add_argument("--chunks", type=ints, default=[4, 32], help="cascade chunks for --scaling")
    p.add_argument("--repeats", type=int, default=3, help="runs per point for --scaling (the median is kept)")
    p.add_argument("--json", type=Path, default=None, help="write the measurements here (docs/bench layout)")
    args = p.parse_args(argv)

    t0 = time.perf_counter()
    device = args.device or sc.timing_device()
    model = rwkv_core.load_model(device=device)
    print(f"{model} on {device_name(model.device)}")
    if args.scaling:
        record = sc.measure_scaling(model, args.scaling, args.chunks, repeats=args.repeats,
                                    on_progress=lambda f, text: print(f"  {f:4.0%} {text}", flush=True))
        for r in record["rows"]:
            print(f"{r['mode']:<9}{r['chunk'] or '':>5}{r['n_tokens']:>6}{r['seconds']:>11.4f}")
    else:
        record = timing_run(model, args.tokens, args.chunk)
    bench_record.parse(record)
    if args.json:
        bench_record.write(args.json, record)
        print(f"wrote {args.json}")
    print(f"total {time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    main()
