"""The fair race's tuning sweep (lab/sweep.py): the same budget for every kind, stage 2 at stage 1's
best rate, the chosen setting by held-out bits per character, and the runs it trains are the one
trainer's (a tiny real run here)."""
from __future__ import annotations

import json

import pytest

from lab import sweep


def fake_log(s: sweep.Setting, bpc: float | None) -> None:
    s.out.mkdir(parents=True, exist_ok=True)
    log = {"sessions": [{"cpu": "x", "threads": 1, "load": [0.1, 0.1, 0.1], "stop_step": sweep.STEPS}],
           "val": [{"step": sweep.STEPS, "bits_per_char": bpc}] if bpc else []}
    if bpc is not None:
        log["final"] = {"bits_per_char": bpc, "train_loss_last100": 2.0}
    (s.out / "log.json").write_text(json.dumps(log))


@pytest.fixture
def runs(tmp_path, monkeypatch):
    """An empty sweep: no runs, no committed results, no retrainings (whatever this checkout holds)."""
    monkeypatch.setattr(sweep, "RUNS", tmp_path / "sweep")
    monkeypatch.setattr(sweep, "SWEEP_JSON", tmp_path / "sweep.json")
    monkeypatch.setattr(sweep, "RETRAINED", tmp_path / "race")
    return tmp_path / "sweep"


def test_a_checkout_without_the_runs_reads_the_committed_sweep_and_keeps_it(runs, capsys):
    """runs/ is local: a new checkout has only docs/race/sweep.json, which then gives the choice; `run` trains
    nothing and `json` does not replace the complete file with this checkout's empty collection."""
    from pathlib import Path
    shipped = Path(__file__).resolve().parent.parent / "docs" / "race" / "sweep.json"
    committed = json.loads(shipped.read_text())
    assert committed["complete"] and set(committed["chosen"]) == set(sweep.TUNED)
    assert not sweep.results()["complete"]                           # nothing anywhere yet
    sweep.SWEEP_JSON.write_text(shipped.read_text())
    assert sweep.results()["chosen"] == committed["chosen"] and not sweep.collect()["complete"]
    sweep.main(["run", "--max-minutes", "0.01"])
    assert "nothing to train" in capsys.readouterr().out and not runs.exists()
    sweep.main(["json", str(sweep.SWEEP_JSON)])
    assert "kept" in capsys.readouterr().out and json.loads(sweep.SWEEP_JSON.read_text()) == committed
    fake_log(sweep.Setting("gpt", 1e-3, sweep.WARMUP), 2.3)          # a checkout with runs of its own: written
    other = runs.parent / "other.json"
    sweep.main(["json", str(other)])
    assert not json.loads(other.read_text())["complete"]


def test_an_adopted_race_run_counts_as_done_without_its_run_folder(runs, tmp_path, capsys):
    """A kind is pending until its retraining finished here or its adopted log (models/, or models/race/ for an
    RWKV-4 kept aside) says it is the race's run at the sweep's choice: not a shipped model at another setting."""
    chosen = {"rwkv4": {"lr": 4e-3, "warmup": 100, "init": "kind"}, "lstm": {"lr": 8e-3, "warmup": 30, "init": "kind"},
              "gpt": {"lr": 2e-3, "warmup": 100, "init": "torch"}}
    sweep.SWEEP_JSON.write_text(json.dumps({"complete": True, "chosen": chosen, "runs": []}))
    models = tmp_path / "models"
    (models / "race").mkdir(parents=True)
    def ship(kind, folder, note=True, **recipe):
        tc = sweep.retrain_config(kind, chosen, 1)
        log = {"recipe": {"lr_peak": tc.lr_peak, "warmup_steps": tc.warmup_steps, "loss": tc.loss, "init": tc.init,
                          **recipe}, "final": {"bits_per_char": 2.0}}
        log["notes"] = sweep.adoption_notes(log) if note else []
        from lab.train import default_name
        (folder / f"{default_name(kind)}.log.json").write_text(json.dumps(log))
    ship("gpt", models)
    ship("rwkv4", models / "race")
    ship("lstm", models, note=False)                                 # at the setting, but never adopted
    ship("redline", models, lr_peak=1.5e-3)                          # adopted at an earlier choice
    assert sweep.pending(models_dir=models) == ["lstm", "redline"]
    ship("lstm", models)
    (sweep.RETRAINED / "redline").mkdir(parents=True)
    (sweep.RETRAINED / "redline" / "log.json").write_text(json.dumps({"final": {"bits_per_char": 2.0}}))
    assert sweep.pending(models_dir=models) == []                    # finished here, waiting for `adopt`
    assert sweep.adopt("gpt", models).endswith("already adopted (its run is not in this checkout)")


def test_the_budget_spans_a_factor_of_16_and_is_the_same_for_every_kind(runs):
    assert max(sweep.LRS) / min(sweep.LRS) >= 16 and len(sweep.LRS) >= 4
    assert sorted(sweep.ORDER) == sorted(sweep.LRS)
    for k in sweep.TUNED:
        assert [(s.lr, s.warmup) for s in sweep.plan(k)] == [(lr, sweep.WARMUP) for lr in sweep.LRS]


