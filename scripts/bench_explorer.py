"""Time one Explorer step on the embedded model: one token forward with everything the page
records, then every Explorer figure rebuilt and serialised as Streamlit sends it (to JSON).

    python scripts/bench_explorer.py [--steps 20] [--prompt-tokens 64]

Target: under 300 ms per step on a laptop CPU. Prints the median and the slowest parts."""
from __future__ import annotations

import argparse
import statistics
import time

import rwkv_core
from app import explorer_core as ec
from rwkv_core.sampling import SamplingSettings
from rwkv_core.timing import device_name

PROMPT = ("ROMEO: But soft, what light through yonder window breaks? It is the east, and Juliet is the "
          "sun. Arise, fair sun, and kill the envious moon, who is already sick and pale with grief")


def one_step(s: ec.ExplorerSession, settings: SamplingSettings, seed: int) -> dict[str, float]:
    """One Explorer step, timed by part (seconds)."""
    t0 = time.perf_counter()
    s.step(s.next_sample(settings, seed).token)
    t1 = time.perf_counter()
    figs = ec.all_figures(s, settings, seed, layer=len(s.tokens) % s.model.config.n_layer)
    t2 = time.perf_counter()
    for f in figs.values():
        f.to_json()
    t3 = time.perf_counter()
    return {"forward + record": t1 - t0, "figures": t2 - t1, "to JSON": t3 - t2, "total": t3 - t0}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--prompt-tokens", type=int, default=48, help="cut the prompt to this many tokens")
    args = p.parse_args(argv)
    model = rwkv_core.load_model()
    s = ec.ExplorerSession(model, "bench")
    s.start(ec.encode_prompt(model, PROMPT)[: args.prompt_tokens])
    settings = SamplingSettings(temperature=0.8, top_p=0.95)
    one_step(s, settings, 0)                                   # warm-up: caches (PCA) and first-call costs
    runs = [one_step(s, settings, 0) for _ in range(args.steps)]
    print(f"{model!r} on {device_name(model.device)}")
    print(f"{args.steps} steps from {len(s.tokens) - args.steps} to {len(s.tokens)} tokens")
    for part in runs[0]:
        vals = [r[part] * 1000 for r in runs]
        print(f"  {part:17s} median {statistics.median(vals):7.1f} ms   max {max(vals):7.1f} ms")
    total = statistics.median(r["total"] for r in runs) * 1000
    print(f"explorer step: {total:.0f} ms (target < 300 ms): {'OK' if total < 300 else 'TOO SLOW'}")


if __name__ == "__main__":
    main()
