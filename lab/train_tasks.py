"""The one trainer's tasks (lab.train): what a step trains on and what validation measures.

- "text": the Shakespeare plays, windows of ctx_len + 1 tokens at random; bits/char on two held-out plays.
- "mqar": associative recall (lab.mqar): fresh sequences every step, at one number of pairs or a mix
  (--mqar-mix 1,2,4,8: each sequence draws its N, as Zoology trains), the loss at the answers only;
  accuracy on held-out sequences at mqar_pairs (their own seed).
"""
from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
TOKENIZER = MODELS_DIR / "rwkv4-shakespeare.tokenizer.json"   # the embedded model's: every kind but RWKV-4 uses it


# --- data -------------------------------------------------------------------------------------

def build_tokenizer(texts, vocab_size: int, path: Path):
    """A byte-level BPE (like the Pile models' 20B tokenizer, but a few thousand tokens)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    path.parent.mkdir(parents=True, exist_ok=True)
    tok.save(str(path))
    return path


def encode_corpus(tokenizer, texts) -> torch.Tensor:
    ids = []
    for text in texts:
        ids += tokenizer.encode(text) + tokenizer.encode("\n\n\n")
    return torch.tensor(ids, dtype=torch.long)


def _tokenizer_file(out: Path, hooks, texts, vocab_size: int, given: str | Path | None) -> Path:
    """<out>/tokenizer.json: kept on resume; else the one given, a new BPE (RWKV-4) or the embedded model's."""
    path = out / "tokenizer.json"
    if not path.exists():
        if given or not hooks.own_tokenizer:
            shutil.copy(given or TOKENIZER, path)
        else:
            build_tokenizer(texts, vocab_size, path)
    return path


# --- the task: what a step trains on and what validation measures --------------------------------

@dataclass
class Task:
    vocab_size: int
    tokenizer: Any                 # None for a task of plain ids
    draw: Callable                 # generator -> ids (B, T), targets (B, T), mask (B, T) or None (every position)
    score: Callable                # Run -> a validation result: its numbers and "tokens" (held-out tokens)
    data: dict                     # what the log records of the data
    headline: str                  # the validation number printed while training


def text_task(tc, out: Path, hooks, evaluation: str, texts=None, tokenizer=None) -> Task:
    """The plays: windows of ctx_len + 1 tokens at random; bits/char on the two held-out plays."""
    from lab import evaluate, gpt_eval
    from lab.data import load_texts
    from rwkv_core.tokenizer import Tokenizer
    train_texts, val_texts = texts or load_texts()
    tok = Tokenizer(_tokenizer_file(out, hooks, train_texts.values(), tc.vocab_size, tokenizer))
    data = encode_corpus(tok, train_texts.values())
    bits = gpt_eval.bits_per_char if evaluation == "windows" else evaluate.bits_per_char

    def draw(g):
        starts = torch.randint(0, len(data) - tc.ctx_len - 1, (tc.batch_size,), generator=g)
        batch = torch.stack([data[s:s + tc.ctx_len + 1] for s in starts.tolist()])   # (B, T+1)
        return batch[:, :-1], batch[:, 1:], None

    return Task(tok.vocab_size, tok, draw, lambda run: bits(run.scorer, list(val_texts.values())),
                {"task": "text", "train_tokens_per_pass": len(data), "train_texts": len(train_texts),
                 "heldout_texts": sorted(val_texts)}, "bits_per_char")


def mqar_task(tc, out: Path, hooks, evaluation: str, texts=None, tokenizer=None) -> Task:
    """Associative recall (lab.mqar): fresh sequences every step (each of one N of the mix), the loss
    at the answers only; accuracy on the held-out sequences at mqar_pairs (their own seed), through
    the training forward."""
    from lab import mqar
    def gap(pairs: int) -> int | None:         # -1: random per sequence; -2: the rest (pairs first, queries last)
        return None if tc.mqar_gap == -1 else tc.ctx_len - 3 * pairs if tc.mqar_gap == -2 else tc.mqar_gap

    spec = mqar.Spec(tc.mqar_vocab, tc.mqar_pairs, tc.ctx_len, gap(tc.mqar_pairs))
    mix = [mqar.Spec(tc.mqar_vocab, p, tc.ctx_len, gap(p)) for p in mqar.parse_mix(tc.mqar_mix, tc.mqar_pairs)]
    held = mqar.heldout(spec, mqar.HELDOUT_SIZE)

    def draw(g):
        b = mqar.generate(spec, tc.batch_size, g) if not tc.mqar_mix else mqar.generate_mix(mix, tc.batch_size, g)
        return b.ids, b.targets, b.mask

    def score(run):
        with torch.no_grad():
            return mqar.accuracy(run.hooks.forward(run.weights, held.ids), held)

    data = {"task": "mqar", "spec": asdict(spec), "heldout_sequences": len(held), "heldout_seed": mqar.HELDOUT_SEED}
    if tc.mqar_mix:
        data["mix"] = [m.pairs for m in mix]
    return Task(spec.vocab, None, draw, score, data, "accuracy")


TASKS = {"text": text_task, "mqar": mqar_task}
