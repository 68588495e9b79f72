"""The engine's fast paths: the same numbers as the plain forms of ops.py (up to rounding),
computed the way this hardware runs them fastest. model.py reaches each through one call:

  linear(x, weight)              x @ weight.T, on a CPU by the route this machine measured
                                 fastest for the product's shape class (calibrate.py): F.linear,
                                 a two-core split of the columns, oneDNN, or a matrix-vector call
  wkv_parallel(w, u, k, v, ...)  the WKV over all T tokens in blocks of WKV_BLOCK tokens, with
                                 no Python loop over single tokens; equal to ops.wkv_sequential

Tests hold each to its plain form: linear to F.linear, wkv_parallel to ops.wkv_sequential (and
both to reference.wkv_naive on safe inputs), also for their gradients.
"""
from __future__ import annotations

import platform
from contextlib import contextmanager

import torch
import torch.nn.functional as F

from rwkv_core import calibrate
from rwkv_core.ops import decay_and_add, wkv_step

# --- products -----------------------------------------------------------------------------------
# Each route computes x @ weight.T for x (rows, in) and a weight (out, in), as F.linear does; which
# one a product takes is measured on this machine (rwkv_core/calibrate.py), per shape class.

def _onednn_linear():
    """torch's oneDNN linear kernel for x86-64 CPUs (the one torch.compile uses), or None: on other
    machines, in torch builds without it, or when it fails a small check against F.linear."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    try:
        if not torch.backends.mkldnn.is_available():
            return None
        op = torch.ops.mkldnn._linear_pointwise
        g = torch.Generator().manual_seed(0)
        x, w = torch.randn(70, 5, generator=g), torch.randn(4, 5, generator=g)
        with torch.inference_mode():
            ok = torch.allclose(op(x, w, None, "none", [], ""), F.linear(x, w), atol=1e-5)
        return op if ok else None
    except (AttributeError, RuntimeError):
        return None


_ONEDNN_LINEAR = _onednn_linear()


def split_linear(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """x (rows, in) @ weight.T as two halves of the output columns in one batched product, one
    half per core: a weight stored column by column (checkpoint.py) gives both halves as views,
    no copy. For memory-bound products (few rows): MKL runs a matrix-vector product on one core,
    and one core may not stream the weights at the memory's full speed."""
    out_f, in_f = weight.shape
    rows = x.shape[0]
    h = (out_f + 1) // 2                                            # the second half overlaps by one column when out is odd
    halves = weight.T.as_strided((2, in_f, h), (out_f - h, out_f, 1))   # (2, in, h): columns [0, h) and [out-h, out)
    y = torch.bmm(x.reshape(1, rows, in_f).expand(2, rows, in_f), halves)   # (2, rows, h)
    if 2 * h == out_f:
        return y.transpose(0, 1).reshape(rows, out_f)               # (rows, out) a view when rows == 1
    return torch.cat([y[0], y[1][:, 2 * h - out_f:]], dim=-1)       # (rows, out)


