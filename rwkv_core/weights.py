"""Weights, grouped in small frozen dataclasses named after the checkpoint keys (BlinkDL layout).

Linear weights are stored as in the checkpoint, (out, in), and applied with F.linear.
The time_* vectors are stored flat, (C,), whatever shape the file had ((1, 1, C) in .pth files).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Iterator

import torch

from rwkv_core.config import Config


@dataclass(frozen=True)
class LayerNormWeights:
    weight: torch.Tensor  # (C,)
    bias: torch.Tensor    # (C,)


@dataclass(frozen=True)
class AttWeights:
    """blocks.N.att.*: time-mix."""
    time_decay: torch.Tensor  # (C,)  w = -exp(time_decay), the per-token decay
    time_first: torch.Tensor  # (C,)  u, the bonus of the current token
    time_mix_k: torch.Tensor  # (C,)
    time_mix_v: torch.Tensor  # (C,)
    time_mix_r: torch.Tensor  # (C,)
    key: torch.Tensor         # (C, C)
    value: torch.Tensor       # (C, C)
    receptance: torch.Tensor  # (C, C)
    output: torch.Tensor      # (C, C)


@dataclass(frozen=True)
class FfnWeights:
    """blocks.N.ffn.*: channel-mix."""
    time_mix_k: torch.Tensor  # (C,)
    time_mix_r: torch.Tensor  # (C,)
    key: torch.Tensor         # (F, C)
    receptance: torch.Tensor  # (C, C)
    value: torch.Tensor       # (C, F)


@dataclass(frozen=True)
class BlockWeights:
    ln1: LayerNormWeights
    ln2: LayerNormWeights
    att: AttWeights
    ffn: FfnWeights


@dataclass(frozen=True)
class Weights:
    emb: torch.Tensor          # (V, C) emb.weight
    ln0: LayerNormWeights      # blocks.0.ln0, applied to the embedding
    blocks: tuple[BlockWeights, ...]
    ln_out: LayerNormWeights
    head: torch.Tensor         # (V, C) head.weight

    @classmethod
    def from_state_dict(cls, sd: dict[str, torch.Tensor]) -> "Weights":
        """Build from BlinkDL-named tensors (validated beforehand by checkpoint.py)."""
        cfg = Config.from_state_dict(sd)

        def ln(prefix):
            return LayerNormWeights(sd[prefix + ".weight"], sd[prefix + ".bias"])

        def group(klass, prefix):
            return klass(**{f.name: sd[f"{prefix}.{f.name}"] if f.name.startswith("time_")
                            else sd[f"{prefix}.{f.name}.weight"] for f in fields(klass)})

        blocks = tuple(BlockWeights(ln(f"blocks.{i}.ln1"), ln(f"blocks.{i}.ln2"),
                                    group(AttWeights, f"blocks.{i}.att"), group(FfnWeights, f"blocks.{i}.ffn"))
                       for i in range(cfg.n_layer))
        return cls(sd["emb.weight"], ln("blocks.0.ln0"), blocks, ln("ln_out"), sd["head.weight"])

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The tensors under their checkpoint names (the same objects, not copies)."""
        sd = {"emb.weight": self.emb, "blocks.0.ln0.weight": self.ln0.weight,
              "blocks.0.ln0.bias": self.ln0.bias}
        for i, b in enumerate(self.blocks):
            for name in ("ln1", "ln2"):
                sd[f"blocks.{i}.{name}.weight"] = getattr(b, name).weight
                sd[f"blocks.{i}.{name}.bias"] = getattr(b, name).bias
            for part, group in (("att", b.att), ("ffn", b.ffn)):
                for f in fields(group):
                    key = f"blocks.{i}.{part}.{f.name}" + ("" if f.name.startswith("time_") else ".weight")
                    sd[key] = getattr(group, f.name)
        sd.update({"ln_out.weight": self.ln_out.weight, "ln_out.bias": self.ln_out.bias,
                   "head.weight": self.head})
        return sd

    def tensors(self) -> Iterator[torch.Tensor]:
        return iter(self.state_dict().values())
