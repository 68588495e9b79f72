"""The classroom deployment (scripts/serve_class.sh, deploy/): nginx in front of two app replicas,
all on loopback. Through the proxy Streamlit's JavaScript arrives compressed (it leaves the app
uncompressed); fresh browsers spread over both replicas while each one's requests, websocket
included, stay on its own; and a student's session survives a dropped connection: reconnecting
with the proxy's cookie finds the session (its generated tokens) on the replica that holds it.

Without nginx these tests are skipped, unless CI=true or RWKV_REQUIRE_BROWSER=1 (CI), where a
missing nginx is a failure (.ci/run installs it)."""
from __future__ import annotations

import asyncio
import concurrent.futures
import gzip
import re
import shutil
import urllib.request
from pathlib import Path

import pytest
from app_helpers import missing

from scripts.first_visit_bytes import start_class, stop_class
from scripts.st_client import LOOPBACK, Tab, healthy

ROOT = Path(__file__).resolve().parent.parent
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
BROTLI_MODULE = Path("/usr/lib/nginx/modules/ngx_http_brotli_filter_module.so")
FRESH_CLIENTS = 16             # all on one of two replicas by chance: 2 * 2**-16



@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    """scripts/serve_class.sh with two replicas, its nginx config and logs in a temporary folder;
    stopped (TERM, as Ctrl-C) at the end, and every port it served checked silent."""
    if not Path(NGINX).exists():
        missing("proxy", f"nginx is not installed ({NGINX}; apt-get install nginx)")
    run_dir = tmp_path_factory.mktemp("class")
    proc, port, first = start_class(run_dir, replicas=2)
    try:
        yield {"port": port, "replicas": {f"{LOOPBACK}:{first}", f"{LOOPBACK}:{first + 1}"}}
    finally:
        stop_class(proc)
    log = (run_dir / "serve.log").read_text()
    for p in (port, first, first + 1):
        assert not healthy(p), f"port {p} still answers after serve_class.sh stopped:\n{log[-2000:]}"
    assert "stopped nginx and 2 replicas" in log


def get(port: int, path: str, **headers) -> tuple[dict, bytes]:
    req = urllib.request.Request(f"http://{LOOPBACK}:{port}/{path.lstrip('./')}", headers=headers)
    with urllib.request.urlopen(req, timeout=30) as r:
        return {k.lower(): v for k, v in r.headers.items()}, r.read()


def new_client(port: int) -> tuple[str, str]:
    """A browser's first request, without cookies: its sticky cookie and the replica that answered."""
    headers, _ = get(port, "/")
    cookie = headers["set-cookie"].split(";")[0]
    assert re.fullmatch(r"stroute=[0-9a-f]{32}", cookie), cookie
    return cookie, headers["x-upstream"]


def test_static_javascript_is_compressed_through_the_proxy_and_not_direct(proxy):
    port = proxy["port"]
    _, index = get(port, "/")
    script = re.search(rb'<script[^>]* src="([^"]+\.js)"', index).group(1).decode()
    replica = next(iter(proxy["replicas"])).split(":")[1]
    direct_headers, plain = get(int(replica), script, **{"Accept-Encoding": "gzip, br"})
    assert "content-encoding" not in direct_headers                 # Streamlit sends it as it is on disk
    headers, body = get(port, script, **{"Accept-Encoding": "gzip"})
    assert headers["content-encoding"] == "gzip"
    assert gzip.decompress(body) == plain and len(body) < len(plain) / 2
    again, same = get(port, script, **{"Accept-Encoding": "deflate, gzip"})
    assert (again["x-cache"], again["content-encoding"], same) == ("HIT", "gzip", body)     # compressed once
    if BROTLI_MODULE.exists():
        headers, body = get(port, script, **{"Accept-Encoding": "gzip, deflate, br"})
        assert headers["content-encoding"] == "br" and len(body) < len(plain) / 2


async def _handshake_upstream(port: int, cookie: str) -> str:
    async with Tab(port, cookie=cookie) as tab:
        return tab.ws.response.headers["x-upstream"]


def run_async(coro):
    """asyncio.run in a thread of its own (the browser tests' Playwright may hold this thread's loop)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def test_fresh_clients_spread_over_replicas_and_each_stays_on_its_own(proxy):
    """Static files are the same on every replica (and come from nginx's cache); everything else,
    the websocket included, must reach the replica that holds the session."""
    port, first_replicas = proxy["port"], set()
    for _ in range(FRESH_CLIENTS):
        cookie, replica = new_client(port)
        first_replicas.add(replica)
        later = [get(port, p, Cookie=cookie)[0] for p in ("/", "/explorer", "/_stcore/health", "/_stcore/host-config")]
        assert {h["x-upstream"] for h in later} == {replica}
        assert not any("set-cookie" in h and "stroute" in h["set-cookie"] for h in later)   # set once
        assert run_async(_handshake_upstream(port, cookie)) == replica                      # the websocket too
    assert first_replicas == proxy["replicas"]


async def _step_drop_and_come_back(port: int) -> dict:
    """Read a prompt and step three times; drop the connection; come back with the same cookie
    (the browser's reconnection) and step once more; then try the same session id from a browser
    whose cookie leads to the other replica."""
    cookie, replica = new_client(port)
    seen = {}
    async with Tab(port, cookie=cookie) as tab:
        await tab.open("explorer")
        tab.set("ex_prompt", string_value="ROMEO: But soft, what light")
        runs = [await tab.click("ex_read")] + [await tab.click("ex_step") for _ in range(3)]
        seen["first"], session = [r.chart("") for r in runs], tab.session_id
    async with Tab(port, cookie=cookie, resume=session) as tab:
        tab.page = "explorer"
        runs = [await tab.rerun(), await tab.click("ex_step")]
        seen["back"], seen["back_session"] = [r.chart("") for r in runs], tab.session_id
    other = next(c for c, r in iter(lambda: new_client(port), None) if r != replica)
    async with Tab(port, cookie=other, resume=session) as tab:
        tab.page = "explorer"
        seen["elsewhere"], seen["elsewhere_session"] = (await tab.rerun()).chart(""), tab.session_id
    seen["session"] = session
    return seen


def test_a_session_keeps_its_tokens_across_connections_through_the_proxy(proxy):
    seen = run_async(_step_drop_and_come_back(proxy["port"]))
    counts = [int(title.split()[0]) for title in seen["first"] + seen["back"]]
    n = counts[0]
    assert counts == [n, n + 1, n + 2, n + 3, n + 3, n + 4], seen       # the same session, tokens kept
    assert seen["back_session"] == seen["session"]
    # the other replica knows nothing of it: a new session with the Explorer's default text
    assert seen["elsewhere_session"] != seen["session"] and "0 generated" in seen["elsewhere"], seen
