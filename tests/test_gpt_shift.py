"""The token-shift experiment on the GPT (rivals/gpt_shift.py, lab/gpt_shift.py): with μ = 1 it is the plain GPT, the shift
reads exactly the previous token and nothing later, it trains through the one trainer, and its finding
is worded from its numbers."""
from __future__ import annotations

import json

import pytest
import torch

from lab import gpt_shift as experiment
from rivals import gpt, gpt_shift

CFG = gpt.Config(n_layer=2, n_embd=16, n_head=2, n_ffn=64, vocab_size=50, n_ctx=32)


def weights(mu: float | None = None, seed: int = 0) -> gpt_shift.ShiftWeights:
    sd = gpt_shift.init_weights(CFG, torch.Generator().manual_seed(seed))
    if mu is not None:
        for k in sd:
            if k.endswith(gpt_shift.MIXES):
                sd[k] = torch.full_like(sd[k], mu)
    return gpt_shift.ShiftWeights.from_state_dict(sd)


def test_with_mu_one_it_is_the_plain_gpt():
    w = weights(1.0)
    ids = torch.randint(0, CFG.vocab_size, (3, 20), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(gpt_shift.forward_batch(w, ids), gpt.forward_batch(w.gpt, ids), rtol=0, atol=1e-5)
    assert not torch.allclose(gpt_shift.forward_batch(weights(), ids), gpt.forward_batch(w.gpt, ids), atol=1e-3)


def test_the_shift_is_rwkv4s_mix_with_the_previous_token():
    h = torch.arange(12.0).reshape(1, 4, 3)                               # (B, T, C)
    mu = torch.tensor([1.0, 0.5, 0.0])
    out = gpt_shift.token_shift(h, mu)
    assert torch.equal(out[0, 0], torch.tensor([0.0, 0.5, 0.0]))          # nothing before the first token
    for t in range(1, 4):
        torch.testing.assert_close(out[0, t], mu * h[0, t] + (1 - mu) * h[0, t - 1])


def test_a_later_token_never_changes_an_earlier_prediction():
    w = weights()
    ids = torch.randint(0, CFG.vocab_size, (1, 16), generator=torch.Generator().manual_seed(2))
    other = ids.clone()
    other[0, 9:] = (other[0, 9:] + 1) % CFG.vocab_size
    a, b = gpt_shift.forward_batch(w, ids), gpt_shift.forward_batch(w, other)
    torch.testing.assert_close(a[0, :9], b[0, :9], rtol=0, atol=0)
    assert not torch.allclose(a[0, 9:], b[0, 9:])


def test_the_mix_starts_as_rwkv4s_time_mix_k():
    sd = gpt_shift.init_weights(CFG, torch.Generator().manual_seed(0))
    from lab import train_kinds
    from rwkv_core.config import Config
    rwkv = train_kinds.init_weights(Config(CFG.n_layer, CFG.n_embd, 4 * CFG.n_embd, CFG.vocab_size), torch.Generator())
    for i in range(CFG.n_layer):
        for m in gpt_shift.MIXES:
            torch.testing.assert_close(sd[gpt_shift.mix_key(i, m)], rwkv[f"blocks.{i}.att.time_mix_k"])


def test_it_trains_as_the_gpts_shift_variant_and_validation_reads_it(tmp_path):
    from lab import sweep
    from lab.train import TrainConfig, train
    text = "Full fathom five thy father lies; of his bones are coral made. Those are pearls that were his eyes. "
    texts = {"a": text * 30}, {"tempest_gut": text[:400], "timon_of_athens_gut": text[100:400]}
    tc = TrainConfig(n_layer=1, n_embd=16, vocab_size=300, ctx_len=16, batch_size=2, warmup_steps=1, total_steps=3,
                     eval_every=3, ckpt_every=100, threads=1, loss="ce")
    shift = train("gpt", tc, tmp_path / "shift", variant="shift", export=False, texts=texts, quiet=True,
                  tokenizer=sweep.TOKENIZER)
    plain = train("gpt", tc, tmp_path / "plain", export=False, texts=texts, quiet=True, tokenizer=sweep.TOKENIZER)
    assert shift["variant"] == "shift" and shift["params"] - plain["params"] == 2 * 16
    assert shift["final"]["bits_per_char"] != plain["final"]["bits_per_char"]
    ckpt = torch.load(tmp_path / "shift" / "ckpt.pt", weights_only=True)["params"]
    assert "transformer.h.0.time_mix_1" in ckpt
    with pytest.raises(ValueError, match="no training variant 'wkv'"):
        train("gpt", tc, tmp_path / "x", variant="wkv", export=False, texts=texts, quiet=True)


def run(below, bpc, loss=4.0):
    return {"steps": 300, "bits_per_char": bpc, "below_bigram_from_step": below,
            "curve": [{"step": 300, "train_loss": loss, "bits_per_char": bpc}]}


def test_the_verdict_is_worded_from_the_numbers():
    d = {"bigram_nats_per_token": 3.921, "extra_params": 3072,
         "plain": run(None, 2.562, 4.497), "shift": run(212, 2.301, 3.7)}
    text = experiment.verdict(d)
    assert "its training loss falls below it at step 212; the plain GPT's ends above it, at 4.497" in text
    assert "2.301 bits/char against 2.562 (better by 0.261)" in text and "much of what" in text
    d["shift"] = run(None, 2.500, 4.3)
    text = experiment.verdict(d)
    assert "its training loss ends above it, at 4.300" in text and "helps, but alone it does not explain" in text
    d["shift"] = run(None, 2.600, 4.6)
    text = experiment.verdict(d)
    assert "worse by 0.038" in text and "the previous token alone does not explain" in text


def test_the_full_length_verdict_is_worded_from_the_numbers():
    def full(a, b, sa=2.20, sb=2.239):
        return {"full": {"steps": 2000, "plain": {**run(b, sb), "steps": 2000}, "shift": {**run(a, sa), "steps": 2000}}}
    text = experiment.verdict_full(full(700, 1188))
    assert ("training loss falls below the bigram level at step 700, the race's GPT's falls below the bigram level "
            "at step 1,188 (488 steps earlier)") in text
    assert "held-out 2.200 bits/char against 2.239 (better by 0.039)" in text
    assert "(300 steps later)" in experiment.verdict_full(full(1488, 1188))
    assert ("stays above the bigram level for all 2,000 steps, the race's GPT's falls below the bigram level at "
            "step 1,188 (a different outcome)") in experiment.verdict_full(full(None, 1188))


def test_the_committed_experiment_agrees_with_its_verdict():
    from pathlib import Path
    path = Path(__file__).resolve().parent.parent / "docs" / "race" / "gpt_shift.json"   # `python -m lab.gpt_shift`
    d = json.loads(path.read_text())
    assert d["verdict"] == experiment.verdict(d)
    if "full" in d:                                  # `--full`: the variant over the whole recipe, beside the race's GPT
        assert d["full_verdict"] == experiment.verdict_full(d)
        assert d["full"]["shift"]["recipe"] == d["full"]["plain"]["recipe"]
        assert d["full_verdict"] in (path.parent / "README.md").read_text()
    assert d["shift"]["recipe"] == d["plain"]["recipe"] and d["shift"]["steps"] == d["plain"]["steps"]
    assert d["plain"]["recipe"]["lr_peak"] == d["setting"]["lr"] and d["plain"]["steps"] == d["setting"]["steps"]
    report = (path.parent / "README.md").read_text()
    assert d["verdict"] in report
    for r in (d["plain"], d["shift"]):
        last = r["curve"][-1]
        assert f"{last['train_loss']:.3f} / {last['bits_per_char']:.3f}" in report


def test_the_command_trains_both_runs_and_writes_what_the_report_reads(tmp_path, monkeypatch):
    """main() on two tiny real runs (the plays and the full recipe stand aside): both logs summarised, the
    bigram crossing read from each, the verdict from the numbers, and the report's section built from it."""
    from lab import bigram, sweep
    from lab.train import TrainConfig, train
    from scripts import race_report
    text = "Full fathom five thy father lies; of his bones are coral made. Those are pearls that were his eyes. "
    texts = {"a": text * 30}, {"tempest_gut": text[:400], "timon_of_athens_gut": text[100:400]}
    tc = TrainConfig(n_layer=1, n_embd=16, vocab_size=300, ctx_len=16, batch_size=2, warmup_steps=1, total_steps=6,
                     eval_every=3, ckpt_every=100, threads=1, loss="ce")
    monkeypatch.setattr(experiment, "run", lambda variant, threads, beside: train(
        "gpt", tc, tmp_path / (variant or "plain"), variant=variant, export=False, texts=texts, quiet=True,
        tokenizer=sweep.TOKENIZER, beside=beside))
    monkeypatch.setattr(bigram, "training_ids", lambda: [1, 2, 1, 2])
    monkeypatch.setattr(bigram, "WINDOW", 2)
    out = experiment.main(["--json", str(tmp_path / "shift.json"), "--beside", "a test"])
    d = json.loads((tmp_path / "shift.json").read_text())
    assert d == out and d["extra_params"] == 32 and d["window"] == 2 and d["bigram_nats_per_token"] == 0.0
    assert [c["step"] for c in d["shift"]["curve"]] == [3, 6] and d["shift"]["sessions"][0]["beside"] == "a test"
    assert d["plain"]["below_bigram_from_step"] is None and d["verdict"] == experiment.verdict(d)
    section = "\n".join(race_report.shift_section(d))
    assert d["verdict"] in section and "| GPT + token shift | " in section and "not by step 6" in section
    from lab import race                                         # --full: the variant over the whole recipe
    monkeypatch.setattr(experiment, "run_full", lambda threads, beside: train(
        "gpt", tc, tmp_path / "full", variant="shift", export=False, texts=texts, quiet=True,
        tokenizer=sweep.TOKENIZER, beside=beside))
    monkeypatch.setattr(race, "race_logs", lambda: {"gpt": json.loads((tmp_path / "plain" / "log.json").read_text())})
    d = experiment.main(["--full", "--json", str(tmp_path / "shift.json")])
    assert d["full"]["steps"] == 6 and d["full_verdict"] == experiment.verdict_full(d)
    assert d["full"]["shift"]["params"] - d["full"]["plain"]["params"] == 32
    section = "\n".join(race_report.shift_section(d))
    assert d["full_verdict"] in section and "held-out bits/char after 6 steps" in section
