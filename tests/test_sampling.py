import pytest
import torch

from rwkv_core.sampling import SamplingSettings, entropy_bits, make_generator, probabilities, sample

LOGITS = torch.tensor([2.0, 1.0, 0.5, 0.0, -1.0, -3.0])


def test_temperature_one_is_softmax():
    p = probabilities(LOGITS, SamplingSettings())
    assert torch.allclose(p, torch.softmax(LOGITS.double(), -1))


def test_greedy():
    s = sample(LOGITS, SamplingSettings(temperature=0))
    assert s.token == 0 and s.probs[0] == 1 and s.entropy_bits == 0


def test_temperature_sharpens_and_flattens():
    cold = probabilities(LOGITS, SamplingSettings(temperature=0.5))
    hot = probabilities(LOGITS, SamplingSettings(temperature=2.0))
    assert cold[0] > probabilities(LOGITS, SamplingSettings())[0] > hot[0]
    assert entropy_bits(cold) < entropy_bits(hot)


def test_top_k_keeps_k():
    p = probabilities(LOGITS, SamplingSettings(top_k=2))
    assert (p > 0).sum() == 2 and p[:2].sum() == pytest.approx(1)


def test_top_p_keeps_the_smallest_set_reaching_p():
    raw = torch.softmax(LOGITS.double(), -1)
    p = probabilities(LOGITS, SamplingSettings(top_p=0.8))
    kept = int((p > 0).sum())
    assert raw[:kept].sum() >= 0.8 > raw[:kept - 1].sum()
    assert (probabilities(LOGITS, SamplingSettings(top_p=0.01)) > 0).sum() == 1


def test_seeded_sampling_repeats():
    a = [sample(LOGITS, SamplingSettings(), make_generator(7)).token for _ in range(5)]
    b = [sample(LOGITS, SamplingSettings(), make_generator(7)).token for _ in range(5)]
    assert a == b
    g = make_generator(3)
    draws = {sample(LOGITS, SamplingSettings(temperature=3), g).token for _ in range(200)}
    assert len(draws) > 2


@pytest.mark.parametrize("bad", [dict(temperature=-1), dict(temperature=float("nan")), dict(top_k=-2),
                                 dict(top_k=1.5), dict(top_p=0), dict(top_p=1.2)])
def test_bad_settings(bad):
    with pytest.raises(ValueError):
        SamplingSettings(**bad)
