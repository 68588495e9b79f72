"""An experiment on the GPT's slow start: the same GPT with RWKV-4's token shift before each sublayer.

After the tuning sweep's 300 steps the GPT's training loss is still above the bigram level, where
RWKV-4 and the LSTM are well below it, and its attention heads are all but even, putting no weight on
the previous token (lab.plateau, docs/race/plateau.json). RWKV-4 reads the previous token from the
first step through its token shift. This variant gives the GPT exactly that and nothing else: each
block mixes its layer-normed input with the previous token's, per channel, before the attention and
before the MLP, as RWKV-4's time-mix and channel-mix do before their projections (rivals/gpt_shift.py;
the GPT's "shift" training variant, lab.train_kinds).

Both the plain GPT and this one are trained here, one after the other, at the GPT's chosen setting and
the sweep's short budget (the same data, seed, batch, loss and steps as the sweep's run), never shipped:

    python -m lab.gpt_shift --json docs/race/gpt_shift.json   # trains runs/gpt-shift/{plain,shift}/ (resumable)

The JSON holds both runs' training curves (the 50-step means lab.bigram and lab.plateau use), where each
falls below the bigram level (lab.bigram.leaves_at), held-out bits per character, and each run's conditions.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

OUT = Path("runs/gpt-shift")                 # the runs (ignored by git)


# --- the experiment ---------------------------------------------------------------------------

def setting():
    """The sweep's run it is compared with: the GPT's chosen setting, the sweep's short budget."""
    from lab import sweep
    c = sweep.results()["chosen"]["gpt"]
    return sweep.Setting("gpt", c["lr"], c["warmup"], c["init"])


def curve(log: dict, window: int) -> list[dict]:
    """At each validation step: the training loss's mean over the `window` steps up to it (lab.plateau's
    measure) and held-out bits per character."""
    from lab.plateau import train_loss_at
    return [{"step": v["step"], "train_loss": train_loss_at(log, v["step"], window), "bits_per_char": v["bits_per_char"]}
            for v in log["val"]]


def summary(log: dict, level: float, window: int) -> dict:
    from lab import bigram
    return {"steps": log["val"][-1]["step"], "bits_per_char": log["final"]["bits_per_char"],
            "below_bigram_from_step": bigram.leaves_at(log, level, window), "curve": curve(log, window),
            "smoothed": [list(p) for p in bigram.smoothed(log, window)],
            "recipe": {k: log["recipe"][k] for k in ("lr_peak", "warmup_steps", "loss", "init", "batch_size",
                                                      "ctx_len", "seed", "total_steps")},
            "params": log["params"], "sessions": [{k: s.get(k) for k in ("cpu", "threads", "load", "start_step",
                                                                           "stop_step", "why", "beside")}
                                                  for s in log["sessions"]]}


def verdict(d: dict) -> str:
    """The experiment's finding, worded from the numbers."""
    plain, shift = d["plain"], d["shift"]
    n, lvl = shift["steps"], d["bigram_nats_per_token"]

    def where(r):
        return (f"falls below it at step {r['below_bigram_from_step']:,}" if r["below_bigram_from_step"] is not None
                else f"ends above it, at {r['curve'][-1]['train_loss']:.3f}")
    gain = plain["bits_per_char"] - shift["bits_per_char"]
    if shift["below_bigram_from_step"] is not None and plain["below_bigram_from_step"] is None:
        why = "reading the previous token from the first step is much of what the GPT's slow start lacks."
    elif gain > 0:
        why = "reading the previous token from the first step helps, but alone it does not explain the GPT's slow start."
    else:
        why = "the previous token alone does not explain the GPT's slow start."
    return (f"The same GPT with RWKV-4's token shift added before each sublayer ({d['extra_params']:,} more "
            f"parameters), trained at the same setting, data and seed for the sweep's {n:,} steps: against the bigram "
            f"level ({lvl:.3f} nats/token), its training loss {where(shift)}; the plain GPT's {where(plain)}. "
            f"Held-out after {n:,} steps: {shift['bits_per_char']:.3f} bits/char against {plain['bits_per_char']:.3f} "
            f"({'better' if gain > 0 else 'worse'} by {abs(gain):.3f}): " + why)


