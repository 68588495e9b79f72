"""The server measures the engine's matrix-product routes when it loads a model, not in a student's
run: after rwkv_core.calibrate.warm_up (started by app.resources._calibrate_soon) every product a Step (1 row), a cascade chunk or a prompt
(any length) makes finds its route chosen, and no run measures again (measuring takes a lock that
60 students' first Steps queued behind, scripts/load_test.py)."""
from pathlib import Path

import pytest
import torch

import lab
from app import resources
from rwkv_core import calibrate, fast


@pytest.fixture
def fresh_routes(monkeypatch):
    monkeypatch.setattr(fast, "ROUTE_TABLE", calibrate.RouteTable())
    return fast.ROUTE_TABLE


def test_after_loading_no_run_measures_again(fresh_routes, monkeypatch):
    model = lab.load_model(None)
    calibrate.warm_up(model)
    assert {k.max_rows for k in map(calibrate.ShapeClass._make, fresh_routes.chosen)} == \
        {top for top, _ in calibrate.ROW_BUCKETS}

    def measured_again(*a, **k):
        raise AssertionError("a run measured a route: its shape class was not calibrated at load")
    monkeypatch.setattr(calibrate, "measure", measured_again)
    threads = torch.get_num_threads()
    with torch.no_grad():
        for n, mode, chunk in ((1, "rnn", None), (5, "cascade", 4), (40, "parallel", None), (300, "parallel", None)):
            model.forward(list(range(n)), mode=mode, chunk=chunk)
    assert torch.get_num_threads() == threads


def test_a_model_of_fixed_positions_is_calibrated_within_them(fresh_routes):
    gpt = lab.load_model("models/gpt-shakespeare.safetensors")
    calibrate.warm_up(gpt)             # reads at most n_ctx tokens: no error
    assert gpt.config.n_ctx >= 1


def test_loading_calibrates_in_a_thread_of_its_own(fresh_routes):
    import threading
    model = lab.load_model(None)
    started = threading.Thread(target=resources._calibrate_soon, args=(model,), daemon=True)   # as from a script
    started.start()                                                                  # thread of Streamlit's
    started.join()
    workers = [t for t in threading.enumerate() if t.name == "calibrate-routes"]
    assert workers and not any(t.daemon for t in workers)      # the interpreter waits for it at exit
    for t in workers:
        t.join(timeout=60)
    assert {calibrate.ShapeClass._make(k).max_rows for k in fresh_routes.chosen} == \
        {top for top, _ in calibrate.ROW_BUCKETS}


def test_a_process_that_ends_while_the_routes_are_measured_exits_cleanly(tmp_path):
    """The app loaded, then the process ends at once, while the calibration thread is (most likely)
    still in a torch call: it exits 0. With a daemon thread it aborted at exit ("terminate called
    without an active exception", SIGABRT), and so did every spawned child of a later test, which
    re-ran the app as its __main__ (tests/conftest.py, restore_main)."""
    import subprocess
    import sys
    script = tmp_path / "load_and_leave.py"
    script.write_text("import sys\nsys.path[:0] = [sys.argv[1]]\nfrom app import resources\n"
                      "resources.load_path('', 0)\n")
    done = subprocess.run([sys.executable, str(script), str(Path(__file__).resolve().parents[1])], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 0 and "terminate called" not in done.stderr, done.stderr[-2000:]
