"""The memory lab: tiny models of each kind trained on associative recall (lab.mqar) through the
one trainer, and what they recall against the number of pairs, the sequence length and the bytes
of state they carry (docs/memory-lab.md).

    python -m lab.memory --train rwkv4 --width 64 --pairs 4 --steps 1500   # → runs/memory/models/rwkv4-w64-n4
    python -m lab.memory --json docs/memory/results.json                   # every model in runs/memory/models

Each kind's width is chosen so that its parameter count matches RWKV-4's at the nominal width
(`matched_width`); budgets are in steps, so a loaded machine gives the same model, only later.
"""
from __future__ import annotations

import argparse
import bisect
import functools
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from lab import mqar, train_log
from lab.train import TrainConfig, train
from lab.train_kinds import N_HEAD

RUNS = Path("runs/memory")
KINDS = ("rwkv4", "gpt", "lstm")          # the memory lab's kinds (the red-line RNN is optional)
RECIPE = dict(                             # the memory lab's recipe: the trial's (issue 28) where it had one
    task="mqar", mqar_vocab=256, mqar_gap=-1,   # gaps drawn per sequence: every length up to ctx_len is trained
    n_layer=2, ctx_len=64, batch_size=64, lr_peak=3e-3, lr_final=3e-4, warmup_steps=100,
    loss="ce", eval_every=250, ckpt_every=250, threads=1, max_minutes=600.0)
PAIRS = (1, 2, 4, 8, 16)                  # N of the accuracy-against-pairs table (those that fit the length)
LENGTHS = (1, 2, 4)                       # the length table: multiples of the training length (GPT: up to 1)


# --- equal parameter counts -------------------------------------------------------------------

def count_params(kind: str, tc: TrainConfig) -> int:
    """Trained parameters of `kind` with this recipe, counted from its initial tensors."""
    from lab.kinds import KINDS as REGISTRY
    hooks = REGISTRY[kind].trainer
    sd = hooks.init_weights(hooks.make_config(tc, tc.mqar_vocab), torch.Generator().manual_seed(0))
    return sum(v.numel() for k, v in sd.items() if v.dtype.is_floating_point and not hooks.frozen(k))


def matched_width(kind: str, target: int, tc: TrainConfig) -> int:
    """The width (a multiple of the GPT's head count) whose parameter count is closest to `target`:
    the count grows with the width, so a bisection finds the first at or above it, then the nearer."""
    widths = list(range(N_HEAD, 4 * tc.n_embd + 1, N_HEAD))
    count = functools.cache(lambda w: count_params(kind, replace(tc, n_embd=w)))
    i = bisect.bisect_left(widths, target, key=count)
    near = widths[max(0, i - 1):i + 1]
    return min(near, key=lambda w: abs(count(w) - target))


def recipe(kind: str, width: int, pairs: int, steps: int, **changes) -> TrainConfig:
    """The memory lab's recipe for `kind` at the nominal width: RWKV-4 at `width`, the others at
    the width that matches RWKV-4's parameter count."""
    base = replace(TrainConfig(), **{**RECIPE, **changes}, n_embd=width, mqar_pairs=pairs, total_steps=steps)
    if kind == "rwkv4":
        return base
    return replace(base, n_embd=matched_width(kind, count_params("rwkv4", base), base))


def model_name(kind: str, width: int, pairs: int) -> str:
    return f"{kind}-w{width}-n{pairs}"


def train_one(kind: str, width: int, pairs: int, steps: int, runs: Path = RUNS, beside: str = "",
              quiet: bool = False, **changes) -> dict:
    """Train one model of the lab (resumable) into runs/<name>, exported to runs/models/<name>."""
    tc = recipe(kind, width, pairs, steps, **changes)
    name = model_name(kind, width, pairs)
    log = train(kind, tc, runs / name, name=name, models_dir=runs / "models", beside=beside, quiet=quiet, every=100)
    return log


# --- measurement --------------------------------------------------------------------------------

def batched_logits(model, kind: str, ids: torch.Tensor) -> torch.Tensor:
    """ids (B, T) → logits (B, T, V), every layer over all tokens: the kind's training forward over
    the loaded model's weights (tests/test_memory.py checks it equals every schedule of the model)."""
    from lab.kinds import KINDS as REGISTRY
    with torch.no_grad():
        return REGISTRY[kind].trainer.forward(model.weights, ids)


def max_length(model) -> int | None:
    """The most tokens a model can read: the GPT's positions; None for a fixed state."""
    return getattr(model.config, "n_ctx", None)


def state_bytes(model, length: int) -> int:
    """The bytes of state after `length` tokens: fixed for RWKV-4 and the LSTM, the GPT's cache grows."""
    _, state = model.forward([mqar.PAD] * length, mode=model.schedules[-1])
    return state.nbytes()


def accuracy_at(model, kind: str, spec: mqar.Spec, n: int) -> dict:
    b = mqar.heldout(spec, n)
    return {"pairs": spec.pairs, "length": spec.length, "gap": spec.gap, **mqar.accuracy(batched_logits(model, kind,
                                                                                                         b.ids), b)}


def by_pairs(model, kind: str, spec: mqar.Spec, n: int) -> list[dict]:
    """Accuracy against N at the training length, gaps at random (as in training)."""
    fits = [p for p in PAIRS if 3 * p <= spec.length and p <= spec.n_keys]
    return [accuracy_at(model, kind, replace(spec, pairs=p, gap=None), n) for p in fits]


