"""Scheduling Lab open and Lab controls, click → settled, in the real Chromium on the embedded model.

    python scripts/bench_lab.py [--root DIR] [--runs 5]

Starts the app from DIR (default: this checkout) on a free loopback port, opens the Explorer (or,
with --start '', the home page) in a fresh browser tab per run, clicks "Scheduling Lab" in the navigation and waits until the script has
finished and the page has not changed for a while. Prints, per run, the time from the click to the
page's last change and the bytes the server sent over the websocket meanwhile (as the browser
received them, decompressed). Run 1 finds the server's caches empty; later runs are new sessions on a
warm server. Then, in the last tab, it moves the Lab's controls (Tokens, the chunk) and times those.

A comparison with an older commit: `git clone -q . /tmp/before && python scripts/bench_lab.py --root /tmp/before`
(the clone uses this checkout's Python).
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scripts.st_client import LOOPBACK, free_port, healthy, stop_server

ROOT = Path(__file__).resolve().parent.parent

CHROMIUM = "/usr/bin/chromium"
QUIET_MS = 1500        # the page counts as settled once nothing in it changed for this long
IDLE = "() => document.querySelector('[data-testid=\"stApp\"]')?.dataset.testScriptState === 'notRunning'"
WATCH = """() => { window.__last = performance.now(); window.__idle = 0;
  new MutationObserver(() => { window.__last = performance.now();
      const s = document.querySelector('[data-testid="stApp"]')?.dataset.testScriptState;
      if (s === 'notRunning' && window.__state !== 'notRunning') window.__idle = performance.now();
      window.__state = s; })
    .observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true}); }"""


def start(root: Path, port: int, log: Path) -> subprocess.Popen:
    streamlit = Path(sys.executable).parent / "streamlit"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(streamlit), "run", "app/streamlit_app.py", "--server.headless", "true",
                                 "--server.address", LOOPBACK, "--server.port", str(port)],
                                cwd=root, stdout=out, stderr=subprocess.STDOUT,
                                env={"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
                                     "HF_ENDPOINT": f"http://{LOOPBACK}:9", "OMP_NUM_THREADS": "1",
                                     "HOME": str(Path.home())})
    deadline = time.monotonic() + 120
    while not healthy(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_server(proc)
            raise RuntimeError(log.read_text()[-3000:])
        time.sleep(0.3)
    return proc


def settle(page, t0: float, received: list) -> tuple[float, int]:
    """Wait until the script is idle and the page quiet; (seconds from t0 to the last change, bytes)."""
    page.wait_for_timeout(300)
    while True:
        page.wait_for_function(IDLE, timeout=120_000)
        quiet = page.evaluate("() => performance.now() - window.__last")
        if quiet >= QUIET_MS and page.evaluate(IDLE):
            break
        page.wait_for_timeout(200)
    last = page.evaluate("() => window.__last")
    return (last - t0) / 1000, sum(received)


def act(page, received: list, do) -> tuple[float, int]:
    received.clear()
    t0 = page.evaluate("() => { window.__last = performance.now(); return window.__last; }")
    do()
    return settle(page, t0, received)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=ROOT)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3, help="times each control is moved")
    ap.add_argument("--start", default="explorer", choices=["explorer", ""],
                    help="the page the tab opens first (default: the Explorer, whose charts have loaded "
                         "plotly.js; '' for the home page, where the Lab's open includes loading it)")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    port = free_port()
    log = Path(tempfile.mkdtemp()) / "server.log"
    server = start(args.root.resolve(), port, log)
    opens, sizes = [], []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox",
                                                                          "--disable-gpu"])
            for run in range(args.runs):
                ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
                page = ctx.new_page()
                received: list[int] = []
                page.on("websocket", lambda ws: ws.on("framereceived", lambda p: received.append(len(p))))
                page.goto(f"http://{LOOPBACK}:{port}/{args.start}")
                page.wait_for_function(IDLE, timeout=120_000)
                page.wait_for_timeout(1500)
                page.evaluate(WATCH)
                link = page.locator('a[href$="scheduling_lab"]:visible').first   # sidebar or top navigation
                secs, nbytes = act(page, received, link.click)
                assert page.locator('[data-testid="stException"]').count() == 0, page.inner_text("body")[:800]
                opens.append(secs)
                sizes.append(nbytes)
                print(f"run {run + 1} ({'cold server' if run == 0 else 'warm server, new session'}): "
                      f"Lab open {secs:.2f} s, {nbytes / 1024:.0f} KiB", flush=True)
                if run < args.runs - 1:
                    ctx.close()
            warm = opens[1:] or opens
            print(f"Lab open, warm server: median {statistics.median(warm):.2f} s, min {min(warm):.2f} s "
                  f"(max {max(warm):.2f}), median {statistics.median(sizes[1:] or sizes) / 1024:.0f} KiB")
            load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else "?"
            print(f"load average during the runs: {' '.join(load)}")

            def press(label: str, key: str):
                def do():
                    box = page.get_by_label(label, exact=True).first
                    box.click()
                    page.keyboard.press(key)
                return do

            slider = page.locator('[data-testid="stSlider"]', has_text="Cascade chunk").get_by_role("slider")
            moves = {"Tokens (T) +1 (a new grid)": press("Tokens (T)", "ArrowUp"),
                     "Tokens (T) −1 (a grid seen before)": press("Tokens (T)", "ArrowDown"),
                     "chunk one step right": lambda: (slider.focus(), page.keyboard.press("ArrowRight")),
                     "chunk one step left": lambda: (slider.focus(), page.keyboard.press("ArrowLeft"))}
            times: dict = {k: [] for k in moves}
            for _ in range(args.repeats):
                for what, do in moves.items():
                    times[what].append(act(page, received, do))
            for what, got in times.items():
                print(f"{what}: median {statistics.median(s for s, _ in got):.2f} s "
                      f"(min {min(s for s, _ in got):.2f}), median {statistics.median(b for _, b in got) / 1024:.0f} KiB",
                      flush=True)
            ctx.close()
            browser.close()
    finally:
        stop_server(server)
    cpu = subprocess.run("lscpu | grep 'Model name'", shell=True, capture_output=True, text=True).stdout.strip()
    print(f"{cpu}; {args.root}")


if __name__ == "__main__":
    main()
