"""Time per token of the cascade against its chunk size, on the embedded model and on a random
model of RWKV-4-169M's shape (12 × 768, vocabulary 50,277): lesson 2's "why real engines read in
chunks of 32–512" (app/lessons/scaling_core.chunk_cost, the same function the lesson runs live).

    python scripts/bench_chunks.py                      # both models, 1 thread, fastest of 7
    python scripts/bench_chunks.py --models embedded --threads 2 --out /tmp/chunks

Writes one benchmark record per model (lab/bench_record.py layout) to --out, by default
docs/chunks/, which the lesson reads and names the CPU of. Prints the table with the CPU's name."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

import rwkv_core
from app.lessons import scaling_core as S
from lab import bench_record
from lab.bench import SHAPE_169M
from lab.factory import random_state_dict


def shape_169m() -> rwkv_core.RWKV:
    """Random weights of RWKV-4-169M's shape, with decays in a trained model's range: the time of
    a product depends on its shape, not on its values."""
    return rwkv_core.from_state_dict(random_state_dict(SHAPE_169M, profile="trained"))


MODELS = {"embedded": ("rwkv4-shakespeare", rwkv_core.load_model),
          "169m": ("RWKV-4-169M shape, random weights", shape_169m)}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="embedded,169m", help="comma-separated: embedded, 169m")
    p.add_argument("--threads", type=int, default=1, help="torch threads (the app serves with 1)")
    p.add_argument("--repeats", type=int, default=7, help="timed runs per chunk size")
    p.add_argument("--stat", choices=sorted(S.STATS), default="fastest",
                   help="which run is kept: the fastest (the least disturbed on a shared machine) or the median")
    p.add_argument("--out", type=Path, default=S.CHUNK_DOCS)
    p.add_argument("--note", default="", help="added to each record's note, e.g. who shared the machine")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    for key in [m.strip() for m in args.models.split(",") if m.strip()]:
        if key not in MODELS:
            p.error(f"unknown model {key!r}: choose from {', '.join(MODELS)}")
        name, build = MODELS[key]
        t0 = time.perf_counter()
        model = build()
        rec = S.chunk_cost(model, repeats=args.repeats, stat=args.stat, name=name,
                           note=f"cascade, {args.stat} of {args.repeats} runs, only the last token's logits, "
                                f"scripts/bench_chunks.py" + (f"; {args.note}" if args.note else ""))
        path = args.out / f"cpu_{key}.json"
        bench_record.write(path, rec)
        print(f"\n{name}: {model.config.n_layer} layers × {model.config.n_embd}, on {rec['device']} "
              f"({time.perf_counter() - t0:.0f} s) → {path}")
        print(f"{'chunk':>6}{'tokens':>8}{'ms / token':>12}")
        for row, (chunk, ms) in zip(rec["rows"], S.per_token_ms(rec)):
            print(f"{chunk:>6}{row['n_tokens']:>8}{ms:>12.3f}")
        s = S.cost_summary(S.per_token_ms(rec))
        print(f"chunk 1 → 32: {s['first']:.1f}× less per token; 32 → the best in 32–512 (chunk "
              f"{s['best_chunk']}): {s['then']:.2f}× less; chunk 1 → that best: {s['speedup']:.1f}×")
        del model


if __name__ == "__main__":
    main()
