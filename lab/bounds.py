"""This machine's own bounds for a model, measured on its weights (python -m lab.bench prints them
beside the engine's speed): how fast it can stream the weights a token reads, and how fast it can
multiply, each by the fastest of the engine's product routes (rwkv_core/fast.py ROUTES). Apart from
rwkv_core/calibrate.py, which fast.py imports to choose its routes: these time fast's routes, so they
sit above both (a benchmark's measurement, not the engine's).
"""
from __future__ import annotations

import concurrent.futures
import statistics
import time

import torch

from rwkv_core import fast


def linear_weights(model) -> tuple[list[list[torch.Tensor]], torch.Tensor]:
    """The weights a token reads through the products: one list per layer, and the head's."""
    layers = [[b.att.receptance, b.att.key, b.att.value, b.att.output, b.ffn.receptance, b.ffn.key, b.ffn.value]
              for b in model.weights.blocks]
    return layers, model.weights.head


def _pass(fn, weights, x_by_in):
    for w in weights:
        fn(x_by_in[w.shape[1]], w)


def stream_seconds(groups: list[list[torch.Tensor]], *, threads: int, rounds: int = 5) -> tuple[float, str]:
    """Seconds for one row to pass through every weight of every group, each group streamed by its
    own thread at the same time (one group: the calling thread) with `threads` torch threads each,
    by the fastest route that applies (median of paired rounds). Returns (seconds, route): the
    products alone, what a one-token pass cannot beat."""
    w0 = groups[0][0]
    x_by_in = {w.shape[1]: torch.randn(1, w.shape[1]).to(w.dtype) for g in groups for w in g}
    names = list(fast.routes_for(1, w0, w0.dtype, threads))
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    secs = {n: [] for n in names}
    pool = concurrent.futures.ThreadPoolExecutor(len(groups)) if len(groups) > 1 else None
    try:
        with torch.inference_mode():
            for r in range(rounds + 1):
                for i in range(len(names)):
                    name = names[(i + r) % len(names)]
                    fn = fast.ROUTES[name]
                    t0 = time.perf_counter()
                    if pool:
                        list(pool.map(lambda g: _pass(fn, g, x_by_in), groups))
                    else:
                        _pass(fn, groups[0], x_by_in)
                    if r:
                        secs[name].append(time.perf_counter() - t0)
    finally:
        torch.set_num_threads(before)
        if pool:
            pool.shutdown()
    best = min(names, key=lambda n: statistics.median(secs[n]))
    return statistics.median(secs[best]), best


def matmul_gflops(weight: torch.Tensor, rows: int = 512, rounds: int = 5) -> tuple[float, str]:
    """GFLOP/s of x (rows, in) @ weight.T by the fastest route (median of paired rounds)."""
    x = torch.randn(rows, weight.shape[1]).to(weight.dtype)
    names = [n for n in fast.routes_for(rows, weight, weight.dtype, torch.get_num_threads())]
    secs = {n: [] for n in names}
    with torch.inference_mode():
        for r in range(rounds + 1):
            for i in range(len(names)):
                name = names[(i + r) % len(names)]
                t0 = time.perf_counter()
                fast.ROUTES[name](x, weight)
                if r:
                    secs[name].append(time.perf_counter() - t0)
    best = min(names, key=lambda n: statistics.median(secs[n]))
    return 2 * rows * weight.numel() / statistics.median(secs[best]) / 1e9, best


def machine_bounds(model, *, workers: int = 2, rounds: int = 5) -> dict:
    """This machine's bounds for this model, from its own weights:

    decode    tokens/s if a token took only the time to stream every weight once (layers and head)
              through the fastest matrix-vector route with torch's threads: bytes / bandwidth
    prefill   tokens/s if a prompt's products ran at the fastest large product's GFLOP/s
              (512 rows x the channel-mix key weight): 2 x weights' elements per token / GFLOP/s
    cascade   tokens/s if `workers` workers (one torch thread each, a contiguous layer group each,
              as run_plan's pipeline) streamed their layers' weights at the same time, and rnn's
              counterpart: one stream of the layers with torch's threads. The cascade's speedup over
              rnn is bounded by cascade / (rnn's measured tokens/s).
    """
    layers, head_w = linear_weights(model)
    flat = [w for layer in layers for w in layer]
    nbytes = lambda ws: sum(w.numel() * w.element_size() for w in ws)   # noqa: E731
    threads = torch.get_num_threads()
    all_s, route = stream_seconds([flat + [head_w]], threads=threads, rounds=rounds)
    layers_s, _ = stream_seconds([flat], threads=threads, rounds=rounds)
    L = len(layers)
    groups = [[w for l in range(L) if min(l * workers // L, workers - 1) == g for w in layers[l]]
              for g in range(workers)]
    one_s, _ = stream_seconds([flat], threads=1, rounds=rounds)
    many_s, _ = stream_seconds(groups, threads=1, rounds=rounds)
    gflops, mm_route = matmul_gflops(layers[0][5], rounds=rounds)
    flops_per_token = 2 * sum(w.numel() for w in flat)
    return {"threads": threads, "workers": workers, "bytes_per_token": nbytes(flat + [head_w]),
            "layer_bytes_per_token": nbytes(flat),
            "gbps": nbytes(flat + [head_w]) / all_s / 1e9, "gbps_route": route,
            "decode_bound_tok_s": 1 / all_s,
            "gflops": gflops, "gflops_route": mm_route, "flops_per_token": flops_per_token,
            "prefill_bound_tok_s": gflops * 1e9 / flops_per_token,
            "rnn_bound_tok_s": 1 / layers_s, "gbps_layers": nbytes(flat) / layers_s / 1e9,
            "gbps_1_worker": nbytes(flat) / one_s / 1e9, f"gbps_{workers}_workers": nbytes(flat) / many_s / 1e9,
            "cascade_bound_tok_s": 1 / many_s}
