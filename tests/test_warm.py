"""scripts/warm.py: a fresh app process opens the Explorer once and is then warm (its second first page
is fast), a replica elsewhere than this machine is refused by name, and no address is a usage error."""
from pathlib import Path

from scripts import warm
from scripts.st_client import free_port, start_server, stop_server


def test_a_fresh_process_is_warmed_and_stays_warm(tmp_path: Path, capsys):
    port = free_port()
    server = start_server(port, tmp_path / "server.log")
    try:
        assert warm.main([f"127.0.0.1:{port}"]) == 0
        first = capsys.readouterr().out
        assert first.startswith(f"warmed 127.0.0.1:{port} (")
        assert warm.main([f"127.0.0.1:{port}"]) == 0          # the imports and the model are in memory now
        again = float(capsys.readouterr().out.split("(")[1].split(" s")[0])
        assert again < float(first.split("(")[1].split(" s")[0])
    finally:
        stop_server(server)


def test_only_this_machines_replicas_and_an_address_is_needed(capsys):
    assert warm.main(["10.0.0.1:8501"]) == 1
    assert "warm only a replica on this machine (127.0.0.1:PORT), not '10.0.0.1:8501'" in capsys.readouterr().err
    assert warm.main(["127.0.0.1:notaport"]) == 1
    assert warm.main([]) == 2
    assert "usage: python -m scripts.warm HOST:PORT" in capsys.readouterr().err
