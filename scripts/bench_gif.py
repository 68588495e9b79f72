"""Size and build time of the Scheduling Lab's GIF export (visuals/export.py), as the Lab makes it:
the loaded kind's three schedules side by side, at most 120 frames.

    python scripts/bench_gif.py                      # 6 layers x 128 tokens, cascade chunk 16
    python scripts/bench_gif.py --layers 12 --tokens 512 --chunk 64 --repeat 3

Prints the CPU, the GIF's size and the seconds each build took (the target: <= 500 KiB, <= 2 s), as
wall-clock and as this process's CPU time: on a machine shared with other work the wall-clock grows
with the load, the CPU time much less, so the two together say what an idle machine would take.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

from rwkv_core.schedule import plan
from rwkv_core.timing import cpu_model
from visuals import export


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--chunk", type=int, default=16)
    ap.add_argument("--max-frames", type=int, default=120)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, help="write the GIF here")
    a = ap.parse_args(argv)
    plans = [plan("rnn", n_layer=a.layers, n_tokens=a.tokens), plan("cascade", n_layer=a.layers, n_tokens=a.tokens,
                                                                    chunk=a.chunk),
             plan("parallel", n_layer=a.layers, n_tokens=a.tokens)]
    seconds, cpu = [], []
    for _ in range(a.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        gif = export.schedule_gif(plans, max_frames=a.max_frames)
        seconds.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    if a.out:
        a.out.write_bytes(gif)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"CPU: {cpu_model()} ({platform.machine()}), {os.cpu_count()} cores, load average {load:.1f}")
    print(f"GIF {a.layers} layers x {a.tokens} tokens, chunk {a.chunk}, {a.max_frames} frames at most: "
          f"{len(gif) / 1024:,.0f} KiB; build median of {a.repeat}: {statistics.median(seconds):.2f} s wall "
          f"(" + ", ".join(f"{s:.2f}" for s in seconds) + f"), {statistics.median(cpu):.2f} s CPU "
          f"(" + ", ".join(f"{s:.2f}" for s in cpu) + ")")


if __name__ == "__main__":
    main()
