"""The memory lab's measurement (lab.memory) on tiny models trained a few steps here: each loads
through lab.load_model and runs every schedule it allows with the batched forward's outputs; the
JSON has its tables; the widths match parameter counts across kinds."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
from memory_helpers import tiny_models
from tolerances import CARRIED, assert_close

import lab
from lab import memory, mqar

TINY = dict(n_layer=2, ctx_len=12, batch_size=4, warmup_steps=1, eval_every=3, ckpt_every=100, mqar_vocab=32,
            mqar_mix="1,2")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three tiny models trained 3 steps each, published (float16) into <root>/published."""
    root = tmp_path_factory.mktemp("memory")
    tiny_models(root, **TINY)
    return root


def test_widths_match_rwkv4s_parameter_count():
    for width in (64, 128):
        target = memory.count_params("rwkv4", memory.recipe("rwkv4", width, 8, 10))
        for kind in ("gpt", "lstm"):
            tc = memory.recipe(kind, width, 8, 10)
            off = abs(memory.count_params(kind, tc) - target)
            assert off / target < 0.06 and tc.n_embd % 4 == 0                          # the nearest multiple of 4
            assert all(abs(memory.count_params(kind, replace(tc, n_embd=w)) - target) >= off
                       for w in (tc.n_embd - 4, tc.n_embd + 4))


@pytest.mark.parametrize("kind", memory.KINDS)
def test_each_tiny_model_loads_and_its_schedules_equal_the_batched_forward(runs, kind):
    model = lab.load_model(runs / "published" / f"{memory.model_name(kind, 16, 2)}.safetensors")
    assert model.tokenizer is None and model.config.vocab_size == 32
    ids = mqar.heldout(mqar.Spec(vocab=32, pairs=2, length=12, gap=None), 2).ids     # (2, 12)
    batched = memory.batched_logits(model, kind, ids)                                  # (2, 12, 32)
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
    assert sorted(m["kind"] for m in r["models"]) == sorted(memory.KINDS)
    for m in r["models"]:
        assert m["params"] > 0 and m["train"]["steps"] == 3 and m["train"]["s_per_step"] > 0
        assert m["train"]["pairs"] == 2 and m["train"]["cpu"] and 0 <= m["train"]["heldout_accuracy"] <= 1
        assert m["train"]["mix"] == [1, 2] and m["train"]["gap"] == memory.RECIPE["mqar_gap"]
        assert [e["pairs"] for e in m["examples"]] == [1, 2, 4]
        assert all(len(e["answers"]) == memory.EXAMPLES and len(e["answers"][0]) == e["pairs"] for e in m["examples"])
        assert [row["pairs"] for row in m["by_pairs"]] == [1, 2, 4]               # 3N ≤ 12
        assert all(0 <= row["accuracy"] <= 1 and row["tokens"] == 20 * row["pairs"] for row in m["by_pairs"])
        lengths = {row["length"]: row for row in m["by_length"]}
        assert sorted(lengths) == [12, 24, 48] and lengths[12]["state_bytes"] == m["state_bytes"]
        assert m["schedules"]["max_diff"] < 1e-3
        if m["kind"] == "gpt":       # the cache grows with the length; it cannot read past its positions
            assert lengths[24]["accuracy"] is None and "positions" in lengths[24]["why"]
        else:                        # a fixed state
            assert lengths[48]["state_bytes"] == lengths[12]["state_bytes"] and lengths[48]["accuracy"] is not None


def test_no_models_is_refused_clearly(tmp_path, capsys):
    with pytest.raises(SystemExit):
        memory.main(["--models", str(tmp_path), "--json", str(tmp_path / "x.json")])
    assert "no trained models" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        memory.main([])


def test_state_bytes_grow_only_for_the_gpt(runs):
    sizes = {}
    for kind in memory.KINDS:
        model = lab.load_model(runs / "published" / f"{memory.model_name(kind, 16, 2)}.safetensors")
        sizes[kind] = [memory.state_bytes(model, t) for t in (4, 8)]
    assert sizes["gpt"][1] == 2 * sizes["gpt"][0] and sizes["rwkv4"][0] == sizes["rwkv4"][1] > 0
    width = memory.recipe("lstm", 16, 2, 3, **TINY).n_embd
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
