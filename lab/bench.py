"""Benchmark: our engine beside BlinkDL's `rwkv` package on the same random weights.

    python -m lab.bench                 # the 169M shape (12 x 768, vocab 50277) on the CPU
    python -m lab.bench --device cuda --json docs/bench/cuda.json

Prints one table: RNN decode tokens/s (one token per call, state carried), parallel prefill
tokens/s (last logits only) at several lengths, the cascade at several chunk sizes, rnn over a
whole prompt, and the `rwkv` package's decode and prefill in the same run, with the ratios.
Decode and prefill are measured in rounds that alternate ours and the package's (after warm-up
calls of both), so that both see the same machine: the table gives each side's median over the
rounds and the median of the per-round ratios, with their range.
Beside the ratios it prints this machine's own bounds, measured on the model's weights
(lab/bounds.py machine_bounds): the decode bound (bytes a token reads / the fastest matrix-vector
bandwidth), the prefill bound (a token's multiply-adds / the fastest large product's GFLOP/s), the
concurrent cascade's bound (workers streaming their layers at the same time), and the fraction of
each reached. --ab times decode and prefill with every product forced onto one route (paired,
interleaved rounds in one process), beside the measured choice; the route table is printed last.
A benchmark, not a test: figures depend on the machine and on what else it is doing.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from lab import bench_record
from lab.bounds import machine_bounds
from lab.factory import random_state_dict
from rwkv_core import calibrate, fast
from rwkv_core.config import Config
from rwkv_core.timing import device_name

SHAPE_169M = Config(n_layer=12, n_embd=768, n_ffn=3072, vocab_size=50277)


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def seconds(fn, device) -> float:
    """Wall time of one call, the device synchronised before and after."""
    _sync(device)
    t0 = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - t0


def timeit(fn, device, repeat: int = 3) -> float:
    """Median seconds of `repeat` calls, after one warm-up call."""
    fn()
    return statistics.median(seconds(fn, device) for _ in range(repeat))


def load_package(sd, device, package_cuda: bool = False):
    """BlinkDL's `rwkv` package on the same weights (its CUDA kernel off unless asked), or None
    when it is not installed."""
    os.environ.setdefault("RWKV_JIT_ON", "1")
    os.environ["RWKV_CUDA_ON"] = "1" if package_cuda else "0"
    try:
        from rwkv.model import RWKV as PkgRWKV
    except ImportError:
        return None, None
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "bench.pth"
        torch.save(sd, path)
        strategy = f"{'cuda' if torch.device(device).type == 'cuda' else 'cpu'} fp32"
        return PkgRWKV(model=str(path), strategy=strategy, verbose=False), strategy


def workloads(model, pkg, args, tokens) -> dict:
    """name → (tokens per call, our call, the package's call or None): decode and prefill."""
    n = args.decode_tokens
    _, state = model.forward(tokens[:8], mode="parallel", all_logits=False)
    pkg_state = pkg.forward(tokens[:8], None)[1] if pkg else None

    def decode_ours():
        st = state
        for t in tokens[:n]:
            _, st = model.forward([t], st, all_logits=False)

    def decode_pkg():
        st = [s.clone() for s in pkg_state]
        for t in tokens[:n]:
            _, st = pkg.forward([t], st)

    out = {"decode": (n, decode_ours, decode_pkg if pkg else None)}
    for T in args.prefill:
        out[f"prefill_{T}"] = (T, lambda T=T: model.forward(tokens[:T], mode="parallel", all_logits=False),
                               (lambda T=T: pkg.forward(tokens[:T], None)) if pkg else None)
    return out


def paired(n_tokens: int, ours, theirs, device, rounds: int, warmup: int = 2) -> dict:
    """Tokens/s of ours and theirs, measured in alternating rounds after warm-up calls of both."""
    for _ in range(warmup):
        ours()
        if theirs:
            theirs()
    a, b = [], []
    for _ in range(rounds):
        a.append(n_tokens / seconds(ours, device))
        if theirs:
            b.append(n_tokens / seconds(theirs, device))
    row = {"ours": statistics.median(a), "ours_rounds": a}
    if theirs:
        ratios = [x / y for x, y in zip(a, b)]
        row.update(pkg=statistics.median(b), pkg_rounds=b, ratio=statistics.median(ratios),
                   ratio_min=min(ratios), ratio_max=max(ratios))
    return row


def ab_routes(model, args, tokens, policies=("auto", "linear", "split", "onednn", "mv")) -> dict:
    """Decode and prefill with every product forced onto one route (where it applies; F.linear
    elsewhere), and with the measured choice ("auto"), in paired rounds that alternate the
    policies in a rotating order. Returns {workload: {policy: tokens/s median, ...}} with each
    policy's median per-round ratio to "linear"."""
    work = {k: v for k, v in workloads(model, None, args, tokens).items()
            if k == "decode" or k == f"prefill_{args.ab_prefill}"}
    if f"prefill_{args.ab_prefill}" not in work:
        T = args.ab_prefill
        work[f"prefill_{T}"] = (T, lambda: model.forward(tokens[:T], mode="parallel", all_logits=False), None)
    out = {}
    for name, (n, fn, _) in work.items():
        rates = {p: [] for p in policies}
        for r in range(args.ab_rounds + 1):                       # round 0 warms up every policy
            for i in range(len(policies)):
                p = policies[(i + r) % len(policies)]
                with fast.routes_forced(None if p == "auto" else p):
                    t = seconds(fn, model.device)
                if r:
                    rates[p].append(n / t)
        out[name] = {p: {"tok_s": statistics.median(v),
                         "vs_linear": statistics.median(a / b for a, b in zip(v, rates["linear"]))}
                     for p, v in rates.items()}
    return out


def call_overhead(model, args, tokens) -> dict:
    """A one-token forward call per token (decode) against the same tokens inside one rnn call that
    also computes every token's logits: the same arithmetic, so the difference is the per-call cost.
    Paired, alternating rounds; returns both medians (ms per token) and the median ratio."""
    n = args.decode_tokens
    _, state = model.forward(tokens[:8], mode="parallel", all_logits=False)

    def per_call():
        st = state
        for t in tokens[:n]:
            _, st = model.forward([t], st)

    def one_call():
        model.forward(tokens[:n], state, mode="rnn")

    row = paired(n, per_call, one_call, model.device, args.rounds)
    return {"per_call_ms": 1000 / row["ours"], "in_one_call_ms": 1000 / row["pkg"], "ratio": 1 / row["ratio"],
            "ratio_min": 1 / row["ratio_max"], "ratio_max": 1 / row["ratio_min"]}


def bench_ours(model, args, tokens) -> dict:
    """Our cascade and rnn runs (decode and prefill are measured beside the package, in paired)."""
    dev = model.device
    out = {}
    T = args.cascade_tokens
    for c in args.chunks:
        out[f"cascade_{T}_chunk{c}_tok_s"] = T / timeit(
            lambda: model.forward(tokens[:T], mode="cascade", chunk=c, all_logits=False), dev, repeat=1)
    for T in args.rnn_tokens:
        out[f"rnn_{T}_tok_s"] = T / timeit(lambda: model.forward(tokens[:T], mode="rnn", all_logits=False), dev,
                                           repeat=1)
    return out


def bench_concurrent(model, args, tokens) -> list[dict]:
    """The cascade run concurrently (layer groups as a pipeline) against one worker, and against
    rnn, at each chunk size; with the ideal pipeline speedup S*N/(N+S-1) for S stages, N chunks."""
    dev, T, S = model.device, args.cascade_tokens, args.workers
    x = tokens[:T]
    rnn = timeit(lambda: model.forward(x, mode="rnn", all_logits=False), dev, repeat=1)
    rows = []
    for c in args.chunks:
        one = timeit(lambda: model.forward(x, mode="cascade", chunk=c, all_logits=False), dev, repeat=1)
        many = timeit(lambda: model.forward(x, mode="cascade", chunk=c, all_logits=False, workers=S), dev, repeat=1)
        n = -(-T // c)
        rows.append({"chunk": c, "n_tokens": T, "workers": S, "rnn_s": rnn, "rnn_tok_s": T / rnn,
                     f"cascade_{S}_workers_tok_s": T / many, "cascade_1_worker_s": one,
                     f"cascade_{S}_workers_s": many, "speedup_vs_1_worker": one / many, "speedup_vs_rnn": rnn / many,
                     "ideal_speedup": S * n / (n + S - 1)})
    return rows


def scaling_rows(model, args, tokens) -> list[dict]:
    """Benchmark record rows (lab/bench_record.py) for the scheduling lab's charts."""
    dev, rows = model.device, []
    for T in args.scaling:
        x = tokens[:T]
        runs = [("parallel", None, None)] + [("cascade", c, None) for c in args.chunks]
        runs += [("cascade", 1, args.workers)] if args.workers > 1 else []
        runs += [("rnn", None, None)] if T <= args.scaling_rnn_max else []
        for mode, chunk, workers in runs:
            seconds = timeit(lambda: model.forward(x, mode=mode, chunk=chunk, all_logits=False,
                                                   workers=workers or 1), dev, repeat=1)
            rows.append(bench_record.row(mode, chunk, T, seconds, workers))
    return rows


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description="engine benchmark (see module docstring)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    p.add_argument("--layers", type=int, default=SHAPE_169M.n_layer)
    p.add_argument("--width", type=int, default=SHAPE_169M.n_embd)
    p.add_argument("--vocab", type=int, default=SHAPE_169M.vocab_size)
    p.add_argument("--prefill", type=int, nargs="+", default=[64, 256, 512, 1024])
    p.add_argument("--chunks", type=int, nargs="+", default=[1, 16, 64])
    p.add_argument("--cascade-tokens", type=int, default=256)
    p.add_argument("--rnn-tokens", type=int, nargs="+", default=[512], help="lengths of the rnn runs")
    p.add_argument("--decode-tokens", type=int, default=32)
    p.add_argument("--rounds", type=int, default=7, help="alternating rounds of ours and the package's")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    p.add_argument("--no-package", action="store_true", help="skip BlinkDL's rwkv package")
    p.add_argument("--package-cuda", action="store_true", help="let the rwkv package build its CUDA kernel")
    p.add_argument("--workers", type=int, default=2, help="workers for the concurrent cascade (1 = skip)")
    p.add_argument("--scaling", type=int, nargs="*", default=None,
                   help="lengths for the scheduling lab's scaling chart, e.g. 16 64 256 1024")
    p.add_argument("--scaling-rnn-max", type=int, default=256, help="longest rnn run in the scaling chart")
    p.add_argument("--scaling-json", default=None, help="write the scaling rows here (docs/bench layout)")
    p.add_argument("--no-bounds", action="store_true", help="skip measuring this machine's bounds")
    p.add_argument("--ab", action="store_true", help="A/B: decode and prefill with each route forced")
    p.add_argument("--ab-prefill", type=int, default=512, help="prompt length of the A/B's prefill")
    p.add_argument("--ab-rounds", type=int, default=5, help="paired rounds of the A/B")
    p.add_argument("--json", default=None, help="also write the figures to this file")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    import rwkv_core
    cfg = Config(args.layers, args.width, 4 * args.width, args.vocab)
    sd = random_state_dict(cfg, profile="trained")    # plausible values: decays in the trained range
    model = rwkv_core.from_state_dict(sd, device=args.device, dtype=getattr(torch, args.dtype))
    g = torch.Generator().manual_seed(1)
    tokens = torch.randint(0, cfg.vocab_size, (max(args.prefill + args.rnn_tokens + [args.cascade_tokens]
                                                    + (args.scaling or [])),), generator=g).tolist()
    result = {"device": device_name(args.device), "torch": torch.__version__, "dtype": args.dtype,
              "threads": torch.get_num_threads(),
              "shape": {**bench_record.shape(cfg), "params": cfg.n_params}}
    pkg, strategy = (None, None) if args.no_package or args.dtype != "float32" else \
        load_package(sd, args.device, args.package_cuda)
    result["paired"] = {name: paired(n, ours, theirs, model.device, args.rounds)
                        for name, (n, ours, theirs) in workloads(model, pkg, args, tokens).items()}
    result["rwkv_package"] = {"strategy": strategy, "cuda_kernel": args.package_cuda} if pkg else None
    del pkg
    result["call_overhead"] = call_overhead(model, args, tokens)
    if not args.no_bounds and model.device.type == "cpu":
        result["bounds"] = machine_bounds(model, workers=max(2, args.workers))
    if args.ab:
        result["ab"] = ab_routes(model, args, tokens)
    result["ours"] = bench_ours(model, args, tokens)
    for T in args.rnn_tokens:
        if f"prefill_{T}" in result["paired"]:
            result["ours"][f"parallel_over_rnn_{T}"] = (result["paired"][f"prefill_{T}"]["ours"]
                                                        / result["ours"][f"rnn_{T}_tok_s"])
    if args.workers > 1:
        result["concurrent_cascade"] = bench_concurrent(model, args, tokens)
    if args.scaling:
        result["scaling"] = bench_record.record(device=result["device"], config=cfg, dtype=args.dtype,
                                                model="random weights",
                                                note="python -m lab.bench, one warm run each",
                                                rows=scaling_rows(model, args, tokens))
        if args.scaling_json:
            bench_record.write(args.scaling_json, result["scaling"])
    result["routes"] = [{"shape_class": str(k), "route": name, "vs_linear": r, "failed": failed}
                        for k, name, r, failed in fast.ROUTE_TABLE.report()]
    del model
    print_table(result)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1))
    return result


