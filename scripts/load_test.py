"""Classroom load: N students open the app at once and walk the Explorer, each in their own session.

    python scripts/load_test.py --sessions 30 --think 5 [--json docs/deploy/load_30.json]
    python scripts/load_test.py --sessions 60 --replicas 2 --json docs/deploy/load_60.json

starts the app as the README does (`streamlit run app/streamlit_app.py`), bound to 127.0.0.1 on a
free port, or with --replicas N the classroom deployment (scripts/serve_class.sh: nginx in front of N
app processes, each student pinned to one by the cookie nginx gives it), and drives N light clients (scripts/st_client.py: the server's own websocket protocol,
no browser, but asking what a browser asks: compressed frames, cached messages sent back as
references, a click inside an st.fragment rerunning only that fragment) through the Explorer flow,
all starting together:

    open        open the Explorer (the first visit: every client at the same moment)
    prompt      type a prompt of its own and press "Read the prompt"
    step        press "Step", 10 times (each checked: one more token, and only this session's)
    temperature move the temperature slider (re-samples the cached logits; its fragment only)
    open lab    open the Scheduling Lab
    return      (with --walks N > 1) back to the Explorer, and the walk again from "prompt"

with a pause between actions (a student reading: uniform in [0.5, 1.5] x --think seconds). Each
action is timed from sending its message to the server's `script_finished`. It prints per action
the median and 95th percentile, the errors (exceptions, failed runs, wrong token counts,
timeouts, dropped connections), and the server's resident memory and CPU, read from /proc (with
replicas: of all the app processes together, and how the students spread over them).
With --json it also writes them, with the command, the CPU, the date and the machine's load
average before and after (the machine may be shared: the load says with how much).

Bounded: at most 60 sessions, each action gives up after 120 s, the whole run after --timeout
seconds; then the server is stopped. Nothing but 127.0.0.1 is ever contacted.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from scripts.st_client import Tab, conditions, free_port, load_average, start_server, sticky_cookie, stop_server

MAX_SESSIONS = 60
N_STEPS = 10
ACTIONS = ("open", "prompt", "step", "temperature", "open lab", "return")
PROMPTS = ["ROMEO: But soft, what light", "To be, or not to be", "Friends, Romans, countrymen",
           "Now is the winter of our discontent", "All the world's a stage", "O Romeo, Romeo!",
           "Shall I compare thee", "The quality of mercy"]
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- the server, seen from /proc ---------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (its own threads; the server runs in one process)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK       # utime, stime (fields 14, 15 of stat)


def machine_busy_seconds() -> float:
    """CPU seconds all processes have spent busy since boot (/proc/stat), to see what else ran."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def app_pids(ports: list[int]) -> list[int]:
    """The app processes listening on these ports (the replicas serve_class.sh started), from /proc."""
    want = {str(p) for p in ports}
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            args = (d / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [a.decode(errors="replace") for a in args]
        if "run" in words and any(w.endswith("streamlit_app.py") for w in words) and "--server.port" in words \
                and words[words.index("--server.port") + 1] in want:
            pids.append(int(d.name))
    return sorted(pids)


class Sampler(threading.Thread):
    """Samples the server's RSS and CPU (all its app processes together) every `every` seconds."""

    def __init__(self, pids: list[int], every: float = 0.25):
        super().__init__(daemon=True)
        self.pids, self.every, self.stop = pids, every, threading.Event()
        self.rss: list[float] = []
        self.cpu: list[tuple[float, float]] = []                # (wall, cpu seconds)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.rss.append(sum(rss_mib(p) for p in self.pids))
                self.cpu.append((time.monotonic(), sum(cpu_seconds(p) for p in self.pids)))
            except (OSError, ValueError):
                return
            self.stop.wait(self.every)

    def busiest_second(self) -> float:
        """The highest CPU use over any one-second window, in cores."""
        best, j = 0.0, 0
        for i in range(len(self.cpu)):
            while self.cpu[i][0] - self.cpu[j][0] > 1.0:
                j += 1
            if self.cpu[i][0] - self.cpu[j][0] >= 0.5:
                best = max(best, (self.cpu[i][1] - self.cpu[j][1]) / (self.cpu[i][0] - self.cpu[j][0]))
        return best


# --- one student -------------------------------------------------------------------------------

@dataclass
class Tally:
    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    sizes: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))   # bytes received
    log: list[tuple[float, float, str, int]] = field(default_factory=list)   # (start, seconds, action, who)
    errors: list[str] = field(default_factory=list)


def check(run, what: str, who: int, tally: Tally) -> None:
    if run.exceptions:
        tally.errors.append(f"session {who}, {what}: {run.exceptions[0]}")
    elif not run.ok:
        tally.errors.append(f"session {who}, {what}: script finished with status {run.status}")
    elif any(kind == "error" for kind, _ in run.alerts):
        tally.errors.append(f"session {who}, {what}: {next(b for k, b in run.alerts if k == 'error')}")


