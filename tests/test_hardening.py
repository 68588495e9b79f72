"""Inputs a public classroom server must survive: no raw HTML from any text, the upload limit
enforced by the server (not only by the browser), prompts of every odd kind answered with a
message, and the deployment notes naming real settings."""
from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import pytest
from app_helpers import no_exception, started_app

from app import explorer_core as ec

ROOT = Path(__file__).resolve().parent.parent
# every way Streamlit has to put raw HTML on the page
RAW_HTML = re.compile(r"unsafe_allow_html|st\.html\(|components\.v1|components\.html\(|\.iframe\(|st\.components")
# the reviewed uses: (file, the exact call, the module-level constant it shows: static CSS only)
REVIEWED = {("app/app_pages/lessons.py", "st.html(layout.CLASSROOM_CSS)"): ("app/style.py", "CLASSROOM_CSS"),
            ("app/style.py", "st.html(PHONE_CSS)"): ("app/style.py", "PHONE_CSS"),
            ("app/style.py", "st.html(CLASSROOM_CSS)"): ("app/style.py", "CLASSROOM_CSS")}
# scripts: one fixed constant each, a plain literal with no markup but its own <script> tags and
# nothing that loads code from elsewhere (the Explorer's busy guard: it greys out Step while busy)
REVIEWED_SCRIPTS = {("app/app_pages/explorer.py", 'st.html(BUSY_GUARD, unsafe_allow_javascript=True'):
                    ("app/app_pages/explorer.py", "BUSY_GUARD"),
                    ("app/style.py", 'st.html(HISTORY_GUARD, unsafe_allow_javascript=True'):
                    ("app/style.py", "HISTORY_GUARD")}


def raw_html_uses() -> list[tuple[str, str]]:
    found = []
    for folder in ("app", "visuals", "lessons"):
        for f in sorted((ROOT / folder).rglob("*")):
            if f.suffix in (".py", ".md", ".toml", ".json", ".yaml", ".yml") and f.is_file():
                for line in f.read_text(encoding="utf-8").splitlines():
                    if RAW_HTML.search(line):
                        found.append((str(f.relative_to(ROOT)), line.strip()))
    return found