def print_table(r: dict) -> None:
    s = r["shape"]
    threads = "" if "threads" in r["device"] else f"{r['threads']} threads   "
    print(f"device: {r['device']}   torch {r['torch']}   {r['dtype']}   {threads}shape "
          f"{s['n_layer']} x {s['n_embd']}, vocab {s['vocab_size']} ({s['params'] / 1e6:.0f}M params)")
    pkg = r.get("rwkv_package")
    rounds = len(next(iter(r["paired"].values()))["ours_rounds"])
    print(f"\ntokens/s, median of {rounds} rounds alternating ours and the package"
          + (f" ({pkg['strategy']})" if pkg else "") + "; ratio: median (range) of the rounds' ratios")
    print(f"{'measure':14s} {'ours':>9s} {'rwkv pkg':>9s}  {'ours/pkg':>8s}")
    for name, row in r["paired"].items():
        if "pkg" in row:
            print(f"{name:14s} {row['ours']:9.1f} {row['pkg']:9.1f}  {row['ratio']:7.2f}x "
                  f"({row['ratio_min']:.2f}-{row['ratio_max']:.2f})")
        else:
            print(f"{name:14s} {row['ours']:9.1f}")
    if r.get("bounds"):
        print_bounds(r)
    o = r.get("call_overhead")
    if o:
        print(f"\none-token forward call: {o['per_call_ms']:.2f} ms a token, against {o['in_one_call_ms']:.2f} ms inside "
              f"one rnn call with every token's logits: {o['ratio']:.2f}x ({o['ratio_min']:.2f}-{o['ratio_max']:.2f})")
    print("\nours, one warm run each:")
    for key, value in r["ours"].items():
        if key.startswith("parallel_over"):
            print(f"parallel / rnn at {key.rsplit('_', 1)[1]} tokens: {value:.1f}x")
        else:
            print(f"{key.replace('_tok_s', ' (tokens/s)'):34s} {value:10.1f}")
    if r.get("concurrent_cascade"):
        rows = r["concurrent_cascade"]
        S = rows[0]["workers"]
        print(f"\nconcurrent cascade, {rows[0]['n_tokens']} tokens, {S} workers (layer groups as a pipeline):")
        print(f"{'chunk':>6s} {'rnn s':>8s} {'1 worker s':>11s} {f'{S} workers s':>12s} {'vs 1 worker':>12s} "
              f"{'ideal':>6s} {'vs rnn':>7s}")
        for row in rows:
            print(f"{row['chunk']:6d} {row['rnn_s']:8.2f} {row['cascade_1_worker_s']:11.2f} "
                  f"{row[f'cascade_{S}_workers_s']:12.2f} {row['speedup_vs_1_worker']:11.2f}x "
                  f"{row['ideal_speedup']:5.2f}x {row['speedup_vs_rnn']:6.2f}x")
        b = r.get("bounds")
        for row in (x for x in rows if x["chunk"] == 1 and b and b["workers"] == S):
            bound = cascade_bound(b, row)
            got = row[f"cascade_{S}_workers_tok_s"]
            print(f"chunk 1 bound: {S} workers streaming their layers at once, {b[f'gbps_{S}_workers']:.1f} GB/s "
                  f"(one worker alone {b['gbps_1_worker']:.1f}) -> {bound:.1f} tokens/s; reached {got:.1f} = "
                  f"{got / bound:.0%}; speedup over rnn {row['speedup_vs_rnn']:.2f}x, bound "
                  f"{bound / row['rnn_tok_s']:.2f}x")
            print(f"(rnn: {row['rnn_tok_s']:.1f} tokens/s = {row['rnn_tok_s'] / b['rnn_bound_tok_s']:.0%} of its own "
                  f"bound, {b['rnn_bound_tok_s']:.1f}: the layers at {b['gbps_layers']:.1f} GB/s)")
    if r.get("ab"):
        print_ab(r["ab"])
    if r.get("routes"):
        print("\nthe products' routes on this machine (rwkv_core/calibrate.py), per shape class met:")
        print(calibrate.format_report([(x["shape_class"], x["route"], x["vs_linear"], x["failed"])
                                       for x in r["routes"]]))


