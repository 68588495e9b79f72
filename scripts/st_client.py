"""A light Streamlit client: one browser tab's conversation with the app, without a browser.

It speaks the server's own protocol on ws://127.0.0.1:PORT/_stcore/stream: it sends a BackMsg
`rerun_script` carrying a ClientState (query string, page, widget values) and reads ForwardMsg
protobufs until `script_finished`. The widgets' ids and labels come from the deltas of the runs
on this page, so a script can say `click("ex_step")` by the widget's key.

Like a browser it (1) keeps every cacheable message it received (by hash) and lists those hashes
in each ClientState, so the server sends a short reference (`ref_hash`) instead of a figure the
client already has, which it then reads from its cache; (2) sends a click on a widget inside an
st.fragment with that fragment's id, so the server reruns only the fragment (and sends only its
deltas); (3) asks for permessage-deflate compression, as a browser does. scripts/load_test.py drives
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
from datetime import datetime, timezone
from pathlib import Path

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
ACTION_TIMEOUT_S = 120        # one script run; past this the action counts as an error
SUCCESS = ForwardMsg.FINISHED_SUCCESSFULLY
FRAGMENT_SUCCESS = ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY


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


def start_server(port: int, log: Path, *, timeout_s: float = 90, env: dict | None = None,
                 root: Path = ROOT) -> subprocess.Popen:
    """`streamlit run app/streamlit_app.py` as the README starts it, bound to 127.0.0.1 only, from
    the checkout `root` (its own .streamlit/config.toml applies). The Hugging Face address points at
    a closed local port: nothing here leaves the machine."""
    streamlit = shutil.which("streamlit", path=str(Path(sys.executable).parent)) or "streamlit"
    env = {**os.environ, "HF_ENDPOINT": f"http://{LOOPBACK}:9", **(env or {})}
    with open(log, "wb") as out:
        proc = subprocess.Popen([streamlit, "run", "app/streamlit_app.py", "--server.headless", "true",
                                 "--server.address", LOOPBACK, "--server.port", str(port)],
                                cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
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


# --- the conditions a measurement ran under --------------------------------------------------------

def load_average() -> list[float]:
    """The machine's load average over 1, 5 and 15 minutes (os.getloadavg), rounded."""
    return [round(x, 2) for x in os.getloadavg()]