def n_tokens(run) -> int | None:
    title = run.chart("")
    return int(title.split()[0]) if title and title.split()[0].isdigit() else None


async def student(who: int, port: int, think: float, start: asyncio.Event, tally: Tally, walks: int = 1,
                  proxied: bool = False) -> None:
    rng = random.Random(who)
    prompt = f"{PROMPTS[who % len(PROMPTS)]} ({who})"

    async def act(what: str, coro):
        started = time.monotonic()
        run = await coro
        tally.log.append((started, run.seconds, what, who))
        tally.times[what].append(run.seconds)
        tally.sizes[what].append(run.bytes)
        check(run, what, who, tally)
        await asyncio.sleep(think * rng.uniform(0.5, 1.5))
        return run

    try:
        cookie = await asyncio.to_thread(sticky_cookie, port) if proxied else ""   # the replica nginx pins it to
        async with Tab(port, cookie=cookie) as tab:
            await start.wait()
            await act("open", tab.open("explorer"))
            for walk in range(walks):
                if walk:
                    await act("return", tab.open("explorer"))
                tab.set("ex_prompt", string_value=prompt)
                run = await act("prompt", tab.click("ex_read"))
                n = n_tokens(run)
                for i in range(N_STEPS):
                    run = await act("step", tab.click("ex_step"))
                    text = run.code[0] if run.code else ""
                    if n_tokens(run) != n + i + 1 or not text.startswith(prompt):
                        tally.errors.append(f"session {who}, walk {walk + 1}, step {i + 1}: saw {n_tokens(run)} "
                                            f"tokens (expected {n + i + 1}) and text {text[:60]!r}")
                await act("temperature", tab.change("ex_temperature",
                                                    double_array_value=[0.7 if walk % 2 == 0 else 1.0]))
                await act("open lab", tab.open("scheduling_lab"))
    except Exception as e:             # a dropped connection or a stuck run: counted, and the others go on
        tally.errors.append(f"session {who}: {type(e).__name__}: {e}")


async def classroom(n: int, port: int, think: float, walks: int = 1, proxied: bool = False) -> Tally:
    tally, start = Tally(), asyncio.Event()
    tasks = [asyncio.create_task(student(i, port, think, start, tally, walks, proxied)) for i in range(n)]
    await asyncio.sleep(2.0 if proxied else 0.5)                # every tab connected, then all at once
    start.set()
    await asyncio.gather(*tasks)
    return tally


# --- report ------------------------------------------------------------------------------------

def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]


