"""`python -m rwkv_core info` reads RWKV-4 only and says so for another kind; `python -m lab info`
reads every registered kind with the same command line."""
from __future__ import annotations

import subprocess
import sys

from lab.kinds import SHIPPED


def run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=120,
                          env={"OMP_NUM_THREADS": "1", "PATH": ""})


def test_lab_info_reads_every_shipped_kind_and_the_engine_refuses_the_rivals():
    lstm, gpt = SHIPPED["lstm-shakespeare"].path, SHIPPED["gpt-shakespeare"].path
    import lab
    out = run("lab", "info", str(lstm))
    n_params = lab.load_model(lstm).config.n_params
    assert out.returncode == 0 and "kind        lstm" in out.stdout and f"parameters  {n_params:,}" in out.stdout
    assert "kind        gpt" in run("lab", "info", str(gpt)).stdout
    refused = run("rwkv_core", "info", str(lstm))
    assert refused.returncode == 1 and "not an RWKV-4 checkpoint" in refused.stderr
    assert "kind        rwkv4" in run("rwkv_core", "info").stdout
