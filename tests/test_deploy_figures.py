"""deploy/README.md's first-visit table is read back against the JSON its command wrote
(docs/deploy/first_visit_bytes.json, `python scripts/first_visit_bytes.py --json ...`)."""
from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = {"Home": "home", "Explorer": "explorer", "Scheduling Lab": "scheduling_lab", "Lessons": "lessons",
         "Why RWKV, measured": "why_rwkv"}


def mb(n: int) -> str:
    return f"{n / 1e6:.2f}"


def test_the_first_visit_table_is_the_json():
    data = json.loads((ROOT / "docs/deploy/first_visit_bytes.json").read_text())
    text = (ROOT / "deploy/README.md").read_text()
    assert data["command"] in text or "first_visit_bytes.json" in text
    rows = {m.group(1).strip(): [float(x) for x in re.findall(r"(\d+\.\d\d)", m.group(2))]
            for m in re.finditer(r"^\| ([A-Z][^|]+?)\s*\|(.+)$", text, re.M) if m.group(1).strip() in PAGES}
    assert set(rows) == set(PAGES)
    for label, key in PAGES.items():
        p = data["pages"][key]
        expected = [mb(p["direct"]["wire_bytes"]), mb(p["proxy_gzip_wire_bytes"]), mb(p["proxy"]["wire_bytes"]),
                    mb(p["direct"]["js_wire_bytes"]), mb(p["proxy"]["js_wire_bytes"])]
        assert [f"{x:.2f}" for x in rows[label]] == expected, label
    explorer = data["pages"]["explorer"]
    for what, n in (("direct", explorer["direct"]["wire_bytes"]), ("gzip", explorer["proxy_gzip_wire_bytes"])):
        assert f"{30 * n / 1e6:.0f} MB" in text, what          # a class of 30 on the Explorer
