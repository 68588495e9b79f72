"""The cliffhanger step: its numbers are the shipped models' own evaluations, the ablation's
file runs in the engine and scores what its evaluation says, and the figures are built from them."""
import json
import math
import re
from pathlib import Path

import pytest
import torch

import lab
from app.lessons import views_cliffhanger as vcl
from visuals import cliffhanger as vc
from visuals.theme import caption

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"


def test_every_model_trained_here_is_in_the_table_with_its_own_numbers():
    models = vcl.trained_models()
    assert [m.name for m in models] == list(vcl.MODELS)          # all five, in the lesson's order
    for m in models:
        total = json.loads((MODELS / f"{m.name}.eval.json").read_text())["total"]
        assert m.bits_per_char == total["bits_per_char"]
    by = {m.name: m for m in models}
    # the same recipe for both: 2,000 steps of 6 × 512 tokens
    assert by["rwkv4-shakespeare"].train_tokens == by[vcl.ABLATION].train_tokens == 2000 * 6 * 512
    sentence = vcl.gap_sentence(models)
    gap = by[vcl.ABLATION].bits_per_char - by["rwkv4-shakespeare"].bits_per_char
    assert f"{gap:+.3f} bits" in sentence and f"{by[vcl.ABLATION].bits_per_char:.3f}" in sentence


def test_without_an_evaluation_the_step_says_how_to_make_one(tmp_path):
    for name in ("rwkv4-shakespeare",):
        for ext in (".eval.json", ".log.json"):
            (tmp_path / f"{name}{ext}").write_text((MODELS / f"{name}{ext}").read_text())
    models = vcl.trained_models(tmp_path)
    assert [m.name for m in models] == ["rwkv4-shakespeare"]
    assert "--time-mix shift" in vcl.gap_sentence(models)


def test_the_shipped_ablation_is_an_rwkv4_whose_wkv_is_its_value():
    """The file loads as an ordinary RWKV-4, every u is 1e4 and every key zero, and its loss on a
    held-out passage matches the training forward without WKV."""
    from lab import ablation
    model = lab.load_model(MODELS / f"{vcl.ABLATION}.safetensors")
    assert model.kind == "rwkv4"
    for b in model.weights.blocks:
        assert torch.all(b.att.time_first == ablation.SHIFT_ONLY_U) and b.att.key.abs().max() == 0
    from lab.data import load_texts
    ids = model.tokenizer.encode(load_texts()[1]["tempest_gut"][5000:7000])[:200]
    want = ablation.forward_batch(model.weights, torch.tensor([ids[:-1]]))[0]          # (T, V)
    bits = torch.nn.functional.cross_entropy(want, torch.tensor(ids[1:])).item() / math.log(2)
    assert vcl.bits_per_token(model, ids) == pytest.approx(bits, rel=1e-5)


def test_context_curves_come_from_the_measurement_file():
    curves, machine = vcl.context_curves()
    data = json.loads(vcl.RECALL.read_text())
    assert set(curves) == {vcl.MODELS[n].title for n in data["models"]}
    assert machine["cpu"]
    gpt = curves["GPT"]
    assert max(c for c, _ in gpt) + data["target"] <= 512           # only inside its window
    assert vcl.context_curves(ROOT / "no-such.json") == ({}, {})


def test_the_live_sentence_says_what_the_numbers_support():
    behind, ahead = vcl.live_sentence(17, 6.91, 6.52), vcl.live_sentence(200, 3.0, 3.5)
    assert "does better, by 0.39 bits" in behind and "RWKV-4 is ahead, by 0.50 bits" in ahead
    for sentence in (behind, ahead):                  # no blame on length: layout, and the curve for the verdict
        assert "longer prompt" not in sentence and "laid out" in sentence and "curve above" in sentence
    curves, _ = vcl.context_curves()
    assert list(curves)[:2] == ["RWKV-4", "RWKV-4 without WKV"]       # the lesson's order and colours
    # the sentence's claim about the curve is the measurement's: ahead at 1-4 tokens, behind from 16
    full, abl = dict(curves["RWKV-4"]), dict(curves["RWKV-4 without WKV"])
    assert abl[1] < full[1] and abl[4] < full[4] and all(full[c] < abl[c] for c in full if c >= 16)


