"""docs/memory-lab.md's "## Results" section, written from docs/memory/results.json only:

    python scripts/memory_report.py            # rewrite the section in docs/memory-lab.md
    python scripts/memory_report.py --print    # print it

Every number and verdict in it comes from app.memory_core.results_section of the JSON
(`python -m lab.memory --json docs/memory/results.json`); tests/test_memory_docs.py fails when the
committed section differs: rerun this after the JSON changes.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app import memory_core as mc

DOC = Path(__file__).resolve().parent.parent / "docs" / "memory-lab.md"


def replaced(doc: str, section: str) -> str:
    """The document with its "## Results" section (to the next "## " or the end) replaced, or added."""
    start = doc.find("\n## Results\n")
    if start < 0:
        return doc.rstrip("\n") + "\n\n" + section + "\n"
    end = doc.find("\n## ", start + 1)
    return doc[:start + 1] + section + "\n" + (doc[end:] if end > 0 else "")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--print", action="store_true", help="print the section instead of writing it")
    p.add_argument("--doc", type=Path, default=DOC)
    args = p.parse_args(argv)
    results = mc.read_results()
    if results is None:
        sys.exit(f"no results: {mc.MISSING_RESULTS}")
    section = mc.results_section(results)
    if args.print:
        print(section)
        return
    args.doc.write_text(replaced(args.doc.read_text(), section))
    print(f"wrote the Results section of {args.doc}")


if __name__ == "__main__":
    main()