def cascade_bound(bounds: dict, row: dict) -> float:
    """The concurrent cascade's bound at chunk 1 in tokens/s: the workers' concurrent streaming
    rate, times the pipeline's fill (N tokens through S stages take N + S - 1 steps)."""
    n, S = row["n_tokens"], row["workers"]
    return bounds["cascade_bound_tok_s"] * n / (n + S - 1)


def print_bounds(r: dict) -> None:
    b = r["bounds"]
    print(f"\nthis machine's bounds, measured on the model's weights ({b['threads']} threads; median of paired rounds):")
    print(f"matrix-vector {b['gbps']:5.1f} GB/s ({b['gbps_route']}) -> decode bound {b['decode_bound_tok_s']:6.1f} "
          f"tokens/s ({b['bytes_per_token'] / 1e6:.0f} MB a token)")
    print(f"matrix product {b['gflops']:4.0f} GFLOP/s ({b['gflops_route']}, 512 rows) -> prefill bound "
          f"{b['prefill_bound_tok_s']:6.1f} tokens/s ({b['flops_per_token'] / 1e6:.0f} MFLOP a token)")
    for name, row in r["paired"].items():
        bound = b["decode_bound_tok_s"] if name == "decode" else b["prefill_bound_tok_s"]
        pkg = f", the package {row['pkg'] / bound:.0%}" if "pkg" in row else ""
        print(f"  {name:14s} ours {row['ours']:7.1f} = {row['ours'] / bound:4.0%} of its bound{pkg}")


def print_ab(ab: dict) -> None:
    print("\nA/B: every product forced onto one route (F.linear where it does not apply), paired rounds; "
          "tokens/s, and the median per-round ratio to all-F.linear")
    for name, rows in ab.items():
        print(f"  {name:12s} " + "   ".join(f"{p} {v['tok_s']:.1f} ({v['vs_linear']:.2f}x)" for p, v in rows.items()))


if __name__ == "__main__":
    main(sys.argv[1:])
