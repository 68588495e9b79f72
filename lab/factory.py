"""Random RWKV-4 checkpoints, made here for the tests and the benchmark: BlinkDL tensor names
and shapes (time_mix_* (1, 1, C) as in the official .pth files), no download needed.

Two profiles of values:
  extreme   the tests': decays in -8 … 3 and bonuses in -2 … 4, large keys (e^k needs the max
            trick), noisy layer norms and biases: the stable WKV is exercised
  trained   the benchmark's: decays in -6 … 2 and bonuses in -1 … 2 as in trained models, plain
            layer norms (weight 1, bias 0)
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from rwkv_core.config import Config

SMALL = Config(n_layer=3, n_embd=32, n_ffn=80, vocab_size=97)  # the tests' shape: F is not 4*C on purpose
LN_WEIGHTS = ("ln0.weight", "ln1.weight", "ln2.weight", "ln_out.weight")


@dataclass(frozen=True)
class Profile:
    decay: tuple[float, float]     # time_decay drawn uniformly in this range
    first: tuple[float, float]     # time_first (the bonus u) likewise
    ln_noise: float                # layer-norm weights 1 + ln_noise * N(0, 1); 0: exactly 1
    bias: float                    # biases bias * N(0, 1); 0: exactly 0
    key_gain: float | None         # att.key weights N(0, 1) * key_gain / sqrt(C); None: like the rest
    raw_emb: bool                  # embedding N(0, 1) (else like the rest: N(0, 1) / sqrt(C))


PROFILES = {
    "extreme": Profile(decay=(-8, 3), first=(-2, 4), ln_noise=0.2, bias=0.1, key_gain=4.0, raw_emb=True),
    "trained": Profile(decay=(-6, 2), first=(-1, 2), ln_noise=0.0, bias=0.0, key_gain=None, raw_emb=False),
}


def random_state_dict(cfg: Config = SMALL, seed: int = 0, *, profile: str = "extreme") -> dict[str, torch.Tensor]:
    """BlinkDL-named random float32 weights of the shape `cfg`, from `seed`."""
    p, g, C = PROFILES[profile], torch.Generator().manual_seed(seed), cfg.n_embd
    sd = {}
    for key, shape in cfg.expected_shapes().items():
        if key.endswith("time_decay"):
            t = torch.empty(shape).uniform_(*p.decay, generator=g)
        elif key.endswith("time_first"):
            t = torch.empty(shape).uniform_(*p.first, generator=g)
        elif ".time_mix" in key:
            t = torch.rand(shape, generator=g).reshape(1, 1, C)       # time_decay and time_first stay (C,)
        elif key.endswith(LN_WEIGHTS):
            t = 1 + p.ln_noise * torch.randn(shape, generator=g) if p.ln_noise else torch.ones(shape)
        elif key.endswith(".bias"):
            t = p.bias * torch.randn(shape, generator=g) if p.bias else torch.zeros(shape)
        elif key == "emb.weight" and p.raw_emb:
            t = torch.randn(shape, generator=g)
        elif key.endswith("att.key.weight") and p.key_gain:
            t = torch.randn(shape, generator=g) * (p.key_gain / C ** 0.5)   # large keys: e^k needs the max trick
        else:
            t = torch.randn(shape, generator=g) / shape[-1] ** 0.5
        sd[key] = t.float()
    return sd