def by_length(model, kind: str, spec: mqar.Spec, n: int) -> list[dict]:
    """Accuracy against the length at the training N, the pairs first and the queries last (the
    gap is the rest), with the state's bytes at that length; a length the model cannot read: None."""
    rows = []
    for m in LENGTHS:
        length = m * spec.length
        if (cap := max_length(model)) is not None and length > cap:
            rows.append({"pairs": spec.pairs, "length": length, "accuracy": None,
                         "why": f"beyond its {cap} positions"})
            continue
        s = replace(spec, length=length, gap=length - 3 * spec.pairs)
        rows.append({**accuracy_at(model, kind, s, n), "state_bytes": state_bytes(model, length)})
    return rows


def schedules_agree(model, kind: str, spec: mqar.Spec) -> dict:
    """One held-out sequence through every schedule the kind allows: the largest difference from
    the batched forward the accuracies use."""
    ids = mqar.heldout(spec, 1).ids                                        # (1, T)
    ref = batched_logits(model, kind, ids)[0]                              # (T, V)
    diffs = {mode: (model.forward(ids[0], mode=mode, chunk=4)[0] - ref).abs().max().item() for mode in model.schedules}
    return {"modes": list(model.schedules), "max_diff": max(diffs.values())}


def measure(path: Path, n: int = 500) -> dict:
    """One trained model: its training (from its log) and its recall."""
    import lab
    log = json.loads(path.with_suffix(".log.json").read_text())
    model = lab.load_model(path)
    kind, spec = log["kind"], mqar.Spec(**log["data"]["spec"])
    fin, sessions = log.get("final", {}), log["sessions"]
    return {"name": path.stem, "kind": kind, "width": log["model"]["n_embd"], "n_layer": log["model"]["n_layer"],
            "params": log["params"], "train": {
                "pairs": spec.pairs, "length": spec.length, "steps": fin.get("step"), "batch": log["recipe"]["batch_size"],
                "lr": log["recipe"]["lr_peak"], "seconds": round(log["seconds"], 1),
                "s_per_step": round(log["seconds"] / max(1, fin.get("step") or 1), 4),
                "heldout_accuracy": fin.get("accuracy"), "threads": sessions[-1]["threads"],
                "cpu": sessions[-1]["cpu"], "conditions": train_log.conditions(log),
                "curve": [(v["step"], v["seconds"], v["accuracy"]) for v in log["val"]]},
            "state_bytes": state_bytes(model, spec.length), "by_pairs": by_pairs(model, kind, spec, n),
            "by_length": by_length(model, kind, spec, n), "schedules": schedules_agree(model, kind, spec)}


def measure_all(models: Path, n: int = 500) -> dict:
    from rwkv_core.timing import cpu_model
    paths = sorted(models.glob("*.safetensors"))
    if not paths:
        raise FileNotFoundError(f"no trained models in {models} (train them: python -m lab.memory --train KIND)")
    t0 = time.perf_counter()
    results = [measure(p, n) for p in paths]
    return {"command": "python -m " + " ".join(["lab.memory", *sys.argv[1:]]), "cpu": cpu_model(),
            "created": train_log.now(), "heldout_seed": mqar.HELDOUT_SEED, "sequences": n,
            "recipe": RECIPE, "recipe_note": "the defaults of python -m lab.memory --train; each model's own in train",
            "seconds": round(time.perf_counter() - t0, 1), "models": results}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--train", choices=KINDS + ("redline",), help="train one model of this kind, then stop")
    p.add_argument("--width", type=int, default=64, help="nominal width: RWKV-4's (the others matched to its count)")
    p.add_argument("--pairs", type=int, default=8, help="key-value pairs per training sequence")
    p.add_argument("--steps", type=int, default=3000, help="the training budget in steps")
    p.add_argument("--lr-peak", type=float, default=RECIPE["lr_peak"], help="AdamW's rate after the warm-up")
    p.add_argument("--lr-final", type=float, default=RECIPE["lr_final"], help="the rate at the last step (cosine)")
    p.add_argument("--ctx-len", type=int, default=RECIPE["ctx_len"], help="training sequence length")
    p.add_argument("--beside", default="", help="what else runs on the machine (recorded in the log)")
    p.add_argument("--runs", type=Path, default=RUNS, help="runs folder (models in <runs>/models)")
    p.add_argument("--json", type=Path, help="measure every model in <runs>/models and write this file")
    p.add_argument("--sequences", type=int, default=500, help="held-out sequences per table cell")
    args = p.parse_args(argv)
    if not (args.train or args.json):
        p.error("give --train KIND or --json PATH")
    try:
        if args.train:
            fin = train_one(args.train, args.width, args.pairs, args.steps, args.runs, args.beside, lr_peak=args.lr_peak,
                            lr_final=args.lr_final, ctx_len=args.ctx_len).get("final", {})
            print(json.dumps(fin, indent=1))
        if args.json:
            out = measure_all(args.runs / "models", args.sequences)
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(out, indent=1) + "\n")
            print(f"wrote {args.json}: {len(out['models'])} models")
    except (ValueError, FileNotFoundError) as e:
        p.error(str(e))


if __name__ == "__main__":
    main()
