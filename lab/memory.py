"""The memory lab: tiny models of each kind trained on associative recall (lab.mqar) through the
one trainer, and what they recall against the number of pairs, the sequence length and the bytes
of state they carry (docs/memory-lab.md).

    python -m lab.memory --train rwkv4 --width 64 --pairs 8   # → runs/memory-lab/, published to models/memory/
    python -m lab.memory --json docs/memory/results.json      # measures every model in models/memory/

The recipe is one per N (PAIRS_TRAINED), the same for every kind: length 3N, the pairs right
before the queries (gap 0, no pad), PyTorch's layer initialisation (lab.inits, "torch").
Each kind's width is chosen so that its parameter count matches RWKV-4's at the nominal width
(`matched_width`); budgets are in steps, so a loaded machine gives the same model, only later.
A finished model is published to models/memory/ in float16 (`publish`): the measurement and the
app read those files, so what the page shows is what was measured.
"""
from __future__ import annotations

import argparse
import bisect
import functools
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from lab import inits, mqar, train_log
from lab.train import TrainConfig, train
from lab.train_kinds import N_HEAD

RUNS = Path("runs/memory-lab-pern")  # checkpoints of the per-N recipe's runs (runs/memory-lab: the N = 4 recipe's,
                                     # runs/memory: the rehearsal's; a new folder, so that none of those is resumed)
MODELS = Path(__file__).resolve().parent.parent / "models" / "memory"   # the published (committed) models
KINDS = ("rwkv4", "gpt", "lstm")          # the memory lab's kinds (the red-line RNN is optional)
PAIRS_TRAINED = (4, 8, 16)               # one model of each kind and width per N, trained at that N alone
RECIPE = dict(                             # the recipe per N (docs/memory-lab.md: "The recipe, per N"); ctx_len = 3N
    task="mqar", mqar_vocab=256, mqar_gap=0,    # the pairs, then the queries: no pad at the trained N
    mqar_mix="", init="torch",                  # one N a model; PyTorch's layer defaults (lab.inits): the pilots'
    n_layer=2, batch_size=64, lr_peak=3e-3, lr_final=3e-3, warmup_steps=100,   # GPT learned N = 8 by step 500
    loss="ce", eval_every=250, ckpt_every=250, threads=1, max_minutes=600.0)
STEPS = 2_500    # every model's budget in steps: the pilots' GPT left the plateau by step 500 at N = 8 (0.997), and
#                  N = 16 (a longer lookup, a longer plateau) needs more; 5x that, a few CPU minutes a model
EXAMPLES = 4                               # held-out sequences per N whose answers the JSON keeps
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
    """The memory lab's recipe for `kind` at the nominal width and N = `pairs` (length 3N unless
    `changes` says otherwise; a change of None keeps the recipe's): RWKV-4 at `width`, the others
    at the width that matches RWKV-4's parameter count."""
    changes = {k: v for k, v in changes.items() if v is not None}
    base = replace(TrainConfig(), **{**RECIPE, "ctx_len": 3 * pairs, **changes, "n_embd": width, "mqar_pairs": pairs,
                                     "total_steps": steps})
    if kind == "rwkv4":
        return base
    return replace(base, n_embd=matched_width(kind, count_params("rwkv4", base), base))


def model_name(kind: str, width: int, pairs: int) -> str:
    return f"{kind}-w{width}-n{pairs}"


def current(name: str, models: Path = MODELS) -> bool:
    """Whether models/<name> was trained with today's recipe: its log's recipe equals `recipe()` for its
    kind, width and N on every field of RECIPE, the length, the width and the steps. A model of an
    earlier recipe (the N = 4 runs before lab.inits) is trained again by the queue, not skipped."""
    path = models / f"{name}.log.json"
    if not path.is_file():
        return False
    kind, width, pairs = name.split("-")
    want = asdict(recipe(kind, int(width[1:]), int(pairs[1:]), STEPS))
    got = {**asdict(TrainConfig()), **json.loads(path.read_text())["recipe"]}   # a field it predates: the default
    return all(got[k] == want[k] for k in (*RECIPE, "ctx_len", "n_embd", "mqar_pairs", "total_steps"))


