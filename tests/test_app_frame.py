"""The frame: navigation, the home page, and the sidebar model picker on every page, driven
through the real app (AppTest). The Hub is never contacted: its address points at a closed port."""
import io
import re
from pathlib import Path

import pytest
import torch
from app_helpers import no_exception, started_app
from factory import SMALL, random_state_dict, write_safetensors

ROOT = Path(__file__).resolve().parent.parent


def plain(markdown: str) -> str:
    """What a reader sees of Markdown source that only uses backslash escapes."""
    return re.sub(r"\\(.)", r"\1", markdown)


def errors(at) -> list[str]:
    return [plain(e.value) for e in at.sidebar.error]


def successes(at) -> list[str]:
    return [plain(e.value) for e in at.sidebar.success]


def sidebar_info(at) -> dict:
    df = at.sidebar.table[0].value
    return {k: plain(v) for k, v in zip(df.iloc[:, 0], df.iloc[:, 1])}


@pytest.fixture
def at():
    return started_app()


def test_home_says_what_and_where(at):
    assert at.title[0].value == "RWKV-4, inside out"
    assert any("recurrent" in m.value for m in at.markdown)
    assert at.sidebar.radio(key="picker_source")
    assert sidebar_info(at)["layers x width"] == "6 x 256"


def test_config_file():
    import tomllib
    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert cfg["browser"]["gatherUsageStats"] is False
    assert cfg["client"]["showErrorDetails"] in ("type", "none")
    from app.resources import UPLOAD_LIMIT_MB
    assert cfg["server"]["maxUploadSize"] == UPLOAD_LIMIT_MB       # one limit (tests/test_hardening.py)
    assert cfg["theme"]["base"] == "light"
    # a third of the server's time under 30 sessions (docs/benchmarks.md, classroom load)
    assert cfg["server"]["fileWatcherType"] == "none"
    assert cfg["runner"]["postScriptGC"] is False


def test_no_unsafe_html_anywhere():
    for f in list((ROOT / "app").rglob("*.py")) + list((ROOT / "visuals").rglob("*.py")):
        assert "unsafe_allow_html" not in f.read_text(), f


def test_picker_is_on_every_page(at):
    for page in ("app_pages/explorer.py", "app_pages/home.py"):
        at.switch_page(page).run()
        no_exception(at)
        assert at.sidebar.radio(key="picker_source")
        assert sidebar_info(at)["parameters"] == "6.2 M"


def test_missing_and_corrupt_paths_keep_the_old_model(at, tmp_path):
    at.switch_page("app_pages/explorer.py").run()
    tokens = list(at.session_state["explorer"].tokens)
    at.sidebar.radio(key="picker_source").set_value("path").run()
    at.sidebar.text_input(key="picker_path").set_value(str(tmp_path / "nope.pth"))
    at.sidebar.button(key="picker_load_path").click().run()
    no_exception(at)
    assert any("no such file" in e and "previous model is still loaded" in e for e in errors(at))
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"PK\x03\x04 definitely not a checkpoint" * 10)
    at.sidebar.text_input(key="picker_path").set_value(str(bad))
    at.sidebar.button(key="picker_load_path").click().run()
    no_exception(at)
    assert any("bad.pth" in e for e in errors(at))
    assert sidebar_info(at)["layers x width"] == "6 x 256"
    assert at.session_state["explorer"].tokens == tokens


def test_loading_another_checkpoint_resets_the_explorer(at, small_pth):
    at.switch_page("app_pages/explorer.py").run()
    at.sidebar.radio(key="picker_source").set_value("path").run()
    at.sidebar.text_input(key="picker_path").set_value(str(small_pth))
    at.sidebar.button(key="picker_load_path").click().run()
    no_exception(at)
    assert any("Loaded small.pth" in s for s in successes(at))
    info = sidebar_info(at)
    assert info["layers x width"] == f"{SMALL.n_layer} x {SMALL.n_embd}" and info["tokenizer"].startswith("none")
    s = at.session_state["explorer"]
    assert s.model.config == SMALL and s.tokens == [0, 1, 2]       # ids, as the model has no tokenizer
    at.button(key="ex_step").click().run()
    no_exception(at)
    assert len(at.session_state["explorer"].tokens) == 4
    at.text_area(key="ex_prompt").set_value("hello")
    at.button(key="ex_read").click().run()
    assert any("token ids as numbers" in e.value for e in at.error)
    # and back to the embedded model
    at.sidebar.radio(key="picker_source").set_value("embedded").run()
    at.sidebar.button(key="picker_embedded").click().run()
    no_exception(at)
    assert sidebar_info(at)["layers x width"] == "6 x 256"
    assert at.session_state["explorer"].model.tokenizer is not None


def test_upload_safetensors_and_refuse_code(at, tmp_path, capfd):
    at.sidebar.radio(key="picker_source").set_value("upload").run()
    f = write_safetensors(random_state_dict(SMALL, seed=4), tmp_path / "mine.safetensors")
    at.sidebar.get("file_uploader")[0].set_value(("mine.safetensors", f.read_bytes(), "application/octet-stream")).run()
    no_exception(at)
    assert any("Loaded upload mine.safetensors" in s for s in successes(at))
    assert sidebar_info(at)["layers x width"] == f"{SMALL.n_layer} x {SMALL.n_embd}"

    class Payload:                    # a pickle whose loading would run code
        def __reduce__(self):
            return (print, ("this must never run",))
    buf = io.BytesIO()
    torch.save({"emb.weight": torch.zeros(2, 2), "evil": Payload()}, buf)
    at.sidebar.get("file_uploader")[0].set_value(("evil.pth", buf.getvalue(), "application/octet-stream")).run()
    no_exception(at)
    assert any("refused" in e for e in errors(at))
    assert "this must never run" not in capfd.readouterr().out
    assert sidebar_info(at)["layers x width"] == f"{SMALL.n_layer} x {SMALL.n_embd}"   # the previous one stays


def test_hugging_face_offline_is_a_clear_message(at, monkeypatch):
    from app import hub
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    if hub.cached_snapshot() is not None:
        pytest.skip("the model is in this machine's Hugging Face cache")
    at.sidebar.radio(key="picker_source").set_value("hf").run()
    at.sidebar.button(key="picker_hf").click().run(timeout=30)
    no_exception(at)
    assert any("Cannot reach the Hugging Face Hub" in e for e in errors(at))
    assert sidebar_info(at)["layers x width"] == "6 x 256"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    at.sidebar.button(key="picker_hf").click().run(timeout=30)
    assert any("HF_HUB_OFFLINE" in e for e in errors(at))


def test_names_are_shown_as_typed_not_as_markdown(at, tmp_path):
    from app.resources import md_escape
    assert md_escape("**x** [a](b) :smile: $y$") == r"\*\*x\*\* \[a\]\(b\) \:smile\: \$y\$"
    f = write_safetensors(random_state_dict(SMALL, seed=5), tmp_path / "m.safetensors")
    name = "**big** [click](http:x) :fire:.safetensors"
    at.sidebar.radio(key="picker_source").set_value("upload").run()
    at.sidebar.get("file_uploader")[0].set_value((name, f.read_bytes(), "application/octet-stream")).run()
    no_exception(at)
    shown = [s.value for s in at.sidebar.success] + [h.value for h in at.sidebar.subheader]
    assert any(md_escape(name) in v for v in shown) and not any("**big**" in v for v in shown)
