"""Why RWKV, measured, without Streamlit: app/compare_core.py on the trained models in models/ and
the figures of visuals/compare.py on their data.

The GPT's attention weights summing to 1 and giving its attention output are proved in
tests/test_gpt.py (test_attention_weights_sum_to_one_and_give_the_attention_output); here, that the
page's matrices are those weights (causal, rows of 1) and that RWKV's implicit attention rebuilds
its recorded WKV."""
from __future__ import annotations

import json

import pytest
import torch
from app_helpers import embedded

from app import compare_core as cc
from app import looks_core as lc
from lab import load_model, measure
from rwkv_core.sampling import SamplingSettings
from visuals import compare as vc
from visuals.theme import caption

LANDED = ("rwkv4", "gpt", "lstm", "redline")   # the four models trained here (models/*-shakespeare.*)
TEXT = "ROMEO.\nBut soft, what light through yonder window breaks?"


@pytest.fixture(scope="module")
def models():
    found = cc.shipped()
    assert set(LANDED) <= set(found), f"the trained models must be in models/: found {sorted(found)}"
    return {k: embedded() if k == "rwkv4" else load_model(p) for k, p in found.items()}


# --- quality ------------------------------------------------------------------------------------

def test_every_landed_model_has_a_curve_read_at_equal_tokens_and_seconds(models):
    curves = cc.read_curves()
    assert set(models) <= set(curves)
    rwkv = curves["rwkv4"]
    # RWKV's log keeps seconds in its training entries and 'tokens' as the held-out count: the
    # points are training tokens (step × 6 × 512) and training seconds, both increasing
    assert rwkv.points[0][0] == 250 * 6 * 512 and rwkv.points[0][1] > 0
    for c in curves.values():
        assert [p[0] for p in c.points] == sorted(p[0] for p in c.points)
        assert 1.0 < c.final_bpc < 4.0 and c.shared_cpu
    eq = cc.equal_points(curves)
    assert eq.tokens == min(c.tokens for c in curves.values())
    assert eq.seconds == min(c.seconds for c in curves.values())
    for k, c in curves.items():                                       # read inside every curve, never past it
        lo, hi = min(p[2] for p in c.points), max(p[2] for p in c.points)
        assert lo <= eq.at_tokens[k] <= hi and lo <= eq.at_seconds[k] <= hi
    table = cc.quality_table(curves, eq)
    assert table["model"][0] == "RWKV-4" and len(table["model"]) == len(curves)


def test_equal_points_interpolate_between_validation_points(tmp_path):
    for kind, speed in (("rwkv4", 1.0), ("lstm", 2.0)):
        val = [{"step": s, "train_tokens": s * 3072, "seconds": s / speed, "bits_per_char": 3.0 - s / 1000}
               for s in (250, 500)]
        sessions = [{"start_step": 0, "stop_step": 50, "threads": 2}, {"start_step": 50, "stop_step": 500, "threads": 1}]
        log = {"schema": 2, "recipe": {"batch_size": 6, "ctx_len": 512, "threads": 2}, "train": [], "val": val,
               "final": {"bits_per_char": 2.5}, "sessions": sessions}
        (tmp_path / f"{cc.stem(kind)}.log.json").write_text(json.dumps(log))
    curves = cc.read_curves(tmp_path)
    assert curves["lstm"].final_bpc == 2.5 and curves["lstm"].final_from.endswith(".log.json")
    assert curves["lstm"].threads == "2 threads, 1 for steps 50–500"
    assert "resumed 1 time (at step 50)" in curves["lstm"].shared_cpu
    eq = cc.equal_points(curves)
    assert eq.tokens == 500 * 3072 and eq.seconds == 250                 # the LSTM's run was the shorter in time
    assert eq.at_seconds["rwkv4"] == pytest.approx(2.75) and eq.at_seconds["lstm"] == pytest.approx(2.5)


# --- generation and memory ----------------------------------------------------------------------

