"""What a student feels in a real browser: click → settled page in Chromium, and the bytes each
action costs on the websocket.

    python scripts/bench_clicks.py [--repo PATH] [--steps 20] [--json out.json]

starts the app from PATH (default: this checkout; `--repo /tmp/h5-before` measures an older
clone with this environment's Streamlit) with `streamlit run app/streamlit_app.py` on a free
port of 127.0.0.1, puts a byte-counting TCP relay in front of it, and drives Debian's Chromium
(/usr/bin/chromium, or $RWKV_CHROMIUM) through Playwright, one user, the embedded model:

    first open     a fresh server; the browser goes straight to /explorer (model load included)
    second open    a new browser context on the same server (model already loaded)
    step           "Step" pressed --steps times, "Embeddings" (the default section) open
    step, state    "Step" with "State per layer" open (the issue's 1.9 MB case)
    sampling       the seed's "+" button (re-samples cached logits), 10 times
    lab open       the sidebar's "Scheduling Lab" link, from the Explorer
    fast clicks    5 Step clicks 80 ms apart: how many tokens they add

"Settled", honestly: the time from the click (performance.now() in the page, just before the
element's click()) until (1) the browser has received the server's script_finished for the run
the click asked for (ForwardMsg field 6, status other than "finished early for a rerun"; read
from the websocket's frames in the page: the server sends it after the run's last delta, so no
delta is pending), (2) no websocket frame has arrived for 50 ms, and (3) two animation frames
have passed (the browser has painted what it received), and (4) for a button the page greys out
while busy (the Explorer's Step), the button is clickable again. The reported time is from the click to
the later of (1) and the last frame, plus the time the two animation frames took after the quiet
socket was seen; the 50 ms of quiet is waited for, not counted. (Streamlit's "script running"
flag on the page is not used: a short fragment run can start and end within one browser frame
and never show as running.) A page load counts from navigation start, and also waits until the
Explorer's Step button and token strip are on screen.

Bytes per action: "payload" is the websocket frames' data as Playwright reports it (after
decompression, what Streamlit serialised); "wire" is what actually crossed the TCP connection
(counted by the relay: with server.enableWebsocketCompression it is the compressed size).

Timings on a shared, loaded machine are upper bounds; the script prints (and --json records) the
command, the CPU, the date and the machine's load average before and after.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from app.explorer_sections import SECTIONS
from scripts.st_client import LOOPBACK, conditions, free_port, load_average, start_server, stop_server

CHROMIUM = os.environ.get("RWKV_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
TIMEOUT_MS = 300_000
QUIET_MS = 50


# Click a target and resolve with the ms from click to settled (see the docstring). The target is
# a CSS selector, or {"button": label}: the first visible button with exactly that text.
CLICK_JS = """
async ([target, quietMs]) => {
  const find = () => typeof target === 'string' ? document.querySelector(target) : window.__button(target.button);
  const el = find();
  if (!el) throw new Error('nothing matches ' + JSON.stringify(target));
  if (el.disabled) throw new Error('the button is disabled: ' + JSON.stringify(target));
  const t0 = performance.now();
  el.click();
  const ms = await window.__settle(t0, quietMs);
  // a button the page greys out while busy (the Explorer's Step): settled also means clickable
  // again; its time is when it was first seen enabled (polled every 5 ms), never less than ms
  let ready = ms;
  if (find() && find().disabled) {
    while (find() && find().disabled) {
      if (performance.now() - t0 > 300000) throw new Error('still disabled after 300 s');
      await new Promise(r => setTimeout(r, 5));
    }
    ready = Math.max(ms, performance.now() - t0);
  }
  return [ms, ready];
}
"""

SETTLE_JS = """
// the first visible button whose text's first line is `label` (a shortcut hint may follow it)
window.__button = label => [...document.querySelectorAll('button')]
  .find(b => b.innerText.trim().split('\\n')[0].trim() === label && b.offsetParent);
