"""The README's engine speed figures are read back against the JSON the benchmark wrote
(docs/engine-bench-cpu.json): a rerun that changes the file fails here until the prose follows."""
from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_speed_line_is_the_committed_benchmark():
    data = json.loads((ROOT / "docs/engine-bench-cpu.json").read_text())
    text = " ".join((ROOT / "README.md").read_text().split())
    line = text[text.index("- **Speed**"):text.index("- **Command line**")]
    bounds = data["bounds"]
    for part, bound in (("decode", "decode_bound_tok_s"), ("prefill_512", "prefill_bound_tok_s")):
        p = data["paired"][part]
        said = f"{p['ratio']:.2f}× the package" if part == "decode" else f"{p['ratio']:.2f}× ("
        assert said in line, (part, said)
        assert f"{p['ratio_min']:.2f}–{p['ratio_max']:.2f}" in line, part
        assert f"{100 * p['ours'] / bounds[bound]:.0f}% of" in line, part
    assert f"over {len(data['paired']['decode']['ours_rounds'])} paired rounds" in line
    assert re.search(r"on an AMD EPYC", line) and "AMD EPYC" in data["device"]


def test_the_readme_ablation_line_is_the_committed_evaluations():
    """The rivals' list: the ablation's and RWKV-4's held-out bits/char, from their .eval.json."""
    text = " ".join((ROOT / "README.md").read_text().split())
    bpc = {stem: json.loads((ROOT / "models" / f"{stem}.eval.json").read_text())["total"]["bits_per_char"]
           for stem in ("rwkv4-shiftonly-shakespeare", "rwkv4-shakespeare")}
    assert (f"Held-out {bpc['rwkv4-shiftonly-shakespeare']:.3f} bits/char against RWKV-4's "
            f"{bpc['rwkv4-shakespeare']:.3f} (`python -m lab.evaluate`: models/*.eval.json)") in text