def test_generation_cost_and_state_bytes_of_every_landed_model(models):
    results = cc.measure_generation(models, (16, 64), new_tokens=2)
    assert list(results) == [k for k in cc.order() if k in models]
    for kind, rows in results.items():
        assert [r.context for r in rows] == [16, 64] and all(r.seconds_per_token > 0 for r in rows)
        if kind == "gpt":      # the KV cache: 2 · L · C float32 values per token read
            c = models["gpt"].config
            assert [r.state_bytes for r in rows] == [c.cache_bytes(n) for n in (16, 64)]
        else:                  # a fixed-size state
            assert rows[0].state_bytes == rows[1].state_bytes == models[kind].init_state().nbytes()
    fig = vc.memory_figure(cc.memory_series(results), cc.full_size_memory([16, 64]))
    assert [t.name for t in fig.data][:len(results)] == [cc.title(k) for k in results]
    assert fig.data[-1].line.dash == "dot" and fig.layout.yaxis.type == "log"


def test_the_computed_full_size_lines():
    lines = cc.full_size_memory([64, 4096])
    assert lines["RWKV-4 169M (computed)"] == [(64, 5 * 12 * 768 * 4), (4096, 5 * 12 * 768 * 4)]
    assert lines["GPT-2 small (computed)"] == [(64, 2 * 12 * 768 * 64 * 4), (4096, 2 * 12 * 768 * 4096 * 4)]


def test_measure_writes_json_that_the_page_reads(tmp_path):
    out = tmp_path / "generation.json"
    measure.main(["--models", "rwkv4-shakespeare", "--contexts", "16,32", "--new-tokens", "2", "--json", str(out)])
    rec = cc.read_generation(out)
    assert rec["new_tokens"] == 2 and [r.context for r in rec["rows"]["rwkv4"]] == [16, 32]
    table = cc.summary_table({}, None, [], rec["rows"], contexts=(16, 32))
    state = table["state, 16 → 32 read"][0]
    assert table["model"] == ["RWKV-4"] and state.endswith(" KiB") and state.split(" → ")[0] == state.split(" → ")[1]
    assert cc.markdown_table(table).splitlines()[0].startswith("| model |")


def test_generation_figure_marks_past_the_training_context():
    series = {"RWKV-4": [(64, 0.004, False), (4096, 0.004, False)], "GPT": [(64, 0.005, False), (4096, 0.02, True)]}
    fig = vc.generation_figure(series, n_ctx=512, device="CPU")
    assert fig.layout.xaxis.type == fig.layout.yaxis.type == "log"
    assert list(fig.data[1].y) == [5.0, 20.0] and list(fig.data[1].marker.symbol) == ["circle", "circle-open"]
    assert fig.layout.shapes[0].x0 == 512 and "timing only" in fig.layout.annotations[0].text
    assert caption(fig)


def test_training_step_speed_of_rwkv_and_the_gpt():
    rows = cc.train_step_speeds(["rwkv4", "gpt"], batch=1, ctx=16, repeats=1)
    assert [r.kind for r in rows] == ["rwkv4", "gpt"] and all(r.tokens_per_s > 0 for r in rows)
    assert rows[1].params == 5_918_720                                 # the shipped GPT's shape
    fig = vc.speed_figure([(cc.title(r.kind), r.tokens_per_s) for r in rows])
    assert list(fig.data[0].x) == ["RWKV-4", "GPT"]


# --- side by side ---------------------------------------------------------------------------------

def test_same_prompt_seed_and_settings_through_every_model(models):
    settings = SamplingSettings(temperature=0.8)
    gens = cc.generate_all(models, TEXT, 6, settings, seed=3)
    assert [g.kind for g in gens] == list(models)
    again = cc.generate_all(models, TEXT, 6, settings, seed=3)
    assert [g.tokens for g in gens] == [g.tokens for g in again]        # the seed decides the text
    for g in gens:
        assert len(g.tokens) == 6 and g.tokens_per_second > 0 and g.prompt_tokens == len(embedded().tokenizer.encode(TEXT))
    with pytest.raises(ValueError, match="between 1 and"):
        cc.generate_all(models, TEXT, 0, settings, seed=3)


