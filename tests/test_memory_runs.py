"""scripts/memory_runs.sh, the memory lab's queue, without training anything (DRY_RUN=1): N x widths x
kinds in that order (18 runs: lab.memory.PAIRS_TRAINED x 64, 128 x three kinds), a published model
skipped, and no start while lab.sweep trains unless FORCE=1 (pgrep stubbed: the real one may see the
lead's run)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
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
    return subprocess.run(["bash", str(SCRIPT)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)


def publish_fake(models: Path, name: str, **recipe_changes) -> None:
    """A published model's files, its log's recipe today's (or changed: an earlier recipe)."""
    kind, width, pairs = name.split("-")
    r = {**asdict(memory.recipe(kind, int(width[1:]), int(pairs[1:]), memory.STEPS)), **recipe_changes}
    (models / f"{name}.safetensors").write_bytes(b"")
    (models / f"{name}.log.json").write_text(json.dumps({"recipe": r}))


def test_the_queue_is_every_n_width_and_kind_and_skips_a_model_of_todays_recipe(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    publish_fake(models, "gpt-w128-n8")
    publish_fake(models, "rwkv4-w64-n4", init="kind", lr_peak=1e-3)      # the N = 4 runs before lab.inits
    out = run(tmp_path, sweep_running=False)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    want = [memory.model_name(k, w, n) for n in memory.PAIRS_TRAINED for w in (64, 128) for k in memory.KINDS]
    assert [line.split(":")[0] for line in lines] == want and len(want) == 18
    assert [line for line in lines if "skipped" in line] == ["gpt-w128-n8: published already, skipped"]
    assert sum(": training (" in line for line in lines) == 17
    assert memory.current("gpt-w128-n8", models) and not memory.current("rwkv4-w64-n4", models)
    assert not memory.current("lstm-w64-n16", models)                    # not published at all


def test_it_refuses_while_lab_sweep_trains_unless_forced(tmp_path):
    out = run(tmp_path, sweep_running=True)
    assert out.returncode == 1 and "lab.sweep is training" in out.stderr and "FORCE=1" in out.stderr
    assert out.stdout == ""
    forced = run(tmp_path, sweep_running=True, FORCE="1", WIDTHS="256", KINDS="rwkv4")
    assert forced.returncode == 0 and forced.stdout.splitlines()[0].startswith("rwkv4-w256-n4: training")
