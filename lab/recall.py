"""How far back each model reads, and what a fixed-size state cannot do, measured on the
held-out plays.

1. The context curve: bits per character of the same held-out tokens (TARGET tokens at each of
   PLACES places) given only the last c tokens before them, for c in CONTEXTS (as the RWKV-4 paper
   plots loss against context length). Where the curve stops falling, the model stops using what
   is further back: the ablation without WKV (lab.ablation) predicts from the last 2L + 1
   tokens only (two token shifts a layer); RWKV-4's state and the LSTM's carry on; a GPT reads its
   whole window (n_ctx) and nothing before it.

2. A passage read twice. A passage of n tokens from the held-out plays (The Tempest, Timon of
   Athens) is read twice in a row. The second reading's loss shows how much of the first the model
   still holds when it reads each token again: a model that kept every token would predict the
   second copy almost perfectly.

    second_bpc   bits per character of the second copy (the first copy is its context)
    first_bpc    bits per character of the first copy (read from an empty state)
    recall       1 − second_bpc / first_bpc: the share of the first reading's loss the model
                 removes by having read the passage once (0: it remembers nothing of it)

A transformer keeps every token in its cache (up to its context: 2n ≤ n_ctx), so it can look the
passage up; an RNN keeps a fixed-size state (RWKV-4: 5 vectors of C per layer) and must compress.

    python -m lab.recall --json docs/compare/recall_cpu.json
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from lab.evaluate import fastest_mode
from lab.kinds import SHIPPED
from rwkv_core.timing import cpu_model

LENGTHS = (16, 64, 256, 1024)
PASSAGES = 6                  # passages read twice per length, evenly spaced over the plays
CONTEXTS = (1, 4, 16, 64, 256, 504, 1024)   # tokens of context before the scored tokens
TARGET = 8                    # tokens scored at each place
PLACES = 48                   # places, evenly spaced over the held-out plays


def passages(ids: list[int], n: int, count: int = PASSAGES) -> list[list[int]]:
    """`count` passages of n tokens at evenly spaced starts of ids (deterministic)."""
    if len(ids) < n:
        raise ValueError(f"the text has {len(ids)} tokens, fewer than a passage of {n}")
    step = (len(ids) - n) // max(1, count - 1) if count > 1 else 0
    return [ids[i * step:i * step + n] for i in range(count)]


def fits(model, n: int) -> bool:
    """Whether the model can read 2n tokens in one context (a GPT only up to n_ctx)."""
    n_ctx = getattr(model.config, "n_ctx", None)
    return n_ctx is None or 2 * n <= n_ctx


@torch.no_grad()
def read_twice(model, passage: list[int]) -> tuple[float, float, int]:
    """(nats of the first copy's tokens 1…n−1, nats of the second copy's n tokens, n)."""
    ids = passage + passage
    logits, _ = model.forward(ids, mode=fastest_mode(model))                    # (2n, V)
    nll = F.cross_entropy(logits[:-1].float(), torch.tensor(ids[1:]), reduction="none")  # (2n−1,)
    n = len(passage)
    return nll[:n - 1].sum().item(), nll[n - 1:].sum().item(), n


def measure(model, texts: list[str], lengths=LENGTHS, count: int = PASSAGES) -> list[dict]:
    """One row per passage length: bits/char of each reading and the recall, over `count`
    passages taken evenly from the concatenated held-out texts."""
    tok = model.tokenizer
    ids = [i for text in texts for i in tok.encode(text)]
    rows = []
    for n in lengths:
        if not fits(model, n):
            rows.append({"n": n, "fits": False})
            continue
        first = second = 0.0
        chars_first = chars_second = 0
        t0 = time.perf_counter()
        for p in passages(ids, n, count):
            a, b, _ = read_twice(model, p)
            first, second = first + a, second + b
            chars_first += len(tok.decode(p[1:]))
            chars_second += len(tok.decode(p))
        first_bpc = first / chars_first / math.log(2)
        second_bpc = second / chars_second / math.log(2)
        rows.append({"n": n, "fits": True, "first_bpc": first_bpc, "second_bpc": second_bpc,
                     "recall": 1 - second_bpc / first_bpc, "passages": count,
                     "seconds": round(time.perf_counter() - t0, 2)})
    return rows


@torch.no_grad()
def context_curve(model, texts: list[str], contexts=CONTEXTS, count: int = PLACES,
                  target: int = TARGET) -> list[dict]:
    """Bits/char of the same `target` tokens at `count` evenly spaced places of the held-out
    text, given only the c tokens before each place (read from an empty state), for each c.
    Token j of a place has c + j tokens before it. A GPT only where c + target fits n_ctx."""
    tok = model.tokenizer
    ids = [i for text in texts for i in tok.encode(text)]
    reach = max(contexts)
    starts = [reach + p[0] for p in passages(list(range(len(ids) - reach - target)), 1, count)]
    chars = sum(len(tok.decode(ids[s:s + target])) for s in starts)
    n_ctx = getattr(model.config, "n_ctx", None)
    rows = []
    for c in contexts:
        if n_ctx is not None and c + target > n_ctx:
            rows.append({"context": c, "fits": False})
            continue
        nats = 0.0
        for s in starts:     # read ids[s−c … s+target−2]; the last `target` logits predict ids[s … s+target−1]
            logits, _ = model.forward(ids[s - c:s + target - 1], mode=fastest_mode(model))   # (c+target−1, V)
            y = torch.tensor(ids[s:s + target])
            nats += F.cross_entropy(logits[-target:].float(), y, reduction="sum").item()
        rows.append({"context": c, "fits": True, "bpc": nats / chars / math.log(2)})
    return rows


def state_bytes(model, n_tokens: int) -> int:
    """Bytes of the model's state after n_tokens (constant for the RNNs, growing for a GPT)."""
    _, state = model.forward([0] * n_tokens, mode=fastest_mode(model), all_logits=False)
    return state.nbytes()


