"""First-visit bytes: what a student's browser downloads when it opens the app, straight from a
Streamlit replica and through the classroom proxy (scripts/serve_class.sh), both measured.

    python scripts/first_visit_bytes.py [--pages home explorer] [--json docs/deploy/first_visit_bytes.json]

It starts scripts/serve_class.sh with one replica on free loopback ports. For each page a fresh
Chromium context (empty cache, Debian's /usr/bin/chromium through Playwright) opens it, once on the
replica's own port and once through nginx, waits until the page is drawn and the network has been
quiet for a while (the charts' lazily loaded JavaScript included), and sums every HTTP response:
"wire" is the body as transferred (after Content-Encoding), "decoded" the body the page used.
The websocket's frames are not counted (they are the same both ways: permessage-deflate, see
.streamlit/config.toml). Chromium asks for brotli only from secure origins (HTTPS, or localhost as
here), so a school's LAN over plain HTTP gets gzip: the "gzip" and "br" figures fetch the same URLs
through the proxy again asking for one encoding only. Nothing leaves the machine.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

from scripts.st_client import LOOPBACK, free_port

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("RWKV_CHROMIUM", "/usr/bin/chromium")   # Debian's, as the browser tests use it
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
PAGES = {"home": "", "explorer": "explorer", "scheduling_lab": "scheduling_lab", "lessons": "lessons",
         "why_rwkv": "why_rwkv"}
QUIET_MS = 1500           # lazily loaded chunks (plotly) start after the first script run draws a chart
TIMEOUT_MS = 120_000


# --- the proxy, started and stopped as a teacher does -------------------------------------------

def start_class(run_dir: Path, replicas: int, *, timeout_s: float = 120) -> tuple[subprocess.Popen, int, int]:
    """scripts/serve_class.sh on free loopback ports (its own process group); returns the process,
    the proxy's port and the first replica's port (the others follow it)."""
    port = free_port()
    first = free_port()
    while (first + replicas > 65535 or first <= port < first + replicas
           or any(_taken(first + i) for i in range(1, replicas))):
        first = free_port()
    log = run_dir / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(["bash", "scripts/serve_class.sh", "--replicas", str(replicas), "--port", str(port),
                                 "--first-replica-port", str(first), "--run-dir", str(run_dir)],
                                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + timeout_s
    while "serving http://" not in log.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_class(proc)
            raise RuntimeError(f"serve_class.sh did not start (exit code {proc.poll()}):\n{log.read_text()[-3000:]}")
        time.sleep(0.3)
    return proc, port, first


def _taken(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((LOOPBACK, port)) == 0


def stop_class(proc: subprocess.Popen) -> None:
    """TERM, as Ctrl-C: the script stops nginx and its replicas; its own process group if it hangs."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


# --- one first visit --------------------------------------------------------------------------------

def visit(browser, url: str) -> list[dict]:
    """Open `url` in a fresh context; one record per HTTP response once the page has settled."""
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    finished = []
    page.on("requestfinished", lambda request: finished.append(request))
    page.goto(url, wait_until="load", timeout=TIMEOUT_MS)
    page.get_by_role("heading").first.wait_for(timeout=TIMEOUT_MS)
    for _ in range(2):                       # the first script run's charts ask for more JavaScript
        page.wait_for_load_state("networkidle", timeout=TIMEOUT_MS)
        page.wait_for_timeout(QUIET_MS)
    records = []
    for request in finished:
        response = request.response()
        if response is None or not request.url.startswith("http"):
            continue
        records.append({"url": request.url, "status": response.status,
                        "encoding": response.headers.get("content-encoding", ""),
                        "type": response.headers.get("content-type", "").split(";")[0],
                        "wire": request.sizes()["responseBodySize"], "decoded": len(response.body())})
    context.close()
    return records


def summary(records: list[dict]) -> dict:
    js = [r for r in records if "javascript" in r["type"]]
    encodings: dict[str, int] = {}
    for r in records:
        encodings[r["encoding"] or "none"] = encodings.get(r["encoding"] or "none", 0) + 1
    return {"requests": len(records), "wire_bytes": sum(r["wire"] for r in records),
            "decoded_bytes": sum(r["decoded"] for r in records),
            "js_wire_bytes": sum(r["wire"] for r in js), "js_decoded_bytes": sum(r["decoded"] for r in js),
            "encodings": encodings}


def refetch(records: list[dict], encoding: str) -> int:
    """The bytes of the same URLs fetched again through the proxy, asking for one encoding only."""
    total = 0
    for r in records:
        if r["status"] != 200:                  # a probe the browser got a 404 for: as it was
            total += r["wire"]
            continue
        req = urllib.request.Request(r["url"], headers={"Accept-Encoding": encoding})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                total += len(resp.read())
        except urllib.error.HTTPError as e:     # a session's media file, gone since: count it as sent
            print(f"refetch {r['url']}: {e}; its {r['wire']} bytes as the browser got them", file=sys.stderr)
            total += r["wire"]
    return total


# --- report -----------------------------------------------------------------------------------------

def table(pages: dict) -> str:
    mb = 1e6
    lines = [f"{'page':<16}{'route':<8}{'requests':>9}{'on the wire':>14}{'decoded':>11}{'JS wire':>10}  encodings",
             "-" * 86]
    for name, p in pages.items():
        for route in ("direct", "proxy"):
            s = p[route]
            lines.append(f"{name:<16}{route:<8}{s['requests']:>9}{s['wire_bytes'] / mb:>11.2f} MB"
                         f"{s['decoded_bytes'] / mb:>8.2f} MB{s['js_wire_bytes'] / mb:>7.2f} MB  {s['encodings']}")
        for enc in ("gzip", "br"):
            lines.append(f"{'':<16}{enc:<8}{'':>9}{p[f'proxy_{enc}_wire_bytes'] / mb:>11.2f} MB"
                         f"   (the proxy's URLs again, asking for {enc} only)")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", nargs="+", default=list(PAGES), choices=list(PAGES))
    parser.add_argument("--json", type=Path, default=None, help="write the figures here (e.g. docs/deploy/...)")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        sys.exit(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright
    pages = {}
    with tempfile.TemporaryDirectory(prefix="first-visit-") as tmp, sync_playwright() as pw:
        proc, port, first = start_class(Path(tmp), replicas=1)
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for name in args.pages:
                path = PAGES[name]
                direct = visit(browser, f"http://{LOOPBACK}:{first}/{path}")
                proxied = visit(browser, f"http://{LOOPBACK}:{port}/{path}")
                pages[name] = {"direct": summary(direct), "proxy": summary(proxied),
                               "proxy_gzip_wire_bytes": refetch(proxied, "gzip"),
                               "proxy_br_wire_bytes": refetch(proxied, "br")}
            chromium = browser.version
        finally:
            browser.close()
            stop_class(proc)
        nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    print(table(pages))
    if args.json:
        import streamlit

        from rwkv_core.timing import cpu_model  # here: it loads torch, which the rest does not need
        record = {"what": "bytes of every HTTP response on a first visit (fresh browser cache), straight "
                          "from a Streamlit replica and through scripts/serve_class.sh's nginx; websocket "
                          "frames not counted",
                  "command": "python " + " ".join([f"scripts/{Path(sys.argv[0]).name}", *sys.argv[1:]]),
                  "cpu": cpu_model(), "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  "chromium": chromium, "nginx": nginx, "streamlit": streamlit.__version__,
                  "viewport": "1280x720", "pages": pages}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
