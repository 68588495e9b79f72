"""scripts/memory_runs.sh, the memory lab's queue, without training anything (DRY_RUN=1): N x widths x
kinds in that order (18 runs: lab.memory.PAIRS_TRAINED x 64, 128 x three kinds), a published model
skipped, and no start while lab.sweep trains unless FORCE=1 (pgrep stubbed: the real one may see the
lead's run)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from lab import memory

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "memory_runs.sh"


def run(tmp_path: Path, sweep_running: bool, **env) -> subprocess.CompletedProcess:
    stubs = tmp_path / "bin"
    stubs.mkdir(exist_ok=True)
    (stubs / "pgrep").write_text(f"#!/bin/sh\nexit {0 if sweep_running else 1}\n")
    (stubs / "pgrep").chmod(0o755)
    env = {**os.environ, "PATH": f"{stubs}:{os.environ['PATH']}", "PYTHON": sys.executable, "DRY_RUN": "1",
           "MODELS": str(tmp_path / "models"), **env}
    return subprocess.run(["bash", str(SCRIPT)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)


def test_the_queue_is_every_n_width_and_kind_and_skips_a_published_model(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "gpt-w128-n8.safetensors").write_bytes(b"")
    out = run(tmp_path, sweep_running=False)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    want = [memory.model_name(k, w, n) for n in memory.PAIRS_TRAINED for w in (64, 128) for k in memory.KINDS]
    assert [line.split(":")[0] for line in lines] == want and len(want) == 18
    assert [line for line in lines if "skipped" in line] == ["gpt-w128-n8: published already, skipped"]
    assert sum(": training (" in line for line in lines) == 17


def test_it_refuses_while_lab_sweep_trains_unless_forced(tmp_path):
    out = run(tmp_path, sweep_running=True)
    assert out.returncode == 1 and "lab.sweep is training" in out.stderr and "FORCE=1" in out.stderr
    assert out.stdout == ""
    forced = run(tmp_path, sweep_running=True, FORCE="1", WIDTHS="256", KINDS="rwkv4")
    assert forced.returncode == 0 and forced.stdout.splitlines()[0].startswith("rwkv4-w256-n4: training")
