"""The one trainer (lab.train) for every kind: a few steps of each on tiny text, the log's schema
(machine, threads, load, sessions, training against held-out tokens, the recipe), a stopped and
resumed run equal to an uninterrupted one, the export loading with lab.load_model; and the
reading of a log (lab.train_log) and the one-off conversion of the old logs (lab.log_convert)."""
from __future__ import annotations

import json
import math

import pytest
import torch

import lab
from lab import train_log
from lab.train import TrainConfig, train

TINY = dict(n_layer=2, n_embd=16, vocab_size=300, ctx_len=16, batch_size=2, warmup_steps=2, total_steps=4,
            eval_every=2, ckpt_every=100, threads=1)
KINDS = [("rwkv4", ""), ("rwkv4", "shift"), ("lstm", ""), ("redline", ""), ("gpt", "")]


@pytest.fixture(scope="module")
def texts():
    text = "Full fathom five thy father lies; of his bones are coral made. Those are pearls that were his eyes. "
    return {"a": text * 30}, {"tempest_gut": text[:400], "timon_of_athens_gut": text[100:400]}


def weights_of(run_dir):
    return torch.load(run_dir / "ckpt.pt", weights_only=True)["params"]


@pytest.mark.parametrize("kind,variant", KINDS)
def test_every_kind_trains_logs_resumes_and_exports(tmp_path, texts, kind, variant):
    tc = TrainConfig(**TINY)
    whole = train(kind, tc, tmp_path / "whole", variant=variant, export=False, texts=texts, quiet=True)
    models = tmp_path / "models"
    train(kind, tc, tmp_path / "split", variant=variant, export=True, models_dir=models, texts=texts, quiet=True,
          stop_step=2, beside="a test")
    assert not list(models.glob("*.safetensors"))                     # stopped, not finished: no export yet
    log = train(kind, tc, tmp_path / "split", variant=variant, export=True, models_dir=models, texts=texts,
                quiet=True)
    # resumed = uninterrupted: the same weights and losses after 4 steps with a stop at step 2
    a, b = weights_of(tmp_path / "whole"), weights_of(tmp_path / "split")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert [e["loss"] for e in log["train"]] == [e["loss"] for e in whole["train"]]
    # the schema
    assert (log["schema"], log["kind"], log["variant"]) == (2, kind, variant)
    assert log["recipe"]["loss"] == "ce+l2wrap" and log["recipe"]["beta2"] == 0.99 and log["recipe"]["seed"] == 1234
    s1, s2 = log["sessions"]
    assert (s1["start_step"], s1["stop_step"], s1["why"], s1["beside"]) == (0, 2, "stop step", "a test")
    assert (s2["start_step"], s2["stop_step"], s2["why"]) == (2, 4, "finished")
    assert all(s["cpu"] and s["threads"] == 1 and s["started"] and s["stopped"] for s in (s1, s2))
    assert train_log.resumes(log) == [2]
    for v in log["val"]:
        assert v["train_tokens"] == v["step"] * 2 * 16 and 0 < v["heldout_tokens"] != v["train_tokens"]
        assert "tokens" not in v and len(v["load"]) == 3 and v["threads"] == 1
    fin = log["final"]
    assert fin["train_tokens"] == 4 * 32 and fin["heldout_tokens"] == log["val"][-1]["heldout_tokens"]
    assert math.isfinite(fin["bits_per_char"]) and fin["params"] == log["params"] and fin["why"] == "finished"
    assert log["data"]["train_tokens_per_pass"] > 0 and train_log.passes(log) > 0
    # the export loads as its kind, with its tokenizer
    model = lab.load_model(models / f"{log['name']}.safetensors")
    assert model.kind == kind and model.tokenizer is not None
    assert json.loads((models / f"{log['name']}.log.json").read_text())["final"]["step"] == 4


def test_the_time_cap_stops_cleanly_and_a_resume_goes_on(tmp_path, texts):
    log = train("lstm", TrainConfig(**TINY, max_minutes=0.0), tmp_path, export=False, texts=texts, quiet=True)
    assert log["final"]["step"] == 0 and log["sessions"][-1]["why"] == "time cap"
    log = train("lstm", TrainConfig(**TINY), tmp_path, export=False, texts=texts, quiet=True)
    assert log["final"]["step"] == 4 and log["sessions"][-1]["recipe_changes"] == {"max_minutes": [0.0, 88.0]}


def test_bad_input_is_named(tmp_path, texts):
    with pytest.raises(ValueError, match="unknown kind"):
        train("mamba", TrainConfig(**TINY), tmp_path, texts=texts, quiet=True)
    with pytest.raises(ValueError, match="variant"):
        train("gpt", TrainConfig(**TINY), tmp_path, variant="wkv", texts=texts, quiet=True)   # the GPT has "shift" only
    with pytest.raises(ValueError, match="unknown loss"):
        train("gpt", TrainConfig(**TINY, loss="mse"), tmp_path, texts=texts, quiet=True)