def report(n: int, think: float, tally: Tally, sampler: Sampler, idle_rss: float, wall: float,
           cpu: float, walks: int = 1) -> dict:
    rows = {a: {"count": len(tally.times[a]), "median_s": statistics.median(tally.times[a]),
                "p95_s": percentile(tally.times[a], 0.95), "max_s": max(tally.times[a]),
                "median_kib": statistics.median(tally.sizes[a]) / 1024}
            for a in ACTIONS if tally.times[a]}
    quarter = max(1, len(sampler.rss) // 4)
    return {"sessions": n, "think_s": think, "walks": walks, "cores": os.cpu_count(), "wall_s": wall, "actions": rows,
            "errors": len(tally.errors), "error_samples": tally.errors[:10],
            "timeline": [{"at_s": round(t - t0, 3), "seconds": round(d, 3), "action": a, "session": w}
                         for t0 in [min((x[0] for x in tally.log), default=0.0)] for t, d, a, w in sorted(tally.log)],
            "server_rss_mib": {"idle_after_start": idle_rss, "peak": max(sampler.rss, default=idle_rss),
                               "end": sampler.rss[-1] if sampler.rss else idle_rss,
                               # memory must not grow with use: the peak of the run's first and last quarters
                               "peak_first_quarter": max(sampler.rss[:quarter], default=idle_rss),
                               "peak_last_quarter": max(sampler.rss[-quarter:], default=idle_rss)},
            "server_cpu_cores": {"mean": cpu / wall, "busiest_second": sampler.busiest_second()}}


def print_report(r: dict) -> None:
    print(f"\n{r['date']}, {r['cpu']}; load average before {r['load_before']}, after {r['load_after']}")
    print(f"{r['sessions']} sessions, think {r['think_s']} s, {r['walks']} walk(s) each, {r['cores']} cores, "
          f"{r['wall_s']:.1f} s wall; {r['deployment']}"
          + (f", server env {r['server_env']}" if r.get("server_env") else ""))
    print(f"{'action':<12} {'count':>6} {'median s':>9} {'p95 s':>7} {'max s':>7} {'KiB sent':>9}")
    for a, row in r["actions"].items():
        print(f"{a:<12} {row['count']:>6} {row['median_s']:>9.3f} {row['p95_s']:>7.3f} {row['max_s']:>7.3f} "
              f"{row['median_kib']:>9.0f}")
    m, c = r["server_rss_mib"], r["server_cpu_cores"]
    print(f"errors: {r['errors']}" + "".join(f"\n  {e}" for e in r["error_samples"]))
    print(f"server RSS: {m['idle_after_start']:.0f} MiB after start, peak {m['peak']:.0f} MiB, "
          f"end {m['end']:.0f} MiB; peak in the first / last quarter of the run "
          f"{m['peak_first_quarter']:.0f} / {m['peak_last_quarter']:.0f} MiB")
    print(f"server CPU: {c['mean']:.2f} cores on average, {c['busiest_second']:.2f} in the busiest second")
    print(f"same machine: the clients used {r['client_cpu_cores']:.2f} cores, other processes "
          f"{r['other_cpu_cores']:.2f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=30, help=f"concurrent students (1..{MAX_SESSIONS})")
    ap.add_argument("--think", type=float, default=5.0,
                    help="mean pause between a student's actions, s (5: reading the charts; 1: a stress test)")
    ap.add_argument("--walks", type=int, default=1,
                    help="times each student walks the flow (1..20; more: a soak test of the server's memory)")
    ap.add_argument("--timeout", type=float, default=600, help="the whole run gives up after this, s")
    ap.add_argument("--json", type=Path, help="also write the figures here, with the command, the CPU, the date "
                                              "and the load average before and after")
    ap.add_argument("--replicas", type=int, default=0,
                    help="0: one app process, direct; N (1..8): the classroom deployment, nginx and N replicas "
                         "(scripts/serve_class.sh; each replica one torch thread)")
    ap.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                    help="an environment variable for the server, to compare settings "
                         "(e.g. STREAMLIT_RUNNER_POST_SCRIPT_GC=true, OMP_NUM_THREADS=2); repeatable")
    args = ap.parse_args(argv)
    if not 1 <= args.sessions <= MAX_SESSIONS:
        ap.error(f"--sessions must be 1..{MAX_SESSIONS}")
    if not 0 <= args.think <= 30 or not 0 < args.timeout <= 1800 or not 1 <= args.walks <= 20:
        ap.error("--think must be 0..30 s, --timeout 0..1800 s and --walks 1..20")
    if any("=" not in kv for kv in args.server_env):
        ap.error("--server-env takes NAME=VALUE")
    if not 0 <= args.replicas <= 8:
        ap.error("--replicas must be 0..8")
    if args.replicas and args.server_env:
        ap.error("--server-env is for one app process (--replicas 0)")

    env = dict(kv.split("=", 1) for kv in args.server_env)
    cond = conditions("load_test.py", argv)                     # the command, the CPU, the load before
    folder = Path(tempfile.mkdtemp(prefix="rwkv-load-"))
    log = folder / ("serve.log" if args.replicas else "server.log")
    if args.replicas:
        from scripts.first_visit_bytes import start_class, stop_class
        server, port, first = start_class(folder, replicas=args.replicas)
        pids = app_pids([first + i for i in range(args.replicas)])
        stop = lambda: stop_class(server)                       # noqa: E731
    else:
        port = free_port()
        server = start_server(port, log, env=env)
        pids, stop = [server.pid], lambda: stop_server(server)  # noqa: E731
    try:
        if len(pids) != max(1, args.replicas):
            raise RuntimeError(f"found {len(pids)} app processes, expected {max(1, args.replicas)}")
        time.sleep(2)                                           # let the server settle after start
        idle_rss, sampler = sum(map(rss_mib, pids)), Sampler(pids)
        sampler.start()
        cpu0, busy0, own0, t0 = (sum(map(cpu_seconds, pids)), machine_busy_seconds(), sum(os.times()[:2]),
                                 time.monotonic())
        try:
            tally = asyncio.run(asyncio.wait_for(classroom(args.sessions, port, args.think, args.walks,
                                                           proxied=args.replicas > 0), args.timeout))
        except asyncio.TimeoutError:
            print(f"the run passed --timeout {args.timeout} s and was stopped", file=sys.stderr)
            return 2
        wall, cpu = time.monotonic() - t0, sum(map(cpu_seconds, pids)) - cpu0
        own, busy = sum(os.times()[:2]) - own0, machine_busy_seconds() - busy0
        sampler.stop.set()
        sampler.join()
    finally:
        stop()
    r = report(args.sessions, args.think, tally, sampler, idle_rss, wall, cpu, args.walks)
    r = {**cond, "load_after": load_average(), **r, "server_env": env, "replicas": args.replicas,
         "deployment": (f"scripts/serve_class.sh: nginx and {args.replicas} replica(s), sticky cookies"
                        if args.replicas else "one app process (streamlit run app/streamlit_app.py), direct")}
    # the clients share the machine: their CPU, and anything else's, is not the server's
    r["client_cpu_cores"], r["other_cpu_cores"] = own / wall, max(0.0, busy - cpu - own) / wall
    print_report(r)
    print(f"server log: {log}")
    if args.json:
        args.json.write_text(json.dumps(r, indent=2))
    return 1 if r["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
