"""What a GPT's attention reads on the bigram plateau (lab/plateau.py): the previous-token share of
known attention patterns, a real (tiny) GPT checkpoint measured by the command, and the verdict
worded from the numbers either way."""
import json

import pytest
import torch

from lab import plateau, race
from rivals import gpt


def causal_uniform(T: int) -> torch.Tensor:
    w = torch.tril(torch.ones(T, T))
    return w / w.sum(-1, keepdim=True)                                      # (T, T)


def test_a_head_that_looks_one_back_scores_one_and_an_even_head_the_even_share():
    T = 16
    back = torch.zeros(T, T)
    back[0, 0] = 1.0
    back[torch.arange(1, T), torch.arange(0, T - 1)] = 1.0                  # every query on the token before it
    own = torch.eye(T)                                                      # every query on itself
    [[b, o, u]] = plateau.previous_token_share([torch.stack([back, own, causal_uniform(T)])])
    assert b == pytest.approx(1.0) and o == 0.0 and u == pytest.approx(plateau.even_share(T))
    assert plateau.even_share(2) == 0.5                                      # query 1 sees two tokens


def test_the_command_measures_a_gpt_checkpoint_from_its_run_folder(tmp_path):
    """A tiny GPT (the embedded tokenizer's 2,048 tokens, 512 positions) saved as the trainer saves it:
    ckpt.pt with its parameters and step, log.json with its model and recipe."""
    cfg = gpt.Config(n_layer=2, n_embd=16, n_head=2, n_ffn=32, vocab_size=2048, n_ctx=512)
    sd = gpt.init_weights(cfg, torch.Generator().manual_seed(0))
    params = {k: v for k, v in sd.items() if k != "transformer.n_head"}
    run = tmp_path / "gpt-run"
    run.mkdir()
    torch.save({"params": params, "step": 40}, run / "ckpt.pt")
    log = {"kind": "gpt", "model": {"n_head": 2}, "recipe": {"lr_peak": 1e-3, "warmup_steps": 10},
           "train": [{"step": s, "loss": 9.0 - s / 100} for s in range(1, 41)]}
    (run / "log.json").write_text(json.dumps(log))
    out = plateau.main(["--checkpoints", str(run / "ckpt.pt"), "--json", str(tmp_path / "p.json")])
    [r] = out["runs"]
    assert r["step"] == 40 and r["train_loss"] == pytest.approx(sum(9.0 - s / 100 for s in range(1, 41)) / 40)
    assert not r["below_bigram"] and len(r["shares"]) == 2 and len(r["shares"][0]) == 2
    assert r["best"] == max(max(h) for h in r["shares"])
    # random 0.02-scale queries and keys: nearly even attention
    assert r["best"] == pytest.approx(out["even_share"], rel=0.2)
    assert json.loads((tmp_path / "p.json").read_text())["runs"][0]["best"] == r["best"]


def test_the_verdict_is_worded_from_the_numbers_either_way():
    def run(step, loss, best, level=4.0):
        return {"step": step, "train_loss": loss, "below_bigram": loss < level, "best": best}
    data = {"bigram_nats_per_token": 4.0, "even_share": 0.01,
            "sweep_losses": {"gpt": [4.6, 4.5], "rwkv4": [3.5, 3.9]},
            "runs": [run(300, 4.5, 0.015), run(300, 4.6, 0.012), run(2000, 3.6, 0.2)]}
    text = plateau.verdict(data)
    assert "the GPT's best training loss is 4.500 nats/token, above the bigram level (4.000), against RWKV-4's 3.500" in text
    assert "In the 2 GPT checkpoints above the level (step 300), no attention head puts more than 0.015" in text
    assert "all but even" in text and "the strongest head puts 0.200 there (20 times even)" in text
    assert "does not explain the whole slow start" in text and "would measure how much" in text
    assert "The token-shift experiment below measures" in plateau.verdict(data, measured=True)
    data["sweep_losses"]["gpt"] = [3.9]
    data["runs"] = [run(300, 3.9, 0.05)]
    text = plateau.verdict(data)
    assert "below the bigram level" in text and "all but even" not in text and "slow start" not in text
    assert "In the 1 below it (step 300), the strongest head puts 0.050 there" in text


def test_the_committed_file_is_what_the_report_says():
    data = race.read(race.PLATEAU_FILE)
    assert data["command"].startswith("python -m lab.plateau") and data["runs"]
    assert data["even_share"] == pytest.approx(plateau.even_share(data["ctx"]))
    for r in data["runs"]:
        assert r["best"] == pytest.approx(max(max(h) for h in r["shares"]))
        assert r["below_bigram"] == (r["train_loss"] < data["bigram_nats_per_token"])
    report = (race.ROOT / "docs" / "race" / "README.md").read_text()
    assert plateau.verdict(data, measured=race.read(race.SHIFT_FILE) is not None) in report
