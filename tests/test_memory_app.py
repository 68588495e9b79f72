"""The memory lab's app core (app/memory_core.py): the probe lays out a student's pairs as lab.mqar
does, refuses bad input with a reason, answers as the committed evaluation did on the same held-out
sequences (on tiny models trained here, and on the committed models when they are there), and
RWKV-4's WKV weights on the queried pair rebuild the recorded WKV; the summary reads its figures
from the results."""
from __future__ import annotations

import json

import pytest
import torch
from memory_helpers import PAIRS, tiny_models

from app import memory_core as mc
from lab import memory, mqar


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Six tiny models (3 kinds x N = 2, 4; 3 steps), published and measured as the real ones are."""
    root = tmp_path_factory.mktemp("memory_app")
    tiny_models(root)
    return root / "published", memory.measure_all(root / "published", 20)


def probe_matches_results(folder, results) -> int:
    """Every kept example of every model: the probe's answers (token by token) equal the evaluation's."""
    checked = 0
    for entry in results["models"]:
        model = mc.load(folder / f"{entry['name']}.safetensors")
        t = entry["train"]
        for ex in entry["examples"]:
            for i, (want, p_want) in enumerate(zip(ex["answers"], ex["p_right"])):
                probe = mc.heldout_probe(ex["pairs"], t["length"], model.config.vocab_size, t["gap"], i)
                got = mc.answers(model, probe)
                assert [a.answer for a in got] == want, (entry["name"], ex["pairs"], i)
                assert [a.p_right for a in got] == pytest.approx(p_want, abs=1e-4)
                checked += 1
    return checked


def test_the_probe_answers_as_the_evaluation_did_on_the_same_sequences(tiny):
    folder, results = tiny
    assert probe_matches_results(folder, results) == 3 * (2 + 3) * memory.EXAMPLES   # N = 1, 2 | 1, 2, 4 a kind


@pytest.mark.skipif(not mc.RESULTS.exists(), reason="docs/memory/results.json is not committed yet")
def test_the_committed_probe_answers_as_the_committed_evaluation():
    results = mc.read_results()
    assert all((mc.MODELS / f"{m['name']}.safetensors").exists() for m in results["models"])
    assert probe_matches_results(mc.MODELS, results) > 0


def test_the_probe_lays_out_a_sequence_as_the_generator_does():
    for gap in (0, -2):
        spec = mc.spec_for(3, 16, 32, gap)
        row = mqar.generate(spec, 1, seed=9)
        probe = mc.generated(3, 9, 16, 32, gap)
        assert probe.ids == row.ids[0].tolist() and probe.query_positions == row.mask[0].nonzero()[:, 0].tolist()
        assert [probe.right(q) for q in probe.queries] == row.targets[0][row.mask[0]].tolist()
        pairs, queries = mc.text_of(probe)
        assert mc.parse(pairs, queries, 16, 32, gap).ids == probe.ids
        for k, v in probe.pairs:
            assert probe.ids[probe.position_of(k)] == k and probe.ids[probe.position_of(k) + 1] == v


@pytest.mark.parametrize("pairs,queries,words", [
    ("40:20", "40", "keys are 1 … 15"),
    ("3:5", "3", "values are 16 … 31"),
    ("3:20, 3:21", "3", "each key once"),
    ("3:20", "4", "is not one"),
    ("3:20", "", "at least one query"),
    ("", "3", "at least one"),
    ("3=20", "3", "key:value"),
    ("3:20", "x", "whole number"),
    ("1:16, 2:17, 3:18, 4:19, 5:20", "1, 2, 3", "take 13 tokens"),
])
def test_bad_input_is_refused_with_its_reason(pairs, queries, words):
    with pytest.raises(ValueError, match=words):
        mc.parse(pairs, queries, 12, 32)


def test_rwkv4s_wkv_weights_on_the_queried_pair_rebuild_its_wkv(tiny):
    folder, results = tiny
    model = mc.load(folder / f"{memory.model_name('rwkv4', 16, 4)}.safetensors")           # 12 tokens
    probe = mc.parse("3:20, 5:21", "5, 3", 12, 32)
    r = mc.wkv_on_pair(model, probe, 3)
    assert r["t"] == 11 and probe.ids[r["key_pos"]] == 3 and probe.ids[r["value_pos"]] == 20
    C = model.config.n_embd
    for w, on_key in zip(r["weights"], r["on_key"]):
        assert w.shape == (12, C) and torch.allclose(w.sum(0), torch.ones(C, dtype=w.dtype))
        assert torch.equal(on_key, w[r["key_pos"]])
    assert r["max_diff"] < 1e-4


def test_the_summary_reads_every_figure_from_the_results(tiny):
    _, results = tiny
    text = mc.summary(results)
    rw = {m["train"]["pairs"]: m for m in results["models"] if m["kind"] == "rwkv4"}
    gp = {m["train"]["pairs"]: m for m in results["models"] if m["kind"] == "gpt"}
    assert text.count(f"{rw[2]['state_bytes']:,} bytes at width 16") == 1          # one fixed state per width
    assert f"{max(m['schedules']['max_diff'] for m in rw.values()):.1e}" in text
    for n in PAIRS:                          # each trained N, RWKV-4 beside the GPT trained at that N
        a, b = mc.cell(rw[n], n), mc.cell(gp[n], n)
        clause = f"with {n} key-value pairs to recall, at width 16"
        assert clause in text and (f"RWKV-4 {a:.3f}, the GPT {b:.3f}" in text or f"RWKV-4 answers {a:.3f}" in text)
        assert f"its cache: {gp[n]['state_bytes']:,} bytes at {3 * n} tokens" in text
    assert "0.50 at N = 2, 0.25 at N = 4" in text
    only = mc.summary(results, 4)
    assert "with 4 key-value pairs" in only and "with 2 key-value" not in only and "scores 0.25)" in only
    assert "not measured" in mc.summary(None) and "results.json" in mc.summary({})


def summarised(ns_ab: dict) -> str:
    """The summary of made-up results: {N: (RWKV-4's accuracy, the GPT's)} at width 64."""
    ms = []
    for n, (a, b) in ns_ab.items():
        for kind, acc in (("rwkv4", a), ("gpt", b)):
            ms.append({"name": f"{kind}-w64-n{n}", "kind": kind, "width": 64, "state_bytes": 100 * n,
                       "schedules": {"max_diff": 1e-6}, "by_length": [], "by_pairs": [{"pairs": n, "accuracy": acc}],
                       "train": {"pairs": n, "length": 3 * n, "steps": 2500}})
    return mc.summary({"models": ms})


def test_the_summary_says_what_the_numbers_say_at_every_n():
    assert "**Pays for that state in recall:**" in summarised({4: (0.3, 0.99), 8: (0.2, 0.9)})
    assert "does not pay" in summarised({4: (0.99, 0.3), 8: (0.9, 0.2)})
    mixed = summarised({4: (0.99, 0.3), 8: (0.2, 0.9)})
    assert "do not settle" in mixed and "the other way round: RWKV-4 0.990, the GPT 0.300" in mixed
    assert "RWKV-4 answers 0.200" in mixed
    close = summarised({4: (0.5, 0.55), 16: (0.01, 0.02)})
    assert "inconclusive (within 0.1): RWKV-4 0.500, the GPT 0.550" in close and "neither learned" in close
    assert "do not settle" in close


def test_missing_files_are_said(tmp_path):
    assert mc.read_results(tmp_path / "none.json") is None and mc.model_paths(tmp_path / "none") == []
    (tmp_path / "bad.json").write_text("{")
    assert mc.read_results(tmp_path / "bad.json") is None
    assert "models/memory" in mc.MISSING_MODELS and mc.COMMAND in mc.MISSING_RESULTS


def test_the_table_has_a_row_per_model(tiny):
    _, results = tiny
    rows = mc.table_rows(results)
    assert [r["model"] for r in rows] == [mc.TITLES[m["kind"]] for m in results["models"]]
    assert all(r["N=2"] == round(mc.cell(m, 2), 3) for r, m in zip(rows, results["models"]))
    assert [r["trained N"] for r in rows] == [n for n in PAIRS for _ in range(3)]
    table = mc.markdown_tables(results)
    assert "| — |" in table          # N = 4 is not measured on the models trained at 2 (3N > 6)
    json.dumps(rows)


def test_the_charts_data_is_a_point_per_model_at_its_trained_n(tiny):
    _, results = tiny
    lines = mc.n_series(results)
    assert [(k, w) for _, k, w, _ in lines] == [(k, 16) for k in memory.KINDS]
    for _, kind, _, pts in lines:
        assert [n for n, _ in pts] == list(PAIRS)
        for n, acc in pts:
            m = next(m for m in results["models"] if m["name"] == memory.model_name(kind, 16, n))
            assert acc == mc.cell(m, n) == m["at_trained"]["accuracy"]
    pts = mc.state_points(results)
    assert len(pts) == 6 and all(p[3] == next(m["state_bytes"] for m in results["models"]
                                             if mc.label(m["name"], results) == p[0] and m["train"]["pairs"] == p[5])
                                 for p in pts)
    assert [s[0] for s in mc.length_series(results, 4)] == [mc.label(memory.model_name(k, 16, 4), results)
                                                            for k in memory.KINDS]
    old = {**results["models"][0]}
    del old["at_trained"]                # results written before the recipe per N: the same point
    assert mc.at_trained(old) == mc.at_trained(results["models"][0])


def test_the_students_n_picks_the_models_trained_at_it_or_the_nearest_above(tiny):
    folder, _ = tiny
    groups = mc.by_trained_n(mc.model_paths(folder))
    assert list(groups) == list(PAIRS) and [p.stem for p in groups[2]] == [memory.model_name(k, 16, 2)
                                                                           for k in memory.KINDS]
    assert [mc.pick_n([4, 8, 16], n) for n in (1, 4, 5, 8, 9, 16, 20)] == [4, 4, 8, 8, 16, 16, 16]
    assert mc.trained_n("gpt-w64-n16") == 16 and mc.trained_n("odd") == 0
