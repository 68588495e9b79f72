"""Sampling the next token from logits: temperature, top-k, top-p, a seeded generator.

Everything works from logits already computed, so changing a setting re-samples without
running the model again."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SamplingSettings:
    temperature: float = 1.0  # 0 = greedy (always the most likely token)
    top_k: int = 0            # keep the k most likely tokens; 0 = all
    top_p: float = 1.0        # keep the smallest set whose probability reaches p; 1 = all

    def __post_init__(self):
        if not (isinstance(self.temperature, (int, float)) and 0 <= self.temperature <= 100):
            raise ValueError(f"temperature must be between 0 and 100, got {self.temperature!r}")
        if not (isinstance(self.top_k, int) and self.top_k >= 0):
            raise ValueError(f"top_k must be a whole number ≥ 0 (0 = off), got {self.top_k!r}")
        if not (isinstance(self.top_p, (int, float)) and 0 < self.top_p <= 1):
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p!r}")


@dataclass(frozen=True)
class Sample:
    token: int
    probs: torch.Tensor       # (V,) the distribution actually sampled from (after all filters)
    raw_probs: torch.Tensor   # (V,) softmax of the logits at temperature 1

    @property
    def entropy_bits(self) -> float:
        return entropy_bits(self.probs)


def entropy_bits(probs: torch.Tensor) -> float:
    p = probs[probs > 0].double()
    return float(-(p * torch.log2(p)).sum())


def probabilities(logits: torch.Tensor, settings: SamplingSettings) -> torch.Tensor:
    """The distribution sampled from: (V,) float64, zero outside top-k / top-p."""
    logits = logits.detach().double().reshape(-1)                    # (V,)
    if settings.temperature == 0:
        probs = torch.zeros_like(logits)
        probs[int(torch.argmax(logits))] = 1.0
        return probs
    probs = torch.softmax(logits / settings.temperature, dim=-1)     # (V,)
    if settings.top_k and settings.top_k < len(probs):
        kth = torch.topk(probs, settings.top_k).values[-1]
        probs = torch.where(probs >= kth, probs, 0.0)
    if settings.top_p < 1:
        sorted_p, order = torch.sort(probs, descending=True)
        before = torch.cumsum(sorted_p, 0) - sorted_p                 # mass of the more likely tokens
        keep = torch.zeros_like(probs, dtype=torch.bool)
        keep[order] = before < settings.top_p                        # always keeps the top token
        probs = torch.where(keep, probs, 0.0)
    return probs / probs.sum()


def sample(logits: torch.Tensor, settings: SamplingSettings = SamplingSettings(),
           generator: torch.Generator | None = None) -> Sample:
    probs = probabilities(logits, settings)
    if settings.temperature == 0:
        token = int(torch.argmax(probs))
    else:
        token = int(torch.multinomial(probs, 1, generator=generator))
    return Sample(token, probs, torch.softmax(logits.detach().double().reshape(-1), -1))


def make_generator(seed: int | None) -> torch.Generator:
    g = torch.Generator()
    if seed is None:
        g.seed()
    else:
        g.manual_seed(int(seed))
    return g
