"""The ablation (RWKV-4 without WKV memory): its training forward equals the engine running the
exported checkpoint in every schedule, and training leaves the tensors it does not use as set."""
import pytest
import torch
from tolerances import OTHER_KERNEL, assert_close

from lab import ablation
from lab.train import TrainConfig, init_weights, train
from rwkv_core.config import Config
from rwkv_core.model import RWKV, forward_batch
from rwkv_core.weights import Weights


@pytest.fixture(scope="module")
def shift_model():
    cfg = Config(3, 64, 256, 100)
    sd = init_weights(cfg, torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    for t in sd.values():                 # trained-looking weights: nothing zero, keys not small
        if t.ndim == 2:
            t.normal_(0, 0.3, generator=g)
    ablation.shift_only(sd)
    return Weights.from_state_dict(sd), cfg


def test_engine_runs_the_ablation_exactly(shift_model):
    weights, cfg = shift_model
    ids = torch.randint(0, cfg.vocab_size, (2, 77), generator=torch.Generator().manual_seed(2))
    want = ablation.forward_batch(weights, ids)                      # (B, T, V) r·v, no WKV at all
    assert torch.equal(forward_batch(weights, ids)[0], want)         # the full WKV with u = 1e4: exactly v
    model = RWKV(weights, cfg)
    for mode in ("rnn", "cascade", "parallel"):
        logits, _ = model.forward(ids[0].tolist(), mode=mode)
        assert_close(logits, want[0], OTHER_KERNEL, f"ablation, {mode}")


def test_the_ablation_sees_only_a_few_tokens_back(shift_model):
    """Token shift twice per layer: the last logits depend on the last 2L + 1 tokens only."""
    weights, cfg = shift_model
    reach = 2 * cfg.n_layer
    g = torch.Generator().manual_seed(3)
    tail = torch.randint(0, cfg.vocab_size, (reach + 1,), generator=g)
    a = torch.cat([torch.randint(0, cfg.vocab_size, (30,), generator=g), tail])
    b = torch.cat([torch.randint(0, cfg.vocab_size, (50,), generator=g), tail])
    la, lb = (ablation.forward_batch(weights, x[None])[0, -1] for x in (a, b))
    assert torch.allclose(la, lb, atol=1e-5)
    # one token more than its reach differs: the bound is tight, not loose
    c = b.clone()
    c[-reach - 2] = (c[-reach - 2] + 1) % cfg.vocab_size
    assert torch.allclose(ablation.forward_batch(weights, b[None])[0, -1], lb)
    d = b.clone()
    d[-reach - 1] = (d[-reach - 1] + 1) % cfg.vocab_size
    assert not torch.allclose(ablation.forward_batch(weights, d[None])[0, -1], lb, atol=1e-5)


def test_training_the_ablation_keeps_its_unused_tensors(tmp_path):
    from lab.data import load_texts
    tr, va = load_texts()
    texts = {"hamlet": tr["hamlet_gut"][:20000]}, {"tempest": va["tempest_gut"][:2000]}
    tiny = dict(n_layer=2, n_embd=32, vocab_size=300, ctx_len=32, batch_size=4, lr_peak=3e-3,
                warmup_steps=5, eval_every=1000, ckpt_every=10, threads=1, total_steps=12)
    log = train("rwkv4", TrainConfig(**tiny), tmp_path, variant="shift", export=False, texts=texts, quiet=True)
    params = torch.load(tmp_path / "ckpt.pt", weights_only=True)["params"]
    for i in range(2):
        assert params[f"blocks.{i}.att.key.weight"].abs().max() == 0
        assert torch.all(params[f"blocks.{i}.att.time_first"] == ablation.SHIFT_ONLY_U)
        assert params[f"blocks.{i}.att.value.weight"].abs().max() > 0
    full = Config(2, 32, 128, 300).n_params
    assert log["final"]["params"] == full - 2 * (32 * 32 + 32 + 32)   # no key, time_decay, time_first
    with pytest.raises(ValueError, match="variant"):
        train("rwkv4", TrainConfig(**tiny), tmp_path / "bad", variant="lstm", export=False, texts=texts, quiet=True)
