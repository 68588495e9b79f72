"""The Memory lab page in the real app (AppTest): without results or models it says what is
missing and how to make it; with tiny models (trained here, published and measured as the real
ones are, at N = 2 and 4) it draws the charts, the length chart for the models of the N chosen, and
the live probe gives one answer line per model trained at the student's N (or the nearest trained N
above it, said on the page), refuses bad input with its reason while keeping it, and follows N."""
from __future__ import annotations

import json

import pytest
from app_helpers import chart_titles, no_exception, started_app
from memory_helpers import tiny_models

from app import memory_core as mc
from lab import memory

PAGE = "app_pages/memory_lab.py"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("memory_page")
    tiny_models(root)
    (root / "results.json").write_text(json.dumps(memory.measure_all(root / "published", 10)))
    return root


def markdown(at) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_missing_results_and_models_are_said(monkeypatch, tmp_path):
    monkeypatch.setattr(mc, "RESULTS", tmp_path / "results.json")
    monkeypatch.setattr(mc, "MODELS", tmp_path / "models")
    at = started_app(PAGE)
    infos = " ".join(i.value for i in at.info)
    assert mc.MISSING_RESULTS in infos and mc.MISSING_MODELS in infos
    assert "not measured yet" in markdown(at) and at.title[0].value == "Memory lab"


def test_the_page_draws_the_charts_and_the_probe_answers_for_every_model(monkeypatch, tiny):
    monkeypatch.setattr(mc, "RESULTS", tiny / "results.json")
    monkeypatch.setattr(mc, "MODELS", tiny / "published")
    at = started_app(PAGE)
    titles = chart_titles(at)
    for start in ("Recall against the bytes of state", "Recall against the number", "Recall against the sequence",
                  "The probe as N grows", "RWKV-4: how much"):
        assert any(t.startswith(start) for t in titles), (start, titles)
    assert any(t.startswith("Recall against the sequence length (N = 2") for t in titles)
    at.selectbox(key="mem_len_n").set_value(4).run()
    assert any(t.startswith("Recall against the sequence length (N = 4") for t in chart_titles(at))
    lines = [m for m in markdown(at).splitlines() if " answered " in m]
    assert at.slider[0].value == 2 and len(lines) == 3 and all("of 2 right" in m for m in lines)
    assert any("The models trained at N = 2 read this probe (6 tokens)" in c.value for c in at.caption)
    at.slider(key="mem_n").set_value(3).run()
    no_exception(at)
    assert any("No model was trained at N = 3: the models trained at N = 4" in c.value for c in at.caption)
    lines = [m for m in markdown(at).splitlines() if " answered " in m]
    assert len(lines) == 3 and all("of 3 right" in m for m in lines)
    at.text_input(key="mem_pairs").set_value("3:20, 3:21").run()
    no_exception(at)
    assert "each key once" in at.error[0].value and at.text_input(key="mem_pairs").value == "3:20, 3:21"
    at.slider(key="mem_n").set_value(1).run()
    no_exception(at)
    assert not at.error and len(at.text_input(key="mem_queries").value.split(",")) == 1
    assert all("of 1 right" in m for m in markdown(at).splitlines() if " answered " in m)


def test_an_n_above_every_trained_one_is_read_by_the_largest_and_said(monkeypatch, tmp_path):
    """Models trained at N = 2 on sequences of 12 tokens (room for 4 pairs): a student's N = 4 is read by
    them, and the page says so."""
    published = tiny_models(tmp_path, pairs=(2,), ctx_len=12)
    (tmp_path / "results.json").write_text(json.dumps(memory.measure_all(published, 10)))
    monkeypatch.setattr(mc, "RESULTS", tmp_path / "results.json")
    monkeypatch.setattr(mc, "MODELS", published)
    committed = mc.by_trained_n(mc.model_paths(published))
    top, most = max(committed), mc.setting_of(committed[max(committed)][-1]).length // 3
    assert (top, most) == (2, 4)
    at = started_app(PAGE)
    at.slider(key="mem_n").set_value(most).run()
    no_exception(at)
    assert any(f"No model was trained at N = {most}: the models trained at N = {top}, the largest trained N"
               in c.value for c in at.caption)
    lines = [m for m in markdown(at).splitlines() if " answered " in m]
    assert len(lines) == len(committed[top]) and all(f"of {most} right" in m for m in lines)
