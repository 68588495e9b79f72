"""Bad checkpoint paths against a real server: what the user sees, and the server's memory meanwhile.

    python scripts/bad_inputs.py                        # typed paths not limited (RWKV_LOCAL_PATHS=any)
    python scripts/bad_inputs.py --local-paths models   # as a classroom server: only the models folder
    python scripts/bad_inputs.py [--local-paths models] --json docs/deploy/bad_inputs.json

starts the app as the README does (`streamlit run app/streamlit_app.py`), bound to 127.0.0.1 on a
free port, opens the Explorer in one session over Streamlit's own protocol (scripts/st_client.py)
and steps once. Then, for each bad input, it types the path into the sidebar and presses Load,
sampling the server's resident memory (/proc/PID/status) every 5 ms, and checks that the session
survived: no exception, one message, the token count kept, and a Step that still adds a token.
It prints a table (input, seconds, the message, kept) and the server's idle and peak memory.
With --json it writes them too, as the record of this mode (--local-paths) in that file (a file
holds one record per mode; a run replaces its own mode's and keeps the other's), with the
command, the CPU, the date and the machine's load average before and after.

Nothing but 127.0.0.1 is contacted; the server is stopped at the end.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import sys
import tempfile
import time
from pathlib import Path

from scripts.load_test import Sampler, n_tokens, rss_mib
from scripts.st_client import Tab, conditions, free_port, load_average, start_server, stop_server

SAMPLE_S = 0.005


def bad_inputs(folder: Path) -> dict[str, str]:
    """What a careless or hostile student might type: name -> path."""
    (folder / "notes.pth").write_text("Dear students,\nthis is not a model.\n" * 20)
    (folder / "model.pth").symlink_to("/dev/zero")
    os.mkfifo(folder / "pipe.pth")
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(folder / "sock.pth"))
    s.close()
    with open(folder / "big.safetensors", "wb") as f:
        f.truncate(5 * 1024 ** 3)                        # 5 GB of nothing (a sparse file)
    (folder / "evil.pth").write_bytes(b"\x80\x02cposix\nsystem\n" + b"garbage" * 20)   # GLOBAL posix.system
    return {"/dev/zero": "/dev/zero", "/dev/urandom": "/dev/urandom", "a link to /dev/zero": str(folder / "model.pth"),
            "a named pipe": str(folder / "pipe.pth"), "a socket": str(folder / "sock.pth"),
            "/proc/self/environ": "/proc/self/environ", "/etc/passwd": "/etc/passwd",
            "a text file renamed .pth": str(folder / "notes.pth"), "a 5 GB file": str(folder / "big.safetensors"),
            "a pickle calling posix.system": str(folder / "evil.pth"), "~": "~", "/": "/", "models": "models",
            "../../etc/passwd": "../../etc/passwd", "a missing file": str(folder / "nope.pth")}


async def walk(port: int, inputs: dict[str, str], pid: int) -> list[dict]:
    rows = []
    async with Tab(port) as tab:
        await tab.open("explorer")
        run = await tab.click("ex_step")
        tokens = n_tokens(run)
        tab.set("picker_source", string_value="Local checkpoint path")
        await tab.rerun()
        for name, path in inputs.items():
            sampler = Sampler(pid, every=SAMPLE_S)
            sampler.start()
            tab.set("picker_path", string_value=path)
            start = time.perf_counter()
            run = await tab.click("picker_load_path")
            seconds = time.perf_counter() - start
            sampler.stop.set()
            sampler.join()
            errors = [body for kind, body in run.alerts if kind == "error"]
            kept = not run.exceptions and len(errors) == 1 and n_tokens(run) == tokens
            after = await tab.click("ex_step")
            stepped = not after.exceptions and n_tokens(after) == tokens + 1
            tokens = n_tokens(after) or tokens
            rows.append({"input": name, "seconds": seconds, "message": errors[0] if errors else run.exceptions,
                         "kept": kept and stepped, "peak_rss": max(sampler.rss, default=float("nan"))})
    return rows


def plain(markdown: str) -> str:
    """The message as the user reads it (the app backslash-escapes Markdown characters)."""
    return re.sub(r"\\(.)", r"\1", markdown) if isinstance(markdown, str) else str(markdown)


def record(cond: dict, mode: str, idle: float, rows: list[dict], alive: bool) -> dict:
    """One mode's record for the JSON: the conditions, the idle RSS and each input's figures."""
    return {**cond, "load_after": load_average(), "local_paths": mode, "idle_rss_mib": round(idle, 1),
            "server_alive": alive, "largest_rise_mib": round(max(r["peak_rss"] for r in rows) - idle, 1),
            "inputs": [{"input": r["input"], "seconds": round(r["seconds"], 3),
                        "peak_rss_mib": round(r["peak_rss"], 1), "change_mib": round(r["peak_rss"] - idle, 1),
                        "message": plain(r["message"]), "kept": r["kept"]} for r in rows]}


def write_json(path: Path, rec: dict) -> None:
    """Put this mode's record in the file, keeping the other mode's record if the file has one."""
    data = json.loads(path.read_text()) if path.exists() else {}
    modes = {**data.get("modes", {}), rec["local_paths"]: rec}
    data = {"what": "bad checkpoint paths typed into the sidebar of a real server, one session (scripts/bad_inputs.py): "
                    "seconds per Load, the server's RSS peak sampled every 5 ms and its change from idle, the "
                    "message the user read, and whether the session kept its tokens and could still step",
            "modes": dict(sorted(modes.items()))}
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--local-paths", choices=["any", "models"], default="any",
                    help="the server's RWKV_LOCAL_PATHS (any: nothing limited, the worst case)")
    ap.add_argument("--json", type=Path, help="also write this mode's record into this file (one record per mode)")
    args = ap.parse_args(argv)
    cond = conditions("bad_inputs.py", argv)                # the command, the CPU, the load before
    folder = Path(tempfile.mkdtemp(prefix="rwkv-bad-"))
    inputs = bad_inputs(folder)
    port = free_port()
    server = start_server(port, folder / "server.log", env={"RWKV_LOCAL_PATHS": args.local_paths})
    try:
        asyncio.run(asyncio.wait_for(walk(port, {"(warm-up)": "/etc/hostname"}, server.pid), 300))
        time.sleep(1)
        idle = rss_mib(server.pid)
        rows = asyncio.run(asyncio.wait_for(walk(port, inputs, server.pid), 600))
        alive = server.poll() is None
    finally:
        stop_server(server)
    print(f"server: RWKV_LOCAL_PATHS={args.local_paths}, idle RSS {idle:.0f} MiB (after one session's warm-up)\n")
    print("| input | seconds | server RSS peak (MiB, over idle) | what the user sees | session kept |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['input']} | {r['seconds']:.2f} | {r['peak_rss']:.0f} ({r['peak_rss'] - idle:+.0f}) | "
              f"{plain(r['message'])} | {'yes' if r['kept'] else 'NO'} |")
    worst = max(r["peak_rss"] for r in rows) - idle
    print(f"\nlargest rise over idle: {worst:.0f} MiB; server alive at the end: {alive}")
    rec = record(cond, args.local_paths, idle, rows, alive)
    print(f"{rec['date']}, {rec['cpu']}; load average before {rec['load_before']}, after {rec['load_after']}")
    if args.json:
        write_json(args.json, rec)
    return 0 if alive and all(r["kept"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
