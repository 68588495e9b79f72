"""Two students on one server never see each other: two protocol clients (scripts/st_client.py)
against the real app on 127.0.0.1 read different prompts and step them at the same time. Each
must see exactly the text that a session of its own, run alone in this process, produces, and
its own count of model runs; a change of temperature in one leaves the other's page alone."""
from __future__ import annotations

import ast
import asyncio
import concurrent.futures
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from app_helpers import embedded

from app import explorer_core as ec
from rwkv_core.sampling import SamplingSettings
from scripts.st_client import Tab, free_port, start_server, stop_server

PROMPTS = ("ROMEO: But soft, what light through yonder", "0, 1, 2 — ÆØÅ 😀 <b>JULIET</b>")
N_STEPS = 10


@pytest.fixture(scope="module")
def port(tmp_path_factory):
    p = free_port()
    server = start_server(p, tmp_path_factory.mktemp("server") / "server.log", env={"OMP_NUM_THREADS": "1"})
    yield p
    stop_server(server)


def alone(prompt: str, n: int) -> str:
    """The text a session shows after reading `prompt` and stepping n times with the page's
    default sampling (temperature 1, seed 0), computed here without the server."""
    s = ec.ExplorerSession(embedded(), "alone")
    s.start(ec.encode_prompt(embedded(), prompt))
    for _ in range(n):
        s.step(s.next_sample(SamplingSettings(), 0).token)
    return ec.decode(embedded(), s.tokens)


def model_runs(run) -> int:
    found = [m for m in run.markdown if m.startswith("Model runs in this session")]
    assert found, run.markdown
    return int(re.search(r"session: (\d+)", found[0]).group(1))


async def walk(tab: Tab, prompt: str, seen: list) -> None:
    """Read the prompt, then step; after each run note the text, the token count, the model runs."""
    await tab.open("explorer")
    tab.set("ex_prompt", string_value=prompt)
    run = await tab.click("ex_read")
    for _ in range(N_STEPS):
        assert run.ok, run.exceptions
        seen.append((run.code[0], run.chart(""), model_runs(run)))
        run = await tab.click("ex_step")
        await asyncio.sleep(0)                      # let the other student's message in between
    seen.append((run.code[0], run.chart(""), model_runs(run)))


async def two_students(port: int):
    seen = ([], [])
    async with Tab(port) as a, Tab(port) as b:
        await asyncio.gather(walk(a, PROMPTS[0], seen[0]), walk(b, PROMPTS[1], seen[1]))
        # one student changes the temperature; the other's next run draws exactly what it drew
        before = [(await t.rerun()).chart("Next token") for t in (a, b)]
        a.set("ex_temperature", double_array_value=[0.2])
        after = await asyncio.gather(a.rerun(), b.rerun())
    return seen, before, after


def run_async(coro):
    """asyncio.run in a thread of its own: the browser tests' Playwright keeps an event loop
    running in this thread when they run first."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def test_two_concurrent_sessions_never_mix(port):
    seen, (before_a, before_b), (a_run, b_run) = run_async(two_students(port))
    for mine, other, history in ((0, 1, seen[0]), (1, 0, seen[1])):
        n0 = int(history[0][1].split()[0])
        for i, (text, tokens_title, runs) in enumerate(history):
            assert text == alone(PROMPTS[mine], i)                       # its own text, token for token
            assert PROMPTS[other][:12] not in text
            assert tokens_title.startswith(f"{n0 + i} tokens")
            assert runs == 1 + i                                         # its own model runs only
    assert a_run.ok and b_run.ok
    assert a_run.chart("Next token") != before_a                         # re-sampled at temperature 0.2
    assert b_run.chart("Next token") == before_b                         # untouched


def test_pages_import_nothing_the_router_has_not(tmp_path):
    """Thirty first visits at once run every page script at once: a module imported for the first
    time inside a page script raced there (29 of 30 failed in a trial). The router imports the heavy
    modules; here, in a fresh interpreter, every name a page imports must already be loaded by then."""
    root = Path(__file__).resolve().parent.parent
    router = ast.parse((root / "app" / "streamlit_app.py").read_text())
    nodes = list(ast.walk(router))               # at the top or inside the router's first-run block
    imports = [ast.unparse(n) for n in nodes if isinstance(n, (ast.Import, ast.ImportFrom))]
    loaded = {f"{n.module}.{a.name}" for n in nodes if isinstance(n, ast.ImportFrom) for a in n.names}
    assert {"app.explorer_core", "app.resources", "app.scheduling_core", "app.lessons.views",
            "app.compare_view"} <= loaded, imports            # the heavy modules, imported by the router
    check = "\n".join(imports) + """
import ast, sys
from pathlib import Path
late = []
for page in sorted(Path("app/app_pages").glob("*.py")):
    for node in ast.walk(ast.parse(page.read_text())):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                 [f"{node.module}.{a.name}" for a in node.names] if isinstance(node, ast.ImportFrom) else [])
        for n in names:                  # loaded, or an attribute (function, submodule) of a loaded module
            parent, _, attr = n.rpartition(".")
            if n not in sys.modules and not hasattr(sys.modules.get(parent), attr):
                late.append(f"{page.name}: {n}")
print(late)
"""
    out = subprocess.run([sys.executable, "-c", check], cwd=root, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout
