"""Validation of a model on the held-out plays (The Tempest, Timon of Athens), in bits per character.

    python -m lab.evaluate                 # the embedded model
    python -m lab.evaluate --model PATH

Each play is read whole, in pieces, with the state carried from piece to piece (the model never
sees a window boundary). Bits per character = total cross-entropy of the predicted tokens (nats)
/ the number of characters those tokens spell / ln 2, so models with different tokenizers compare.
"""
from __future__ import annotations

import argparse
import json
import math

import torch
import torch.nn.functional as F

import lab


def fastest_mode(model) -> str:
    """The fastest schedule a model kind allows (parallel for RWKV and the LSTM, rnn for the red line)."""
    return getattr(model, "schedules", ("parallel",))[-1]


@torch.no_grad()
def bits_per_char(model, texts, piece: int = 1024) -> dict:
    """Cross-entropy of every token after the first, the state carried through each whole text."""
    tok = model.tokenizer
    nats, chars, tokens = 0.0, 0, 0
    for text in texts:
        ids = tok.encode(text)
        state = None
        for s in range(0, len(ids) - 1, piece):
            x = ids[s:s + piece]
            y = torch.tensor(ids[s + 1:s + piece + 1])
            logits, state = model.forward(x, state, mode=fastest_mode(model))     # (t, V)
            nats += F.cross_entropy(logits[:len(y)].float(), y, reduction="sum").item()
        tokens += len(ids) - 1
        chars += len(tok.decode(ids[1:]))
    return {"bits_per_char": nats / chars / math.log(2), "nats_per_token": nats / tokens,
            "chars": chars, "tokens": tokens}


def top_next(model, prompt: str, k: int = 5) -> list[tuple[str, float]]:
    logits, _ = model.forward(model.tokenizer.encode(prompt), mode=fastest_mode(model), all_logits=False)
    probs = torch.softmax(logits.double(), -1)
    top = torch.topk(probs, k)
    return [(model.tokenizer.decode([int(i)]), float(p)) for p, i in zip(top.values, top.indices)]


def main(argv=None) -> dict:
    from lab.data import load_texts
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help="checkpoint; default: the embedded model")
    p.add_argument("--piece", type=int, default=1024, help="tokens per forward call (the state is carried)")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    model = lab.load_model(args.model)
    score = bits_per_char
    if model.kind == "gpt":   # it cannot read past its position table: a sliding window instead of a state
        from lab import gpt_eval
        score = lambda m, texts, piece: gpt_eval.bits_per_char(m, texts)   # noqa: E731
        print(f"a GPT: each play read in windows of {model.config.n_ctx} tokens moved by {model.config.n_ctx // 2}")
    _, val = load_texts()
    result = {"plays": {}}
    for name, text in val.items():
        result["plays"][name] = score(model, [text], args.piece)
        print(f"{name:24s} {result['plays'][name]['bits_per_char']:.3f} bits/char "
              f"({result['plays'][name]['chars']:,} characters)")
    result["total"] = score(model, list(val.values()), args.piece)
    print(f"{'held-out total':24s} {result['total']['bits_per_char']:.3f} bits/char")
    prompt = "To be, or not to be, that is the"
    result["to_be"] = top_next(model, prompt)
    print(f"after {prompt!r}: " + ", ".join(f"{t!r} {p:.2f}" for t, p in result["to_be"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()
