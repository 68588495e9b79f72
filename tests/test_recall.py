"""lab.recall: the context curve and the second reading, on small models with the real
tokenizer. The ablation's curve must be flat from 2L tokens of context on (it cannot see
further), RWKV-4's not; the passages are the same on every run."""
from pathlib import Path

import pytest
import torch

from lab import ablation, recall
from lab.train import init_weights
from rwkv_core.config import Config
from rwkv_core.model import RWKV
from rwkv_core.tokenizer import Tokenizer
from rwkv_core.weights import Weights

TOKENIZER = Path(__file__).resolve().parent.parent / "models" / "rwkv4-shakespeare.tokenizer.json"


def small(shift_only: bool) -> RWKV:
    cfg = Config(2, 32, 128, 2048)
    sd = init_weights(cfg, torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    for t in sd.values():
        if t.ndim == 2:
            t.normal_(0, 0.3, generator=g)
    if shift_only:
        ablation.shift_only(sd)
    return RWKV(Weights.from_state_dict(sd), cfg, tokenizer=Tokenizer(TOKENIZER))


@pytest.fixture(scope="module")
def texts():
    from lab.data import load_texts
    _, val = load_texts()
    return [val["tempest_gut"][:6000]]


def test_the_ablation_stops_reading_at_2L_tokens(texts):
    contexts = (1, 2, 4, 5, 8, 16)
    flat = recall.context_curve(small(True), texts, contexts, count=3, target=4)
    bpc = {r["context"]: r["bpc"] for r in flat}
    reach = 2 * 2 + 1           # L = 2 layers: the token itself and 2L before it (two shifts a layer)
    assert bpc[8] == pytest.approx(bpc[16], rel=1e-6) and bpc[reach] == pytest.approx(bpc[16], rel=1e-6)
    assert abs(bpc[reach - 1] - bpc[16]) > 1e-6           # one token short of its reach changes it
    full = {r["context"]: r["bpc"] for r in recall.context_curve(small(False), texts, contexts, count=3, target=4)}
    assert abs(full[8] - full[16]) > 1e-6                  # the WKV reads past 2L tokens


def test_read_twice_rows_and_determinism(texts):
    model = small(False)
    a = recall.measure(model, texts, lengths=(8, 32), count=2)
    b = recall.measure(model, texts, lengths=(8, 32), count=2)
    assert [r["second_bpc"] for r in a] == [r["second_bpc"] for r in b]
    for r in a:
        assert r["fits"] and r["recall"] == pytest.approx(1 - r["second_bpc"] / r["first_bpc"])


def test_passages_are_evenly_spaced_and_refuse_short_texts():
    ids = list(range(100))
    ps = recall.passages(ids, 10, 4)
    assert [p[0] for p in ps] == [0, 30, 60, 90] and all(len(p) == 10 for p in ps)
    with pytest.raises(ValueError, match="fewer than"):
        recall.passages(ids[:5], 10)


def test_a_gpt_is_only_measured_inside_its_window():
    class Cfg:
        n_ctx = 64
    model = type("M", (), {"config": Cfg()})()
    assert recall.fits(model, 32) and not recall.fits(model, 33)
