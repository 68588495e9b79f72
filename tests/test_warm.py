"""scripts/warm.py, run as serve_class.sh runs it (`python -m scripts.warm`, its own process): a fresh
app process opens the Explorer once and is then warm (its second first page is faster), a replica
elsewhere than this machine is refused by name, and no address is a usage error."""
import subprocess
import sys
from pathlib import Path

from scripts.st_client import ROOT, free_port, start_server, stop_server


def warm(*addresses: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scripts.warm", *addresses], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_a_fresh_process_is_warmed_and_stays_warm(tmp_path: Path):
    port = free_port()
    server = start_server(port, tmp_path / "server.log")
    try:
        first = warm(f"127.0.0.1:{port}")
        assert first.returncode == 0, first.stderr
        assert first.stdout.startswith(f"warmed 127.0.0.1:{port} (")
        again = warm(f"127.0.0.1:{port}")                       # the imports and the model are in memory now
        assert again.returncode == 0, again.stderr
        seconds = [float(r.stdout.split("(")[1].split(" s")[0]) for r in (first, again)]
        assert seconds[1] < seconds[0]
    finally:
        stop_server(server)


def test_only_this_machines_replicas_and_an_address_is_needed():
    far = warm("10.0.0.1:8501")
    assert far.returncode == 1
    assert "warm only a replica on this machine (127.0.0.1:PORT), not '10.0.0.1:8501'" in far.stderr
    assert warm("127.0.0.1:notaport").returncode == 1
    none = warm()
    assert none.returncode == 2 and "usage: python -m scripts.warm HOST:PORT" in none.stderr
