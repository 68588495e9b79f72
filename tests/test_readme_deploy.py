"""The README's deployment section: its first-visit figures are read back against the JSON their
command wrote (docs/deploy/first_visit_bytes.json), and it links the class deployment's own page."""
from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def mb(n: int) -> str:
    return f"{n / 1e6:.2f} MB"


def section(text: str) -> str:
    return text.split("## Deploying for a class", 1)[1].split("\n## ", 1)[0]


def test_the_first_visit_figures_are_the_json():
    data = json.loads((ROOT / "docs/deploy/first_visit_bytes.json").read_text())
    text = section((ROOT / "README.md").read_text())
    pages = data["pages"]
    direct = {k: p["direct"]["wire_bytes"] for k, p in pages.items()}
    explorer = pages["explorer"]
    assert data["command"] in text
    assert f"{mb(min(direct.values()))} (Home)" in text and min(direct, key=direct.get) == "home"
    assert f"{mb(max(direct.values()))} (Lessons)" in text and max(direct, key=direct.get) == "lessons"
    for n in (explorer["direct"]["wire_bytes"], explorer["direct"]["js_wire_bytes"],
              explorer["proxy_gzip_wire_bytes"], explorer["proxy_br_wire_bytes"]):
        assert mb(n) in text, mb(n)
    assert f"{30 * explorer['direct']['wire_bytes'] / 1e6:.0f} MB" in text        # a class of 30
    # no other size of a first visit is claimed (the old "about 7 MB")
    claimed = set(re.findall(r"(\d+(?:\.\d+)?) MB", text.split("### Behind a compressing", 1)[1].split("```", 1)[0]))
    allowed = {f"{n / 1e6:.2f}" for p in pages.values() for n in
               (p["direct"]["wire_bytes"], p["direct"]["js_wire_bytes"], p["proxy_gzip_wire_bytes"],
                p["proxy_br_wire_bytes"])} | {f"{30 * explorer['direct']['wire_bytes'] / 1e6:.0f}"}
    assert claimed <= allowed, claimed - allowed


def test_the_deployment_section_links_the_class_deployment():
    text = section((ROOT / "README.md").read_text())
    assert "](deploy/README.md)" in text and (ROOT / "deploy/README.md").is_file()
    assert "scripts/serve_class.sh" in text and (ROOT / "scripts/serve_class.sh").is_file()
