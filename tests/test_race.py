"""The fair race read from its files (lab/race.py): the fairness check, worded from the numbers,
the compute time (tokens ÷ clean throughput) and the sweep's figure."""
from __future__ import annotations

from pathlib import Path

import pytest

from app import compare_core as cc
from lab import race
from lab.sweep import LRS, TUNED, WARMUP, WARMUP_2
from visuals import compare as vc


def sweep(chosen: dict, complete: bool = True) -> dict:
    runs = [{"kind": k, "lr": lr, "warmup": WARMUP, "done": True, "bits_per_char": 2.0 + lr} for k in TUNED for lr in LRS]
    runs += [{"kind": k, "lr": LRS[2], "warmup": WARMUP_2, "done": complete, "bits_per_char": 2.5 if complete else None}
             for k in TUNED]
    return {"lrs": list(LRS), "warmup": WARMUP, "warmup_2": WARMUP_2, "runs": runs, "chosen": chosen,
            "complete": complete}


def log(lr: float, warmup: int, loss: str, tokens: int) -> dict:
    return {"recipe": {"lr_peak": lr, "warmup_steps": warmup, "loss": loss, "total_steps": 2000, "batch_size": 6,
                       "ctx_len": 512}, "val": [{"train_tokens": tokens}]}


FULL = 2000 * 6 * 512
CHOSEN = {"rwkv4": {"lr": 2e-3, "warmup": 30, "bits_per_char": 2.1}, "lstm": {"lr": 4e-3, "warmup": 100, "bits_per_char": 2.2},
          "gpt": {"lr": 4e-3, "warmup": 30, "bits_per_char": 2.4}}


def test_a_race_of_tuned_full_runs_is_fair():
    logs = {"rwkv4": log(2e-3, 30, "ce+l2wrap", FULL), "gpt": log(4e-3, 30, "ce", FULL),
            "lstm": log(4e-3, 100, "ce", FULL), "redline": log(4e-3, 100, "ce", FULL)}   # the red line borrows the LSTM's
    assert race.unfair(sweep(CHOSEN), logs) == []


def test_every_way_a_race_is_unfair_is_named():
    logs = {"gpt": log(1.5e-3, 100, "ce+l2wrap", FULL), "redline": log(4e-3, 100, "ce", 4_485_120)}
    reasons = race.unfair(sweep({}, complete=False), logs)
    assert reasons[0] == (f"the tuning sweep is not finished: {len(TUNED) * len(LRS)} of at least "
                          f"{len(TUNED) * (len(LRS) + 1)} runs done")
    assert "the race's GPT was trained with the ce+l2wrap loss, not its own (ce)" in reasons
    assert "the race's red-line RNN saw 4.49M of the recipe's 6.14M training tokens" in reasons
    assert len(reasons) == 3                               # no chosen rate yet: the rates are not judged
    reasons = race.unfair(sweep(CHOSEN), {"gpt": log(1.5e-3, 100, "ce", FULL)})
    assert reasons == ["the race's GPT was trained at a peak rate of 0.0015 with 100 warm-up steps; "
                       "the sweep chose 0.004 and 30"]
    assert race.unfair(None, {}) == ["no tuning sweep is committed (docs/race/sweep.json)"]


def test_a_shipped_model_kept_beside_its_race_run_is_read_from_models_race(tmp_path):
    """RWKV-4's race run at the sweep's setting did worse than the embedded model: lab.sweep.adopt keeps
    the embedded one and writes the run to models/race/, where the race reads it; the pages say both."""
    import json

    def put(folder: Path, lr: float, bpc: float) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "rwkv4-shakespeare.log.json").write_text(json.dumps(log(lr, 100, "ce+l2wrap", FULL)))
        (folder / "rwkv4-shakespeare.eval.json").write_text(json.dumps({"total": {"bits_per_char": bpc}}))
    put(tmp_path, 1.5e-3, 1.99)
    (tmp_path / "gpt-shakespeare.log.json").write_text(json.dumps(log(2e-3, 100, "ce", FULL)))
    assert race.race_folder("rwkv4", tmp_path) == tmp_path and race.kept(tmp_path) == []
    put(tmp_path / "race", 4e-3, 2.04)
    assert race.race_folder("rwkv4", tmp_path) == tmp_path / "race"
    assert race.race_folder("gpt", tmp_path) == tmp_path                       # no race run of its own: the shipped
    logs = race.race_logs(tmp_path)
    assert logs["rwkv4"]["recipe"]["lr_peak"] == 4e-3 and logs["gpt"]["recipe"]["lr_peak"] == 2e-3
    [line] = race.kept(tmp_path)
    assert "at a peak rate of 0.0015 with 100 warm-up steps" in line and "1.9900 bits/char" in line
    assert "on the same 6.14M training tokens" in line
    assert "(0.004, 100 warm-up steps), at 2.0400" in line and "0.0500 bits/char better" in line


