"""The memory lab's prose read back against its JSON: the README's section and the Memory lab
page carry app.memory_core.summary of docs/memory/results.json (or, while it is missing, the
sentence saying so), docs/memory-lab.md's tables are the JSON's, and every figure of its section
"The recipe, per N" is read back from the pilots' logs (docs/memory/pilots/*.log.json) or the recipe."""
from __future__ import annotations

import json
import re
from pathlib import Path

from app import memory_core as mc
from lab import memory

ROOT = Path(__file__).resolve().parent.parent
PILOTS = ("gptA", "rwkvA", "lstmA", "gptM")
NUMBER = r"\d+(?:,\d{3})*(?:\.\d+)?(?:e-?\d+)?"


def flat(text: str) -> str:
    return " ".join(text.split())


def section(text: str, title: str) -> str:
    start = text.index(title)
    end = text.find("\n## ", start + len(title))
    return text[start:end if end > 0 else None]


def test_the_readme_summary_is_the_json():
    results = mc.read_results()
    readme = section((ROOT / "README.md").read_text(), "## The memory lab")
    assert flat(mc.summary(results)) in flat(readme)
    assert "docs/memory-lab.md" in readme and "scripts/memory_runs.sh" in readme


def test_the_docs_tables_are_the_json():
    results = mc.read_results()
    doc = (ROOT / "docs" / "memory-lab.md").read_text()
    if results is None:
        assert "## Results" not in doc          # no tables without their JSON
        return
    # the whole section is written from the JSON (python scripts/memory_report.py): tables, conditions, verdicts
    assert section(doc, "\n## Results\n").strip() == mc.results_section(results).strip(), \
        "docs/memory-lab.md's Results differ from the JSON: run python scripts/memory_report.py"
    assert mc.markdown_tables(results) in doc and results["command"] in doc
    for m in results["models"]:              # each model's budget and time in the note, with the CPU
        assert f"{m['train']['steps']:,}" in doc and m["train"]["cpu"] in doc


def test_the_report_replaces_only_the_results_section():
    from scripts.memory_report import replaced
    doc = "# T\n\nintro\n\n## Results\n\nold\n\n## After\n\nkept\n"
    assert replaced(doc, "## Results\n\nnew") == "# T\n\nintro\n\n## Results\n\nnew\n\n## After\n\nkept\n"
    assert replaced("# T\n", "## Results\n\nnew") == "# T\n\n## Results\n\nnew\n"
    assert replaced("# T\n\n## Results\n\nold\n", "## Results\n\nnew") == "# T\n\n## Results\n\nnew\n"


def test_every_figure_of_the_summary_is_in_the_json():
    results = mc.read_results()
    text = mc.summary(results)
    numbers = set(re.findall(NUMBER, text.replace("RWKV-4", "RWKV")))
    if results is None:
        assert numbers == set()
        return
    known = {f"{m['state_bytes']:,}" for m in results["models"]} | {str(mc.nominal(m["name"])) for m in
                                                                      results["models"]}
    known |= {f"{r['accuracy']:.3f}" for m in results["models"] for r in m["by_pairs"]}
    known |= {f"{max(m['schedules']['max_diff'] for m in results['models'] if m['kind'] == 'rwkv4'):.1e}"}
    known |= {str(r["length"]) for m in results["models"] for r in m["by_length"]}
    known |= {s for n in mc.pairs_trained(results) for s in (str(n), f"{1 / n:.2f}")}
    known |= {f"{m['train']['steps']:,}" for m in results["models"]} | {"0.1"}          # "inconclusive (within 0.1)"
    known |= {str(m["train"]["length"]) for m in results["models"]} | {"1"}                 # "1/N"
    assert numbers <= known, numbers - known


def pilot(name: str) -> dict:
    return json.loads((ROOT / "docs" / "memory" / "pilots" / f"{name}.log.json").read_text())


def accuracy_at(log: dict, step: int) -> float:
    return next(v["accuracy"] for v in log["val"] if v["step"] == step)


def pilot_row(name: str) -> str:
    """A pilot's row of the table in "The recipe, per N", every cell from its log."""
    log = pilot(name)
    r, titles = log["recipe"], {"gpt": "GPT", "rwkv4": "RWKV-4", "lstm": "stacked LSTM"}
    n = f"mix {r['mqar_mix'].replace(',', ', ')} (validated at {r['mqar_pairs']})" if r["mqar_mix"] else r["mqar_pairs"]
    layout = {0: "gap 0 (no pad)", -2: "pairs first", -1: "random gaps"}[r["mqar_gap"]]
    s = log["sessions"][0]
    return (f"| {name} | {titles[log['kind']]} | {r['n_embd']} | {log['params']:,} | {n} | {r['ctx_len']} | {layout} "
            f"| {r['init']} | {r['total_steps']:,} | {log['seconds']:.1f} | {s['load'][0]} | "
            + " | ".join(f"{accuracy_at(log, t):.3f}" for t in (250, 500, 1000)) + f" | {log['final']['accuracy']:.3f} |")


def test_the_recipe_per_n_section_reads_its_figures_from_the_pilots_logs():
    doc = section((ROOT / "docs" / "memory-lab.md").read_text(), "## The recipe, per N (2026-12-06)")
    logs = {name: pilot(name) for name in PILOTS}
    for name, log in logs.items():
        assert pilot_row(name) in doc, name
        s = log["sessions"][0]
        assert s["cpu"] == "AMD EPYC" and s["threads"] == 1 and log["recipe"]["init"] == "torch"
    known = {f"{v['accuracy']:.3f}" for log in logs.values() for v in log["val"]}
    known |= {f"{log['seconds']:.1f}" for log in logs.values()} | {f"{log['params']:,}" for log in logs.values()}
    known |= {f"{v['step']:,}" for log in logs.values() for v in log["val"]} | {str(v["step"]) for log in
                                                                                 logs.values() for v in log["val"]}
    known |= {str(log["sessions"][0]["load"][0]) for log in logs.values()}
    known |= {str(log["recipe"][k]).replace(",", ", ") for log in logs.values() for k in log["recipe"]}
    known |= {f"{memory.STEPS:,}", "3e-3", "3", "2", "64", "128", "256", "100", "18", "2026-12-06", "1", "0"}
    known |= {str(n) for n in memory.PAIRS_TRAINED} | {"-2", "1e-3"}
    known |= {f"{1 / logs['rwkvA']['recipe']['mqar_pairs']:.3f}"}                    # 1/N, the plateau
    solved = next(v["step"] for v in logs["gptA"]["val"] if v["accuracy"] > 0.9)      # the GPT's plateau ends
    known |= {str(memory.STEPS // solved)}                                            # "5 times that"
    numbers = set(re.findall(NUMBER, flat(doc).replace("RWKV-4", "RWKV").replace("GPT-2", "GPT")
                             .replace("2026-12-06", "")))
    assert numbers <= known, numbers - known