def publish(name: str, runs: Path = RUNS, dest: Path = MODELS) -> Path:
    """Copy a finished model from <runs>/models to `dest` in float16 (half the bytes; the loader
    casts back to float32), with its log (the per-step losses thinned to every 10th step)."""
    from safetensors.torch import load_file, save_file
    src = runs / "models" / f"{name}.safetensors"
    log = json.loads(src.with_suffix(".log.json").read_text())
    tensors = {k: v.half() if v.dtype.is_floating_point else v for k, v in load_file(str(src)).items()}
    dest.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(dest / src.name), metadata={"format": "pt", "source": "lab.memory.publish",
                                                        "kind": log["kind"], "dtype": "float16"})
    log["train"] = [e for e in log["train"] if e["step"] % 10 == 0 or e is log["train"][-1]]
    log["published"] = {"from": str(src), "dtype": "float16", "train_losses_kept": "every 10th step"}
    (dest / f"{name}.log.json").write_text(json.dumps(log) + "\n")
    return dest / src.name


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


def layout_gap(gap: int, length: int, pairs: int) -> int | None:
    """The trainer's mqar_gap as a Spec's gap: -1 random, -2 the rest (pairs first, queries last)."""
    return None if gap == -1 else length - 3 * pairs if gap == -2 else gap


def by_pairs(model, kind: str, spec: mqar.Spec, n: int, gap: int = -1) -> list[dict]:
    """Accuracy against N at the training length, laid out as in training (`gap`: the recipe's mqar_gap)."""
    fits = [p for p in PAIRS if 3 * p <= spec.length and p <= spec.n_keys]
    return [accuracy_at(model, kind, replace(spec, pairs=p, gap=layout_gap(gap, spec.length, p)), n) for p in fits]


def probe_gap(gap: int, length: int, pairs: int) -> int:
    """The gap of the app's probe and of the kept examples: the recipe's when fixed, else the rest
    (pairs first, queries last)."""
    return gap if gap >= 0 else length - 3 * pairs


def examples(model, kind: str, spec: mqar.Spec, gap: int = -1, k: int = EXAMPLES) -> list[dict]:
    """The first k held-out sequences at each N, laid out as the app's live probe lays out a
    student's pairs (`probe_gap`): each query's arg-max and the probability of the right value,
    which the probe must reproduce (tests/test_memory_app.py)."""
    rows = []
    for p in (p for p in PAIRS if 3 * p <= spec.length and p <= spec.n_keys):
        b = mqar.heldout(replace(spec, pairs=p, gap=probe_gap(gap, spec.length, p)), k)
        probs = torch.softmax(batched_logits(model, kind, b.ids).double(), -1)          # (k, T, V)
        rows.append({"pairs": p, "answers": probs.argmax(-1)[b.mask].view(k, p).tolist(),
                     "p_right": [[round(x, 6) for x in r] for r in
                                 probs[b.mask].gather(1, b.targets[b.mask][:, None])[:, 0].view(k, p).tolist()]})
    return rows


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


def nominal_width(name: str) -> int:
    """The nominal width in a model's name (<kind>-w<W>-n<N>): RWKV-4's, to which the others are matched."""
    return int(name.split("-")[1][1:])


def measure(path: Path, n: int = 500) -> dict:
    """One trained model: its training (from its log) and its recall; `at_trained` is the point the
    charts draw per model: the accuracy at the trained N and length, and the state bytes there."""
    import lab
    log = json.loads(path.with_suffix(".log.json").read_text())
    model = lab.load_model(path)
    kind, spec = log["kind"], mqar.Spec(**log["data"]["spec"])
    fin, sessions = log.get("final", {}), log["sessions"]
    pairs = by_pairs(model, kind, spec, n, log["recipe"].get("mqar_gap", -1))
    at = next((r for r in pairs if r["pairs"] == spec.pairs), None)
    return {"name": path.stem, "kind": kind, "width": log["model"]["n_embd"],
            "nominal_width": nominal_width(path.stem), "n_layer": log["model"]["n_layer"], "params": log["params"],
            "train": {
                "pairs": spec.pairs, "mix": log["data"].get("mix"), "gap": log["recipe"].get("mqar_gap"),
                "init": log["recipe"].get("init", "kind"),
                "length": spec.length, "steps": fin.get("step"), "batch": log["recipe"]["batch_size"],
                "lr": log["recipe"]["lr_peak"], "lr_final": log["recipe"]["lr_final"],
                "seconds": round(log["seconds"], 1),
                "s_per_step": round(log["seconds"] / max(1, fin.get("step") or 1), 4),
                "heldout_accuracy": fin.get("accuracy"), "threads": sessions[-1]["threads"],
                "cpu": sessions[-1]["cpu"], "cores": sessions[-1].get("cores"),
                "started": sessions[0].get("started"), "stopped": sessions[-1].get("stopped"),
                "conditions": train_log.conditions(log),
                "curve": [(v["step"], v["seconds"], v["accuracy"]) for v in log["val"]]},
            "state_bytes": state_bytes(model, spec.length),
            "at_trained": {"pairs": spec.pairs, "length": spec.length, "accuracy": at and at["accuracy"],
                           "state_bytes": state_bytes(model, spec.length)},
            "by_pairs": pairs,
            "by_length": by_length(model, kind, spec, n), "schedules": schedules_agree(model, kind, spec),
            "examples": examples(model, kind, spec, log["recipe"].get("mqar_gap", -1))}


