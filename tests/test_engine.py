"""The engine agrees with itself: every schedule and chunk size, whole = split with state,
recorder on = off, stable = naive, and plans are what they claim."""
import math

import pytest
import torch
from tolerances import CARRIED, OTHER_KERNEL, assert_close, assert_states_close

import rwkv_core
from lab.kinds import KINDS
from lab.reference import wkv_naive  # the paper's formula, sum by sum: overflows for large k
from rwkv_core import fast, ops
from rwkv_core.schedule import expected_steps, plan


def test_stable_equals_naive_on_safe_inputs():
    g = torch.Generator().manual_seed(0)
    C, T = 16, 40
    w = -torch.exp(torch.empty(C).uniform_(-3, 1, generator=g))
    u = torch.empty(C).uniform_(-1, 1, generator=g)
    k, v = torch.randn(T, C, generator=g), torch.randn(T, C, generator=g)
    zero, neg = torch.zeros(C), torch.full((C,), rwkv_core.state.NEG_INF)
    ref = wkv_naive(w.double(), u.double(), k.double(), v.double()).float()
    seq, _ = ops.wkv_sequential(w, u, k, v, zero, zero, neg)
    par, _ = fast.wkv_parallel(w, u, k, v, zero, zero, neg)
    assert (seq - ref).abs().max() < 1e-5
    assert (par - ref).abs().max() < 1e-5


def test_naive_overflows_where_stable_does_not():
    C = 4
    w, u = -torch.ones(C), torch.ones(C)
    k = torch.full((3, C), 100.0)
    v = torch.randn(3, C)
    assert not torch.isfinite(wkv_naive(w, u, k, v)).all()
    zero, neg = torch.zeros(C), torch.full((C,), rwkv_core.state.NEG_INF)
    assert torch.isfinite(fast.wkv_parallel(w, u, k, v, zero, zero, neg)[0]).all()


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("out_f, rows", [(6, 1), (7, 1), (7, 5), (50, 3), (1, 2)])
def test_linear_equals_f_linear(threads, out_f, rows, monkeypatch):
    """fast.linear's split route (two halves of a column-major weight's outputs, one per core) gives
    F.linear's result; so does the route this machine's calibration chose."""
    g = torch.Generator().manual_seed(3)
    weight = torch.randn(out_f, 9, generator=g).t().contiguous().t()   # (out, in), stored column by column
    x = torch.randn(2, rows, 9, generator=g)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    calls = []
    monkeypatch.setattr(fast.torch, "bmm", lambda *a: calls.append(1) or torch._C._VariableFunctions.bmm(*a))
    try:
        with torch.inference_mode():
            y_auto = fast.linear(x, weight)
            calls.clear()
            with fast.routes_forced("split"):
                y = fast.linear(x, weight)
                y_rowmajor = fast.linear(x, weight.contiguous())
    finally:
        torch.set_num_threads(before)
    ref = torch.nn.functional.linear(x, weight)
    assert y.shape == y_auto.shape == ref.shape == (2, rows, out_f)
    assert torch.allclose(y, ref, atol=1e-5) and torch.allclose(y_rowmajor, ref, atol=1e-5)
    assert torch.allclose(y_auto, ref, atol=1e-5)
    # the split ran exactly when it could: two threads, a column-major weight with two or more outputs
    assert len(calls) == (1 if threads == 2 and out_f >= 2 else 0)


@pytest.mark.parametrize("onednn", [True, False])
def test_linear_many_rows_equals_f_linear(onednn, monkeypatch):
    """Many rows by oneDNN's route: its kernel where this machine has it, else F.linear."""
    if onednn and fast._ONEDNN_LINEAR is None:
        pytest.skip("this torch build or machine has no oneDNN linear kernel")
    calls = []
    real = fast._ONEDNN_LINEAR
    monkeypatch.setattr(fast, "_ONEDNN_LINEAR", (lambda *a: calls.append(1) or real(*a)) if onednn else None)
    g = torch.Generator().manual_seed(5)
    weight = torch.randn(33, 16, generator=g).t().contiguous().t()
    x = torch.randn(2, 64, 16, generator=g)                           # 2 x 64 rows
    with torch.inference_mode(), fast.routes_forced("onednn"):
        y = fast.linear(x, weight)
    assert torch.allclose(y, torch.nn.functional.linear(x, weight), atol=1e-5)
    assert len(calls) == (1 if onednn else 0)
    # with autograd the plain product runs, and gradients flow
    w = weight.clone().requires_grad_()
    with fast.routes_forced("onednn"):
        fast.linear(x, w).sum().backward()
    assert len(calls) == (1 if onednn else 0) and w.grad is not None


