"""What a GPT's attention reads on the bigram plateau, and after it.

    python -m lab.plateau --json docs/race/plateau.json

The bigram level (lab.bigram) is the lowest training loss of a model that reads the current token
only. A GPT's blocks see earlier tokens through attention alone, so to go below that level its
attention must bring something in from before. RWKV-4 has that path from its first step: token shift
mixes each token with the one before it in every block (rwkv_core: x_att, x_ffn); an LSTM carries
its state. This measures, for GPT checkpoints on and past the plateau, how much of each attention
head's weight lands on the token just before the query: a head that looks one token back is the
simplest way past the plateau.

For each checkpoint: its step, the mean training loss of the WINDOW steps before it (its log), and
over WINDOWS windows of CTX held-out tokens (The Tempest, Timon of Athens): per head, the mean weight
of the queries at positions 1 … CTX−1 on their previous token; the strongest head is reported, beside
the weight an even spread over the visible tokens would give it.

Checkpoints (default): the tuning sweep's GPT runs (runs/sweep/gpt-*/ckpt.pt, 300 steps each) and
the race's GPT runs (runs/race/gpt*/ckpt.pt, 2,000 steps): local runs, as for docs/race/sweep.json.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from lab.bigram import WINDOW

ROOT = Path(__file__).resolve().parent.parent
CTX, WINDOWS = 512, 4


def even_share(ctx: int = CTX) -> float:
    """The mean weight on the previous token of a head that spreads its weight evenly over the
    visible tokens: query t (1 … ctx−1) sees t + 1 tokens."""
    return sum(1 / (t + 1) for t in range(1, ctx)) / (ctx - 1)


def previous_token_share(weights: list[torch.Tensor]) -> list[list[float]]:
    """weights: per layer (H, T, T), causal (rows sum to 1). Per layer and head, the mean weight of
    queries 1 … T−1 on the token just before them."""
    out = []
    for w in weights:                                                  # (H, T, T)
        T = w.shape[-1]
        back = w[:, torch.arange(1, T), torch.arange(0, T - 1)]          # (H, T−1)
        out.append(back.mean(dim=-1).tolist())
    return out


def load_gpt(path: Path):
    """A GPT from a training checkpoint (ckpt.pt: its parameters; the head count from the run's log)
    or from an exported .safetensors file."""
    from lab import load_model
    from rivals import gpt, gpt_model
    if path.suffix == ".safetensors":
        return load_model(path)
    params = torch.load(path, map_location="cpu", weights_only=False)["params"]
    log = json.loads((path.parent / "log.json").read_text())
    sd = {k: v.detach().float() for k, v in params.items()}
    sd["transformer.n_head"] = gpt.n_head_tensor(log["model"]["n_head"])
    return gpt_model.from_state_dict(sd)


def train_loss_at(log: dict, step: int, window: int = WINDOW) -> float | None:
    """The mean training loss of the `window` logged steps up to `step` (nats/token)."""
    back = [e["loss"] for e in log["train"] if step - window < e["step"] <= step]
    return sum(back) / len(back) if back else None


@torch.no_grad()
def measure(model, windows: list[list[int]]) -> dict:
    """The strongest previous-token head over the windows, and every head's share."""
    from rivals.gpt_model import attention_weights
    shares = None
    for ids in windows:
        s = torch.tensor(previous_token_share(attention_weights(model, ids)))   # (L, H)
        shares = s if shares is None else shares + s
    shares = shares / len(windows)
    flat = int(shares.argmax())
    layer, head = divmod(flat, shares.shape[1])
    return {"best": float(shares.max()), "layer": layer, "head": head, "shares": shares.tolist()}


def held_out_windows(n: int = WINDOWS, ctx: int = CTX) -> list[list[int]]:
    """n windows of ctx tokens of the held-out plays, evenly spaced (the embedded model's tokenizer)."""
    from lab.data import load_texts
    from lab.kinds import MODELS_DIR
    from rwkv_core.tokenizer import Tokenizer
    tok = Tokenizer(MODELS_DIR / "rwkv4-shakespeare.tokenizer.json")
    _, val = load_texts()
    ids = [i for text in val.values() for i in tok.encode(text)]
    step = (len(ids) - ctx) // n
    return [ids[k * step:k * step + ctx] for k in range(n)]


def sweep_losses(sweep_dir: Path) -> dict[str, list[float]]:
    """kind → the training loss at the last step of each of its sweep runs (WINDOW steps' mean),
    from runs/sweep/*/log.json: where every kind stands after the sweep's short budget."""
    out: dict[str, list[float]] = {}
    for path in sorted(sweep_dir.glob("*/log.json")):
        log = json.loads(path.read_text())
        if log.get("train"):
            out.setdefault(log["kind"], []).append(train_loss_at(log, log["train"][-1]["step"]))
    return out


def verdict(data: dict, measured: bool = False) -> str:
    """What plateau.json says, worded from its numbers: where each kind's training loss stands after the
    sweep's budget against the bigram level, and how much weight the GPT's heads put on the previous token
    in the checkpoints above the level and in those below it. measured: the token-shift experiment
    (lab.gpt_shift) has been run, so its question is asked as answered below, not as open."""
    from lab.kinds import title
    level, even, out = data["bigram_nats_per_token"], data["even_share"], []
    best = {k: min(v) for k, v in data.get("sweep_losses", {}).items() if v}
    if "gpt" in best:
        others = [f"{'RWKV-4' if k == 'rwkv4' else 'the ' + title(k)}'s {v:.3f}" for k, v in best.items() if k != "gpt"]
        out.append(f"After the sweep's short budget the GPT's best training loss is {best['gpt']:.3f} nats/token, "
                   f"{'above' if best['gpt'] > level else 'below'} the bigram level ({level:.3f})"
                   + (", against " + " and ".join(others) if others else "") + ".")
    above = [r for r in data["runs"] if not r["below_bigram"]]
    below = [r for r in data["runs"] if r["below_bigram"]]

    def steps(rs):
        return ", ".join(f"{s:,}" for s in sorted({r["step"] for r in rs}))
    if above:
        top = max(r["best"] for r in above)
        out.append(f"In the {len(above)} GPT checkpoint{'s' if len(above) > 1 else ''} above the level (step "
                   f"{steps(above)}), no attention head puts more than {top:.3f} of its weight on the previous token"
                   f" (spread evenly over what it sees, a head would put {even:.3f} there"
                   + ("; these heads are all but even)." if top < 2 * even else ")."))
    if below:
        lo, hi = min(r["best"] for r in below), max(r["best"] for r in below)
        out.append(f"In the {len(below)} below it (step {steps(below)}), the strongest head puts "
                   + (f"{hi:.3f}" if lo == hi else f"{lo:.3f} to {hi:.3f}") + f" there ({hi / even:.0f} times even).")
    if best.get("gpt", 0) > level:
        out.append("Reaching the bigram level needs only the current token, not attention, so attention spread "
                   "evenly does not explain the whole slow start. " + (
                       "The token-shift experiment below measures how much of it the missing previous token costs "
                       "(each block of the GPT also reading the previous token, as RWKV-4's do from the first step)."
                       if measured else
                       "A GPT trained with RWKV-4's token shift added (each block also reading the previous token, "
                       "as RWKV-4's do from the first step) would measure how much of it the missing previous "
                       "token costs."))
    return " ".join(out)


def default_checkpoints() -> list[Path]:
    return sorted((ROOT / "runs" / "sweep").glob("gpt-*/ckpt.pt")) + sorted((ROOT / "runs" / "race").glob("gpt*/ckpt.pt"))


def main(argv=None) -> dict:
    from lab.bigram import conditional_entropy, training_ids
    from rwkv_core.timing import cpu_model
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoints", nargs="+", type=Path, default=None,
                   help="GPT ckpt.pt files (their run's log.json beside them); default: the sweep's and the race's")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    paths = args.checkpoints or default_checkpoints()
    if not paths:
        raise SystemExit("no GPT checkpoint found (runs/sweep/gpt-*/ckpt.pt, runs/race/gpt*/ckpt.pt): "
                         "run the sweep first (scripts/race_runs.sh) or name them with --checkpoints")
    level = conditional_entropy(training_ids())
    windows = held_out_windows()
    out = {"command": "python -m " + " ".join(["lab.plateau", *sys.argv[1:]]), "machine": cpu_model(),
           "bigram_nats_per_token": level, "window": WINDOW, "ctx": CTX, "windows": len(windows),
           "even_share": even_share(CTX), "sweep_losses": sweep_losses(ROOT / "runs" / "sweep"), "runs": []}
    for path in paths:
        log = json.loads((path.parent / "log.json").read_text())
        step = torch.load(path, map_location="cpu", weights_only=False)["step"]
        loss = train_loss_at(log, step)
        got = measure(load_gpt(path), windows)
        name = str(path.resolve().relative_to(ROOT)) if path.resolve().is_relative_to(ROOT) else str(path)
        r = log["recipe"]
        out["runs"].append({"checkpoint": name, "step": step, "lr_peak": r["lr_peak"],
                            "warmup_steps": r["warmup_steps"], "init": r.get("init", "kind"),
                            "train_loss": loss, "below_bigram": loss is not None and loss < level, **got})
        print(f"{name}: step {step}, training loss {loss:.3f} (bigram {level:.3f}); strongest previous-token "
              f"head: layer {got['layer']}, head {got['head']}, {got['best']:.3f}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    return out


if __name__ == "__main__":
    main()