def test_a_long_prompt_is_cut_to_the_gpt_context(models):
    long = " ".join(["To be, or not to be."] * 200)                      # ~1,400 tokens
    gen = cc.generate(models["gpt"], long, 4, SamplingSettings(temperature=0), seed=0)
    assert gen.prompt_tokens == models["gpt"].config.n_ctx - 4


# --- where each model looks ---------------------------------------------------------------------------

def test_where_they_look_rows_sum_to_one_and_rwkv_rebuilds_its_wkv(models):
    ids = lc.look_tokens(embedded(), TEXT)
    looks = lc.where_they_look(embedded(), models["gpt"], ids)
    T, L = len(ids), models["gpt"].config.n_layer
    assert looks.gpt.shape == (L, models["gpt"].config.n_head, T, T) and looks.rwkv.weights.shape == (6, T, T)
    for w in (looks.gpt, looks.rwkv.weights):
        assert torch.allclose(w.sum(-1).double(), torch.ones(w.shape[:-1], dtype=torch.float64), atol=1e-5)
        assert float(w.triu(1).abs().max()) == 0.0                     # nothing looks ahead
    assert looks.rwkv.max_diff < 1e-4                                  # the weights give back the recorded WKV
    assert torch.equal(lc.pick_head(looks.gpt, 2), looks.gpt[:, 2])
    assert torch.allclose(lc.pick_head(looks.gpt, None), looks.gpt.mean(1))
    near = torch.eye(T).expand(2, T, T)                                # looking only at itself: distance 0
    assert lc.distance(near).tolist() == [0.0, 0.0]


def test_looks_figures_hold_both_matrices_on_one_scale():
    w = torch.tril(torch.ones(3, 3))
    w = w / w.sum(-1, keepdim=True)
    left, right = vc.looks_figures(w, w.flip(0).tril(), ["a", "<b>", "c"], "RWKV", "GPT", "Layer 0")
    assert [list(r) for r in left.data[0].z] == w.double().tolist() and len(right.data) == 1
    assert left.data[0].x[1] == "1:&lt;b&gt;"                          # token text escaped
    assert left.data[0].zmax == right.data[0].zmax == 1.0               # one scale, without the first row's 1
    assert left.layout.title.text.startswith("Layer 0: RWKV") and right.layout.title.text.startswith("Layer 0: GPT")
    last = vc.last_token_figure(w, ["a", "b", "c"], "last", "cap")
    assert last.data[0].y == ("layer 0", "layer 1", "layer 2") and caption(last) == "cap"


def test_quality_figure_marks_the_equal_point():
    curves = {"RWKV-4": [(768000, 60.0, 2.2), (1536000, 120.0, 2.0)], "GPT": [(768000, 90.0, 2.4)]}
    by_tokens = vc.quality_figure(curves, "tokens", 768000)
    assert list(by_tokens.data[0].x) == [0.768, 1.536] and list(by_tokens.data[0].y) == [2.2, 2.0]
    assert by_tokens.layout.shapes[0].x0 == 0.768
    by_time = vc.quality_figure(curves, "seconds", 90.0)
    assert list(by_time.data[1].x) == [1.5] and by_time.layout.shapes[0].x0 == 1.5


def test_the_table_command_prints_every_landed_model(models, capsys):
    from scripts.why_rwkv_table import main
    text = main(["--no-measure"])
    rows = text.splitlines()
    assert rows[0].startswith("| model | bits/char |") and len(rows) == 2 + len(models)
    assert [r.split(" | ")[0].strip("| ") for r in rows[2:]] == [cc.title(k) for k in models]