// resolves with the ms from t0 to settled: a script_finished (not 'early for rerun') received
// after t0, the socket quiet for quietMs, then two animation frames (the paint)
window.__settle = (t0, quietMs) => new Promise((resolve, reject) => {
  const limit = performance.now() + 300000;
  const check = () => {
    const done = window.__finishes.find(f => f[0] >= t0 && f[1] !== 2);
    if (done && performance.now() - window.__lastFrame >= quietMs) {
      const settled = Math.max(done[0], window.__lastFrame), seen = performance.now();
      requestAnimationFrame(() => requestAnimationFrame(() => resolve(settled - t0 + (performance.now() - seen))));
      return;
    }
    if (performance.now() > limit) { reject(new Error('not settled after 300 s')); return; }
    setTimeout(check, 5);
  };
  check();
});
"""


# --- a relay that counts the bytes ---------------------------------------------------------------

class Relay(threading.Thread):
    """127.0.0.1:port → the app's port, counting the bytes the server sends (HTTP and websocket)."""

    def __init__(self, target: int):
        super().__init__(daemon=True)
        self.target, self.port, self.down = target, free_port(), 0
        self.ready = threading.Event()

    def run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        server = await asyncio.start_server(self._client, LOOPBACK, self.port)
        self.ready.set()
        async with server:
            await server.serve_forever()

    async def _client(self, reader, writer) -> None:
        up_r, up_w = await asyncio.open_connection(LOOPBACK, self.target)

        async def pipe(src, dst, count: bool):
            try:
                while data := await src.read(65536):
                    if count:
                        self.down += len(data)
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_w, False), pipe(up_r, writer, True))


# --- the browser side ----------------------------------------------------------------------------

class Meter:
    """The page's websocket payload bytes (Playwright frames) and the relay's wire bytes."""

    def __init__(self, page, relay: Relay):
        self.page, self.relay, self.payload = page, relay, 0
        page.on("websocket", self._ws)

    def _ws(self, ws) -> None:
        def got(payload):
            self.payload += len(payload)
        ws.on("framereceived", got)

    def mark(self) -> tuple[int, int]:
        return self.payload, self.relay.down


def new_page(browser, relay: Relay):
    context = browser.new_context(viewport={"width": 1400, "height": 1300})
    context.add_init_script(SETTLE_JS)
    # the page's own view of the socket: each frame's time, and each script_finished with its status
    # (ForwardMsg field 6, read from the protobuf's top-level fields without a protobuf library)
    context.add_init_script("""
      (() => {
        window.__finishes = []; window.__lastFrame = 0;
        const finished = buf => {
          const b = new Uint8Array(buf); let i = 0;
          const varint = () => { let x = 0, s = 1, c; do { c = b[i++]; x += (c & 127) * s; s *= 128; } while (c & 128); return x; };
          while (i < b.length) {
            const tag = varint(), field = Math.floor(tag / 8), wire = tag % 8;
            if (wire === 0) { const v = varint(); if (field === 6) return v; }
            else if (wire === 2) { const n = varint(); i += n; }   // (not i += varint(): i is read first)
            else if (wire === 1) { i += 8; } else if (wire === 5) { i += 4; } else { return -1; }
          }
          return -1;
        };
        const WS = window.WebSocket;
        window.WebSocket = function (...a) {
          const s = new WS(...a);
          s.addEventListener('message', e => {
            const now = performance.now();
            window.__lastFrame = now;
            if (e.data instanceof ArrayBuffer) { const st = finished(e.data); if (st >= 0) window.__finishes.push([now, st]); }
          });
          return s;
        };
        window.WebSocket.prototype = WS.prototype; Object.assign(window.WebSocket, WS);
      })();
    """)
    page = context.new_page()
    return context, page, Meter(page, relay)


STEP_SHOWN = ("() => !!window.__button('Step')"
              " && [...document.querySelectorAll('.gtitle')].some(t => /^\\d+ tokens/.test(t.textContent))")


