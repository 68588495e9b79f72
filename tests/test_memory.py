"""The memory lab's measurement (lab.memory) on tiny models trained a few steps here at two N: each
loads through lab.load_model and runs every schedule it allows with the batched forward's outputs;
the JSON has its tables and the point per model the charts draw; the recipe is one per N (length
3N, gap 0, init torch); the widths match parameter counts across kinds."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
from memory_helpers import PAIRS, TINY, tiny_models
from tolerances import CARRIED, assert_close

import lab
from lab import memory, mqar


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Six tiny models (3 kinds x N = 2, 4) trained 3 steps each, published (float16) into <root>/published."""
    root = tmp_path_factory.mktemp("memory")
    tiny_models(root)
    return root


def test_the_recipe_is_one_per_n():
    assert memory.PAIRS_TRAINED == (4, 8, 16) and memory.STEPS == 2_500
    for n in memory.PAIRS_TRAINED:
        tc = memory.recipe("rwkv4", 64, n, memory.STEPS)
        assert (tc.mqar_pairs, tc.ctx_len, tc.mqar_gap, tc.mqar_mix, tc.init) == (n, 3 * n, 0, "", "torch")
        assert (tc.lr_peak, tc.lr_final, tc.warmup_steps, tc.batch_size, tc.loss) == (3e-3, 3e-3, 100, 64, "ce")
        assert (tc.n_layer, tc.mqar_vocab, tc.threads, tc.total_steps) == (2, 256, 1, memory.STEPS)
    assert memory.recipe("gpt", 64, 8, 10, ctx_len=None).ctx_len == 24               # None keeps the recipe's
    assert memory.recipe("gpt", 64, 8, 10, ctx_len=40).ctx_len == 40
    assert memory.model_name("lstm", 128, 16) == "lstm-w128-n16" and memory.nominal_width("lstm-w128-n16") == 128


def test_the_command_lines_defaults_are_the_recipes():
    a = memory.parser().parse_args(["--train", "gpt"])
    assert (a.pairs, a.ctx_len, a.steps, a.init, a.mix) == (memory.PAIRS_TRAINED[0], None, memory.STEPS, "torch", "")
    assert (a.lr_peak, a.lr_final, a.width) == (memory.RECIPE["lr_peak"], memory.RECIPE["lr_final"], 64)
    tc = memory.recipe("gpt", a.width, a.pairs, a.steps, ctx_len=a.ctx_len, init=a.init, mqar_mix=a.mix,
                       lr_peak=a.lr_peak, lr_final=a.lr_final)
    assert tc == memory.recipe("gpt", 64, 4, memory.STEPS) and tc.ctx_len == 12
    with pytest.raises(SystemExit):
        memory.parser().parse_args(["--train", "gpt", "--init", "xavier"])


def test_widths_match_rwkv4s_parameter_count():
    for width in (64, 128):
        target = memory.count_params("rwkv4", memory.recipe("rwkv4", width, 8, 10))
        for kind in ("gpt", "lstm"):
            tc = memory.recipe(kind, width, 8, 10)
            off = abs(memory.count_params(kind, tc) - target)
            assert off / target < 0.06 and tc.n_embd % 4 == 0                          # the nearest multiple of 4
            assert all(abs(memory.count_params(kind, replace(tc, n_embd=w)) - target) >= off
                       for w in (tc.n_embd - 4, tc.n_embd + 4))


@pytest.mark.parametrize("n", PAIRS)
@pytest.mark.parametrize("kind", memory.KINDS)
def test_each_tiny_model_loads_and_its_schedules_equal_the_batched_forward(runs, kind, n):
    model = lab.load_model(runs / "published" / f"{memory.model_name(kind, 16, n)}.safetensors")
    assert model.tokenizer is None and model.config.vocab_size == 32
    ids = mqar.heldout(mqar.Spec(vocab=32, pairs=n, length=3 * n, gap=0), 2).ids     # (2, 3N)
    batched = memory.batched_logits(model, kind, ids)                                  # (2, 3N, 32)
    assert len(model.schedules) >= 1
    for mode in model.schedules:
        for row in range(2):
            logits, _ = model.forward(ids[row], mode=mode, chunk=4)
            assert_close(logits, batched[row], CARRIED, f"{kind} {mode}")


