"""Recording: named intermediates of a forward pass, per layer and token.

Names follow the checkpoint's layout, e.g. `blocks.3.att.wkv`. The engine calls
`recorder.wants(name)` before it builds anything extra, so with no recorder (None) a forward pass
pays nothing, and recording never changes a result: it only keeps copies.

Recording points (per block i):
  embed                           embedding after ln0, the input of block 0
  blocks.i.att.xk / xv / xr       the token-shift mixes fed to key, value, receptance
  blocks.i.att.r / k / v          receptance (after sigmoid), key, value
  blocks.i.att.wkv                the WKV average
  blocks.i.att.out                time-mix output (added to the residual)
  blocks.i.att.aa / bb / pp       the WKV state after each token
  blocks.i.ffn.k / r              channel-mix key (after squared ReLU) and receptance
  blocks.i.ffn.out                channel-mix output
  blocks.i.resid_mid              residual stream after time-mix
  blocks.i.resid                  residual stream after the block
  ln_out                          final layer norm (input of the head)
"""
from __future__ import annotations

import fnmatch
from typing import Callable, Iterable

import torch

ATT_POINTS = ("xk", "xv", "xr", "r", "k", "v", "wkv", "out", "aa", "bb", "pp")
FFN_POINTS = ("k", "r", "out")


def point_names(n_layer: int) -> list[str]:
    names = ["embed"]
    for i in range(n_layer):
        names += [f"blocks.{i}.att.{p}" for p in ATT_POINTS]
        names += [f"blocks.{i}.resid_mid"]
        names += [f"blocks.{i}.ffn.{p}" for p in FFN_POINTS]
        names += [f"blocks.{i}.resid"]
    return names + ["ln_out"]


class Recorder:
    """Keeps the recorded intermediates, assembled over the cells of a plan into (T, C) tensors.

    `names`: None for all points, or glob patterns (`blocks.*.att.wkv`), or a callable."""

    def __init__(self, names: Iterable[str] | str | Callable[[str], bool] | None = None):
        if isinstance(names, str):
            names = [names]
        self._filter = names if callable(names) or names is None else list(names)
        self._parts: dict[str, list[tuple[int, torch.Tensor]]] = {}
        self._cache: dict[str, bool] = {}

    def wants(self, name: str) -> bool:
        if name not in self._cache:
            f = self._filter
            self._cache[name] = (f is None or (f(name) if callable(f) else
                                               any(fnmatch.fnmatchcase(name, p) for p in f)))
        return self._cache[name]

    def record(self, name: str, start: int, value: torch.Tensor) -> None:
        """Store `value` (T_cell, C) for the tokens from `start` on (a detached copy)."""
        self._parts.setdefault(name, []).append((start, value.detach().clone()))

    def __contains__(self, name: str) -> bool:
        return name in self._parts

    def __getitem__(self, name: str) -> torch.Tensor:
        parts = sorted(self._parts[name], key=lambda p: p[0])
        return torch.cat([v for _, v in parts], dim=-2)

    def names(self) -> list[str]:
        return list(self._parts)

    def as_dict(self) -> dict[str, torch.Tensor]:
        return {n: self[n] for n in self._parts}