def main(argv=None) -> dict:
    from lab import load_model
    from lab.data import load_texts
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=None,
                   help="checkpoints (default: every model shipped in models/, lab.kinds.SHIPPED)")
    p.add_argument("--lengths", nargs="+", type=int, default=list(LENGTHS))
    p.add_argument("--contexts", nargs="+", type=int, default=list(CONTEXTS))
    p.add_argument("--places", type=int, default=PLACES)
    p.add_argument("--passages", type=int, default=PASSAGES)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", default=None)
    p.add_argument("--add", action="store_true",
                   help="keep the other models already in --json (measure only --models, same settings)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    paths = args.models or [str(s.path) for s in SHIPPED.values() if s.path.is_file()]
    _, val = load_texts()
    texts = list(val.values())
    out = {"machine": {"cpu": cpu_model(), "threads": args.threads, "torch": torch.__version__},
           "lengths": args.lengths, "contexts": args.contexts, "places": args.places, "target": TARGET,
           "passages": args.passages, "models": {}}
    if args.add and args.json and Path(args.json).is_file():
        old = json.loads(Path(args.json).read_text())
        same = all(old.get(k) == out[k] for k in ("lengths", "contexts", "places", "target", "passages"))
        if not same:
            raise SystemExit(f"{args.json} was measured with other settings: measure every model again")
        out["models"] = old["models"]
    for path in paths:
        model = load_model(path)
        name = Path(path).name.removesuffix(".safetensors")
        curve = context_curve(model, texts, args.contexts, args.places)
        rows = measure(model, texts, args.lengths, args.passages)
        out["models"][name] = {"kind": model.kind, "state_bytes": {
            n: state_bytes(model, n) for n in (16, 256) if fits(model, n // 2 or 1)},
            "context_curve": curve, "read_twice": rows}
        print(name, "context:", " ".join(f"{r['context']}: " + (f"{r['bpc']:.3f}" if r["fits"] else "-")
                                         for r in curve), flush=True)
        print(" " * len(name), "read twice:", " ".join(
            f"n={r['n']}: " + (f"{r['first_bpc']:.2f}→{r['second_bpc']:.2f} ({r['recall']:.0%})"
                              if r["fits"] else "beyond context") for r in rows), flush=True)
        if args.json:            # after each model: a long run keeps what it has measured
            Path(args.json).write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