def test_the_json_has_every_table(runs, tmp_path):
    out = tmp_path / "results.json"
    memory.main(["--models", str(runs / "published"), "--json", str(out), "--sequences", "20"])
    r = json.loads(out.read_text())
    assert r["cpu"] and r["command"].startswith("python -m lab.memory") and r["heldout_seed"] == mqar.HELDOUT_SEED
    assert [m["name"] for m in r["models"]] == [memory.model_name(k, 16, n) for n in PAIRS for k in memory.KINDS]
    assert r["pairs_trained"] == list(PAIRS) and r["widths"] == [16] and r["steps"] == memory.STEPS
    for m in r["models"]:
        n, t = m["train"]["pairs"], m["train"]
        assert m["params"] > 0 and t["steps"] == 3 and t["s_per_step"] > 0 and m["nominal_width"] == 16
        assert t["length"] == 3 * n and t["cpu"] and 0 <= t["heldout_accuracy"] <= 1 and t["init"] == "torch"
        assert t["mix"] is None and t["gap"] == memory.RECIPE["mqar_gap"] == 0
        fits = [p for p in memory.PAIRS if p <= n]                                      # 3p ≤ 3N
        assert [e["pairs"] for e in m["examples"]] == fits == [row["pairs"] for row in m["by_pairs"]]
        assert all(len(e["answers"]) == memory.EXAMPLES and len(e["answers"][0]) == e["pairs"] for e in m["examples"])
        assert all(0 <= row["accuracy"] <= 1 and row["tokens"] == 20 * row["pairs"] for row in m["by_pairs"])
        at = m["at_trained"]                # the charts' point: the trained N and length
        assert at == {"pairs": n, "length": 3 * n, "state_bytes": m["state_bytes"],
                      "accuracy": next(row["accuracy"] for row in m["by_pairs"] if row["pairs"] == n)}
        lengths = {row["length"]: row for row in m["by_length"]}
        assert sorted(lengths) == [3 * n, 6 * n, 12 * n] and lengths[3 * n]["state_bytes"] == m["state_bytes"]
        assert m["schedules"]["max_diff"] < 1e-3
        if m["kind"] == "gpt":       # the cache grows with the length; it cannot read past its positions
            assert lengths[6 * n]["accuracy"] is None and "positions" in lengths[6 * n]["why"]
        else:                        # a fixed state
            assert lengths[12 * n]["state_bytes"] == m["state_bytes"] and lengths[12 * n]["accuracy"] is not None


def test_no_models_is_refused_clearly(tmp_path, capsys):
    with pytest.raises(SystemExit):
        memory.main(["--models", str(tmp_path), "--json", str(tmp_path / "x.json")])
    assert "no trained models" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        memory.main([])


def test_state_bytes_grow_only_for_the_gpt(runs):
    sizes = {}
    for kind in memory.KINDS:
        model = lab.load_model(runs / "published" / f"{memory.model_name(kind, 16, 4)}.safetensors")   # 12 tokens
        sizes[kind] = [memory.state_bytes(model, t) for t in (4, 8)]
    assert sizes["gpt"][1] == 2 * sizes["gpt"][0] and sizes["rwkv4"][0] == sizes["rwkv4"][1] > 0
    width = memory.recipe("lstm", 16, 4, 3, **TINY).n_embd
    assert sizes["lstm"][0] == sizes["lstm"][1] == 2 * 2 * width * 4        # h and c, 2 layers, float32


def test_a_published_model_is_float16_and_reads_back_as_trained(runs):
    from safetensors.torch import load_file
    name = memory.model_name("rwkv4", 16, 2)
    full, half = (load_file(str(runs / d / f"{name}.safetensors")) for d in ("models", "published"))
    assert {v.dtype for v in half.values() if v.dtype.is_floating_point} == {torch.float16}
    assert all(torch.allclose(half[k].float(), v.float(), rtol=1e-3, atol=1e-4) for k, v in full.items())
    log = json.loads((runs / "published" / f"{name}.log.json").read_text())
    assert log["published"]["dtype"] == "float16" and log["train"][-1]["step"] == 3


COMMITTED = sorted(memory.MODELS.glob("*.safetensors"))


@pytest.mark.skipif(not COMMITTED, reason="no memory-lab model is committed in models/memory/ yet")
@pytest.mark.parametrize("path", COMMITTED, ids=[p.stem for p in COMMITTED])
def test_each_committed_model_loads_and_its_schedules_equal_the_batched_forward(path):
    model = lab.load_model(path)
    log = json.loads(path.with_suffix(".log.json").read_text())
    kind, spec = log["kind"], mqar.Spec(**log["data"]["spec"])
    assert model.tokenizer is None and log["final"]["step"] == log["recipe"]["total_steps"]
    ids = mqar.heldout(spec, 2).ids                                                    # (2, T)
    batched = memory.batched_logits(model, kind, ids)                                  # (2, T, V)
    for mode in model.schedules:
        for row in range(2):
            logits, _ = model.forward(ids[row], mode=mode, chunk=4)
            assert_close(logits, batched[row], CARRIED, f"{path.stem} {mode}")