def test_the_command_line_trains_a_kind(tmp_path, monkeypatch, texts, capsys):
    import lab.data
    from lab.train import main
    monkeypatch.setattr(lab.data, "load_texts", lambda: texts)
    main(["--kind", "gpt", "--out", str(tmp_path), "--no-export", "--n-layer", "1", "--n-embd", "16",
          "--ctx-len", "16", "--batch-size", "2", "--total-steps", "2", "--threads", "1"])
    assert json.loads((tmp_path / "log.json").read_text())["final"]["step"] == 2
    with pytest.raises(SystemExit):
        main(["--kind", "lstm", "--time-mix", "shift", "--out", str(tmp_path / "x")])


def test_conditions_read_the_log():
    log = {"sessions": [{"start_step": 0, "stop_step": 250, "threads": 2, "cpu": "AMD EPYC", "cores": 2, "beside": None},
                        {"start_step": 250, "stop_step": 325, "threads": 1, "cpu": "AMD EPYC", "cores": 2,
                         "beside": "the GPT's training"}],
           "val": [{"step": 250, "load": [1.5, 1, 1]}, {"step": 325, "load": [2.5, 2, 2]}]}
    text = train_log.conditions(log)
    assert text == ("AMD EPYC, 2 cores; 2 threads, 1 for steps 250–325; resumed 1 time (at step 250); "
                    "load average 1.5–2.5 at validation; beside it: the GPT's training")
    assert "load not measured" in train_log.conditions({"sessions": [], "val": [{"step": 1, "load": None}]})


def test_an_old_log_converts_with_its_drifted_keys_fixed():
    from lab.log_convert import convert, sessions_from
    train = [{"step": s, "loss": 5.0, "seconds": 2.0 * s} for s in range(1, 101)]
    lstm_style = {"kind": "lstm", "config": {**TINY, "total_steps": 100, "batch_size": 6, "ctx_len": 512},
                  "train": train, "seconds": 200.0, "resumed": [{"step": 50, "threads": 1}],
                  "val": [{"step": 50, "tokens": 80442, "seconds": 100.0, "bits_per_char": 2.5, "chars": 9},
                          {"step": 100, "tokens": 80442, "seconds": 200.0, "bits_per_char": 2.4, "chars": 9}],
                  "final": {"step": 100, "tokens": 80442, "minutes": 200 / 60, "params": 7, "bits_per_char": 2.4,
                            "train_loss_last100": 5.0}}
    gpt_style = {**lstm_style, "val": [{**v, "tokens": v["step"] * 3072, "held_out_tokens": 777}
                                       for v in lstm_style["val"]]}
    spans = [{"start_step": 0, "stop_step": 50, "threads": 2}, {"start_step": 50, "stop_step": 100, "threads": 1}]
    for old, heldout in ((lstm_style, 80442), (gpt_style, 777)):
        before = json.dumps(old)
        log = convert(old, kind="lstm", variant="", name="x", sessions=sessions_from(old, spans, None, 2, "tests"),
                      train_tokens_per_pass=1000, notes=["from a test"])
        assert json.dumps(old) == before                                # the old log is read, not changed
        assert [v["train_tokens"] for v in log["val"]] == [50 * 3072, 100 * 3072]
        assert [v["heldout_tokens"] for v in log["val"]] == [heldout, heldout]
        assert all(v["load"] is None and "tokens" not in v for v in log["val"])
        assert log["final"]["train_tokens"] == 100 * 3072 and log["final"]["heldout_tokens"] == heldout
        assert [s["seconds"] for s in log["sessions"]] == [100.0, 100.0] and log["sessions"][0]["started"] is None
        assert train_log.threads_text(log) == "2 threads, 1 for steps 50–100" and log["notes"][-1] == "from a test"
        assert abs(train_log.passes(log) - 307.2) < 1e-9
        with pytest.raises(ValueError, match="already"):
            convert(log, kind="lstm", variant="", name="x", sessions=[], train_tokens_per_pass=None, notes=[])


@pytest.mark.parametrize("stem", list(lab.SHIPPED))
def test_every_shipped_log_is_in_the_one_schema_and_its_card_shows_the_evaluation(stem):
    log = json.loads((lab.MODELS_DIR / f"{stem}.log.json").read_text())
    ev = json.loads((lab.MODELS_DIR / f"{stem}.eval.json").read_text())
    assert log["schema"] == 2 and log["kind"] == lab.SHIPPED[stem].kind and log["variant"] == lab.SHIPPED[stem].variant
    assert all(v["heldout_tokens"] == 80442 and v["train_tokens"] == v["step"] * 3072 for v in log["val"])
    assert log["sessions"] and all("threads" in s and "cpu" in s for s in log["sessions"]) and log["notes"]
    card = (lab.MODELS_DIR / f"{stem}.md").read_text()
    assert f"**{ev['total']['bits_per_char']:.3f}**" in card and train_log.conditions(log) in card
