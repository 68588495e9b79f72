"""The analyses behind the figures (lab/analysis.py), checked against a second way of computing them."""
import math

import pytest
import torch
from app_helpers import embedded, stepped_session

from lab import analysis as compute
from lab import reference


def test_pca_matches_svd_and_is_deterministic():
    emb = embedded().weights.emb                                   # (V, C)
    p = compute.pca(emb, k=3)
    xc = emb.double() - emb.double().mean(0)
    _, s, vh = torch.linalg.svd(xc, full_matrices=False)
    for i in range(3):                                             # the same directions, up to sign
        assert abs(float(p.components[i] @ vh[i])) == pytest.approx(1.0, abs=1e-6)
    var = s ** 2
    assert torch.allclose(p.explained, var[:3] / var.sum(), atol=1e-9)
    assert torch.allclose(p.components @ p.components.T, torch.eye(3, dtype=torch.float64), atol=1e-9)
    assert torch.equal(compute.pca(emb, k=3).components, p.components)
    coords = p.project(emb)
    assert coords.shape == (emb.shape[0], 3)
    assert coords[:, 0].var() >= coords[:, 1].var() >= coords[:, 2].var()


def test_pca_of_few_rows_matches_the_covariance_route():
    """Fewer rows than columns (a residual path) goes through the SVD; the C x C eigenproblem must agree."""
    x = embedded().weights.emb[:13] * 3 + 1                        # (13, C), C = 256
    p = compute.pca(x, k=2)
    xc = x.double() - x.double().mean(0)
    values, vectors = torch.linalg.eigh(xc.T @ xc / 12)            # ascending
    for i in range(2):
        assert abs(float(p.components[i] @ vectors[:, -1 - i])) == pytest.approx(1.0, abs=1e-9)
    assert torch.allclose(p.explained, values.flip(0)[:2] / values.clamp(min=0).sum(), atol=1e-9)
    assert (p.components.gather(1, p.components.abs().argmax(1, keepdim=True)) > 0).all()
    assert torch.equal(compute.pca(x, k=2).components, p.components)


def test_nearest_neighbours_brute_force():
    emb = embedded().weights.emb
    ids = [5, 100, 5]
    nn = compute.nearest_neighbours(emb, ids, k=4)
    assert list(nn) == [5, 100]
    for i, found in nn.items():
        sims = [(j, float(torch.cosine_similarity(emb[i].double(), emb[j].double(), dim=0)))
                for j in range(len(emb)) if j != i]
        best = sorted(sims, key=lambda t: -t[1])[:4]
        assert [j for j, _ in found] == [j for j, _ in best]
        assert [s for _, s in found] == pytest.approx([s for _, s in best], abs=1e-5)
    assert compute.nearest_neighbours(compute.unit_rows(emb), ids, k=4, normalized=True) == nn


def test_half_life_halves_the_weight():
    td = embedded().weights.blocks[0].att.time_decay
    h = reference.half_life(td.double())
    w = -torch.exp(td.double())                                    # decay per token
    assert torch.allclose(torch.exp(w * h), torch.full_like(h, 0.5))
    assert (h > 0).all()


@pytest.mark.parametrize("layer", [0, 5])
def test_implicit_attention_reproduces_recorded_wkv(layer):
    s = stepped_session(n_steps=3)
    att = embedded().weights.blocks[layer].att
    k, v, wkv = (s.trace[f"blocks.{layer}.att.{n}"] for n in ("k", "v", "wkv"))
    for t in range(len(s.tokens)):
        weights = compute.implicit_attention(k, att.time_decay, att.time_first, t)
        assert weights.shape == (t + 1, k.shape[1])
        assert torch.allclose(weights.sum(0), torch.ones(k.shape[1], dtype=torch.float64))
        assert (compute.wkv_from_attention(weights, v) - wkv[t].double()).abs().max() < 1e-4
    # the weights are not trivially uniform: the decay favours some tokens
    assert weights.std(0).max() > 1e-3


def test_implicit_attention_naive_formula():
    """Written out directly (no softmax) on small numbers: e^{(t-1-j)w + k_j}, bonus for j = t."""
    g = torch.Generator().manual_seed(0)
    k, td, u = torch.randn(5, 3, generator=g), torch.randn(3, generator=g), torch.randn(3, generator=g)
    w = -torch.exp(td.double())
    t = 4
    raw = torch.stack([torch.exp((t - 1 - j) * w + k[j].double()) for j in range(t)] +
                      [torch.exp(u.double() + k[t].double())])
    assert torch.allclose(compute.implicit_attention(k, td, u, t), raw / raw.sum(0))


def test_kv_cache_bytes_counts_real_tensors():
    L, C, T = 3, 16, 10
    keys = [torch.zeros(T, C) for _ in range(L)]
    values = [torch.zeros(T, C) for _ in range(L)]
    real = sum(t.numel() * t.element_size() for t in keys + values)
    assert compute.kv_cache_bytes(L, C, T) == real
    assert compute.kv_cache_bytes(L, C, 2 * T) == 2 * real
    assert compute.kv_cache_bytes(**compute.GPT2_SMALL, n_tokens=1024) == 2 * 12 * 768 * 1024 * 4


def test_state_norms_skip_pp():
    s = stepped_session(n_steps=1)
    fields = s.layer_fields(2)
    norms = compute.state_norms(fields)
    t = len(s.tokens) - 1
    by_hand = math.sqrt(sum(float((fields[f][t].double() ** 2).sum()) for f in ("x_att", "aa", "bb", "x_ffn")))
    assert norms.shape == (len(s.tokens),)
    assert float(norms[t]) == pytest.approx(by_hand, rel=1e-9)