def test_whether_the_sweeps_choice_carried_over_is_read_from_both_runs(tmp_path):
    """lab.race.carried: a kind's run from before the race (docs/race/before/, or the shipped model kept
    beside its race run) against its race run; the verdict is worded from the numbers, either way."""
    import json

    def put(folder: Path, stem: str, lr: float, bpc: float, tokens: int = FULL, evaluated: bool = True) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        lg = log(lr, 100, "ce", tokens) | {"final": {"bits_per_char": bpc}}
        (folder / f"{stem}.log.json").write_text(json.dumps(lg))
        if evaluated:
            (folder / f"{stem}.eval.json").write_text(json.dumps({"total": {"bits_per_char": bpc}}))
    models, before = tmp_path / "models", tmp_path / "before"
    put(models, "rwkv4-shakespeare", 1.5e-3, 1.99)
    put(models, "gpt-shakespeare", 2e-3, 2.20)
    assert race.carried(models, before) == []                     # nothing from before the race: nothing to say
    assert race.carried_text([], None) == ""
    put(models / "race", "rwkv4-shakespeare", 4e-3, 2.05)         # kept: the shipped one is the earlier run
    put(before, "gpt-shakespeare", 1.5e-3, 2.30, evaluated=False)  # replaced: its log was kept
    put(before, "lstm-shakespeare", 1.5e-3, 2.10)                 # no race LSTM here: not compared
    put(before, "redline-shakespeare", 1.5e-3, 2.08, tokens=4_485_120)
    put(models, "redline-shakespeare", 8e-3, 2.12)
    rows = race.carried(models, before)
    assert [r["kind"] for r in rows] == ["rwkv4", "gpt", "redline"]
    assert rows[0]["before"]["bits_per_char"] == 1.99 and rows[0]["race"]["bits_per_char"] == 2.05
    assert rows[1]["before"]["file"].endswith("gpt-shakespeare.log.json")   # no evaluation kept: its log's
    text = race.carried_text(rows, {"steps": 300})
    assert ("the sweep's choice read the held-out text worse than the setting shipped before the race for "
            "RWKV-4 (+0.060); at least as well for the GPT (-0.100)") in text
    assert "(0.004 against 0.0015)" in text and "after 300 steps" in text and "over 2,000" in text
    assert "about 7 times the CPU" in text
    assert "Not compared: the red-line RNN's run from before the race saw 4.49M training tokens" in text
    put(models / "race", "rwkv4-shakespeare", 1e-3, 2.05)         # worse at a lower rate: no word on fast starts
    text = race.carried_text(race.carried(models, before), {"steps": 300})
    assert "worse than the setting shipped before the race for RWKV-4" in text and "fast starts" not in text


def test_the_committed_race_files_agree_with_the_check():
    committed = race.read(race.SWEEP_FILE)
    logs = race.race_logs()
    assert set(logs) == set(race.RACE_KINDS)
    reasons = race.unfair(committed, logs)
    said = f"the tuning sweep is not finished: {race.done_text(committed)}"
    assert (said in reasons) == (not committed["complete"])
    short = [k for k, lg in logs.items() if race.seen_tokens(lg) < race.full_tokens(lg)]
    assert len([r for r in reasons if "of the recipe's" in r]) == len(short)


def test_compute_time_is_tokens_over_the_clean_throughput():
    rec = race.read(race.THROUGHPUT_FILE)
    speed = race.throughput(rec)
    assert set(race.RACE_KINDS) <= set(speed) and all(v > 0 for v in speed.values())
    assert rec["repeats"] >= 5 and rec["load_before"] and rec["load_after"] and rec["command"].startswith("python -m lab")
    curves = cc.read_curves()
    compute = cc.compute_curves(curves, speed)
    for k, c in compute.items():
        assert [p[1] for p in c.points] == pytest.approx([p[0] / speed[k] for p in curves[k].points])
    eq = cc.equal_race(curves, speed)
    assert eq.seconds == pytest.approx(min(c.tokens / speed[k] for k, c in curves.items()))
    assert eq.tokens == min(c.tokens for c in curves.values())
    assert cc.equal_race(curves, {k: v for k, v in speed.items() if k != "gpt"}) is None   # no throughput, no race
    line = cc.verdict_compute(curves, eq)
    best = min(curves, key=lambda k: eq.at_seconds[k])
    assert line.startswith(f"In the same {eq.seconds / 60:.0f} minutes of compute") and cc.title(best) in line


