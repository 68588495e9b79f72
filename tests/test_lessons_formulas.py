"""Every formula a lesson states, computed by visuals/formulas.py from the displayed numbers,
against the engine's recorded values on the real embedded model, for real tokens and every layer.

The lessons name their formulas in front matter (`formulas: [...]`); CHECKS maps each name to
the check below that covers it, and a lesson that names an unchecked formula fails the suite."""
from pathlib import Path

import pytest
import torch
from app_helpers import embedded

from app.lessons import content as ls
from app.lessons import core as lc
from lab import reference as fm
from rwkv_core.sampling import SamplingSettings, probabilities

TOL = 2e-5        # float32 rounding of sums over a few hundred channels


@pytest.fixture(scope="module")
def ex():
    return lc.run_example(embedded())


def layers(ex):
    return range(ex.model.config.n_layer)


def tokens(ex):
    return (0, ex.n_tokens // 2, ex.n_tokens - 1)   # first (reads the empty state), middle, last


def close(a, b, tol=TOL):
    assert torch.isfinite(a).all()
    assert float((a.double() - b.double()).abs().max()) <= tol, float((a.double() - b.double()).abs().max())


def att(ex, layer):
    return ex.model.weights.blocks[layer].att


# --- the checks, one per formula family ---------------------------------------------------------

def check_embedding(ex):
    w = ex.model.weights
    for t in tokens(ex):
        close(fm.embedding(w.emb, ex.ids[t], w.ln0.weight, w.ln0.bias), ex.rec["embed"][t])
        # layer_norm by hand equals torch's
        close(fm.layer_norm(w.emb[ex.ids[t]], w.ln0.weight, w.ln0.bias),
              torch.nn.functional.layer_norm(w.emb[ex.ids[t]], (w.emb.shape[1],), w.ln0.weight, w.ln0.bias, 1e-5))


def check_logits(ex):
    w = ex.model.weights
    top = ex.rec[f"blocks.{ex.model.config.n_layer - 1}.resid"]
    close(fm.logits(w.head, top, w.ln_out.weight, w.ln_out.bias), ex.logits, 5e-5)
    close(fm.layer_norm(top, w.ln_out.weight, w.ln_out.bias), ex.rec["ln_out"])


def check_sampling(ex):
    logits = ex.logits[-1]
    for temp, k, p in [(1.0, 0, 1.0), (0.5, 0, 1.0), (1.7, 0, 1.0), (1.0, 5, 1.0), (0.8, 0, 0.9),
                       (1.2, 40, 0.5), (1.0, 1, 1.0), (1.0, 0, 0.05)]:
        mine = fm.renormalise(fm.top_p_filter(fm.top_k_filter(fm.softmax_with_temperature(logits, temp), k), p))
        ref = probabilities(logits, SamplingSettings(temperature=temp, top_k=k, top_p=p))
        close(mine, ref, 1e-12)
        assert abs(float(mine.sum()) - 1) < 1e-12


def check_token_shift(ex):
    for layer in layers(ex):
        a = att(ex, layer)
        x = lc.ln1(ex, layer)
        for t in tokens(ex):
            prev = x[t - 1] if t else torch.zeros_like(x[0])     # the empty state's x_att
            for name, mu in (("k", a.time_mix_k), ("v", a.time_mix_v), ("r", a.time_mix_r)):
                close(fm.token_shift(x[t], prev, mu), ex.rec[f"blocks.{layer}.att.x{name}"][t])


def check_rkv(ex):
    for layer in layers(ex):
        a, p = att(ex, layer), f"blocks.{layer}.att."
        for t in tokens(ex):
            close(fm.receptance(a.receptance, ex.rec[p + "xr"][t]), ex.rec[p + "r"][t])
            close(fm.key(a.key, ex.rec[p + "xk"][t]), ex.rec[p + "k"][t])
            close(fm.value(a.value, ex.rec[p + "xv"][t]), ex.rec[p + "v"][t])


def check_wkv_sum(ex):
    """The naive sum, its exponents and its shares, from the displayed k, v, w, u."""
    for layer in layers(ex):
        a, p = att(ex, layer), f"blocks.{layer}.att."
        w, u = fm.decay(a.time_decay), a.time_first
        assert (w < 0).all()
        k, v = ex.rec[p + "k"], ex.rec[p + "v"]
        close(fm.wkv_naive(w, u, k, v), ex.rec[p + "wkv"])
        for t in tokens(ex):
            shares = fm.wkv_weights(w, u, k[: t + 1])
            assert torch.allclose(shares.sum(0), torch.ones_like(shares[0]))
            close((shares * v[: t + 1].double()).sum(0), ex.rec[p + "wkv"][t])
            ex_t = fm.wkv_exponents(w, u, k[: t + 1])
            if t >= 2:   # a token two back: exponent (t-1-i) w + k_i = w + k_{t-2}
                close(ex_t[t - 2], w + k[t - 2], 1e-6)
            close(ex_t[t], u + k[t], 1e-6)
        # half-life: after that many tokens e^{n w} is one half
        close(torch.exp(fm.half_life(a.time_decay) * w), torch.full_like(w, 0.5), 1e-5)


def check_wkv_recurrent(ex):
    for layer in layers(ex):
        a_, p = att(ex, layer), f"blocks.{layer}.att."
        wkv, a, b = fm.wkv_recurrent(fm.decay(a_.time_decay), a_.time_first, ex.rec[p + "k"], ex.rec[p + "v"])
        close(wkv, ex.rec[p + "wkv"])
        scale = torch.exp(ex.rec[p + "pp"].double())               # the engine stores a / e^pp, b / e^pp
        # a sums signed values (it can cancel towards 0): measure it against the size of b
        b_eng = ex.rec[p + "bb"] * scale
        # (float32 state carried over the tokens: relative error up to ~1e-5 on the trained model)
        assert float(((a.double() - ex.rec[p + "aa"] * scale).abs() / b_eng).max()) < 1e-4
        assert float(((b.double() - b_eng).abs() / b_eng).max()) < 1e-4


def check_wkv_stable(ex):
    for layer in layers(ex):
        a, p = att(ex, layer), f"blocks.{layer}.att."
        wkv, aa, bb, pp = fm.wkv_stable(fm.decay(a.time_decay), a.time_first, ex.rec[p + "k"], ex.rec[p + "v"])
        for name, mine in (("wkv", wkv), ("aa", aa), ("bb", bb), ("pp", pp)):
            close(mine, ex.rec[p + name])
        # the lesson's claim: from the empty state, the first token leaves aa = v_0, bb = 1, pp = k_0
        # (the paper's a'_1 = v_1, b'_1 = 1, p_1 = k_1)
        close(aa[0], ex.rec[p + "v"][0], 0)
        close(bb[0], torch.ones_like(bb[0]), 0)
        close(pp[0], ex.rec[p + "k"][0], 0)
        # one step from the recorded state before token t gives the recorded output and state at t
        t = ex.n_tokens - 1
        out, (aa1, bb1, pp1) = fm.wkv_stable_step(fm.decay(a.time_decay), a.time_first, ex.rec[p + "k"][t],
                                                  ex.rec[p + "v"][t], ex.rec[p + "aa"][t - 1],
                                                  ex.rec[p + "bb"][t - 1], ex.rec[p + "pp"][t - 1])
        close(out, ex.rec[p + "wkv"][t])
        close(aa1, ex.rec[p + "aa"][t])
        close(pp1, ex.rec[p + "pp"][t])


def check_time_mix_output(ex):
    for layer in layers(ex):
        a, p = att(ex, layer), f"blocks.{layer}.att."
        out = fm.time_mix_output(a.output, ex.rec[p + "r"], ex.rec[p + "wkv"])
        close(out, ex.rec[p + "out"])
        close(fm.residual(lc.block_input(ex, layer), out), ex.rec[f"blocks.{layer}.resid_mid"])


def check_channel_mix(ex):
    for layer in layers(ex):
        f, p = ex.model.weights.blocks[layer].ffn, f"blocks.{layer}.ffn."
        x = lc.ln2(ex, layer)
        cm = fm.channel_mix(x, lc.shifted(x), f.time_mix_k, f.time_mix_r, f.key, f.receptance, f.value)
        for name in ("k", "r", "out"):
            close(cm[name], ex.rec[p + name], 5e-5)
        assert (cm["k"] >= 0).all() and (cm["k"] == 0).any()         # squared ReLU: never negative, often 0
        pre = fm.token_shift(x, lc.shifted(x), f.time_mix_k) @ f.key.T
        close(fm.squared_relu(pre), torch.relu(pre) ** 2, 0)
        close(fm.residual(ex.rec[f"blocks.{layer}.resid_mid"], ex.rec[p + "out"]), ex.rec[f"blocks.{layer}.resid"])


def check_state(ex):
    """The state rebuilt from the formulas equals the State the engine returned."""
    for layer in layers(ex):
        v = lc.state_view(ex, layer, ex.n_tokens - 1)
        assert max(v.max_diff.values()) <= TOL, v.max_diff


CHECKS = {
    "embedding": check_embedding, "layer_norm": check_embedding, "logits": check_logits,
    "softmax_with_temperature": check_sampling, "top_k_filter": check_sampling, "top_p_filter": check_sampling,
    "renormalise": check_sampling,
    "token_shift": check_token_shift, "receptance": check_rkv, "key": check_rkv, "value": check_rkv,
    "decay": check_wkv_sum, "wkv_exponents": check_wkv_sum, "wkv_weights": check_wkv_sum,
    "wkv_naive": check_wkv_sum, "half_life": check_wkv_sum, "wkv_recurrent": check_wkv_recurrent,
    "wkv_stable_step": check_wkv_stable, "wkv_stable": check_wkv_stable, "time_mix_output": check_time_mix_output,
    "residual": check_time_mix_output, "channel_mix": check_channel_mix, "squared_relu": check_channel_mix,
}


@pytest.mark.parametrize("check", sorted(set(CHECKS.values()), key=lambda f: f.__name__), ids=lambda f: f.__name__)
def test_formula_equals_engine(ex, check):
    check(ex)


def test_state_rebuilt_from_formulas_equals_engine_state(ex):
    check_state(ex)


def test_every_formula_a_lesson_states_is_checked():
    named = {f for lesson in ls.load_lessons() for step in lesson.steps for f in step.formulas}
    assert named, "the lessons name no formulas"
    assert named <= set(CHECKS), f"formulas named by lessons without a check: {named - set(CHECKS)}"


def test_formulas_are_a_second_implementation():
    """visuals/formulas.py must not call the engine, or the comparison would prove nothing."""
    text = (Path(fm.__file__)).read_text()
    assert "rwkv_core" not in text.split('"""', 2)[2]
    assert "torch.nn.functional" not in text and "import torch.nn" not in text


# --- the naive form's overflow, on real numbers -----------------------------------------------------

def test_naive_form_overflows_in_float32_where_stable_form_gives_the_engine_value(ex):
    layer, t = lc.DEFAULT_LAYER, ex.n_tokens - 1
    a, p = att(ex, layer), f"blocks.{layer}.att."
    w, u = fm.decay(a.time_decay), a.time_first
    k, v = ex.rec[p + "k"][: t + 1], ex.rec[p + "v"][: t + 1]
    engine = ex.rec[p + "wkv"][t]
    close(fm.wkv_naive(w, u, k, v)[t], engine)                  # on the real k: fine
    down = -float(round(float(fm.wkv_exponents(w, u, k).max()) + 110))   # every e^exponent underflows
    for shift in (100.0, down):                                 # the same k plus a constant: wkv unchanged
        naive = fm.wkv_naive(w, u, k + shift, v)[t]
        assert not torch.isfinite(naive).any()                   # inf/inf or 0/0 = NaN, every channel
        stable = fm.wkv_stable(w, u, k + shift, v)[0][t]
        close(stable, engine, 1e-4)                              # float32 keeps ~7 digits of k + 100
    # in float64 the naive form survives the shift: the value really is unchanged
    close(fm.wkv_naive(w.double(), u.double(), k.double() + 100, v.double())[t], engine, 1e-5)


def test_overflow_table_the_page_shows(ex):
    layer, t = lc.DEFAULT_LAYER, ex.n_tokens - 1
    view = lc.wkv_stable_view(ex, layer, t, lc.memory_channel(ex, layer, t))
    same, up, down = view.overflow
    assert same["shift added to every k"] == 0.0 and same["channels where naive is not finite"] == 0
    assert up["e^(largest exponent), float32"] == float("inf")
    assert up["channels where naive is not finite"] == ex.model.config.n_embd
    assert down["shift added to every k"] < 0 and down["e^(largest exponent), float32"] == 0.0
    assert down["channels where naive is not finite"] == ex.model.config.n_embd
    for r in (same, up, down):
        assert r["stable vs engine, max |diff|"] < 1e-4
        assert abs(r["stable wkv"] - r["engine wkv"]) < 1e-4


# --- the page's tables: formula column = engine column ----------------------------------------------

ENGINE_COLUMN = {"a (formula)": "aa·e^pp (engine)", "b (formula)": "bb·e^pp (engine)",
                 "x + out (formula)": "resid_mid (engine)"}


@pytest.mark.parametrize("layer", [0, lc.DEFAULT_LAYER, 5])
def test_every_view_agrees_with_the_engine(ex, layer):
    for t in tokens(ex):
        ch, c = lc.pick_channels(ex, layer, t), lc.memory_channel(ex, layer, t)
        views = [lc.token_shift_view(ex, layer, t, ch), lc.rkv_view(ex, layer, t, ch),
                 lc.wkv_sum_view(ex, layer, t, c), lc.wkv_recurrent_view(ex, layer, t, c),
                 lc.wkv_stable_view(ex, layer, t, c), lc.time_mix_out_view(ex, layer, t, ch),
                 lc.channel_mix_view(ex, layer, t, ch), lc.block_view(ex, layer, t)]
        for v in views:
            assert max(v.max_diff.values()) < 5e-5, v.max_diff
            table = getattr(v, "table", {})
            for col in [c_ for c_ in table if c_.endswith("(formula)")]:
                engine_col = ENGINE_COLUMN.get(col, col.replace("(formula)", "(engine)"))
                assert table[col] == pytest.approx(table[engine_col], rel=1e-4, abs=1e-5), (col, engine_col)
        s = lc.wkv_sum_view(ex, layer, t, c)
        assert s.wkv_formula == pytest.approx(s.wkv_engine, abs=1e-5)
        assert s.average_check == pytest.approx(s.wkv_engine, abs=1e-5)
        assert sum(s.share) == pytest.approx(1.0)


def test_layer_lens_last_stage_is_the_real_prediction(ex):
    v = lc.layer_lens(ex, ex.n_tokens - 1)
    assert v.max_diff_logits < 5e-5
    assert v.top[-1] == lc.label(ex.model, int(ex.logits[-1].argmax()))
    assert len(v.names) == ex.model.config.n_layer + 1


def test_generate_is_the_engine_loop_and_repeatable(ex):
    model, settings = ex.model, SamplingSettings(temperature=0.8, top_p=0.9)
    a = lc.generate(model, list(ex.ids), 6, settings, lc.SEED)
    assert a == lc.generate(model, list(ex.ids), 6, settings, lc.SEED)           # the shared seed
    greedy = lc.generate(model, list(ex.ids), 3, SamplingSettings(temperature=0), 0)
    assert greedy[0] == int(ex.logits[-1].argmax())
    # the second greedy token equals a full re-read of prompt + first token
    logits, _ = model.forward(list(ex.ids) + greedy[:1], mode="parallel")
    assert greedy[1] == int(logits[-1].argmax())


def test_the_state_is_everything_the_model_needs(ex):
    """The lesson's claim on the state step: continuing from the returned state equals re-reading."""
    assert lc.continue_from_state(ex, int(ex.logits[-1].argmax())) < 1e-4
    assert lc.continue_from_state(ex, 0) < 1e-4


# --- another model: random weights, another shape, no tokenizer ---------------------------------

@pytest.mark.parametrize("check", sorted(set(CHECKS.values()) | {check_state}, key=lambda f: f.__name__),
                         ids=lambda f: f.__name__)
def test_formulas_hold_for_another_model(small_model, check):
    """The formulas are RWKV-4's, not this checkpoint's: they hold for a random model too, and the
    example falls back to fixed token ids when there is no tokenizer."""
    ex = lc.run_example(small_model)
    assert small_model.tokenizer is None and ex.labels[0].startswith("#")
    check(ex)