def extreme_wkv_inputs(C: int, T: int, seed: int):
    """w, u, k, v and a start state (aa, bb, pp) with time_decay -8..3, time_first -2..4 and large k."""
    g = torch.Generator().manual_seed(seed)
    w = -torch.exp(torch.empty(C).uniform_(-8, 3, generator=g))
    u = torch.empty(C).uniform_(-2, 4, generator=g)
    k, v = 5 * torch.randn(T, C, generator=g), torch.randn(T, C, generator=g)
    aa, bb, pp = torch.randn(C, generator=g), torch.rand(C, generator=g) + 0.1, torch.randn(C, generator=g)
    return w, u, k, v, aa, bb, pp


@pytest.mark.parametrize("block", [1, 2, 3, 8, 16, 100])
def test_parallel_wkv_any_block_size(block):
    w, u, k, v, aa, bb, pp = extreme_wkv_inputs(C=8, T=45, seed=2)
    y1, s1 = ops.wkv_sequential(w, u, k, v, aa, bb, pp)
    y2, s2 = fast.wkv_parallel(w, u, k, v, aa, bb, pp, block=block)
    assert (y1 - y2).abs().max() < 1e-4
    assert (s1[2] - s2[2]).abs().max() < 1e-4
    assert torch.allclose(s1[0] / s1[1], s2[0] / s2[1], atol=1e-4)


@pytest.mark.parametrize("block, group", [(1, 8), (4, 8), (1, 2), (3, 5)])
def test_parallel_wkv_long_carry(block, group, monkeypatch):
    """Hundreds of blocks: the state is carried in groups of groups (fast._carry recursing), and
    still equals the token-by-token recurrence, with extreme decays and a non-trivial start state."""
    monkeypatch.setattr(fast, "CARRY_GROUP", group)
    w, u, k, v, aa, bb, pp = extreme_wkv_inputs(C=6, T=611, seed=4)
    y1, s1 = ops.wkv_sequential(w.double(), u.double(), k.double(), v.double(), aa.double(), bb.double(),
                                pp.double())
    y2, s2 = fast.wkv_parallel(w, u, k, v, aa, bb, pp, block=block)
    assert (y1 - y2).abs().max() < 1e-4
    assert (s1[2] - s2[2]).abs().max() < 1e-3
    assert torch.allclose((s1[0] / s1[1]).float(), s2[0] / s2[1], atol=1e-4)


def test_every_chunk_size_gives_the_same_logits(small_model):
    tokens = list(range(5, 5 + 29))
    ref, ref_state = small_model.forward(tokens, mode="rnn")
    for chunk in range(1, len(tokens) + 1):
        logits, state = small_model.forward(tokens, mode="cascade", chunk=chunk)
        assert_close(logits, ref, OTHER_KERNEL, f"cascade chunk {chunk} logits")
        assert_states_close(state, ref_state, CARRIED, f"cascade chunk {chunk} state")


@pytest.mark.parametrize("mode", ["rnn", "cascade", "parallel"])
def test_whole_equals_split_with_state(small_model, long_tokens, mode):
    whole, whole_state = small_model.forward(long_tokens[:90], mode=mode, chunk=4)
    a, st = small_model.forward(long_tokens[:37], mode=mode, chunk=4)
    b, st = small_model.forward(long_tokens[37:90], st, mode=mode, chunk=4)
    assert_close(torch.cat([a, b]), whole, OTHER_KERNEL, f"{mode} split logits")
    assert_states_close(st, whole_state, CARRIED, f"{mode} split state")


def test_forward_does_not_modify_the_state_given(small_model):
    _, st = small_model.forward([1, 2, 3])
    before = st.clone()
    small_model.forward([4, 5], st, mode="parallel")
    small_model.forward([4, 5], st, mode="rnn")
    assert st.max_abs_diff(before) == {k: 0.0 for k in before.max_abs_diff(before)}


def test_last_logits_only(small_model):
    tokens = [3, 1, 4, 1, 5, 9, 2, 6]
    full, _ = small_model.forward(tokens, mode="parallel")
    for mode in ("rnn", "cascade", "parallel"):
        last, _ = small_model.forward(tokens, mode=mode, chunk=3, all_logits=False)
        assert last.shape == (small_model.config.vocab_size,)
        assert_close(last, full[-1], OTHER_KERNEL, f"{mode} last logits")


