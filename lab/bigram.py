"""The bigram plateau: the training loss a model reaches by looking at one previous token only, and
when each logged run went below it.

    python -m lab.bigram --json docs/race/bigram.json     # the race's models' logs, and the GPT's before the race
    python -m lab.bigram --logs models/gpt-shakespeare.log.json --json ...

The level is the conditional entropy of the next token given the previous one, counted over the
training text exactly as the trainer encodes it (lab.train_tasks.encode_corpus, the embedded
model's tokenizer): H = −Σ p(a, b) ln p(b | a), in nats per token. No model that reads one token back
can do better on its training text, so a training loss above it means the model has not yet used
more than the last token (lab.plateau measures what a GPT's attention reads before and after). A run
leaves it at the first step whose mean training loss over the WINDOW
steps before it is below the level.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from pathlib import Path

from lab import sweep
from lab.kinds import MODELS_DIR, main_model

WINDOW = 50                  # training steps averaged: one step's loss is one batch's
ROOT = Path(__file__).resolve().parent.parent
BEFORE = sweep.BEFORE       # the logs of the models the race replaced (lab.sweep.adopt keeps them there)


def default_logs() -> list[Path]:
    """The race's models' logs (lab.race.race_folder), then the logs kept from before the race."""
    from lab import race
    logs = [race.race_folder(k) / f"{main_model(k).stem}.log.json" for k in race.RACE_KINDS if main_model(k)]
    return [p for p in logs if p.is_file()] + sorted(BEFORE.glob("*.log.json"))


def conditional_entropy(ids: list[int]) -> float:
    """−Σ p(a, b) ln p(b | a) over the consecutive pairs of `ids`, in nats: the training loss of the
    best model that sees one previous token (its maximum-likelihood table)."""
    pairs, firsts = Counter(zip(ids, ids[1:])), Counter(ids[:-1])
    n = len(ids) - 1
    return -sum(c / n * math.log(c / firsts[a]) for (a, _), c in pairs.items())


def training_ids(tokenizer_path: Path = MODELS_DIR / "rwkv4-shakespeare.tokenizer.json") -> list[int]:
    """The training text's tokens as the trainer reads them (lab.train_tasks.encode_corpus)."""
    from lab.data import load_texts
    from lab.train_tasks import encode_corpus
    from rwkv_core.tokenizer import Tokenizer
    train, _ = load_texts()
    return encode_corpus(Tokenizer(tokenizer_path), train.values()).tolist()


def _means(log: dict, window: int):
    """(step, mean training loss over the `window` logged steps before it), for every logged step with at
    least half a window behind it."""
    losses = {e["step"]: e["loss"] for e in log["train"]}
    for step in sorted(losses):
        back = [losses[s] for s in range(step - window, step) if s in losses]
        if len(back) >= window // 2:
            yield step, sum(back) / len(back)


def leaves_at(log: dict, level: float, window: int = WINDOW) -> int | None:
    """The first logged step whose mean training loss over the `window` steps before it is below
    `level`; None if the run never went below it."""
    return next((step for step, mean in _means(log, window) if mean < level), None)


def smoothed(log: dict, window: int = WINDOW, every: int = 10) -> list[tuple[int, float]]:
    """(step, mean training loss over the `window` steps before it) every `every` steps: the curve
    leaves_at reads, for a figure."""
    return [(step, mean) for step, mean in _means(log, window) if step % every == 0]


def gpt_sentence(data: dict) -> str:
    """The race's GPT's step below the bigram level against its run's from before the race (docs/race/bigram.json),
    worded from the file; "" where either is missing."""
    now = next((r for r in data["runs"] if r["kind"] == "gpt" and "/before/" not in r["log"]), None)
    was = next((r for r in data["runs"] if r["kind"] == "gpt" and "/before/" in r["log"]), None)
    if not (now and was and now["leaves_at_step"] is not None and was["leaves_at_step"] is not None):
        return ""
    d = was["leaves_at_step"] - now["leaves_at_step"]
    return (f"The GPT in the race leaves the plateau at step {now['leaves_at_step']:,}; before the race, at RWKV-4's "
            f"recipe, at step {was['leaves_at_step']:,}: "
            + (f"{d:,} steps earlier." if d > 0 else f"not earlier ({-d:,} steps later)." if d < 0 else "the same step."))


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--logs", nargs="+", type=Path, default=None, help="default: the race's logs and docs/race/before/")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    ids = training_ids()
    level = conditional_entropy(ids)
    out = {"command": "python -m " + " ".join(["lab.bigram", *sys.argv[1:]]), "train_tokens": len(ids),
           "bigram_nats_per_token": level, "window": WINDOW, "runs": []}
    print(f"bigram level: {level:.3f} nats/token over {len(ids):,} training tokens")
    for path in args.logs or default_logs():
        log = json.loads(path.read_text())
        step = leaves_at(log, level)
        name = str(path.resolve().relative_to(ROOT)) if path.resolve().is_relative_to(ROOT) else str(path)
        out["runs"].append({"log": name, "kind": log["kind"], "lr_peak": log["recipe"]["lr_peak"],
                            "warmup_steps": log["recipe"]["warmup_steps"], "loss": log["recipe"].get("loss"),
                            "init": log["recipe"].get("init", "kind"),
                            "leaves_at_step": step})
        print(f"{path}: below it from step {step}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    return out


if __name__ == "__main__":
    main()