def onednn_linear(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """x (rows, in) @ weight.T by oneDNN's kernel (F.linear where this torch has none)."""
    if _ONEDNN_LINEAR is None:
        return F.linear(x, weight)
    return _ONEDNN_LINEAR(x, weight, None, "none", [], "")


def mv_linear(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """x (1, in) @ weight.T as torch.mv(weight, x): BLAS's matrix-vector call, which some builds
    spread over the threads where the one-row matrix product does not."""
    return torch.mv(weight, x[0]).unsqueeze(0)                      # (1, out)


ROUTES = {"linear": F.linear, "split": split_linear, "onednn": onednn_linear, "mv": mv_linear}
ROUTE_TABLE = calibrate.RouteTable()   # this process's choices, measured as each shape class is met


def routes_for(rows: int, weight: torch.Tensor, x_dtype: torch.dtype, threads: int) -> dict:
    """The routes that can compute this product: name → fn(x (rows, in), weight)."""
    out = {"linear": F.linear}
    if threads >= 2 and weight.shape[0] >= 2 and weight.T.is_contiguous():
        out["split"] = split_linear
    if _ONEDNN_LINEAR is not None and x_dtype == weight.dtype == torch.float32:
        out["onednn"] = onednn_linear
    if rows == 1:
        out["mv"] = mv_linear
    return out


_forced: list[str | None] = []   # routes_forced's stack (benchmarks' A/B and tests)


@contextmanager
def routes_forced(name: str | None):
    """Inside the block every product takes route `name` where it applies (else F.linear);
    None: the measured choice. For A/B benchmarks and tests; not thread-aware."""
    if name is not None and name not in ROUTES:
        raise ValueError(f"unknown route {name!r}: choose from {', '.join(ROUTES)}")
    _forced.append(name)
    try:
        yield
    finally:
        _forced.pop()


def linear(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """x @ weight.T for a weight (out, in): what F.linear computes, x (..., in) → (..., out).

    On a CPU, without autograd, the product takes the route this machine measured fastest for its
    shape class (rows bucket, weight shape, dtype, layout, threads): see rwkv_core/calibrate.py.
    Training (autograd) and GPUs use F.linear."""
    out_f, in_f = weight.shape
    rows = x.numel() // max(in_f, 1)
    if x.device.type != "cpu" or rows == 0 or (torch.is_grad_enabled() and (weight.requires_grad or x.requires_grad)):
        return F.linear(x, weight)
    threads = torch.get_num_threads()
    if _forced and _forced[-1] is not None:
        name = _forced[-1]
        if name not in routes_for(rows, weight, x.dtype, threads):
            name = "linear"
    else:
        top, measured_rows = calibrate.bucket(rows)
        key = (top, out_f, in_f, x.dtype, weight.T.is_contiguous(), threads)   # a calibrate.ShapeClass
        name = ROUTE_TABLE.chosen.get(key) or ROUTE_TABLE.route(
            key, weight, routes_for(measured_rows, weight, x.dtype, threads), measured_rows)
    if name == "linear":
        return F.linear(x, weight)
    return ROUTES[name](x.reshape(rows, in_f), weight).reshape(*x.shape[:-1], out_f)


# --- the WKV over many tokens, in blocks ----------------------------------------------------------

CARRY_GROUP = 8  # blocks per group when carrying the state across blocks (_carry)
WKV_BLOCK = 4  # tokens per block of the parallel WKV: the fastest on a 2-core CPU (T=512, C=768: 16 ms vs 37 ms token by token)


def wkv_parallel(w, u, k, v, aa, bb, pp, *, block: int = WKV_BLOCK):
    """WKV over all T tokens without a Python loop over single tokens: k, v (..., T, C).
    Equal to wkv_sequential up to rounding. Returns wkv (..., T, C) and the final (aa, bb, pp)."""
    T = k.shape[-2]
    if T == 1:
        y, st = wkv_step(w, u, k[..., 0, :], v[..., 0, :], aa, bb, pp)
        return y.unsqueeze(-2), st
    size = min(block, T)
    head = T - T % size
    y, (aa, bb, pp) = _blocks_wkv(w, u, k[..., :head, :], v[..., :head, :], aa, bb, pp, size)
    if head == T:
        return y, (aa, bb, pp)
    y_tail, (aa, bb, pp) = _blocks_wkv(w, u, k[..., head:, :], v[..., head:, :], aa, bb, pp, T - head)
    return torch.cat([y, y_tail], dim=-2), (aa, bb, pp)


def _blocks_wkv(w, u, k, v, aa, bb, pp, block: int):
    """WKV over T = N*block tokens in blocks of `block` tokens, in three vectorised moves:
    1. what each block adds to the state after it, all blocks at once: exponents (block-1-j)w + k_j;
    2. the state carried from block to block (_carry: the same recurrence one level up);
    3. every output at once, as a loop over the offset d = i - j inside a block (`block` small steps):
       token j weighs e^{(d-1)w + k_j} in output i (d >= 1), the token itself e^{u + k_i} (d = 0),
       and the state at the block's start e^{pp + i*w}.
    Every sum is taken relative to its largest exponent p, as in wkv_step. p only rescales
    numerator and denominator alike, so it is computed without gradient."""
    *lead, T, C = k.shape
    N = T // block
    kb = k.reshape(*lead, N, block, C)                         # (..., N, block, C)
    vb = v.reshape(*lead, N, block, C)                         # (..., N, block, C)
    i = torch.arange(block, device=k.device, dtype=k.dtype)[:, None]  # (block, 1) position in the block
    # 1. each block's contribution to the state after it
    ps, a_blk, b_blk = _sums_over_block((block - 1 - i) * w + kb, vb)   # (..., N, C) each
    # 2. the state at the start of every block, and after the last
    (aa0, bb0, pp0), (aa, bb, pp) = _carry(block * w, ps, a_blk, b_blk, aa, bb, pp)
    aa0, bb0, pp0 = aa0.unsqueeze(-2), bb0.unsqueeze(-2), pp0.unsqueeze(-2)   # (..., N, 1, C)
    # 3. outputs: first the largest exponent of each output, then the weighted sums
    state_exp = pp0 + i * w                                    # (..., N, block, C)
    self_exp = u + kb                                          # (..., N, block, C)
    with torch.no_grad():
        p = torch.maximum(state_exp, self_exp)                 # (..., N, block, C)
        for d in range(1, block):
            torch.maximum(p[..., d:, :], kb[..., :block - d, :] + (d - 1) * w, out=p[..., d:, :])
    e = torch.exp(state_exp - p)
    num, den = e * aa0, e * bb0                                # (..., N, block, C)
    e = torch.exp(self_exp - p)
    num, den = num + e * vb, den + e
    for d in range(1, block):                                  # token j = i - d of the same block
        e = torch.exp(kb[..., :block - d, :] + (d - 1) * w - p[..., d:, :])   # (..., N, block-d, C)
        num[..., d:, :] += e * vb[..., :block - d, :]
        den[..., d:, :] += e
    return (num / den).reshape(*lead, T, C), (aa, bb, pp)


def _max_over_block(S: torch.Tensor) -> torch.Tensor:
    """S (..., N, n, C) → its maximum over a block's n tokens, (..., N, C), without gradient.
    n - 1 elementwise maxima of slices: a reduction over a middle dimension is several times
    slower on a CPU."""
    with torch.no_grad():
        m = S[..., 0, :].clone()
        for j in range(1, S.shape[-2]):
            torch.maximum(m, S[..., j, :], out=m)
    return m


def _sums_over_block(S, a, b=None):
    """Sums over each block's n tokens relative to the largest exponent: S (exponents), a, b
    (values; b = 1 when None), each (..., N, n, C). Returns (p, sum of e^{S-p} a, sum of e^{S-p} b),
    each (..., N, C)."""
    p = _max_over_block(S)
    e = torch.exp(S - p.unsqueeze(-2))                         # (..., N, n, C)
    return p, (e * a).sum(-2), (e if b is None else e * b).sum(-2)


def _carry(D, ps, a_blk, b_blk, aa, bb, pp):
    """The state at the start of each of N blocks, and after the last one.

    Block n adds a_blk[n] e^{ps[n]} to the numerator and b_blk[n] e^{ps[n]} to the denominator
    (ps, a_blk, b_blk: (..., N, C)) and the state decays by e^D per block (D = block*w, (C,)): the
    token recurrence one level up. Up to CARRY_GROUP blocks: a loop of decay_and_add. More: the
    blocks in groups, each group summed like a block in _blocks_wkv, this function again for the
    groups' starts, then every block's start inside its group as a loop over the offset d (group
    small steps).
    Returns ((aa, bb, pp) at each block's start, each (..., N, C), the final (aa, bb, pp))."""
    N, group = ps.shape[-2], CARRY_GROUP
    if N <= group:
        starts = []
        for n in range(N):
            starts.append((aa, bb, pp))
            aa, bb, pp = decay_and_add(aa, bb, pp, D, ps[..., n, :], a_blk[..., n, :], b_blk[..., n, :])
        return tuple(torch.stack(torch.broadcast_tensors(*s), dim=-2) for s in zip(*starts)), (aa, bb, pp)
    *lead, _, C = ps.shape
    G, M = group, N // group
    head = M * G
    pg, ag, bg = (t[..., :head, :].reshape(*lead, M, G, C) for t in (ps, a_blk, b_blk))  # (..., M, G, C)
    j = torch.arange(G, device=ps.device, dtype=ps.dtype)[:, None]   # (G, 1) block within its group
    # each group summed at its end (exponents (G-1-j)D + ps_j), then the groups' starts, one level up
    (A0, B0, P0), (aa, bb, pp) = _carry(G * D, *_sums_over_block((G - 1 - j) * D + pg, ag, bg), aa, bb, pp)
    start_exp = P0.unsqueeze(-2) + j * D                       # (..., M, G, C) the group's start state, decayed
    with torch.no_grad():
        p = start_exp.clone()
        for d in range(1, G):
            torch.maximum(p[..., d:, :], pg[..., :G - d, :] + (d - 1) * D, out=p[..., d:, :])
    e = torch.exp(start_exp - p)
    num, den = e * A0.unsqueeze(-2), e * B0.unsqueeze(-2)      # (..., M, G, C)
    for d in range(1, G):                                      # block i - d of the same group
        e = torch.exp(pg[..., :G - d, :] + (d - 1) * D - p[..., d:, :])
        num[..., d:, :] += e * ag[..., :G - d, :]
        den[..., d:, :] += e * bg[..., :G - d, :]
    starts = tuple(t.reshape(*lead, head, C) for t in (num, den, p))
    if head == N:
        return starts, (aa, bb, pp)
    rest, final = _carry(D, ps[..., head:, :], a_blk[..., head:, :], b_blk[..., head:, :], aa, bb, pp)
    return tuple(torch.cat([a, b], dim=-2) for a, b in zip(starts, rest)), final
