"""Inputs a public classroom server must survive: no raw HTML from any text, the upload limit
enforced by the server (not only by the browser), prompts of every odd kind answered with a
message, and the deployment notes naming real settings."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from app import explorer_core as ec
from app_helpers import no_exception, started_app

ROOT = Path(__file__).resolve().parent.parent
# every way Streamlit has to put raw HTML on the page
RAW_HTML = re.compile(r"unsafe_allow_html|st\.html\(|components\.v1|components\.html\(|\.iframe\(|st\.components")
# the reviewed uses: (file, the exact call, the module-level constant it shows: static CSS only)
REVIEWED = {("app/app_pages/lessons.py", "st.html(lv.CLASSROOM_CSS)"): ("app/lesson_views.py", "CLASSROOM_CSS")}


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
        assert any(file == f and line.startswith(call) for f, call in REVIEWED), \
            f"raw HTML in {file}: {line!r} (user or model text must never reach unsafe_allow_html / st.html)"
    for (file, call), (const_file, name) in REVIEWED.items():
        css = static_css(const_file, name).strip()
        assert css.startswith("<style>") and css.endswith("</style>") and css.count("<") == 2, \
            f"{const_file}:{name} must be one <style> block and nothing else"
        assert not re.search(r"url\(|@import|expression\(|javascript:", css, re.I)


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
    assert shown == ["big.safetensors is 2 MB; the limit is 1 MB."], shown  # refused by size, not read
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
