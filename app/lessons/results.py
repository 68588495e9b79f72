"""What each lesson step shows, as data: the results app/lessons/core.py computes and
app/lessons/views.py lays out. Each carries every number its view puts on screen, and per
quantity the largest |formula − engine| (`max_diff`), which the view reports and the tests check.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from rwkv_core.sampling import Sample


@dataclass(frozen=True)
class Checked:
    """A table of formula and engine columns, and per quantity the largest |formula − engine|."""
    table: dict[str, list]
    max_diff: dict[str, float]


@dataclass(frozen=True)
class Embedding:
    raw: torch.Tensor              # (C,) the embedding row
    normed: torch.Tensor           # (C,) after ln0, by the formula
    engine: torch.Tensor           # (C,) the engine's recorded embed
    neighbours: list[tuple[str, float]]   # the nearest tokens by cosine of embeddings
    max_diff: dict[str, float]


@dataclass(frozen=True)
class LayerLens:
    names: list[str]               # "embed", "blocks.0.resid", ...
    norms: list[float]             # ‖x‖ after each stage
    top: list[str]                 # the token the head would pick there
    top_prob: list[float]          # and its probability
    max_diff_logits: float         # the last stage's logits against the engine's


@dataclass(frozen=True)
class NextToken:
    """The next-token distribution after position t at temperature 1."""
    probs: torch.Tensor            # (V,)
    labels: dict[int, str]
    top: int
    entropy_bits: float
    max_diff: dict[str, float]     # the softmax formula against the engine's sampling code


@dataclass(frozen=True)
class Sampled:
    """A seeded draw with the chosen settings; the lesson's own filters beside the engine's."""
    sample: Sample
    labels: dict[int, str]
    max_diff: dict[str, float]     # empty at temperature 0 (greedy: nothing to filter)


@dataclass(frozen=True)
class WkvSum:
    labels: list[str]              # tokens 0..t
    share: list[float]             # each token's share of the average, in the chosen channel
    exponent: list[float]
    k: list[float]
    v: list[float]
    w: float
    u: float
    half_life: float
    wkv_formula: float
    wkv_engine: float
    average_check: float           # sum(share · v): the same wkv as a weighted average
    max_diff: dict[str, float]


@dataclass(frozen=True)
class WkvStable:
    table: dict[str, list]         # aa, bb, pp after each token, formula and engine
    overflow: list[dict]           # the naive and stable forms with every k shifted
    shifted_exponents: list[float]  # the chosen channel's exponents with every k + OVERFLOW_UP
    max_diff: dict[str, float]


@dataclass(frozen=True)
class ChannelMix:
    pre: torch.Tensor              # (F,) before the squared ReLU
    k: torch.Tensor                # (F,) after it
    zero_share: float              # hidden channels that are exactly 0
    table: dict[str, list]
    max_diff: dict[str, float]


@dataclass(frozen=True)
class BlockSums:
    norms: dict[str, float]        # ‖·‖ of the block's input, its two outputs and its sums
    max_diff: dict[str, float]


@dataclass(frozen=True)
class StateAfter:
    fields: dict[str, torch.Tensor]   # x_att, aa, bb, pp, x_ffn after the token, from the formulas
    numbers: int                      # numbers in one layer's state
    max_diff: dict[str, float]        # against the engine's returned State (after the last token only)
