"""The recurrent state, with names: what each layer carries from one token to the next.

Per layer:
  x_att  ln1's output for the last token (time-mix's input): the next token's token shift mixes with it
  aa     WKV numerator   sum_j e^{(t-1-j)w + k_j} v_j, stored divided by e^{pp}
  bb     WKV denominator sum_j e^{(t-1-j)w + k_j},     stored divided by e^{pp}
  pp     the running maximum exponent, which keeps aa and bb finite
  x_ffn  ln2's output for the last token (channel-mix's input), for its token shift
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch

FIELDS = ("x_att", "aa", "bb", "pp", "x_ffn")
# pp of an empty history: e^{pp} = 0. Token by token a true -inf would work as well; the blocked
# parallel WKV (fast._carry, more than CARRY_GROUP blocks) would compute -inf - (-inf) = NaN.
NEG_INF = -1e38


@dataclass(frozen=True)
class LayerState:
    x_att: torch.Tensor  # (..., C)
    aa: torch.Tensor     # (..., C)
    bb: torch.Tensor     # (..., C)
    pp: torch.Tensor     # (..., C)
    x_ffn: torch.Tensor  # (..., C)

    def clone(self) -> "LayerState":
        return LayerState(*(getattr(self, f).clone() for f in FIELDS))

    def to(self, *args, **kwargs) -> "LayerState":
        return LayerState(*(getattr(self, f).to(*args, **kwargs) for f in FIELDS))


@dataclass(frozen=True)
class State:
    layers: tuple[LayerState, ...]

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i: int) -> LayerState:
        return self.layers[i]

    def replace_layer(self, i: int, layer: LayerState) -> "State":
        return replace(self, layers=self.layers[:i] + (layer,) + self.layers[i + 1:])

    def clone(self) -> "State":
        return State(tuple(layer.clone() for layer in self.layers))

    def to(self, *args, **kwargs) -> "State":
        return State(tuple(layer.to(*args, **kwargs) for layer in self.layers))

    def _compared(self, other: "State"):
        """Per layer, the pairs of tensors to compare for each field: x_att and x_ffn as stored;
        aa and bb as true values relative to the shared scale e^{max pp}, so two equal states
        stored at slightly different pp compare equal; pp as stored."""
        for a, b in zip(self.layers, other.layers, strict=True):
            p = torch.maximum(a.pp, b.pp)
            ea, eb = torch.exp(a.pp - p), torch.exp(b.pp - p)
            yield {"x_att": (a.x_att, b.x_att), "aa": (a.aa * ea, b.aa * eb), "bb": (a.bb * ea, b.bb * eb),
                   "pp": (a.pp, b.pp), "x_ffn": (a.x_ffn, b.x_ffn)}

    def max_abs_diff(self, other: "State") -> dict[str, float]:
        """Largest |difference| of each named field over all layers (aa, bb at a shared scale)."""
        out = {f: 0.0 for f in FIELDS}
        for pairs in self._compared(other):
            for f, (x, y) in pairs.items():
                out[f] = max(out[f], (x - y).abs().max().item())
        return out

    def max_rel_diff(self, other: "State") -> dict[str, float]:
        """Largest |difference| of each field over all layers, divided by the field's largest
        magnitude in either state: float32 rounding is relative to a value's size, so this is
        what a tolerance can be argued for (aa itself can be 10 where x_att is 0.1)."""
        diff, size = {f: 0.0 for f in FIELDS}, {f: 0.0 for f in FIELDS}
        for pairs in self._compared(other):
            for f, (x, y) in pairs.items():
                diff[f] = max(diff[f], (x - y).abs().max().item())
                size[f] = max(size[f], x.abs().max().item(), y.abs().max().item())
        return {f: diff[f] / size[f] if size[f] > 0 else 0.0 for f in FIELDS}

    def allclose(self, other: "State", rtol: float = 1e-5) -> bool:
        """Every field but pp within rtol of its own size (pp only sets the scale aa and bb are
        stored at, and they are compared at a shared one). rtol=0: exactly equal."""
        d = self.max_rel_diff(other)
        return all(v <= rtol for k, v in d.items() if k != "pp")

    def to_tensors(self) -> dict[str, torch.Tensor]:
        return {f"layers.{i}.{f}": getattr(layer, f).contiguous() for i, layer in enumerate(self.layers)
                for f in FIELDS}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor]) -> "State":
        n = 1 + max(int(k.split(".")[1]) for k in tensors)
        return cls(tuple(LayerState(*(tensors[f"layers.{i}.{f}"] for f in FIELDS)) for i in range(n)))

    def save(self, path: str | Path) -> None:
        from safetensors.torch import save_file
        save_file({k: v.detach().cpu() for k, v in self.to_tensors().items()}, str(path))

    @classmethod
    def load(cls, path: str | Path, device="cpu") -> "State":
        from safetensors.torch import load_file
        return cls.from_tensors(load_file(str(path), device=str(device)))

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.to_tensors().values())


def no_history(dtype) -> float:
    """pp before any token: NEG_INF, or the dtype's lowest number where NEG_INF does not fit."""
    return max(NEG_INF, torch.finfo(dtype).min)


def init_state(n_layer: int, n_embd: int, *, batch: tuple[int, ...] = (), device="cpu",
               dtype=torch.float32) -> State:
    """The state before any token: nothing seen, so zero sums and pp = -inf (as NEG_INF, or the
    dtype's lowest number where NEG_INF does not fit: float16's is -65504)."""
    def zeros():
        return torch.zeros(*batch, n_embd, device=device, dtype=dtype)
    return State(tuple(LayerState(x_att=zeros(), aa=zeros(), bb=zeros(),
                                  pp=torch.full((*batch, n_embd), no_history(dtype), device=device, dtype=dtype),
                                  x_ffn=zeros())
                       for _ in range(n_layer)))