def test_the_plateau_figure_draws_each_run_the_bigram_level_and_the_experiment_dashed():
    fig = vc.plateau_figure({"RWKV-4": [(10, 6.0), (20, 3.5)], "GPT <b>": [(10, 6.5), (20, 4.4)]}, 3.921,
                            {"GPT + token shift, 300-step run": [(10, 6.2), (20, 3.8)]})
    assert [t.name for t in fig.data] == ["RWKV-4", "GPT &lt;b&gt;", "GPT + token shift, 300-step run"]
    assert [t.line.dash for t in fig.data] == [None, None, "dash"]
    assert fig.layout.shapes[0].y0 == fig.layout.shapes[0].y1 == 3.921
    assert "3.921" in fig.layout.annotations[-1].text
    assert fig.layout.yaxis.range[0] == pytest.approx(3.4) and fig.layout.yaxis.range[1] == pytest.approx(5.921)
    assert len(vc.plateau_figure({}, 3.9).data) == 0
    close = vc.plateau_figure({}, 3.9, {"GPT, 300-step run": [(10, 6.5), (300, 4.5)]}, title="The first 300 steps")
    assert close.layout.title.text.startswith("The first 300 steps")
    assert close.layout.yaxis.range[0] == pytest.approx(3.8)        # the level in view though no curve reaches it


def test_the_plateau_view_reads_the_files_and_adds_the_experiment_when_committed(tmp_path, monkeypatch):
    from app import compare_core as cc
    from lab import bigram
    view = cc.plateau_view()
    data = race.read(race.BIGRAM_FILE)
    assert view.level == data["bigram_nats_per_token"]
    assert sorted(view.table["below the bigram level from step"][:len(data["runs"])]) == \
        sorted(f"{r['leaves_at_step']:,}" if r["leaves_at_step"] is not None else "not reached" for r in data["runs"])
    shift = {"command": "python -m lab.gpt_shift", "verdict": "It says so.", "setting": {"lr": 2e-3, "warmup": 100,
             "init": "torch", "steps": 300},
             "plain": {"steps": 300, "smoothed": [[10, 7.0]], "below_bigram_from_step": None},
             "shift": {"steps": 300, "smoothed": [[10, 6.0]], "below_bigram_from_step": 250}}
    path = tmp_path / "gpt_shift.json"
    path.write_text(__import__("json").dumps(shift))
    monkeypatch.setattr(race, "SHIFT_FILE", path)
    view = cc.plateau_view()
    assert view.short == {"GPT, 300-step run": [(10, 7.0)], "GPT + token shift, 300-step run": [(10, 6.0)]}
    assert view.table["below the bigram level from step"][-2:] == ["not by step 300", "250"]
    assert view.text.endswith("It says so.") and "The token-shift experiment below measures" in view.text
    assert bigram.gpt_sentence(data) in view.text and "gpt_shift.json" in view.caption
    shift["full"] = {"steps": 2000, "plain": {"steps": 2000, "below_bigram_from_step": 1188, "smoothed": [[10, 7.0]]},
                     "shift": {"steps": 2000, "below_bigram_from_step": 700, "smoothed": [[10, 6.5], [20, 3.0]]}}
    shift["full_verdict"] = "And over the full recipe."
    path.write_text(__import__("json").dumps(shift))
    view = cc.plateau_view()
    assert view.full == {"GPT + token shift, 2,000 steps": [(10, 6.5), (20, 3.0)]}
    assert view.table["model"][-1] == "GPT + token shift, 2,000 steps"
    assert view.table["below the bigram level from step"][-1] == "700"
    assert view.text.endswith("It says so. And over the full recipe.")
    monkeypatch.setattr(race, "BIGRAM_FILE", tmp_path / "none.json")
    assert cc.plateau_view() is None


def test_the_sweep_figure_draws_each_kind_and_stars_the_chosen():
    fig = vc.sweep_figure({"RWKV-4": [(1e-3, 2.2), (2e-3, 2.1)], "GPT": [(1e-3, 2.6)]}, {"RWKV-4": (2e-3, 2.1)}, 300)
    lines = [t for t in fig.data if t.showlegend is not False]
    assert [t.name for t in lines] == ["RWKV-4", "GPT"] and list(lines[0].x) == [1e-3, 2e-3]
    stars = [t for t in fig.data if t.showlegend is False]
    assert len(stars) == 1 and stars[0].marker.symbol == "star" and list(stars[0].x) == [2e-3]
    assert fig.layout.xaxis.type == "log" and "300 steps" in fig.layout.title.text
    assert list(fig.layout.xaxis.tickvals) == [1e-3, 2e-3] and list(fig.layout.xaxis.ticktext) == ["0.001", "0.002"]
    committed = race.read(race.SWEEP_FILE)
    series = race.sweep_series(committed)
    assert all(r["done"] for r in committed["runs"] if (r["lr"], r["bits_per_char"]) in series.get(r["kind"], []))


def test_the_committed_race_report_is_what_its_files_say():
    """docs/race/README.md is written from the race's files only: a rerun of any of them (the sweep, the
    throughput, a retrained model's log) fails here until `python scripts/race_report.py --out
    docs/race/README.md` writes it again."""
    from scripts.race_report import ROOT, report, sweep_svg
    assert (ROOT / "docs/race/README.md").read_text() == report()
    svg = (ROOT / "docs/race/sweep.svg").read_text()
    committed = race.read(race.SWEEP_FILE)
    assert svg == sweep_svg(committed)
    assert svg.count("<polyline") == len(race.sweep_series(committed))     # a line per kind with a finished run