def test_stage_two_runs_at_the_best_rate_and_the_choice_is_the_lowest_heldout_score(runs):
    scores = dict(zip(sweep.LRS, (2.4, 2.2, 2.1, 2.3, 2.9)))        # the best: 1e-3
    for lr, bpc in scores.items():
        fake_log(sweep.Setting("gpt", lr, sweep.WARMUP), bpc)
    stage2 = sweep.plan("gpt")[-1]
    assert (stage2.lr, stage2.warmup, stage2.init) == (1e-3, sweep.WARMUP_2, sweep.INIT)
    assert sweep.collect(("gpt",))["chosen"] == {}                  # not chosen before stage 2 is done
    fake_log(stage2, 2.15)                                          # worse than stage 1's best: stage 3 there
    stage3 = sweep.plan("gpt")[-1]
    assert (stage3.lr, stage3.warmup, stage3.init) == (1e-3, sweep.WARMUP, sweep.INIT_2)
    assert stage3.name == "gpt-lr0.001-wu30-inittorch" and stage2.name == "gpt-lr0.001-wu100"
    assert sweep.collect(("gpt",))["chosen"] == {}                  # nor before stage 3 is done
    fake_log(stage3, 2.05)
    out = sweep.collect(("gpt",))
    assert out["chosen"]["gpt"] == {"lr": 1e-3, "warmup": sweep.WARMUP, "init": sweep.INIT_2, "bits_per_char": 2.05}
    assert out["complete"] and out["borrows"] == {"redline": "lstm"}
    assert sweep.config(stage3, threads=1).init == sweep.INIT_2 == sweep.retrain_config(
        "redline", out["chosen"] | {"lstm": out["chosen"]["gpt"]}, threads=1).init
    assert all(r["sessions"][0]["cpu"] == "x" for r in out["runs"])   # the conditions come from the logs


def test_an_unfinished_run_is_not_scored(runs):
    fake_log(sweep.Setting("lstm", 1e-3, sweep.WARMUP), None)
    assert sweep.score(sweep.read_log(sweep.Setting("lstm", 1e-3, sweep.WARMUP))) is None
    assert not sweep.collect(("lstm",))["complete"]


def test_a_kind_without_a_budget_is_refused(runs, capsys):
    with pytest.raises(SystemExit):
        sweep.main(["run", "--kinds", "redline"])
    assert "untuned" in capsys.readouterr().err


def test_a_sweep_setting_is_the_recipe_with_its_rate_warmup_and_own_loss():
    tc = sweep.config(sweep.Setting("gpt", 2e-3, 30), threads=1)
    assert (tc.lr_peak, tc.warmup_steps, tc.total_steps, tc.loss, tc.batch_size, tc.ctx_len, tc.seed) == \
        (2e-3, 30, sweep.STEPS, "ce", 6, 512, 1234)
    assert sweep.config(sweep.Setting("rwkv4", 1e-3, 30), threads=1).loss == "ce+l2wrap"


def test_the_retraining_is_the_full_recipe_at_the_chosen_setting(runs):
    chosen = {"rwkv4": {"lr": 2e-3, "warmup": 100}, "lstm": {"lr": 4e-3, "warmup": 30}, "gpt": {"lr": 1e-3, "warmup": 30}}
    from lab.train import recipe
    for kind in sweep.RACE:
        tc = sweep.retrain_config(kind, chosen, threads=2)
        own = sweep.BORROWS.get(kind, kind)                           # the red-line RNN borrows the LSTM's
        assert (tc.lr_peak, tc.warmup_steps) == (chosen[own]["lr"], chosen[own]["warmup"])
        assert tc.loss == ("ce+l2wrap" if own == "rwkv4" else "ce")
        assert tc.total_steps == recipe(kind).total_steps and tc.batch_size == 6 and tc.ctx_len == 512
        assert tc.max_minutes >= 10_000                               # no time cap: a session stops and resumes
    with pytest.raises(SystemExit, match="not complete"):
        sweep.retrain(["gpt"], 1, 1, "")                              # nothing chosen yet in an empty sweep


def test_a_best_rate_at_the_edge_of_the_grid_is_looked_past_the_same_way_for_every_kind(runs):
    for lr, bpc in zip(sweep.LRS, (2.5, 2.4, 2.3, 2.2, 2.1)):          # the best at the top: 4e-3
        fake_log(sweep.Setting("rwkv4", lr, sweep.WARMUP), bpc)
    assert [s.lr for s in sweep.plan("rwkv4")][-1] == 8e-3              # one more rate, beyond the top
    fake_log(sweep.Setting("rwkv4", 8e-3, sweep.WARMUP), 2.0)          # still the best: one more
    assert [s.lr for s in sweep.plan("rwkv4")][-1] == 1.6e-2
    fake_log(sweep.Setting("rwkv4", 1.6e-2, sweep.WARMUP), 1.9)        # the limit (EXTEND): stage 2 at the best
    last = sweep.plan("rwkv4")[-1]
    assert len(sweep.plan("rwkv4")) == len(sweep.LRS) + sweep.EXTEND + 1 and (last.lr, last.warmup) == (1.6e-2, sweep.WARMUP_2)
    for lr, bpc in zip(sweep.LRS, (2.1, 2.2, 2.3, 2.4, 2.5)):          # the best at the bottom: one below it
        fake_log(sweep.Setting("gpt", lr, sweep.WARMUP), bpc)
    assert sweep.plan("gpt")[-1].lr == 1.25e-4 and sweep.plan("gpt")[-1].warmup == sweep.WARMUP
    fake_log(sweep.Setting("gpt", 1.25e-4, sweep.WARMUP), 2.3)         # worse: the edge was the best after all
    assert (sweep.plan("gpt")[-1].lr, sweep.plan("gpt")[-1].warmup) == (2.5e-4, sweep.WARMUP_2)


