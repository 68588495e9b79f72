"""The training entry point on a small slice: the loss goes down, an interrupted run resumes,
and the same seed repeats. (The full run is not part of the suite.)"""
import pytest
import torch

from lab.train import TrainConfig, init_weights, train
from rwkv_core.config import Config


@pytest.fixture(scope="module")
def texts():
    from lab.data import load_texts
    tr, va = load_texts()
    assert "tempest_gut" in va and "tempest_gut" not in tr and "timon_of_athens_gut" not in tr
    return {"hamlet": tr["hamlet_gut"][:40000]}, {"tempest": va["tempest_gut"][:3000]}


TINY = dict(n_layer=2, n_embd=32, vocab_size=300, ctx_len=32, batch_size=4, lr_peak=3e-3, warmup_steps=5,
            eval_every=1000, ckpt_every=10, threads=1)


def test_loss_goes_down_and_resumes(tmp_path, texts):
    log = train("rwkv4", TrainConfig(**TINY, total_steps=40), tmp_path, export=False, texts=texts, quiet=True)
    losses = [e["loss"] for e in log["train"]]
    assert len(losses) == 40
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.5
    assert log["final"]["bits_per_char"] < 8
    # an interrupted run resumes from its checkpoint and goes on to the new end
    log2 = train("rwkv4", TrainConfig(**TINY, total_steps=45), tmp_path, export=False, texts=texts, quiet=True)
    assert [e["step"] for e in log2["train"]] == list(range(1, 46))
    assert log2["train"][:40] == log["train"][:40]


def test_same_seed_same_run(tmp_path, texts):
    a = train("rwkv4", TrainConfig(**TINY, total_steps=6), tmp_path / "a", export=False, texts=texts, quiet=True)
    b = train("rwkv4", TrainConfig(**TINY, total_steps=6), tmp_path / "b", export=False, texts=texts, quiet=True)
    assert [e["loss"] for e in a["train"]] == [e["loss"] for e in b["train"]]


def test_rwkv4_initialisation_by_depth():
    cfg = Config(4, 64, 256, 100)
    sd = init_weights(cfg, torch.Generator().manual_seed(0))
    # decays spread from fast (-5) to slow (+3) across channels
    assert sd["blocks.0.att.time_decay"][0] == pytest.approx(-5) and sd["blocks.0.att.time_decay"][-1] == pytest.approx(3)
    # top layers mix less of the previous token into k than bottom layers
    assert sd["blocks.3.att.time_mix_k"].mean() > sd["blocks.0.att.time_mix_k"].mean()
    assert sd["emb.weight"].abs().max() <= 1e-4
    assert sd["blocks.1.att.output.weight"].abs().max() == 0