def settle_after_load(page, shown: str = STEP_SHOWN) -> float:
    """A page load: ms from navigation start until settled (script ran, quiet socket, painted) and
    the page's content is on screen (`shown`: under load the run can end before the browser has
    drawn it; the later of the two counts)."""
    ms = page.evaluate("() => window.__settle(0, %d)" % QUIET_MS)
    page.wait_for_function(shown, timeout=TIMEOUT_MS, polling="raf")
    return max(ms, page.evaluate("() => performance.now()"))


def timed(page, meter: Meter, target) -> tuple[float, int, int]:
    p0, w0 = meter.mark()
    page_ms, ready_ms = page.evaluate(CLICK_JS, [target, QUIET_MS])
    page.wait_for_timeout(QUIET_MS)
    p1, w1 = meter.mark()
    timed.page_ms = page_ms            # settled, before the button is clickable again (steps 1-3 only)
    return ready_ms, p1 - p0, w1 - w0


def n_tokens(page) -> int:
    titles = page.eval_on_selector_all(".gtitle", "els => els.map(e => e.textContent)")
    return next(int(t.split()[0]) for t in titles if re.match(r"^\d+ tokens", t))


def section(page, name: str) -> None:
    t0 = page.evaluate("() => performance.now()")
    page.get_by_text(name, exact=True).first.click()
    page.evaluate("(t) => window.__settle(t, 300)", t0)
    page.wait_for_timeout(500)


def summary(xs: list[float]) -> str:
    return f"{statistics.median(xs):7.0f} {min(xs):7.0f} {max(xs):7.0f}"


def run(repo: Path, steps: int) -> dict:
    from playwright.sync_api import sync_playwright
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="bench-clicks-")) / "server.log"
    server = start_server(port, log, root=repo, env={"OMP_NUM_THREADS": "1"})
    relay = Relay(port)
    relay.start()
    relay.ready.wait()
    url = f"http://{LOOPBACK}:{relay.port}"
    rows: dict[str, dict] = {}

    def add(name: str, ms: list[float], payload: list[int], wire: list[int], note: str = "") -> None:
        rows[name] = {"n": len(ms), "median_ms": statistics.median(ms), "min_ms": min(ms), "max_ms": max(ms),
                      "payload_kib": statistics.median(payload) / 1024, "wire_kib": statistics.median(wire) / 1024,
                      "note": note}

    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for name in ("first open", "second open"):
                context, page, meter = new_page(browser, relay)
                w0 = relay.down
                page.goto(url + "/explorer", timeout=TIMEOUT_MS)
                ms = settle_after_load(page)
                page.wait_for_timeout(QUIET_MS)
                add(name, [ms], [meter.payload], [relay.down - w0], "navigation start → settled")
                if name == "first open":
                    context.close()
            page.wait_for_timeout(1000)
            # --- Step with the default section (the first registered: Embeddings) open
            state = SECTIONS["state"].label
            for label, sec in (("step", None), (f"step, {state} open", state)):
                if sec:
                    section(page, sec)
                step = {"button": "Step"}
                ms, pay, wire, drawn = [], [], [], []
                timed(page, meter, step)                        # one warm-up step
                for _ in range(steps):
                    before = n_tokens(page)
                    m, p, w = timed(page, meter, step)
                    after = n_tokens(page)
                    if after != before + 1:
                        raise RuntimeError(f"a Step went from {before} to {after} tokens")
                    ms.append(m), pay.append(p), wire.append(w), drawn.append(timed.page_ms)
                add(label, ms, pay, wire, f"{steps} clicks, each checked: one more token")
                add(label + " (page drawn)", drawn, pay, wire, "steps 1-3 of the definition, without (4)")
            section(page, next(iter(SECTIONS.values())).label)       # back to the default
            # --- a sampling change: the seed's "+" (re-samples the cached logits)
            ms, pay, wire = [], [], []
            plus = '[data-testid="stNumberInput"]:has(input[aria-label="Seed"]) [data-testid="stNumberInputStepUp"]'
            if page.locator(plus).count() == 0:
                raise RuntimeError("no Seed number input on the page")
            timed(page, meter, plus)
            for _ in range(10):
                m, p, w = timed(page, meter, plus)
                ms.append(m), pay.append(p), wire.append(w)
            add("sampling change", ms, pay, wire, "Seed +1, 10 clicks")
            # --- fast clicks: 5 Steps 80 ms apart; a greyed-out (disabled) button cannot take a click
            before = n_tokens(page)
            t0 = page.evaluate("() => performance.now()")
            outcome = []
            for _ in range(5):
                outcome.append(page.evaluate("() => { const b = window.__button('Step'); if (!b) return 'none';"
                                             " if (b.disabled) return 'refused'; b.click(); return 'taken'; }"))
                page.wait_for_timeout(80)
            page.evaluate("(t) => window.__settle(t, 400)", t0)
            page.wait_for_timeout(1500)
            page.evaluate("(t) => window.__settle(t, 400)", t0)
            fast = {"clicks": 5, "taken": outcome.count("taken"), "refused": outcome.count("refused"),
                    "tokens": n_tokens(page) - before}
            # --- the Scheduling Lab, from the Explorer
            nav = 'a[href$="scheduling_lab"]'                           # the navigation's link (sidebar or top)
            m, p, w = timed(page, meter, nav)
            add("lab open", [m], [p], [w], "sidebar link → settled")
            browser.close()
    finally:
        stop_server(server)
    return {"repo": str(repo), "commit": _commit(repo), "rows": rows, "fast_clicks": fast}