@pytest.mark.parametrize("mode,chunk", [("rnn", None), ("cascade", 3), ("parallel", None)])
def test_recorder_on_equals_off(small_model, mode, chunk):
    tokens = list(range(20))
    off, off_state = small_model.forward(tokens, mode=mode, chunk=chunk)
    rec = rwkv_core.Recorder()
    on, on_state = small_model.forward(tokens, mode=mode, chunk=chunk, recorder=rec)
    assert torch.equal(on, off)
    assert on_state.max_abs_diff(off_state)["aa"] == 0.0
    assert set(rec.names()) == set(rwkv_core.trace.point_names(small_model.config.n_layer))
    assert rec["blocks.2.att.wkv"].shape == (20, small_model.config.n_embd)


def test_recorded_state_matches_the_returned_state(small_model):
    tokens = list(range(11))
    rec = rwkv_core.Recorder(["blocks.*.att.aa", "blocks.*.att.bb", "blocks.*.att.pp"])
    _, state = small_model.forward(tokens, mode="parallel", recorder=rec)
    assert "blocks.0.att.wkv" not in rec
    for i, layer in enumerate(state.layers):
        assert torch.allclose(rec[f"blocks.{i}.att.aa"][-1] / rec[f"blocks.{i}.att.bb"][-1],
                              layer.aa / layer.bb, atol=1e-5)


def test_recorded_points_follow_the_equations(small_model):
    """Spot-check recorded intermediates against the formulas they name."""
    tokens = [7, 8, 9, 10]
    rec = rwkv_core.Recorder()
    small_model.forward(tokens, mode="rnn", recorder=rec)
    att = small_model.weights.blocks[1].att
    xr = rec["blocks.1.att.xr"]
    assert torch.allclose(rec["blocks.1.att.r"], torch.sigmoid(xr @ att.receptance.T), atol=1e-6)
    assert torch.allclose(rec["blocks.1.resid_mid"], rec["blocks.0.resid"] + rec["blocks.1.att.out"], atol=1e-6)


# --- plans -------------------------------------------------------------------------------------

@pytest.mark.parametrize("L,T,chunk", [(1, 1, 1), (3, 7, 1), (3, 7, 2), (4, 10, 3), (12, 64, 16), (2, 5, 99)])
def test_plan_step_counts(L, T, chunk):
    assert plan("rnn", n_layer=L, n_tokens=T).n_steps == L * T
    assert plan("cascade", n_layer=L, n_tokens=T, chunk=chunk).n_steps == L + math.ceil(T / min(chunk, T)) - 1
    assert plan("parallel", n_layer=L, n_tokens=T).n_steps == L
    for mode in ("rnn", "cascade", "parallel"):
        p = plan(mode, n_layer=L, n_tokens=T, chunk=chunk)
        p.validate()
        assert p.n_steps == expected_steps(mode, L, T, min(chunk, T))