def conditions(script: str, argv: list[str] | None = None) -> dict:
    """What a measurement's JSON records about how it was run: the command as typed from the
    repository root, the CPU (rwkv_core.timing.device_name: the model and this process's torch
    threads), the cores, the date, and the load average before (the caller adds `load_after`)."""
    from rwkv_core.timing import device_name  # here: it loads torch, which the clients do not need
    args = sys.argv[1:] if argv is None else argv
    return {"command": " ".join(["python", f"scripts/{script}", *args]), "cpu": device_name("cpu"),
            "cores": os.cpu_count(), "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "load_before": load_average()}


# --- what one script run sent back -----------------------------------------------------------------

@dataclass
class Run:
    """The page as one script run drew it, reduced to what tests and the load script read."""
    seconds: float = 0.0                                         # BackMsg sent -> script_finished
    status: int | None = None                                    # ForwardMsg.ScriptFinishedStatus
    bytes: int = 0                                               # received, as sent (uncompressed)
    refs: int = 0                                                # messages sent as a ref_hash
    fragment: str = ""                                           # the fragment rerun ("" = the page)
    widgets: dict[str, str] = field(default_factory=dict)        # user key -> widget id
    fragments: dict[str, str] = field(default_factory=dict)      # user key -> its fragment id ("" none)
    labels: dict[str, str] = field(default_factory=dict)         # user key -> label
    charts: list[str] = field(default_factory=list)              # plotly titles
    code: list[str] = field(default_factory=list)                # st.code texts
    markdown: list[str] = field(default_factory=list)            # markdown and caption bodies
    alerts: list[tuple[str, str]] = field(default_factory=list)  # (error|warning|info|success, body)
    exceptions: list[str] = field(default_factory=list)          # "Type: message" of st.exception
    pages: dict[str, str] = field(default_factory=dict)          # url path ("" = home) -> page hash

    @property
    def ok(self) -> bool:
        return self.status in (SUCCESS, FRAGMENT_SUCCESS) and not self.exceptions

    def chart(self, prefix: str) -> str | None:
        return next((t for t in self.charts if t.startswith(prefix)), None)


ALERT_FORMATS = {1: "error", 2: "warning", 3: "info", 4: "success"}


def _read_element(run: Run, element, fragment: str = "") -> None:
    kind = element.WhichOneof("type")
    el = getattr(element, kind)
    key = getattr(el, "id", "")
    if key.startswith("$$ID-"):                                   # "$$ID-<hash>-<user key>"
        user_key = key.split("-", 2)[2]
        run.widgets[user_key], run.labels[user_key] = key, getattr(el, "label", "")
        run.fragments[user_key] = fragment
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
        _read_element(run, msg.delta.new_element, msg.delta.fragment_id)
    elif kind == "navigation":
        run.pages = {p.url_pathname: p.page_script_hash for p in msg.navigation.app_pages}
    elif kind == "script_finished":
        run.status = msg.script_finished


# --- one browser tab ---------------------------------------------------------------------------------

def sticky_cookie(port: int) -> str:
    """The cookie nginx pins a new browser with (deploy/nginx.conf.template), from the proxy's first page."""
    with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/", timeout=30) as r:
        return r.headers["set-cookie"].split(";")[0]


class Tab:
    """One user's session: `await tab.open("explorer")`, `tab.set("ex_prompt", string_value=...)`,
    `await tab.click("ex_read")`. Values set stay set and are sent with every run, as a browser does."""

    def __init__(self, port: int, *, cookie: str = "", resume: str = ""):
        self.url = f"ws://{LOOPBACK}:{port}/_stcore/stream"
        self.cookie = cookie                 # a Cookie header for the websocket (a proxy's sticky route)
        self.resume = resume                 # a session id to reconnect to, as a browser after a dropped line
        self.session_id = ""                 # this connection's session, from the server's new_session
        self.ws = None
        self.page = ""                       # url path of the page shown
        self.last = Run()
        self.values: dict[str, tuple[str, object]] = {}   # user key -> (WidgetState field, value)
        self.widgets: dict[str, str] = {}                 # user key -> widget id, on this page so far
        self.fragments: dict[str, str] = {}               # user key -> fragment id ("" outside any)
        self.cache: dict[str, ForwardMsg] = {}            # hash -> a cacheable message received
        self.query = ""                      # the address's query string, sent with every run

    async def __aenter__(self) -> Tab:
        # the first entry names the subprotocol; Streamlit reads the others as tokens: the second an
        # XSRF token (for signed-in users only, none here), the third the session to resume
        protocols = ["streamlit", "none", self.resume] if self.resume else ["streamlit"]
        self.ws = await websockets.connect(self.url, subprotocols=protocols, max_size=None,
                                           additional_headers={"Cookie": self.cookie} if self.cookie else None,
                                           open_timeout=ACTION_TIMEOUT_S, ping_interval=None,
                                           compression="deflate")          # as a browser asks
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
            self.widgets.clear()
            self.fragments.clear()
        self.page = page
        return await self.rerun()

    async def click(self, key: str) -> Run:
        """Press a button: the run is its fragment's when it sits in one, as a browser asks."""
        return await self.rerun(trigger=key, fragment=self.fragments.get(key, ""))

    async def change(self, key: str, **value) -> Run:
        """Set a widget's value and rerun what the browser reruns for it (its fragment, or the page)."""
        self.set(key, **value)
        return await self.rerun(fragment=self.fragments.get(key, ""))

    async def rerun(self, trigger: str | None = None, fragment: str = "", auto: bool = False) -> Run:
        """Run the page (or one fragment) with every value set; auto: a fragment's timer asked for it."""
        back = BackMsg()
        state = back.rerun_script
        state.page_name, state.query_string, state.is_auto_rerun = self.page, self.query, auto
        if self.page in self.last.pages:
            state.page_script_hash = self.last.pages[self.page]
        for key, (kind, value) in self.values.items():
            if key in self.widgets:
                state.widget_states.widgets.append(_widget_state(self.widgets[key], kind, value))
        if trigger is not None:
            if trigger not in self.widgets:
                raise KeyError(f"no widget with key {trigger!r} on the page: {sorted(self.widgets)}")
            state.widget_states.widgets.append(WidgetState(id=self.widgets[trigger], trigger_value=True))
        state.cached_message_hashes.extend(self.cache)
        if fragment:
            state.fragment_id = fragment
        run = Run(pages=self.last.pages, fragment=fragment)
        start = time.perf_counter()
        await self.ws.send(back.SerializeToString())
        await asyncio.wait_for(self._until_finished(run), ACTION_TIMEOUT_S)
        run.seconds = time.perf_counter() - start
        self.last = run
        self.widgets.update(run.widgets)
        self.fragments.update(run.fragments)
        return run

    async def _until_finished(self, run: Run) -> None:
        while run.status is None:
            raw = await self.ws.recv()
            run.bytes += len(raw)
            msg = ForwardMsg()
            msg.ParseFromString(raw)
            if msg.WhichOneof("type") == "ref_hash":          # a message this client said it has
                run.refs += 1
                cached = self.cache.get(msg.ref_hash)
                if cached is None:
                    raise RuntimeError(f"the server referred to a message this client never had ({msg.ref_hash})")
                msg = cached
            elif msg.metadata.cacheable:
                self.cache[msg.hash] = msg
            if msg.WhichOneof("type") == "new_session":
                self.session_id = msg.new_session.initialize.session_id
            self.seen(msg)
            _read(run, msg)
            if run.status is not None and not self.finished(run):
                run.status = None            # a subclass reads on (e.g. past a fragment's early finish)

    def seen(self, msg: ForwardMsg) -> None:
        """Every message of a run, before it is read into the run: a subclass watches for its own."""

    def finished(self, run: Run) -> bool:
        """Whether the run's status ends it (always, here)."""
        return True


def _widget_state(widget_id: str, kind: str, value) -> WidgetState:
    ws = WidgetState(id=widget_id)
    if kind.endswith("_array_value"):
        getattr(ws, kind).data.extend(value)
    else:
        setattr(ws, kind, value)
    return ws
