"""lab.train_bench: the training race runs every registered kind through its trainer hooks, and
its records keep the layout the Scheduling Lab reads (older records too)."""
import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from lab import train_bench
from lab.kinds import KINDS

TINY = train_bench.Shape(n_layer=2, n_embd=8, vocab_size=61, n_head=2, n_ctx=8)
COMPARE = Path(__file__).resolve().parent.parent / "docs" / "compare"
REHEARSAL = COMPARE.parent / "gpu" / "rehearsal-cpu"   # scripts/gpu_check.sh GPU_CHECK_SMALL=1, committed


def test_one_training_step_runs_for_every_registered_kind():
    rows = [train_bench.train_step_speed(k, batch=2, ctx=6, shape=TINY, repeats=2) for k in KINDS]
    assert [r.kind for r in rows] == list(KINDS) and all(r.tokens_per_s > 0 and r.batch == 2 for r in rows)
    assert all(r.seconds_min <= r.seconds <= r.seconds_max and r.repeats == 2 for r in rows)
    assert "redline" in train_bench.table(rows, "CPU", 2, 6)


def test_the_race_writes_a_record_per_shape_and_batch_the_lab_can_read(tmp_path, monkeypatch):
    monkeypatch.setitem(train_bench.SHAPES, "tiny", TINY)
    monkeypatch.setitem(KINDS, "toy", replace(KINDS["lstm"], name="toy", trainer=None))
    out = train_bench.race(["gpt", "toy"], ["tiny"], [1, 2], device="cpu", ctx=4, repeats=1, log=lambda s: None)
    assert [(r["shape"], r["batch"]) for r in out["records"]] == [("tiny", 1), ("tiny", 2)]
    assert out["skipped"][0]["kind"] == "toy" and "trainer hooks" in out["skipped"][0]["why"]
    (tmp_path / "train_step_tiny.json").write_text(json.dumps(out["records"][1]))
    (rec,) = train_bench.read_records(tmp_path)
    assert "problem" not in rec and rec["rows"][0].kind == "gpt" and rec["rows"][0].batch == 2


def test_the_committed_records_still_read():
    assert all("problem" not in r for r in train_bench.read_records(COMPARE))


def test_bad_arguments_get_a_clear_message(capsys):
    with pytest.raises(SystemExit):
        train_bench.main(["--kinds", "rwkv4,nosuchkind"])
    assert "nosuchkind" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train_bench.main(["--batch", "0"])
    assert "positive number or 'fill'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train_bench.main(["--threads", "1", "0"])
    assert "--threads must be at least 1" in capsys.readouterr().err


def test_the_gpu_summary_reads_the_rehearsal_and_exports_where_the_app_reads(tmp_path, capsys):
    from lab import bench_record
    from scripts import gpu_summary
    gpu_summary.main([str(REHEARSAL), "--export", str(tmp_path)])
    out = capsys.readouterr().out
    assert "## Training race" in out and "| red-line RNN |" in out and "| 64 |" in out and "float32: 88 passed" in out
    records = train_bench.read_records(tmp_path / "docs" / "compare")
    assert len(records) == 2 and all("problem" not in r for r in records)
    assert bench_record.parse(json.loads((tmp_path / "docs" / "bench" / "cpu_169m_scaling.json").read_text()))
    assert (tmp_path / "docs" / "gpu" / "cpu" / "summary.md").read_text() in out


def test_a_batch_that_does_not_fit_is_halved_until_it_does(monkeypatch):
    real = train_bench._time_steps

    def small_memory(params, forward, ids, repeats, device):
        if ids.shape[0] > 2:                       # as a GPU's allocator would say
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(params, forward, ids, repeats, device)
    monkeypatch.setattr(train_bench, "_time_steps", small_memory)
    row = train_bench.measure("gpt", *train_bench.build("gpt", TINY, "cpu", 4), device="cpu", batch=8, ctx=4,
                              vocab_size=TINY.vocab_size, repeats=1)
    assert row.batch == 2 and row.tokens_per_s == 2 * 4 / row.seconds


def test_each_thread_count_gets_its_records_and_each_kind_its_fastest(tmp_path, monkeypatch):
    """--threads 1 2: every kind timed at each count (a record each, saying its count); lab.race and the
    Why page's table take each kind's fastest."""
    from app import compare_core as cc
    from lab import race
    monkeypatch.setitem(train_bench.SHAPES, "shipped", TINY)
    before = torch.get_num_threads()
    try:
        out = train_bench.race(["gpt", "redline"], ["shipped"], [6], device="cpu", ctx=4, repeats=1,
                               log=lambda s: None, threads=[1, 2])
    finally:
        torch.set_num_threads(before)
    assert out["threads"] == [1, 2] and [r["threads"] for r in out["records"]] == [1, 2]
    assert all([row["kind"] for row in r["rows"]] == ["gpt", "redline"] for r in out["records"])
    # made-up speeds, so that each count wins once
    out["records"][0]["rows"][0]["tokens_per_s"], out["records"][1]["rows"][0]["tokens_per_s"] = 100.0, 200.0
    out["records"][0]["rows"][1]["tokens_per_s"], out["records"][1]["rows"][1]["tokens_per_s"] = 50.0, 40.0
    assert race.fastest(out) == {"gpt": (200.0, 2), "redline": (50.0, 1)}
    assert race.throughput(out) == {"gpt": 200.0, "redline": 50.0}
    path = tmp_path / "throughput.json"
    path.write_text(json.dumps(out))
    merged = cc.read_train_steps(path)
    assert {r.kind: r.tokens_per_s for r in merged["rows"]} == {"gpt": 200.0, "redline": 50.0}
    assert merged["threads_of"] == {"gpt": 2, "redline": 1} and merged["threads"] == "each kind's fastest of 1, 2"


def test_every_record_of_one_file_has_its_own_widget_key(tmp_path):
    """A race file holds a record per thread count (and batch, shape): the pages key each apart."""
    from app import scheduling_core as sc
    row = {"kind": "gpt", "schedule": "parallel", "params": 1, "seconds": 1.0, "tokens_per_s": 1.0}
    race = {"records": [{"shape": "shipped", "batch": 6, "threads": n, "rows": [row]} for n in (1, 2)]}
    path = tmp_path / "throughput.json"
    path.write_text(json.dumps(race))
    recs = sc.training_step_records(tmp_path, path)
    assert len(recs) == 2 and len({sc.record_key(r) for r in recs}) == 2
