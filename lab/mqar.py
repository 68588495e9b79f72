"""Multi-query associative recall (MQAR, after Zoology: Arora et al., 2023) as data: key-value
pairs, a gap, then queries of the keys; after each query the model must say the key's value.

One sequence of length T with N pairs and a gap of G (docs/memory-lab.md has a worked example):

    [ pad × (T − 3N − G) ][ k1 v1 k2 v2 … kN vN ][ pad × G ][ q1 q2 … qN ]

- token 0 is the pad (the filler); keys come from 1 … V/2 − 1, values from V/2 … V − 1 (disjoint halves);
- the N keys of a sequence are distinct; values are drawn with replacement (no answer by elimination);
- the queries are the N keys in a random order, each once;
- the target at query position p is the value paired with the key at p; the mask is True there
  and only there: the loss and the accuracy count those N positions and nothing else.

The queries end the sequence, so the state after the last token is the state that had to hold the
pairs. A held-out set is the same generator with its own seed (HELDOUT_SEED), never a training
batch's (those come from the trainer's generator, seeded by the recipe's seed).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

PAD = 0                # the filler token: before the pairs and in the gap
HELDOUT_SEED = 20_231_208   # the held-out sequences' seed (Zoology's arXiv month); training uses the recipe's
HELDOUT_SIZE = 1000         # held-out sequences while training (lab.train --task mqar)


@dataclass(frozen=True)
class Spec:
    vocab: int = 256        # V: the pad, V/2 − 1 keys, V/2 values
    pairs: int = 8          # N: key-value pairs, and as many queries
    length: int = 64        # T: tokens per sequence (pad, pairs, gap, queries)
    gap: int | None = 0     # G: pad tokens between the last pair and the first query; None: random 0 … T − 3N

    def __post_init__(self):
        check(self)

    @property
    def n_keys(self) -> int:
        return self.vocab // 2 - 1          # 1 … V/2 − 1 (0 is the pad)

    @property
    def max_gap(self) -> int:
        return self.length - 3 * self.pairs


def check(spec: Spec) -> None:
    """Refuse a spec that cannot make a sequence, saying why."""
    if spec.vocab < 4:
        raise ValueError(f"MQAR: the vocabulary must have at least 4 tokens (pad, a key, values), got {spec.vocab}")
    if spec.pairs < 1:
        raise ValueError(f"MQAR: at least one key-value pair is needed, got pairs={spec.pairs}")
    if spec.pairs > spec.n_keys:
        raise ValueError(f"MQAR: {spec.pairs} pairs need {spec.pairs} distinct keys, but a vocabulary of "
                         f"{spec.vocab} has only {spec.n_keys} (keys are 1 … {spec.vocab // 2 - 1}); "
                         f"use fewer pairs or a larger vocabulary")
    if spec.gap is not None and spec.gap < 0:
        raise ValueError(f"MQAR: the gap cannot be negative, got {spec.gap}")
    need = 3 * spec.pairs + (spec.gap or 0)
    if spec.length < need:
        raise ValueError(f"MQAR: a length of {spec.length} is too short for {spec.pairs} pairs (2 × {spec.pairs} "
                         f"tokens), {spec.pairs} queries and a gap of {spec.gap or 0}: it needs at least {need}")


@dataclass(frozen=True)
class Batch:
    ids: torch.Tensor        # (B, T) long: the model's input
    targets: torch.Tensor    # (B, T) long: the queried key's value at the query positions, PAD elsewhere
    mask: torch.Tensor       # (B, T) bool: True at the N query positions of each row

    def __len__(self) -> int:
        return self.ids.shape[0]


def _row(spec: Spec, gap: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    N, T, half = spec.pairs, spec.length, spec.vocab // 2
    keys = torch.randperm(spec.n_keys, generator=g)[:N] + 1                 # (N,) distinct, 1 … V/2 − 1
    values = torch.randint(half, spec.vocab, (N,), generator=g)             # (N,) V/2 … V − 1
    order = torch.randperm(N, generator=g)                                  # (N,) which pair each query asks
    ids = torch.full((T,), PAD, dtype=torch.long)
    targets = torch.full((T,), PAD, dtype=torch.long)
    mask = torch.zeros(T, dtype=torch.bool)
    start = T - 3 * N - gap                                                 # where the pairs begin
    ids[start:start + 2 * N:2], ids[start + 1:start + 2 * N:2] = keys, values
    ids[T - N:], targets[T - N:], mask[T - N:] = keys[order], values[order], True
    return ids, targets, mask


def generate(spec: Spec, n: int, seed: int | torch.Generator) -> Batch:
    """n sequences of `spec`, from a seed (the same seed, the same sequences) or a generator."""
    if n < 1:
        raise ValueError(f"MQAR: ask for at least one sequence, got n={n}")
    g = seed if isinstance(seed, torch.Generator) else torch.Generator().manual_seed(seed)
    gaps = [spec.gap] * n if spec.gap is not None else torch.randint(0, spec.max_gap + 1, (n,), generator=g).tolist()
    rows = [_row(spec, gap, g) for gap in gaps]
    return Batch(*(torch.stack(t) for t in zip(*rows)))


def generate_mix(specs: Sequence[Spec], n: int, seed: int | torch.Generator) -> Batch:
    """n sequences, each of one of `specs` drawn uniformly (Zoology's mix of pair counts: the easy
    cases, N = 1 or 2, teach the lookup that the harder ones need). The specs share the length."""
    if n < 1:
        raise ValueError(f"MQAR: ask for at least one sequence, got n={n}")
    if len({s.length for s in specs}) != 1 or len({s.vocab for s in specs}) != 1:
        raise ValueError("MQAR: a mix of specs must share one length and one vocabulary")
    g = seed if isinstance(seed, torch.Generator) else torch.Generator().manual_seed(seed)
    which = torch.randint(0, len(specs), (n,), generator=g).tolist()
    rows = []
    for i in which:
        s = specs[i]
        gap = s.gap if s.gap is not None else int(torch.randint(0, s.max_gap + 1, (1,), generator=g))
        rows.append(_row(s, gap, g))
    return Batch(*(torch.stack(t) for t in zip(*rows)))


def parse_mix(text: str, pairs: int) -> tuple[int, ...]:
    """The trainer's --mqar-mix ("1,2,4,8") as pair counts; empty: `pairs` alone."""
    if not text.strip():
        return (pairs,)
    try:
        mix = tuple(int(t) for t in text.split(","))
    except ValueError:
        raise ValueError(f"MQAR: the mix must be pair counts separated by commas (e.g. 1,2,4,8), got {text!r}")
    return mix


def heldout(spec: Spec, n: int = 1000) -> Batch:
    """The held-out sequences of a spec: its own seed, never a training batch's."""
    return generate(spec, n, HELDOUT_SEED)


def accuracy(logits: torch.Tensor, batch: Batch) -> dict:
    """Answers right at the query positions (argmax = target): logits (B, T, V) -> accuracy, the
    number of answers, the cross-entropy there (nats per answer)."""
    picked = logits[batch.mask]                                             # (B·N, V)
    answers = batch.targets[batch.mask]                                     # (B·N,)
    right = (picked.argmax(-1) == answers).float()
    ce = torch.nn.functional.cross_entropy(picked.float(), answers)
    return {"accuracy": right.mean().item(), "tokens": int(answers.numel()), "nats_per_token": ce.item()}
