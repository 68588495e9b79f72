"""Warm fresh app processes before a class arrives: each opens the Explorer once, as a first student
would, so that the imports (torch, the app), the embedded model's load and its route calibration are
done before the class opens the app at the same moment.

    python -m scripts.warm 127.0.0.1:8501 127.0.0.1:8502      # scripts/serve_class.sh runs this

On a fresh process the first page waits for all of that (3.4 s, the fastest of 60 first pages through
two fresh replicas, scripts/load_test.py --replicas 2, 2-core AMD EPYC), and every other first page
waits for the first (app/turns.py). Speaks Streamlit's own websocket protocol (scripts/st_client.py,
through the websockets package, a dependency of Streamlit: a classroom server needs nothing more);
loopback addresses only.
"""
from __future__ import annotations

import asyncio
import sys

from scripts.st_client import LOOPBACK, Tab

PAGE = "explorer"
TIMEOUT_S = 300


async def warm(address: str, page: str = PAGE) -> float:
    """Open `page` once on the app at 127.0.0.1:PORT; the seconds it took. RuntimeError if the run failed."""
    host, _, port = address.rpartition(":")
    if host != LOOPBACK or not port.isdigit():
        raise ValueError(f"warm only a replica on this machine ({LOOPBACK}:PORT), not {address!r}")
    async with Tab(int(port)) as tab:
        run = await tab.open(page)
    if not run.ok:
        raise RuntimeError(f"{address}: the page finished with status {run.status}"
                           + (f" ({run.exceptions[0]})" if run.exceptions else ""))
    return run.seconds


async def warm_all(addresses: list[str]) -> list[float]:
    return await asyncio.wait_for(asyncio.gather(*(warm(a) for a in addresses)), TIMEOUT_S)


def main(argv: list[str] | None = None) -> int:
    addresses = sys.argv[1:] if argv is None else argv
    if not addresses:
        print("usage: python -m scripts.warm HOST:PORT [HOST:PORT ...]", file=sys.stderr)
        return 2
    try:
        seconds = asyncio.run(warm_all(addresses))
    except (OSError, RuntimeError, ValueError, asyncio.TimeoutError) as e:
        print(f"warm-up failed: {e or type(e).__name__}", file=sys.stderr)
        return 1
    print("warmed " + ", ".join(f"{a} ({s:.1f} s)" for a, s in zip(addresses, seconds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
