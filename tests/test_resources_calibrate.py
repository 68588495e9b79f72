"""The server measures the engine's matrix-product routes when it loads a model, not in a student's
run: after app.resources._calibrate every product a Step (1 row), a cascade chunk or a prompt
(any length) makes finds its route chosen, and no run measures again (measuring takes a lock that
60 students' first Steps queued behind, scripts/load_test.py)."""
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
    resources._calibrate(model)
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
    resources._calibrate(gpt)             # reads at most n_ctx tokens: no error
    assert gpt.config.n_ctx >= 1


def test_loading_calibrates_in_a_thread_of_its_own(fresh_routes):
    import threading
    model = lab.load_model(None)
    resources._calibrate_soon(model)
    workers = [t for t in threading.enumerate() if t.name == "calibrate-routes"]
    assert workers and all(t.daemon for t in workers)
    for t in workers:
        t.join(timeout=60)
    assert {calibrate.ShapeClass._make(k).max_rows for k in fresh_routes.chosen} == \
        {top for top, _ in calibrate.ROW_BUCKETS}
