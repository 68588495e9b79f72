"""lab.train_bench: the training race runs every registered kind through its trainer hooks, and
its records keep the layout the Scheduling Lab reads (older records too)."""
import json
from dataclasses import replace
from pathlib import Path

import pytest

from lab import train_bench
from lab.kinds import KINDS

TINY = train_bench.Shape(n_layer=2, n_embd=8, vocab_size=61, n_head=2, n_ctx=8)
COMPARE = Path(__file__).resolve().parent.parent / "docs" / "compare"


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
