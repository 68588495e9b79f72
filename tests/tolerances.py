"""Tolerances the suite can argue for, relative to the size of what is compared.

float32 keeps 24 bits: one unit in the last place (ulp) is EPS = 1.19e-7 of a value's size, so
rounding is relative, and an absolute tolerance on values of any size tests the CPU, not the code
(`aa` near 8 differed by 1.1e-5 on an Intel Xeon: 2e-6 of its size). Each bound below says
which computations it is for and why it holds.

  OTHER_KERNEL  the same maths through another kernel: one-row against many-row products (the
                two-core split, oneDNN, MKL), another summation order or vector width. A sum of
                n float32 terms in another order differs by about sqrt(n)·EPS of its size
                (n ≤ 1024 channels here: 3.8e-6); a logit passes a few such sums in a row
                (time-mix, channel-mix, head), so 2e-5 (~170 ulps) with room for a faster CPU's
                fused multiply-adds. Observed: 3e-6 for 520 tokens on an AMD EPYC.
  CARRIED       a state carried through a recurrence of T tokens by two different routes (the
                token-by-token recurrence and the blocked parallel form): each token adds its
                rounding, and exponents carry their absolute error into e^{k} as a relative one
                (|k| up to ~16, so 16× the products' error). sqrt(T)·16·OTHER_KERNEL-sized errors
                for T ≤ 100: 2e-4 bounds what 90 tokens give (observed ≤ 6e-5 on an AMD EPYC).

SAME_KERNEL comparisons (recorder on = off, a state saved and loaded) stay exact (0).

Set TOLERANCE_REPORT=path to append every measured ratio to a file (how the bounds were checked).
"""
from __future__ import annotations

import os

import torch

EPS = torch.finfo(torch.float32).eps
OTHER_KERNEL = 2e-5
CARRIED = 2e-4


def rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| divided by the larger of max |a| and max |b| (in float64)."""
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    size = max(a.abs().max().item(), b.abs().max().item())
    return (a - b).abs().max().item() / size if size > 0 else 0.0


def _report(what: str, value: float, bound: float) -> None:
    if path := os.environ.get("TOLERANCE_REPORT"):
        with open(path, "a") as f:
            f.write(f"{what}\t{value:.3e}\t{bound:.0e}\n")


def assert_close(a: torch.Tensor, b: torch.Tensor, rtol: float, what: str = "") -> None:
    d = rel_diff(a, b)
    _report(what or "tensor", d, rtol)
    assert d <= rtol, f"{what}: differs by {d:.2e} of its size (bound {rtol:.0e})"


def assert_states_close(a, b, rtol: float, what: str = "") -> None:
    """Every state field but pp within rtol of its own size (rwkv_core.State.max_rel_diff)."""
    d = {k: v for k, v in a.max_rel_diff(b).items() if k != "pp"}
    _report(what or "state", max(d.values()), rtol)
    assert max(d.values()) <= rtol, f"{what}: fields differ by {d} of their size (bound {rtol:.0e})"
