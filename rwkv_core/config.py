"""The model's shape, inferred from a checkpoint's tensors (never assumed)."""
from __future__ import annotations

import re
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Config:
    n_layer: int      # number of RWKV blocks
    n_embd: int       # width C of the residual stream
    n_ffn: int        # hidden width F of channel-mix (4*C in the Pile models, but read, not assumed)
    vocab_size: int   # rows of the embedding (50277 for the Pile models, our own for the embedded one)

    @classmethod
    def from_state_dict(cls, sd: dict[str, torch.Tensor]) -> "Config":
        """Read the shape from BlinkDL-named tensors (`emb.weight`, `blocks.N.*`, `ffn.key.weight`)."""
        layers = {int(m.group(1)) for k in sd if (m := re.match(r"blocks\.(\d+)\.", k))}
        vocab_size, n_embd = sd["emb.weight"].shape
        n_ffn = sd["blocks.0.ffn.key.weight"].shape[0]
        return cls(n_layer=max(layers) + 1, n_embd=int(n_embd), n_ffn=int(n_ffn), vocab_size=int(vocab_size))

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every tensor an RWKV-v4 checkpoint must hold, with its shape (time_* vectors as (C,))."""
        C, F, V = self.n_embd, self.n_ffn, self.vocab_size
        shapes = {"emb.weight": (V, C), "blocks.0.ln0.weight": (C,), "blocks.0.ln0.bias": (C,),
                  "ln_out.weight": (C,), "ln_out.bias": (C,), "head.weight": (V, C)}
        for i in range(self.n_layer):
            b = f"blocks.{i}."
            for ln in ("ln1", "ln2"):
                shapes[b + ln + ".weight"] = (C,)
                shapes[b + ln + ".bias"] = (C,)
            for name in ("time_decay", "time_first", "time_mix_k", "time_mix_v", "time_mix_r"):
                shapes[b + "att." + name] = (C,)
            for name in ("key", "value", "receptance", "output"):
                shapes[b + f"att.{name}.weight"] = (C, C)
            shapes[b + "ffn.time_mix_k"] = (C,)
            shapes[b + "ffn.time_mix_r"] = (C,)
            shapes[b + "ffn.key.weight"] = (F, C)
            shapes[b + "ffn.receptance.weight"] = (C, C)
            shapes[b + "ffn.value.weight"] = (C, F)
        return shapes

    @property
    def n_params(self) -> int:
        return sum(int(torch.Size(s).numel()) for s in self.expected_shapes().values())

    def state_bytes(self, bytes_per_value: int = 4) -> int:
        """Size of the recurrent state: 5 vectors of C per layer, whatever the sequence length."""
        return 5 * self.n_layer * self.n_embd * bytes_per_value
