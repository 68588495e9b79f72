"""The products' routes (rwkv_core/fast.py) and the choice between them (rwkv_core/calibrate.py):
every route gives F.linear's result, the choice is a pure function of the measurements (the same
measurements, the same routes), a route that failed its check is never chosen, and F.linear is
kept wherever nothing is clearly faster."""
import pytest
import torch
import torch.nn.functional as F

from rwkv_core import calibrate, fast
from rwkv_core.calibrate import Measurement, ShapeClass, choose, choose_one


def col_major(out_f, in_f, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(in_f, out_f, generator=g).t()            # (out, in), stored column by column


# --- every route equals F.linear -----------------------------------------------------------------

@pytest.mark.parametrize("route", sorted(fast.ROUTES))
@pytest.mark.parametrize("rows, out_f, in_f", [(1, 7, 9), (1, 64, 48), (5, 33, 16), (40, 50, 24), (130, 20, 12)])
@pytest.mark.parametrize("layout", ["col", "row"])
def test_every_route_equals_f_linear(route, rows, out_f, in_f, layout):
    weight = col_major(out_f, in_f) if layout == "col" else col_major(out_f, in_f).contiguous()
    x = torch.randn(2, rows, in_f, generator=torch.Generator().manual_seed(1))   # (2, rows, in)
    ref = F.linear(x, weight)
    with torch.inference_mode():
        applies = route in fast.routes_for(2 * rows, weight, x.dtype, torch.get_num_threads())
        direct = fast.ROUTES[route](x.reshape(-1, in_f), weight).reshape(ref.shape) if applies else ref
        with fast.routes_forced(route):
            routed = fast.linear(x, weight)
    assert routed.shape == direct.shape == ref.shape
    assert torch.allclose(direct, ref, atol=1e-5) and torch.allclose(routed, ref, atol=1e-5)


def test_routes_that_cannot_apply_are_not_offered():
    w = col_major(6, 4)
    assert "mv" in fast.routes_for(1, w, torch.float32, 2) and "mv" not in fast.routes_for(2, w, torch.float32, 2)
    assert "split" not in fast.routes_for(1, w, torch.float32, 1)                  # one thread: nothing to split
    assert "split" not in fast.routes_for(1, w.contiguous(), torch.float32, 2)     # row-major: no column halves
    assert "onednn" not in fast.routes_for(64, w.double(), torch.float64, 2)
    with pytest.raises(ValueError, match="unknown route 'fastest'"):
        with fast.routes_forced("fastest"):
            pass


def test_the_calibrated_engine_equals_f_linear_for_every_bucket():
    """Whatever this machine chose for each rows bucket, the product is F.linear's."""
    w = col_major(96, 40, seed=4)
    for rows in (1, 3, 16, 17, 64, 65, 200):
        x = torch.randn(rows, 40, generator=torch.Generator().manual_seed(rows))
        with torch.inference_mode():
            y = fast.linear(x, w)
        assert torch.allclose(y, F.linear(x, w), atol=1e-5), rows
        top, _ = calibrate.bucket(rows)
        key = (top, 96, 40, torch.float32, True, torch.get_num_threads())
        assert fast.ROUTE_TABLE.chosen[key] in fast.routes_for(rows, w, torch.float32, torch.get_num_threads())


def test_an_empty_product_is_f_linear_s():
    w = col_major(5, 3)
    with torch.inference_mode():
        assert fast.linear(torch.zeros(0, 3), w).shape == (0, 5)


def test_buckets():
    assert [calibrate.bucket(r)[0] for r in (1, 2, 16, 17, 64, 65, 10_000)] == [1, 16, 16, 64, 64, None, None]


# --- the choice, from synthetic measurements ---------------------------------------------------

def m(failed=None, **secs):
    return Measurement({k: tuple(v) for k, v in secs.items()}, failed or {})


def test_choose_picks_the_lowest_paired_ratio():
    # round 2 is slow for everyone (a busy machine): the per-round ratios still rank split first
    meas = m(linear=[1.0, 5.0, 1.0], split=[0.6, 3.0, 0.6], onednn=[0.8, 4.0, 0.8])
    assert calibrate.ratios(meas) == pytest.approx({"linear": 1.0, "split": 0.6, "onednn": 0.8})
    assert choose_one(meas) == "split"


def test_a_failed_route_is_never_chosen_however_fast():
    meas = m(failed={"split": "differs from F.linear by 3 (allowed 1e-4)"},
             linear=[1.0, 1.0], split=[0.1, 0.1], onednn=[0.9, 0.9])
    assert choose_one(meas) == "onednn"
    assert choose_one(m(failed={"split": "raised RuntimeError"}, linear=[1.0], split=[0.1])) == "linear"


def test_f_linear_is_kept_when_nothing_is_clearly_faster():
    assert choose_one(m(linear=[1.0, 1.0], split=[1.2, 1.1], mv=[0.99, 0.98])) == "linear"   # within MARGIN
    assert choose_one(m(linear=[1.0, 1.0], mv=[0.99, 0.98]), margin=0.0) == "mv"
    assert choose_one(m(linear=[1.0])) == "linear"
    assert choose_one(m()) == "linear"                                    # nothing measured: the plain product
    assert choose_one(m(linear=[1.0, 1.0], split=[0.5])) == "linear"      # a short series is not compared


def test_ties_go_to_the_earlier_route():
    assert calibrate.ROUTE_ORDER.index("split") < calibrate.ROUTE_ORDER.index("onednn")
    tie = m(linear=[1.0, 1.0], onednn=[0.5, 0.5], split=[0.5, 0.5], mv=[0.5, 0.5])
    assert choose_one(tie) == "split"
    assert choose_one(m(linear=[1.0, 1.0], onednn=[0.5, 0.5], mv=[0.5, 0.5])) == "onednn"


def test_choose_is_deterministic_given_its_measurements():
    k1 = ShapeClass(1, 768, 768, torch.float32, True, 2)
    k2 = ShapeClass(None, 768, 768, torch.float32, True, 2)
    meas = {k1: m(linear=[2.0, 2.1, 1.9], split=[1.0, 1.2, 1.1], mv=[1.9, 1.5, 2.5]),
            k2: m(linear=[1.0, 1.0, 1.0], onednn=[0.7, 0.8, 0.75])}
    first = choose(meas)
    assert first == {k1: "split", k2: "onednn"}
    assert all(choose(dict(reversed(list(meas.items())))) == first for _ in range(3))


# --- measuring: real timings, a broken route --------------------------------------------------------

def test_measure_marks_a_wrong_or_raising_route_failed_and_the_table_never_uses_it():
    w = col_major(48, 32, seed=2)
    wrong = lambda x, weight: F.linear(x, weight) * 1.01 + 1.0   # noqa: E731  fast, and wrong
    def raising(x, weight):
        raise RuntimeError("no kernel here")
    meas = calibrate.measure({"split": wrong, "onednn": raising, "mv": fast.mv_linear}, w, rows=1, rounds=2)
    assert set(meas.failed) == {"split", "onednn"} and "differs" in meas.failed["split"]
    assert set(meas.seconds) == {"linear", "mv"} and all(len(v) == 2 for v in meas.seconds.values())
    table = calibrate.RouteTable()
    key = (1, 48, 32, torch.float32, True, 2)
    assert table.route(key, w, {"split": wrong, "onednn": raising}, 1) == "linear"
    (shape, chosen, ratios, failed), = table.report()
    assert shape == key and chosen == "linear" and set(failed) == {"split", "onednn"} and ratios == {"linear": 1.0}
    assert "FAILED" in calibrate.format_report(table.report())


def test_the_table_measures_a_class_once():
    w = col_major(16, 8)
    calls = []
    def counted(x, weight):
        calls.append(1)
        return F.linear(x, weight)
    table = calibrate.RouteTable()
    key = (1, 16, 8, torch.float32, True, 2)
    first = table.route(key, w, {"mv": counted}, 1)
    n = len(calls)
    assert n >= 2 and table.route(key, w, {"mv": counted}, 1) == first and len(calls) == n