def test_cascade_steps_are_diagonals():
    p = plan("cascade", n_layer=3, n_tokens=8, chunk=2)
    for s, step in enumerate(p.steps):
        assert all(c.layer + c.start // 2 == s for c in step)


def test_dependencies_and_red_line():
    rnn = plan("rnn", n_layer=3, n_tokens=4, deps=KINDS["redline"].deps)
    cell = rnn.cell_at(0, 2)
    assert rwkv_core.Cell(2, 1, 2) in rnn.dependencies(cell)  # top layer of the previous token
    rwkv_rnn = plan("rnn", n_layer=3, n_tokens=4)               # RWKV run one cell at a time: no red line
    assert rwkv_core.Cell(2, 1, 2) not in rwkv_rnn.dependencies(rwkv_rnn.cell_at(0, 2))
    cas = plan("cascade", n_layer=3, n_tokens=4, chunk=1)
    assert rwkv_core.Cell(2, 1, 2) not in cas.dependencies(cas.cell_at(0, 2))
    assert len(rnn.critical_path()) == 12 and len(cas.critical_path()) == 3 + 4 - 1
    # without the red line nothing forces the rnn order: its longest chain is the cascade's
    assert len(rwkv_rnn.critical_path()) == 3 + 4 - 1


@pytest.mark.parametrize("mode", ["cascade", "parallel"])
def test_the_red_line_refuses_every_order_but_rnn(mode):
    with pytest.raises(ValueError, match="red line"):
        plan(mode, n_layer=3, n_tokens=4, chunk=1, deps=KINDS["redline"].deps)
    assert KINDS["redline"].deps.allowed(3) == ("rnn",)
    assert KINDS["lstm"].deps.allowed(3) == KINDS["rwkv4"].deps.allowed(3) == ("rnn", "cascade", "parallel")


@pytest.mark.parametrize("L,T,chunk", [(1, 1, 1), (3, 7, 1), (3, 7, 2), (4, 10, 3), (6, 64, 16), (2, 5, 99)])
def test_critical_path_in_matrix_product_steps(L, T, chunk):
    """RWKV: a step of wide cells is one product step (parallel: L). LSTM: a cell over n tokens is
    n sequential products (parallel: L·T; best, the chunk-1 cascade: L + T − 1). Red line: L·T."""
    rwkv, lstm, red = KINDS["rwkv4"].deps, KINDS["lstm"].deps, KINDS["redline"].deps
    c = min(chunk, T)
    assert plan("parallel", n_layer=L, n_tokens=T, deps=rwkv).product_steps == L
    assert plan("cascade", n_layer=L, n_tokens=T, chunk=chunk, deps=rwkv).product_steps == L + math.ceil(T / c) - 1
    assert plan("parallel", n_layer=L, n_tokens=T, deps=lstm).product_steps == L * T
    assert plan("cascade", n_layer=L, n_tokens=T, chunk=1, deps=lstm).product_steps == L + T - 1
    cas = plan("cascade", n_layer=L, n_tokens=T, chunk=chunk, deps=lstm)
    assert cas.product_steps >= L + T - 1
    if T % c == 0:
        assert cas.product_steps == c * (L + T // c - 1)
    assert plan("rnn", n_layer=L, n_tokens=T, deps=red).product_steps == L * T
    for kind in (rwkv, lstm, red):
        for mode in kind.allowed(L):
            plan(mode, n_layer=L, n_tokens=T, chunk=chunk, deps=kind).validate()


def test_a_plan_that_breaks_a_dependency_is_caught():
    good = plan("cascade", n_layer=2, n_tokens=3, chunk=1)
    bad = rwkv_core.Plan("cascade", 2, 3, 1, tuple(reversed(good.steps)))
    with pytest.raises(AssertionError):
        bad.validate()


def test_forward_executes_the_plan_it_is_given(small_model):
    """Timings come back per step and per cell of exactly the plan given."""
    p = small_model.plan_for(10, "cascade", 4)
    res = small_model.run_plan(p, list(range(10)), timed=True)
    assert [len(s) for s in res.timings.cell_seconds] == [len(s) for s in p.steps]
    assert res.timings.total_seconds >= sum(res.timings.step_seconds) * 0.5
    assert res.timings.device.startswith("CPU")


@pytest.mark.parametrize("bad", [dict(mode="gpt"), dict(n_layer=0), dict(n_tokens=0), dict(chunk=0), dict(chunk=1.5)])
def test_bad_plan_arguments(bad):
    args = dict(mode="cascade", n_layer=2, n_tokens=3, chunk=1) | bad
    with pytest.raises(ValueError):
        plan(args.pop("mode"), **args)


# --- state ---------------------------------------------------------------------------------------

def test_state_save_load_clone(small_model, tmp_path):
    _, st = small_model.forward([1, 2, 3, 4])
    st.save(tmp_path / "s.safetensors")
    back = rwkv_core.State.load(tmp_path / "s.safetensors")
    assert back.max_abs_diff(st)["aa"] == 0.0 and back.allclose(st, rtol=0)
    c = st.clone()
    c.layers[0].aa.add_(1.0)
    assert not c.allclose(st) and back.allclose(st, rtol=0)
    assert st.nbytes() == small_model.config.state_bytes()
    l1, _ = small_model.forward([5, 6], st)
    l2, _ = small_model.forward([5, 6], back)
    assert torch.equal(l1, l2)


@pytest.mark.parametrize("workers,chunk", [(2, 1), (3, 1), (2, 4), (8, 2)])
def test_concurrent_cascade_equals_rnn(small_model, long_tokens, workers, chunk):
    tokens = long_tokens[:40]
    ref, ref_state = small_model.forward(tokens, mode="rnn")
    res = small_model.run_plan(small_model.plan_for(40, "cascade", chunk), tokens, workers=workers, timed=True)
    assert_close(res.logits, ref, OTHER_KERNEL, f"{workers} workers logits")
    assert_states_close(res.state, ref_state, CARRIED, f"{workers} workers state")
    assert len(res.timings.cell_spans) == res.plan.n_steps
    assert torch.get_num_threads() >= 1


def test_concurrent_cascade_really_overlaps(small_model, long_tokens):
    """With two workers, some cell of the second layer group starts before a cell of the first
    group that comes earlier in plan order has finished: the groups ran at the same time."""
    p = small_model.plan_for(200, "cascade", 1)
    res = small_model.run_plan(p, long_tokens[:200], workers=2, timed=True)
    spans = {c: span for step, spans in zip(p.steps, res.timings.cell_spans) for c, span in zip(step, spans)}
    top = [spans[c] for c in p.cells if c.layer == 2]
    bottom = [spans[c] for c in p.cells if c.layer == 0]
    assert any(a0 < b1 and b0 < a1 for a0, a1 in top for b0, b1 in bottom)


def test_bad_workers(small_model):
    with pytest.raises(ValueError, match="workers"):
        small_model.run_plan(small_model.plan_for(3, "cascade", 1), [1, 2, 3], workers=0)


class FailingRecorder(rwkv_core.Recorder):
    def record(self, name, start, value):
        if name.startswith("blocks.2.") and start == 5:
            raise RuntimeError("boom in a worker")
        super().record(name, start, value)


def test_an_error_in_a_worker_reaches_the_caller(small_model):
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError, match="boom in a worker"):
        small_model.forward(list(range(12)), mode="cascade", chunk=1, workers=2, recorder=FailingRecorder())
    assert torch.get_num_threads() == before


def test_to_makes_a_copy_in_another_dtype(small_model):
    half = small_model.to(dtype=torch.float64)
    assert half.dtype == torch.float64 and small_model.dtype == torch.float32
    a, _ = small_model.forward([1, 2, 3])
    b, _ = half.forward([1, 2, 3])
    assert (a.double() - b).abs().max() < 1e-4


def test_parallel_wkv_gradients_equal_the_recurrence():
    """Training differentiates the parallel form: its gradients are the recurrence's."""
    g = torch.Generator().manual_seed(0)
    C, T = 8, 22
    decay = torch.empty(C).uniform_(-5, 2, generator=g).double().requires_grad_()
    u = torch.empty(C).uniform_(-1, 2, generator=g).double().requires_grad_()
    k = (3 * torch.randn(T, C, generator=g)).double().requires_grad_()
    v = torch.randn(T, C, generator=g).double().requires_grad_()
    zero, neg = torch.zeros(C).double(), torch.full((C,), rwkv_core.state.NEG_INF).double()
    weights = torch.linspace(-1, 1, T * C).double().reshape(T, C)

    def loss(wkv_fn):
        y, _ = wkv_fn(-torch.exp(decay), u, k, v, zero, zero, neg)
        return (y * weights).sum()
    g_par = torch.autograd.grad(loss(fast.wkv_parallel), [decay, u, k, v])
    g_seq = torch.autograd.grad(loss(ops.wkv_sequential), [decay, u, k, v])
    for a, b in zip(g_par, g_seq):
        assert (a - b).abs().max() < 1e-10


@pytest.mark.parametrize("dtype, tol", [(torch.bfloat16, 0.1), (torch.float16, 0.02)])
def test_half_precision_runs_every_schedule(dtype, tol):
    """bfloat16 and float16 models start from a state their dtype can hold (float16 cannot hold
    NEG_INF) and stay close to float32 in every schedule."""
    from lab.factory import random_state_dict
    from rwkv_core.config import Config
    sd = random_state_dict(Config(2, 64, 256, 300), profile="trained")
    ref, _ = rwkv_core.from_state_dict(sd).forward(list(range(80)), mode="parallel")
    m = rwkv_core.from_state_dict(sd, dtype=dtype)
    assert m.init_state().layers[0].pp.dtype == dtype
    for mode in ("rnn", "cascade", "parallel"):
        logits, state = m.forward(list(range(80)), mode=mode, chunk=7)
        assert logits.dtype == dtype and torch.isfinite(logits).all()
        assert (logits.float() - ref).abs().max() < tol


def test_one_token_calls_equal_one_rnn_call(small_model, long_tokens):
    """The one-token call path (every decode step: ids checked in Python, the plan remembered) gives
    what one rnn call over the same tokens gives, and refuses a bad id as the general path does."""
    ids = list(long_tokens[:6])
    whole, whole_state = small_model.forward(ids, mode="rnn")
    state, rows = None, []
    for t in ids:
        logits, state = small_model.forward([t], state)
        rows.append(logits)
    assert_close(torch.cat(rows), whole, OTHER_KERNEL, "one-token calls' logits")
    assert_states_close(state, whole_state, CARRIED, "one-token calls' state")
    assert small_model.plan_for(1) is small_model.plan_for(1)          # built once, reused
    V = small_model.config.vocab_size
    for bad in ([V], (-1,), [3, V + 5]):
        with pytest.raises(ValueError, match="outside the vocabulary"):
            small_model.forward(bad)
    with pytest.raises(ValueError, match="whole numbers"):
        small_model.forward([True])
    with pytest.raises(ValueError, match="chunk must be a positive whole number"):
        small_model.forward(ids, mode="cascade", chunk=[2])