def _commit(repo: Path) -> str:
    try:
        return subprocess.run(["git", "-C", str(repo), "log", "-1", "--format=%h %s"], capture_output=True,
                              text=True, timeout=10).stdout.strip()[:80]
    except (OSError, subprocess.SubprocessError):
        return "?"


def print_table(r: dict) -> None:
    print(f"\n{r['repo']} ({r['commit']})")
    print(f"{r['date']}, {r['cpu']}, {r['cores']} cores; load average before {r['load_before']}, "
          f"after {r['load_after']}")
    print(f"{'action':<28} {'n':>3} {'median':>7} {'min':>7} {'max':>7} {'payload KiB':>12} {'wire KiB':>9}")
    for name, row in r["rows"].items():
        print(f"{name:<28} {row['n']:>3} {row['median_ms']:>6.0f}ms {row['min_ms']:>6.0f}ms {row['max_ms']:>6.0f}ms "
              f"{row['payload_kib']:>12.1f} {row['wire_kib']:>9.1f}")
    f = r["fast_clicks"]
    print(f"fast clicks: {f['clicks']} Step clicks 80 ms apart: {f['taken']} taken by the button, {f['refused']} "
          f"refused visibly (greyed out while busy); {f['tokens']} tokens added")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repo", type=Path, default=Path(__file__).resolve().parent.parent,
                    help="the checkout whose app to start (default: this one)")
    ap.add_argument("--steps", type=int, default=20, help="Step clicks per section (≥ 20 for the median)")
    ap.add_argument("--json", type=Path, help="also write the figures here, with the command, the CPU, the date "
                                              "and the load average before and after")
    args = ap.parse_args(argv)
    if not (args.repo / "app" / "streamlit_app.py").exists():
        ap.error(f"{args.repo} has no app/streamlit_app.py")
    if not Path(CHROMIUM).exists():
        ap.error(f"{CHROMIUM} is not installed (apt-get install chromium)")
    cond = conditions("bench_clicks.py", argv)           # the command, the CPU, the load before
    r = {**cond, **run(args.repo.resolve(), args.steps), "load_after": load_average()}
    print_table(r)
    if args.json:
        args.json.write_text(json.dumps(r, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
