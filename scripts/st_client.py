"""A light Streamlit client: one browser tab's conversation with the app, without a browser.

It speaks the server's own protocol on ws://127.0.0.1:PORT/_stcore/stream: it sends a BackMsg
`rerun_script` carrying a ClientState (query string, page, widget values) and reads ForwardMsg
protobufs until `script_finished`. The widgets' ids and labels come from the deltas of the last
run, so a script can say `click("ex_step")` by the widget's key. scripts/load_test.py drives
many of these at once; tests/test_isolation.py checks that two of them never see each other.

Loopback only: the client and `start_server` know no address but 127.0.0.1.
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
ACTION_TIMEOUT_S = 120        # one script run; past this the action counts as an error
SUCCESS = ForwardMsg.FINISHED_SUCCESSFULLY


# --- a server on the loopback interface ----------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/_stcore/health", timeout=2) as r:
            return r.status == 200 and r.read().strip() == b"ok"
    except OSError:
        return False


def start_server(port: int, log: Path, *, timeout_s: float = 90, env: dict | None = None) -> subprocess.Popen:
    """`streamlit run app/streamlit_app.py` as the README starts it, bound to 127.0.0.1 only.
    The Hugging Face address points at a closed local port: nothing here leaves the machine."""
    streamlit = shutil.which("streamlit", path=str(Path(sys.executable).parent)) or "streamlit"
    env = {**os.environ, "HF_ENDPOINT": f"http://{LOOPBACK}:9", **(env or {})}
    with open(log, "wb") as out:
        proc = subprocess.Popen([streamlit, "run", "app/streamlit_app.py", "--server.headless", "true",
                                 "--server.address", LOOPBACK, "--server.port", str(port)],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout_s
    while not healthy(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_server(proc)
            raise RuntimeError(f"the app did not start (exit code {proc.poll()}):\n{log.read_text()[-3000:]}")
        time.sleep(0.3)
    return proc


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- what one script run sent back -----------------------------------------------------------------

@dataclass
class Run:
    """The page as one script run drew it, reduced to what tests and the load script read."""
    seconds: float = 0.0                                         # BackMsg sent -> script_finished
    status: int | None = None                                    # ForwardMsg.ScriptFinishedStatus
    bytes: int = 0                                               # received, as sent (uncompressed)
    widgets: dict[str, str] = field(default_factory=dict)        # user key -> widget id
    labels: dict[str, str] = field(default_factory=dict)         # user key -> label
    charts: list[str] = field(default_factory=list)              # plotly titles
    code: list[str] = field(default_factory=list)                # st.code texts
    markdown: list[str] = field(default_factory=list)            # markdown and caption bodies
    alerts: list[tuple[str, str]] = field(default_factory=list)  # (error|warning|info|success, body)
    exceptions: list[str] = field(default_factory=list)          # "Type: message" of st.exception
    pages: dict[str, str] = field(default_factory=dict)          # url path ("" = home) -> page hash

    @property
    def ok(self) -> bool:
        return self.status == SUCCESS and not self.exceptions

    def chart(self, prefix: str) -> str | None:
        return next((t for t in self.charts if t.startswith(prefix)), None)


ALERT_FORMATS = {1: "error", 2: "warning", 3: "info", 4: "success"}


def _read_element(run: Run, element) -> None:
    kind = element.WhichOneof("type")
    el = getattr(element, kind)
    key = getattr(el, "id", "")
    if key.startswith("$$ID-"):                                   # "$$ID-<hash>-<user key>"
        user_key = key.split("-", 2)[2]
        run.widgets[user_key], run.labels[user_key] = key, getattr(el, "label", "")
    if kind == "plotly_chart" and el.spec:
        title = json.loads(el.spec).get("layout", {}).get("title", {})
        run.charts.append(title.get("text", "") if isinstance(title, dict) else str(title))
    elif kind == "code":
        run.code.append(el.code_text)
    elif kind == "markdown":
        run.markdown.append(el.body)
    elif kind == "alert":
        run.alerts.append((ALERT_FORMATS.get(el.format, str(el.format)), el.body))
    elif kind == "exception":
        run.exceptions.append(f"{el.type}: {el.message}")


def _read(run: Run, msg: ForwardMsg) -> None:
    kind = msg.WhichOneof("type")
    if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
        _read_element(run, msg.delta.new_element)
    elif kind == "navigation":
        run.pages = {p.url_pathname: p.page_script_hash for p in msg.navigation.app_pages}
    elif kind == "script_finished":
        run.status = msg.script_finished


# --- one browser tab ---------------------------------------------------------------------------------

class Tab:
    """One user's session: `await tab.open("explorer")`, `tab.set("ex_prompt", string_value=...)`,
    `await tab.click("ex_read")`. Values set stay set and are sent with every run, as a browser does."""

    def __init__(self, port: int):
        self.url = f"ws://{LOOPBACK}:{port}/_stcore/stream"
        self.ws = None
        self.page = ""                       # url path of the page shown
        self.last = Run()
        self.values: dict[str, tuple[str, object]] = {}   # user key -> (WidgetState field, value)

    async def __aenter__(self) -> Tab:
        # the first entry names the subprotocol; Streamlit reads the others as tokens (none here)
        self.ws = await websockets.connect(self.url, subprotocols=["streamlit"], max_size=None,
                                           open_timeout=ACTION_TIMEOUT_S, ping_interval=None)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.ws.close()

    def set(self, key: str, **value) -> None:
        """Remember a widget's new value, e.g. set("ex_temperature", double_array_value=[0.7])."""
        ((kind, v),) = value.items()
        self.values[key] = (kind, v)

    async def open(self, page: str) -> Run:
        """Go to a page by its url path ("" = home, "explorer", "scheduling_lab", "lessons")."""
        if page != self.page:
            self.values.clear()              # another page: its widgets start from their defaults
        self.page = page
        return await self.rerun()

    async def click(self, key: str) -> Run:
        return await self.rerun(trigger=key)

    async def rerun(self, trigger: str | None = None) -> Run:
        back = BackMsg()
        state = back.rerun_script
        state.page_name = self.page
        if self.page in self.last.pages:
            state.page_script_hash = self.last.pages[self.page]
        for key, (kind, value) in self.values.items():
            if key in self.last.widgets:
                state.widget_states.widgets.append(_widget_state(self.last.widgets[key], kind, value))
        if trigger is not None:
            if trigger not in self.last.widgets:
                raise KeyError(f"no widget with key {trigger!r} on the page: {sorted(self.last.widgets)}")
            state.widget_states.widgets.append(WidgetState(id=self.last.widgets[trigger], trigger_value=True))
        run = Run(pages=self.last.pages)
        start = time.perf_counter()
        await self.ws.send(back.SerializeToString())
        await asyncio.wait_for(self._until_finished(run), ACTION_TIMEOUT_S)
        run.seconds = time.perf_counter() - start
        self.last = run
        return run

    async def _until_finished(self, run: Run) -> None:
        while run.status is None:
            raw = await self.ws.recv()
            run.bytes += len(raw)
            msg = ForwardMsg()
            msg.ParseFromString(raw)
            _read(run, msg)


def _widget_state(widget_id: str, kind: str, value) -> WidgetState:
    ws = WidgetState(id=widget_id)
    if kind.endswith("_array_value"):
        getattr(ws, kind).data.extend(value)
    else:
        setattr(ws, kind, value)
    return ws