def measure_all(models: Path, n: int = 500) -> dict:
    from rwkv_core.timing import cpu_model
    def order(p: Path):                  # by N, then RWKV-4, the GPT, the LSTM; narrow before wide
        kind, width, pn = (p.stem.split("-") + ["", ""])[:3]
        pn = pn[1:] if pn.startswith("n") else ""
        return (int(pn) if pn.isdigit() else 0, KINDS.index(kind) if kind in KINDS else len(KINDS),
                int(width[1:]) if width[1:].isdigit() else 0)
    paths = sorted(models.glob("*.safetensors"), key=order)
    if not paths:
        raise FileNotFoundError(f"no trained models in {models} (train them: python -m lab.memory --train KIND)")
    t0 = time.perf_counter()
    results = [measure(p, n) for p in paths]
    return {"command": "python -m " + " ".join(["lab.memory", *sys.argv[1:]]), "cpu": cpu_model(),
            "created": train_log.now(), "heldout_seed": mqar.HELDOUT_SEED, "sequences": n,
            "recipe": RECIPE, "steps": STEPS, "recipe_note": "the defaults of python -m lab.memory --train (ctx_len "
            "= 3N); each model's own in train", "pairs_trained": sorted({m["train"]["pairs"] for m in results}),
            "widths": sorted({m["nominal_width"] for m in results}),
            "seconds": round(time.perf_counter() - t0, 1), "models": results}


def parser() -> argparse.ArgumentParser:
    """The command line; its training defaults are the recipe's (tests/test_memory.py checks them)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--train", choices=KINDS + ("redline",), help="train one model of this kind, then publish it")
    p.add_argument("--width", type=int, default=64, help="nominal width: RWKV-4's (the others matched to its count)")
    p.add_argument("--pairs", type=int, default=PAIRS_TRAINED[0], help="key-value pairs N (the largest of a mix); "
                   f"the queue trains N = {', '.join(map(str, PAIRS_TRAINED))}")
    p.add_argument("--mix", default=RECIPE["mqar_mix"], help="pair counts to train on, one drawn per sequence")
    p.add_argument("--steps", type=int, default=STEPS, help="the training budget in steps")
    p.add_argument("--lr-peak", type=float, default=RECIPE["lr_peak"], help="AdamW's rate after the warm-up")
    p.add_argument("--lr-final", type=float, default=RECIPE["lr_final"], help="the rate at the last step (cosine)")
    p.add_argument("--ctx-len", type=int, default=None, help="training sequence length (default 3N: no pad)")
    p.add_argument("--init", default=RECIPE["init"], choices=inits.INITS, help="the initialisation (lab.inits)")
    p.add_argument("--beside", default="", help="what else runs on the machine (recorded in the log)")
    p.add_argument("--runs", type=Path, default=RUNS, help="runs folder (checkpoints; exports in <runs>/models)")
    p.add_argument("--models", type=Path, default=MODELS, help="the published models: written by --train, "
                   "measured by --json")
    p.add_argument("--json", type=Path, help="measure every model in --models and write this file")
    p.add_argument("--sequences", type=int, default=500, help="held-out sequences per table cell")
    p.add_argument("--is-current", metavar="NAME", help="exit 0 if models/NAME was trained with today's recipe, "
                   "1 if not (scripts/memory_runs.sh)")
    return p


def main(argv=None):
    p = parser()
    args = p.parse_args(argv)
    if args.is_current:
        sys.exit(0 if current(args.is_current, args.models) else 1)
    if not (args.train or args.json):
        p.error("give --train KIND or --json PATH")
    try:
        if args.train:
            log = train_one(args.train, args.width, args.pairs, args.steps, args.runs, args.beside,
                            lr_peak=args.lr_peak, lr_final=args.lr_final, ctx_len=args.ctx_len, mqar_mix=args.mix,
                            init=args.init)
            if "final" in log:
                print(f"published {publish(log['name'], args.runs, args.models)}")
            print(json.dumps(log.get("final", {}), indent=1))
        if args.json:
            out = measure_all(args.models, args.sequences)
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(out, indent=1) + "\n")
            print(f"wrote {args.json}: {len(out['models'])} models")
    except (ValueError, FileNotFoundError) as e:
        p.error(str(e))


if __name__ == "__main__":
    main()