def test_figures():
    fig = vc.held_out_figure([("RWKV-4", 2.0), ("RWKV-4 without WKV", 2.4), ("GPT", 2.2)],
                             highlight=("RWKV-4",))
    assert list(fig.data[0].y) == [2.0, 2.4, 2.2] and fig.data[0].marker.color[0] != fig.data[0].marker.color[1]
    assert "Lower is better" in caption(fig)
    fig = vc.context_curve_figure({"a": [(1, 3.0), (64, 2.0)], "b": [(1, 3.1), (16, 2.9)]})
    assert [t.name for t in fig.data] == ["a", "b"] and fig.layout.xaxis.type == "log"


def test_the_red_line_verdict_is_worded_from_the_logs_either_way():
    """red_line_sentence: the gap at the most tokens both reached decides the words, and runs at different
    settings are said to compare runs, not designs."""
    def lg(points, lr=8e-3):
        return {"recipe": {"lr_peak": lr, "warmup_steps": 30, "loss": "ce"},
                "val": [{"step": t // 3072, "train_tokens": t, "seconds": t / 1000, "bits_per_char": b}
                        for t, b in points]}
    lstm = lg([(1_000_000, 2.6), (4_000_000, 2.20), (6_000_000, 2.10)])
    same = vcl.red_line_sentence({"lstm": lstm, "redline": lg([(1_000_000, 2.7), (4_000_000, 2.195)])})
    assert "at the same 4.00M training tokens" in same and "2.200 bits/char" in same and "at 2.195." in same
    assert "cost nothing measurable" in same and "not yet the two designs" not in same
    worse = vcl.red_line_sentence({"lstm": lstm, "redline": lg([(1_000_000, 2.5), (6_000_000, 2.0)], lr=1.5e-3)})
    assert "at the same 6.00M" in worse and "Removing the line cost 0.100 bits/char here." in worse
    assert "the LSTM 0.008, 30, ce, kind; the red-line RNN 0.0015, 30, ce, kind" in worse
    better = vcl.red_line_sentence({"lstm": lstm, "redline": lg([(6_000_000, 2.2)])})
    assert "the model without it is 0.100 bits/char better" in better
    assert vcl.red_line_sentence({"lstm": lstm}) == ""


def _val(name: str) -> list[tuple[int, float]]:
    """(training tokens, validation bits/char) at each validation of a model's training log."""
    lg = json.loads((MODELS / f"{name}.log.json").read_text())
    return [(r.get("train_tokens") or r["step"] * 6 * 512, r["bits_per_char"]) for r in lg["val"]]


def test_lesson_2s_numbers_are_the_logs_and_the_recall_curve():
    """Step 13 states no run's numbers (its view computes them: red_line_sentence, tokens_note); the
    worry's answer is read from the race's logs at equal tokens; lesson 2's intro: where the recall
    curves stop falling."""
    from app.lessons import content as ls
    from lab import race
    lesson = next(l for l in ls.load_lessons() if l.id == "scaling-an-rnn")
    text = next(s for s in lesson.steps if s.id == "cliffhanger-measured").text.replace("\n", " ")
    recipe = f"{2000 * 6 * 512 / 1e6:.1f}M tokens"                # the recipe's, not a run's: 2,000 × 6 × 512
    assert recipe in text
    assert not re.search(r"\d\.\d{3}|\d\.\d+M tokens|\d+% fewer", text.replace(recipe, "")), "a run's figure by hand"
    logs = race.race_logs()
    red = _val("redline-shakespeare")[-1]
    said = vcl.red_line_sentence(logs)
    tokens = min(red[0], _val("lstm-shakespeare")[-1][0])
    assert f"at the same {tokens / 1e6:.2f}M training tokens" in said and f"red-line RNN at {red[1]:.3f}" in said
    curve = {n: dict((r["context"], r["bpc"]) for r in m["context_curve"] if r["fits"])
             for n, m in json.loads(vcl.RECALL.read_text())["models"].items()}
    for n in ("lstm-shakespeare", "redline-shakespeare"):        # "stop gaining at about 16 tokens"
        assert curve[n][4] - curve[n][16] > 0.03 and curve[n][16] - curve[n][1024] < 0.02
    rwkv = curve["rwkv4-shakespeare"]                               # "keeps gaining to about 500"
    assert rwkv[64] - rwkv[504] > 0.03 and abs(rwkv[504] - rwkv[1024]) < 0.005
    assert "about 16 tokens" in lesson.intro and "about 500" in lesson.intro.replace("\n", " ")