@pytest.mark.parametrize("kind", ["gpt", "rwkv4"])
def test_adopt_exports_a_finished_retraining_and_keeps_a_better_embedded_model(kind, tmp_path, monkeypatch):
    """A tiny real run stands in for runs/race/<kind>: adopt writes it under the shipped stem, loadable and
    equal to the checkpoint; RWKV-4 (the embedded model) is replaced only if it is at least as good."""
    import torch

    import lab
    from lab.train import TrainConfig, default_name, train
    monkeypatch.setattr(sweep, "RETRAINED", tmp_path / "race")
    monkeypatch.setattr(sweep, "RUNS", tmp_path / "sweep")       # no sweep here: whatever this machine's runs/ holds
    monkeypatch.setattr(sweep, "SWEEP_JSON", tmp_path / "sweep.json")   # nor docs/race/sweep.json
    models = tmp_path / "models"
    with pytest.raises(SystemExit, match="has not finished"):
        sweep.adopt(kind, models)
    text = "Full fathom five thy father lies; of his bones are coral made. Those are pearls that were his eyes. "
    texts = {"a": text * 30}, {"tempest_gut": text[:400], "timon_of_athens_gut": text[100:400]}
    tc = TrainConfig(n_layer=1, n_embd=16, vocab_size=300, ctx_len=16, batch_size=2, warmup_steps=1, total_steps=2,
                     eval_every=2, ckpt_every=100, threads=1)
    log = train(kind, tc, tmp_path / "race" / kind, export=False, texts=texts, quiet=True, tokenizer=sweep.TOKENIZER)
    new = log["final"]["bits_per_char"]
    stem = default_name(kind)
    models.mkdir()
    (models / f"{stem}.log.json").write_text(json.dumps({"final": {"bits_per_char": new - 0.5}}))   # a better one
    before = tmp_path / "before"
    said = sweep.adopt(kind, models, before_dir=before)
    if kind == "rwkv4":
        assert said.startswith("rwkv4: kept the shipped model") and not (models / f"{stem}.safetensors").exists()
        assert (models / "race" / f"{stem}.safetensors").is_file()    # the race's run, where lab.race reads it
        from lab import race
        assert race.race_folder("rwkv4", models) == models / "race"
        assert not before.exists()                                  # nothing replaced: nothing kept
        said = sweep.adopt(kind, models, force=True, before_dir=before)
    assert said.startswith(f"{kind}: wrote ") and f"{new:.4f}" in said
    kept = json.loads((before / f"{stem}.log.json").read_text())      # the replaced model's log, for lab.race.carried
    assert kept == {"final": {"bits_per_char": new - 0.5}}
    from safetensors.torch import load_file
    lab.load_model(models / f"{stem}.safetensors")                  # the ordinary loader reads it
    ckpt = torch.load(tmp_path / "race" / kind / "ckpt.pt", weights_only=True)["params"]
    exported = load_file(str(models / f"{stem}.safetensors"))
    assert all(torch.equal(exported[k], v) for k, v in ckpt.items())
    assert (models / f"{stem}.tokenizer.json").read_text() == sweep.TOKENIZER.read_text()
    assert json.loads((models / f"{stem}.log.json").read_text())["final"]["bits_per_char"] == new


def test_a_retraining_of_an_earlier_choice_is_told_apart():
    chosen = {"gpt": {"lr": 2e-3, "warmup": 100, "init": "torch"}}
    tc = sweep.retrain_config("gpt", chosen, threads=1)
    log = {"recipe": {"lr_peak": 2e-3, "warmup_steps": 100, "loss": "ce"}}          # before stage 3: the kind's init
    assert not sweep.matches(log, tc)
    assert sweep.matches({"recipe": {**log["recipe"], "init": "torch"}}, tc)
    assert not sweep.matches({"recipe": {**log["recipe"], "init": "torch", "lr_peak": 1e-3}}, tc)


def test_the_race_queue_says_what_is_done_and_trains_nothing_in_a_dry_run():
    import subprocess
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(["bash", "scripts/race_runs.sh"], cwd=root, capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "DRY_RUN": "1"})
    assert done.returncode == 0, done.stderr
    for kind in sweep.RACE:
        assert any(line.startswith(kind) for line in done.stdout.splitlines()), kind
