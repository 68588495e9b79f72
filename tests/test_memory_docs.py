"""The memory lab's prose read back against its JSON: the README's section and the Memory lab
page carry app.memory_core.summary of docs/memory/results.json (or, while it is missing, the
sentence saying so), and docs/memory-lab.md's tables are the JSON's."""
from __future__ import annotations

import re
from pathlib import Path

from app import memory_core as mc

ROOT = Path(__file__).resolve().parent.parent


def flat(text: str) -> str:
    return " ".join(text.split())


def section(text: str, title: str) -> str:
    start = text.index(title)
    end = text.find("\n## ", start + len(title))
    return text[start:end if end > 0 else None]


def recipe_pairs(results: dict | None) -> int:
    return results["models"][0]["train"]["pairs"] if results else 4


def test_the_readme_summary_is_the_json():
    results = mc.read_results()
    readme = section((ROOT / "README.md").read_text(), "## The memory lab")
    assert flat(mc.summary(results, recipe_pairs(results))) in flat(readme)
    assert "docs/memory-lab.md" in readme and "scripts/memory_runs.sh" in readme


def test_the_docs_tables_are_the_json():
    results = mc.read_results()
    doc = (ROOT / "docs" / "memory-lab.md").read_text()
    if results is None:
        assert "## Results" not in doc          # no tables without their JSON
        return
    assert mc.markdown_tables(results) in doc and results["command"] in doc
    for m in results["models"]:              # each model's budget and time in the note, with the CPU
        assert f"{m['train']['steps']:,}" in doc and m["train"]["cpu"] in doc


def test_every_figure_of_the_summary_is_in_the_json():
    results = mc.read_results()
    text = mc.summary(results, recipe_pairs(results))
    numbers = set(re.findall(r"\d+(?:,\d{3})*(?:\.\d+)?(?:e-?\d+)?", text.replace("RWKV-4", "RWKV")))
    if results is None:
        assert numbers == set()
        return
    known = {f"{m['state_bytes']:,}" for m in results["models"]} | {str(mc.nominal(m["name"])) for m in
                                                                      results["models"]}
    known |= {f"{r['accuracy']:.3f}" for m in results["models"] for r in m["by_pairs"]}
    known |= {f"{max(m['schedules']['max_diff'] for m in results['models'] if m['kind'] == 'rwkv4'):.1e}"}
    known |= {str(r["length"]) for m in results["models"] for r in m["by_length"]}
    known |= {str(recipe_pairs(results)), f"{1 / recipe_pairs(results):.2f}"}
    known |= {f"{m['train']['steps']:,}" for m in results["models"]}
    assert numbers <= known, numbers - known