def run(variant: str, threads: int, beside: str) -> dict:
    """Train the plain GPT ("") or this variant ("shift"), resumable, at the setting of the sweep's run;
    returns its log. Both run here, one after the other on the same machine: the sweep's own run is a
    local file a new checkout lacks, and the plain one again checks that the sweep's number reproduces."""
    from lab import sweep
    return _train(OUT / (variant or "plain"), variant, sweep.config(setting(), threads),
                  f"gpt-{variant or 'plain'}-sweep", beside)


def run_full(threads: int, beside: str) -> dict:
    """The variant over the full recipe at the GPT's chosen setting (lab.sweep.retrain_config): the race's
    GPT (models/gpt-shakespeare.log.json) is its plain counterpart, so only this one is trained."""
    from lab import sweep
    return _train(OUT / "shift-full", "shift", sweep.retrain_config("gpt", sweep.results()["chosen"], threads),
                  "gpt-shift-race", beside)


def _train(out: Path, variant: str, tc, name: str, beside: str) -> dict:
    from lab import sweep
    from lab.train import train
    done = out / "log.json"
    if done.is_file() and "final" in (log := json.loads(done.read_text())):
        return log                                   # finished: read, not resumed (no empty session logged)
    return train("gpt", tc, out, variant=variant, name=name, export=False, tokenizer=sweep.TOKENIZER, beside=beside,
                 quiet=True)


def verdict_full(d: dict) -> str:
    """The full-length comparison, worded from the numbers: when each falls below the bigram level, held-out."""
    f = d["full"]
    plain, shift = f["plain"], f["shift"]
    a, b = shift["below_bigram_from_step"], plain["below_bigram_from_step"]

    def reach(x):
        return f"falls below the bigram level at step {x:,}" if x is not None else \
            f"stays above the bigram level for all {f['steps']:,} steps"
    if a is not None and b is not None:
        than = f"{abs(b - a):,} steps {'earlier' if a < b else 'later'}" if a != b else "the same step"
    else:
        than = "a different outcome" if (a is None) != (b is None) else "neither reaching it"
    gain = plain["bits_per_char"] - shift["bits_per_char"]
    return (f"Over the full recipe ({f['steps']:,} steps, the race's GPT as the plain run): with the token shift the "
            f"GPT's training loss {reach(a)}, the race's GPT's {reach(b)} ({than}); "
            f"held-out {shift['bits_per_char']:.3f} bits/char against {plain['bits_per_char']:.3f} "
            f"({'better' if gain > 0 else 'worse'} by {abs(gain):.3f}).")


def main(argv=None) -> dict:
    from lab import bigram, sweep
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--beside", default="", help="what else runs on the machine (recorded in the logs)")
    p.add_argument("--full", action="store_true",
                   help="also the variant over the full recipe, against the race's GPT (about 25 min on 2 threads)")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    logs = {}
    for variant in ("", "shift"):
        logs[variant] = run(variant, args.threads, args.beside)
        if "final" not in logs[variant]:
            raise SystemExit("stopped before the end: run it again to go on")
    level = bigram.conditional_entropy(bigram.training_ids())
    s = setting()
    out = {"command": "python -m " + " ".join(["lab.gpt_shift", *(argv if argv is not None else sys.argv[1:])]),
           "bigram_nats_per_token": level, "window": bigram.WINDOW,
           "extra_params": logs["shift"]["params"] - logs[""]["params"],
           "setting": {"lr": s.lr, "warmup": s.warmup, "init": s.init, "steps": sweep.STEPS},
           "sweep_bits_per_char": next((r["bits_per_char"] for r in sweep.results()["runs"] if r["kind"] == "gpt"
                                        and (r["lr"], r["warmup"], r["init"]) == (s.lr, s.warmup, s.init)), None),
           "plain": summary(logs[""], level, bigram.WINDOW), "shift": summary(logs["shift"], level, bigram.WINDOW)}
    out["verdict"] = verdict(out)
    print(out["verdict"])
    if args.full:
        from lab import race
        full = run_full(args.threads, args.beside)
        if "final" not in full:
            raise SystemExit("stopped before the end: run it again to go on")
        plain = race.race_logs()["gpt"]
        out["full"] = {"steps": full["val"][-1]["step"], "plain_log": "models/gpt-shakespeare.log.json",
                       "plain": summary(plain, level, bigram.WINDOW), "shift": summary(full, level, bigram.WINDOW)}
        out["full_verdict"] = verdict_full(out)
        print(out["full_verdict"])
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    return out


if __name__ == "__main__":
    main()