def static_css(file: str, name: str) -> str:
    """The value of a module-level constant, which must be one plain string literal (no f-string,
    no concatenation with anything computed): what st.html shows can then never carry user text."""
    tree = ast.parse((ROOT / file).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            assert isinstance(node.value, ast.Constant) and isinstance(node.value.value, str), \
                f"{file}:{name} must be a plain string literal"
            return node.value.value
    raise AssertionError(f"{name} is not defined at the top of {file}")


def test_raw_html_only_in_reviewed_static_css():
    uses = raw_html_uses()
    for file, line in uses:
        assert any(file == f and line.startswith(call) for f, call in {**REVIEWED, **REVIEWED_SCRIPTS}), \
            f"raw HTML in {file}: {line!r} (user or model text must never reach unsafe_allow_html / st.html)"
    for (file, call), (const_file, name) in REVIEWED.items():
        css = static_css(const_file, name).strip()
        assert css.startswith("<style>") and css.endswith("</style>") and css.count("<") == 2, \
            f"{const_file}:{name} must be one <style> block and nothing else"
        assert not re.search(r"url\(|@import|expression\(|javascript:", css, re.I)
    for (file, call), (const_file, name) in REVIEWED_SCRIPTS.items():
        js = static_css(const_file, name).strip()
        assert js.startswith("<script>") and js.endswith("</script>") and js.count("<script") == 1, \
            f"{const_file}:{name} must be one <script> block and nothing else"
        assert not re.search(r"fetch\(|XMLHttpRequest|import\(|eval\(|innerHTML|src=|WebSocket", js), \
            f"{const_file}:{name} must not load, evaluate or write markup"


def test_the_grep_finds_what_it_must():
    """The pattern above catches each form (so the test above can fail)."""
    for line in ['st.markdown(x, unsafe_allow_html=True)', 'st.html(text)', 'import streamlit.components.v1',
                 'components.html("<b>")', 'st.components.v1.iframe(url)']:
        assert RAW_HTML.search(line), line
    assert not RAW_HTML.search('st.markdown(md_escape(name))')


@pytest.fixture
def at():
    return started_app()


def test_upload_over_the_limit_is_refused_by_the_server(at, tmp_path, monkeypatch):
    """A client can skip the browser's size check: the server checks again, before reading."""
    from app import resources
    monkeypatch.setattr(resources, "UPLOAD_LIMIT_MB", 1)                    # the smallest Streamlit takes
    data = b"\0" * (3 * 1024 ** 2 // 2)                                       # 1.5 MB
    at.sidebar.radio(key="picker_source").set_value("upload").run()
    no_exception(at)
    at.sidebar.get("file_uploader")[0].set_value(("big.safetensors", data, "application/octet-stream")).run()
    no_exception(at)
    shown = [re.sub(r"\\(.)", r"\1", e.value) for e in at.sidebar.error]
    assert shown[0].startswith("big.safetensors is 2 MB; the limit is 1 MB. A larger file must be put in "
                               "the server's models folder"), shown   # refused by size, not read
    assert not at.sidebar.get("file_uploader")[0].value                    # and the uploader emptied
    assert "model_choice" not in at.session_state                          # still the embedded model


@pytest.fixture
def explorer(at):
    at.switch_page("app_pages/explorer.py").run()
    no_exception(at)
    return at


@pytest.mark.parametrize("text, message", [("", "empty"), ("   ", "empty"), ("x" * (ec.MAX_PROMPT_CHARS + 1), "limit")])
def test_surgery_donor_prompt_is_checked(explorer, text, message):
    explorer.radio(key="ex_section").set_value("State surgery").run()
    explorer.radio(key="ex_surg_op").set_value("copy").run()
    explorer.text_input(key="ex_surg_donor").set_value(text)
    explorer.button(key="ex_surg_go").click().run()
    no_exception(explorer)
    assert any(message in e.value for e in explorer.error), [e.value for e in explorer.error]


@pytest.mark.parametrize("text", ["\u200b\u200b", "\t\n", "🫠" * 40, "a\u0000b\u0007c\u001b[2Jd",
                                  "\U0001F1FA\U0001F1F8 👩‍👩‍👧", "\u202e\u2066abc\u2069", "Z̷̢̛a̸l̶g̵o̴"])
def test_odd_prompts_step_and_show_as_text(explorer, text):
    explorer.text_area(key="ex_prompt").set_value(text)
    explorer.button(key="ex_read").click().run()
    explorer.button(key="ex_step").click().run()
    no_exception(explorer)
    s = explorer.session_state["explorer"]
    assert s.tokens[:-1] == s.model.tokenizer.encode(text) and not explorer.error
    shown = explorer.code[0].value
    assert all(ch.isprintable() or ch in "\n\t" for ch in shown), repr(shown)  # control characters escaped


def test_a_prompt_far_over_the_limit_is_refused_before_reading(explorer):
    """A megabyte pasted (or sent by a script): a message, and the tokenizer never sees it."""
    explorer.text_area(key="ex_prompt").set_value("to be " * 200_000)
    explorer.button(key="ex_read").click().run()
    no_exception(explorer)
    assert any("1,200,000 characters; the limit is 2,000" in e.value for e in explorer.error)


def test_deployment_notes_name_real_settings():
    """Every `section.option` the README's class section and the Dockerfile mention is a setting
    this Streamlit knows (a renamed option would silently do nothing)."""
    from streamlit import config
    options = config.get_config_options()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "## Deploying for a class" in readme
    section = readme.split("## Deploying for a class", 1)[1]
    text = section + (ROOT / "Dockerfile").read_text(encoding="utf-8")
    named = set(re.findall(r"\b((?:server|client|runner|browser|global|logger)\.[a-zA-Z]+)\b", text))
    named |= {f"server.{m}" for m in re.findall(r"--server\.([a-zA-Z]+)", text)}
    for must in ("server.allowedHosts", "client.showErrorDetails", "server.maxUploadSize"):
        assert must in named, must
    assert not [n for n in named if n not in options], [n for n in named if n not in options]
    assert "/_stcore/health" in (ROOT / "Dockerfile").read_text(encoding="utf-8")


# --- bad checkpoints, by path and by upload (issue 18) --------------------------------------------

def plain(markdown: str) -> str:
    return re.sub(r"\\(.)", r"\1", markdown)


def sidebar_errors(at) -> list[str]:
    return [plain(e.value) for e in at.sidebar.error]


def stepped(at):
    """The Explorer, after reading its prompt and one step: the tokens a failed load must keep."""
    at.switch_page("app_pages/explorer.py").run()
    at.button(key="ex_step").click().run()
    no_exception(at)
    return list(at.session_state["explorer"].tokens)


def load_by_path(at, path) -> None:
    at.sidebar.radio(key="picker_source").set_value("path").run()
    at.sidebar.text_input(key="picker_path").set_value(str(path))
    at.sidebar.button(key="picker_load_path").click().run()


def upload(at, name: str, data: bytes) -> None:
    at.sidebar.radio(key="picker_source").set_value("upload").run()
    at.sidebar.get("file_uploader")[0].set_value((name, data, "application/octet-stream")).run()


def still_working(at, tokens) -> None:
    """No exception; the embedded model and the user's tokens kept; the session still steps and
    every page still opens."""
    no_exception(at)
    assert "model_choice" not in at.session_state or at.session_state["model_choice"]["kind"] == "embedded"
    assert at.session_state["explorer"].tokens == tokens
    for page in ("app_pages/home.py", "app_pages/scheduling_lab.py", "app_pages/explorer.py"):
        at.switch_page(page).run()
        no_exception(at)
    assert at.session_state["explorer"].tokens == tokens
    at.button(key="ex_step").click().run()
    no_exception(at)
    assert len(at.session_state["explorer"].tokens) == len(tokens) + 1


NOT_A_CHECKPOINT = ("Could not load notes.pth: not a checkpoint: the file is text, not a PyTorch .pth (zip or "
                    "pickle) or a .safetensors file. The previous model is still loaded: embedded Shakespeare model.")


def test_a_text_file_renamed_pth_by_path(at, tmp_path):
    tokens = stepped(at)
    (tmp_path / "notes.pth").write_text("root:x:0:0:root:/root:/bin/bash\n" * 30)
    load_by_path(at, tmp_path / "notes.pth")
    assert sidebar_errors(at) == [NOT_A_CHECKPOINT]
    still_working(at, tokens)


def test_a_text_file_renamed_pth_by_upload_is_cleared(at):
    tokens = stepped(at)
    upload(at, "notes.pth", b"root:x:0:0:root:/root:/bin/bash\n" * 30)
    assert sidebar_errors(at) == [NOT_A_CHECKPOINT.replace("load notes.pth", "load upload notes.pth")]
    assert not at.sidebar.get("file_uploader")[0].value          # the failed upload is gone from the widget
    still_working(at, tokens)


@pytest.mark.parametrize("path, says", [
    ("/dev/zero", "Could not load /dev/zero: not a regular file (it is a device)"),
    ("/proc/self/environ", "Could not load /proc/self/environ: a system file (in /proc, /sys or /dev), not a checkpoint"),
    ("/proc", "Could not load /proc: a system folder"),
    ("/nonexistent/model.pth", "Could not load model.pth: no such file or directory"),
])
def test_system_files_by_path(at, path, says):
    tokens = stepped(at)
    load_by_path(at, path)
    shown = sidebar_errors(at)
    assert len(shown) == 1 and shown[0].startswith(says), shown
    still_working(at, tokens)


def test_a_pipe_by_path(at, tmp_path):
    tokens = stepped(at)
    os.mkfifo(tmp_path / "pipe.pth")
    load_by_path(at, tmp_path / "pipe.pth")
    assert sidebar_errors(at)[0].startswith("Could not load pipe.pth: not a regular file (it is a pipe)")
    still_working(at, tokens)


@pytest.mark.parametrize("error", [IndexError("pop from empty list"), MemoryError(), KeyError("x")])
@pytest.mark.parametrize("how", ["path", "upload"])
def test_any_exception_while_loading_is_a_message(at, tmp_path, monkeypatch, error, how):
    """Even what the engine should never raise: the message, the old model, the tokens."""
    import lab

    def fail(*args, **kwargs):
        raise error
    tokens = stepped(at)
    monkeypatch.setattr(lab, "load_model", fail)
    if how == "path":
        (tmp_path / f"m{id(error)}.pth").write_bytes(b"x")
        load_by_path(at, tmp_path / f"m{id(error)}.pth")
    else:
        upload(at, "m.pth", f"different bytes {id(error)}".encode())
    shown = sidebar_errors(at)
    assert len(shown) == 1 and f"an unexpected {type(error).__name__}" in shown[0], shown
    assert shown[0].endswith("The previous model is still loaded: embedded Shakespeare model.")
    monkeypatch.undo()
    still_working(at, tokens)


def test_a_model_that_fails_its_first_use_is_not_taken(at, tmp_path):
    from factory import random_state_dict, write_safetensors
    sd = random_state_dict(seed=7)
    sd["head.weight"][:] = float("nan")
    tokens = stepped(at)
    load_by_path(at, write_safetensors(sd, tmp_path / "nan.safetensors"))
    assert sidebar_errors(at)[0].startswith("Could not load nan.safetensors: its output for a first token is "
                                            "not a number")
    still_working(at, tokens)


def test_the_new_message_replaces_the_old(at, tmp_path):
    (tmp_path / "a.pth").write_text("first")
    (tmp_path / "b.pth").write_text("second")
    load_by_path(at, tmp_path / "a.pth")
    assert [e.startswith("Could not load a.pth") for e in sidebar_errors(at)] == [True]
    load_by_path(at, tmp_path / "b.pth")
    assert [e.startswith("Could not load b.pth") for e in sidebar_errors(at)] == [True]
    at.sidebar.radio(key="picker_source").set_value("upload").run()       # another source: a clean slate
    assert sidebar_errors(at) == []


# --- paths a classroom server allows ---------------------------------------------------------------

@pytest.fixture
def classroom(monkeypatch, tmp_path, small_pth):
    """A restricted server: typed paths only inside tmp/models, which holds small.pth."""
    import shutil
    (tmp_path / "models").mkdir()
    shutil.copy(small_pth, tmp_path / "models" / "small.pth")
    (tmp_path / "outside.pth").write_bytes(small_pth.read_bytes())
    (tmp_path / "models" / "link.pth").symlink_to(tmp_path / "outside.pth")
    monkeypatch.setenv("RWKV_LOCAL_PATHS", "models")
    monkeypatch.setenv("RWKV_MODELS_DIR", str(tmp_path / "models"))
    return tmp_path


def test_a_restricted_server_loads_from_its_models_folder(classroom, at):
    load_by_path(at, "small.pth")                                 # a name in the folder
    no_exception(at)
    assert at.session_state["model_choice"]["label"] == "small.pth"
    assert any("reads only its models folder: link.pth, small.pth" in plain(c.value) for c in at.sidebar.caption)
    load_by_path(at, classroom / "models" / "small.pth")           # or its full path
    assert not sidebar_errors(at)


@pytest.mark.parametrize("typed", ["/etc/passwd", "/etc/no-such-file", "../outside.pth", "../no-such.pth",
                                   "/root/.bashrc", "/dev/zero", "/proc/self/environ", "link.pth", "/",
                                   "{tmp}/outside.pth", "{tmp}/nothing-here.pth"])
def test_a_restricted_server_says_the_same_for_everything_outside(classroom, at, typed):
    """Whether a path outside exists or not, the message is the same and names no folder."""
    load_by_path(at, typed.replace("{tmp}", str(classroom)))
    no_exception(at)
    (shown,) = sidebar_errors(at)
    reason = shown.split(": ", 1)[1]
    assert reason == ("this server loads only checkpoints in its models folder: type the name of a file or "
                      "folder there (on your own machine, start the app with RWKV_LOCAL_PATHS=any to load "
                      "from anywhere). The previous model is still loaded: embedded Shakespeare model."), shown
    assert str(classroom) not in shown and "/etc" not in shown and "root" not in shown
    assert "model_choice" not in at.session_state


@pytest.mark.parametrize("typed", ["~", "~/.bashrc", "~root/.bashrc", "~nobody-at-all/x.pth"])
def test_a_restricted_server_does_not_expand_home_folders(classroom, at, typed):
    """"~" is a name inside the models folder there (expanding it would tell which users exist)."""
    load_by_path(at, typed)
    no_exception(at)
    (shown,) = sidebar_errors(at)
    assert shown.split(": ", 1)[1].startswith("no such file or directory."), shown


@pytest.mark.parametrize("env, restricted", [(None, True), ("", True), ("models", True), ("nonsense", True),
                                             ("any", False), (" ANY ", False)])
def test_paths_are_restricted_unless_the_server_says_any(monkeypatch, env, restricted):
    """Limited by default, on every address: behind a proxy the server listens on 127.0.0.1 only
    and still serves a class."""
    from app import resources
    if env is None:
        monkeypatch.delenv("RWKV_LOCAL_PATHS", raising=False)
    else:
        monkeypatch.setenv("RWKV_LOCAL_PATHS", env)
    assert resources.paths_restricted() is restricted


# --- one upload limit ------------------------------------------------------------------------------

def streamlit_widget_size(mb: int) -> str:
    """How Streamlit's file uploader writes its limit (frontend utils: 1024 steps, a step up once over
    half of the next unit, no decimals), e.g. 600 -> "1GB", 1024 -> "1GB", 200 -> "200MB"."""
    size, units = mb * 1024.0 ** 2, ["gb", "mb", "kb", "b"]
    unit = 3
    while unit and size > 1024 / 2:
        size, unit = size / 1024, unit - 1
    return f"{size:.0f}{units[unit].upper()}"


def test_one_upload_limit_everywhere(at):
    import tomllib

    from app import resources
    limit = resources.UPLOAD_LIMIT_MB
    assert tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]["maxUploadSize"] == limit
    assert streamlit_widget_size(600) == "1GB" and streamlit_widget_size(200) == "200MB"    # the old mismatch
    assert streamlit_widget_size(limit) == resources.UPLOAD_LIMIT_TEXT.replace(" ", "")    # widget = radio
    assert limit * 1024 ** 2 > 677_000_000                                                 # the Pile 169M fits
    at.sidebar.radio(key="picker_source").set_value("upload").run()
    assert f"≤ {resources.UPLOAD_LIMIT_TEXT})" in at.sidebar.radio(key="picker_source").options[2]
    assert at.sidebar.get("file_uploader")[0].proto.max_upload_size_mb == limit
    hint = [plain(c.value) for c in at.sidebar.caption]
    assert any(h.startswith("Up to 1 GB") and "models folder" in h for h in hint), hint   # on the page, not on hover


def test_one_model_for_every_upload_of_the_same_file(tmp_path, monkeypatch):
    """Identical uploads are stored once (issue 27): two students upload the same checkpoint; it is
    read once (load_upload's cache, keyed by the file's SHA-256), both sessions use that one model,
    and each uploader is emptied after loading, so no session keeps its own copy of the bytes."""
    from factory import random_state_dict, write_safetensors

    import lab
    from app import resources
    resources.load_upload.clear()
    reads = []
    real = lab.load_model
    monkeypatch.setattr(lab, "load_model", lambda *a, **k: reads.append(a) or real(*a, **k))
    from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager
    dropped = []
    keep = MemoryUploadedFileManager.remove_file
    monkeypatch.setattr(MemoryUploadedFileManager, "remove_file",
                        lambda self, session, file_id: dropped.append(file_id) or keep(self, session, file_id))
    data = write_safetensors(random_state_dict(seed=3), tmp_path / "same.safetensors").read_bytes()
    choices = []
    for student in range(2):
        at = started_app()
        upload(at, "same.safetensors", data)
        no_exception(at)
        assert [plain(s.value) for s in at.sidebar.success] == ["Loaded upload same.safetensors."]
        assert not at.sidebar.get("file_uploader")[0].value          # the bytes are not kept by the session
        choices.append(at.session_state["model_choice"])
        at.switch_page("app_pages/explorer.py").run()                # and the session runs on the shared model
        no_exception(at)
    assert len(reads) == 1 and choices[0] == choices[1] and choices[0]["kind"] == "upload"
    assert len(dropped) == 2                                         # each session's copy of the bytes dropped
    resources.load_upload.clear()
