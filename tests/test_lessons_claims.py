"""The lessons' claims about the loaded model (app/lessons/claims.py): each sentence a step puts
on screen is checked against the computation it states, on the embedded model and on a random
model without a tokenizer, where the same code must say something else. The outside orders of
the sampling filters are checked against the libraries themselves (transformers, rwkv)."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from app_helpers import embedded, no_exception, started_app

from app.lessons import claims as cl
from app.lessons import core as lc
from lab import reference as fm
from rwkv_core import fast
from rwkv_core.sampling import SamplingSettings, probabilities


@pytest.fixture(scope="module")
def ex():
    return lc.run_example(embedded())


@pytest.fixture(scope="module")
def small_ex(small_model):
    return lc.run_example(small_model)


def number(text: str, after: str) -> float:
    """The number printed right after `after` in a sentence (with a typographic minus)."""
    m = re.search(re.escape(after) + r"\s*([−-]?\d+(?:\.\d+)?)", text)
    assert m, (after, text)
    return float(m.group(1).replace("−", "-"))


# --- lesson 1: the loaded model ---------------------------------------------------------------------

def test_the_model_sentence_is_the_loaded_models(ex, small_model):
    for model in (embedded(), small_model):
        c = model.config
        s = cl.describe_model(model)
        assert f"{c.n_layer} layers" in s and f"{c.n_embd} numbers per vector" in s
        assert f"{c.vocab_size:,} tokens" in s
        assert ("no tokenizer" in s) == (model.tokenizer is None)
    assert "6 layers" in cl.describe_model(embedded()) and "3 layers" in cl.describe_model(small_model)


def test_word_pieces_follow_the_tokenizer(ex):
    whole, split = cl.word_pieces(ex)
    tok = ex.model.tokenizer
    text = tok.decode(list(ex.ids))
    assert sorted(whole + split) == sorted(re.findall(r"[^\W\d_]+", text))        # every word, once
    pieces = [tok.decode([i]).strip() for i in ex.ids]
    assert all(w in pieces for w in whole)                                        # a whole word is one token
    assert all(w not in pieces for w in split)
    s = cl.tokenizer_sentence(ex)
    assert s.startswith(f"{len(whole)} of the {len(whole) + len(split)} words")


def test_no_tokenizer_is_said_and_no_words_are_claimed(small_ex):
    assert cl.word_pieces(small_ex) is None
    assert "no tokenizer" in cl.tokenizer_sentence(small_ex) and "#id" in cl.tokenizer_sentence(small_ex)


# --- lesson 3: μ, u, the largest key -------------------------------------------------------------------

def test_mu_table_counts_every_mu_of_each_layer(ex):
    model = ex.model
    rows = cl.mu_table(model)
    assert len(rows) == model.config.n_layer
    for layer, row in enumerate(rows):
        b = model.weights.blocks[layer]
        mu = torch.cat([t.reshape(-1) for t in (b.att.time_mix_k, b.att.time_mix_v, b.att.time_mix_r,
                                                b.ffn.time_mix_k, b.ffn.time_mix_r)])
        assert len(mu) == 5 * model.config.n_embd
        assert row["μ in [0, 1]"] == pytest.approx(float(((mu >= 0) & (mu <= 1)).float().mean()))
        assert row["μ in [0, 1]"] + row["μ > 1"] + row["μ < 0"] == pytest.approx(1.0)
        assert (row["smallest μ"], row["largest μ"]) == pytest.approx((float(mu.min()), float(mu.max())))


def test_mu_sentence_states_the_tables_range(ex, small_model):
    rows = cl.mu_table(ex.model)
    s = cl.mu_sentence(ex.model)
    inside = [r["μ in [0, 1]"] for r in rows]
    if min(inside) < 1:
        assert f"only {min(inside):.0%}–{max(inside):.0%}" in s and "extrapolate" in s
    # the random model's μ are drawn in [0, 1): the same code must say so
    assert "every μ lies in [0, 1]" in cl.mu_sentence(small_model)
    assert cl.mu_sentence(small_model) != s


def test_u_sentence_is_the_models_range(ex, small_model):
    for model in (ex.model, small_model):
        u = torch.cat([b.att.time_first.reshape(-1) for b in model.weights.blocks])
        s = cl.u_sentence(model)
        assert number(s, "from") == pytest.approx(float(u.min()), abs=0.005)
        assert number(s, "to") == pytest.approx(float(u.max()), abs=0.005)
        assert ("every u is negative" in s) == bool((u < 0).all())
        assert ("every u is positive" in s) == bool((u > 0).all())
    # the embedded model as trained here: every u below 0, as the issue measured; the random one mixed
    assert "every u is negative" in cl.u_sentence(ex.model)
    assert "have u < 0" in cl.u_sentence(small_model)


def fake_model(*us: list[float]):
    """Just what u_sentence reads: weights.blocks[i].att.time_first, one list per layer."""
    from types import SimpleNamespace as NS
    return NS(weights=NS(blocks=[NS(att=NS(time_first=torch.tensor(u))) for u in us]))


@pytest.mark.parametrize("us, verdict", [
    (([-1.0, -0.5], [-2.0, -0.1]), "every u is negative"),
    (([0.5, 1.0], [0.1, 2.0]), "every u is positive"),
    (([-1.0, -0.5, -0.2, 0.3], [-2.0, -0.1, -0.4, -0.6]), "88% of the channels have u < 0"),
    (([-1.0, 0.5, 0.2, 0.3], [2.0, 0.1, 0.4, 0.6]), "12% of the channels have u < 0"),
])
def test_u_sentence_says_what_the_signs_are(us, verdict):
    s = cl.u_sentence(fake_model(*us))
    assert verdict in s
    flat = [x for u in us for x in u]
    assert number(s, "from") == pytest.approx(min(flat)) and number(s, "to") == pytest.approx(max(flat))


def test_largest_key_is_the_largest_not_the_largest_in_size(ex):
    """A key far below zero never overflows e^k: the claim is about the largest k."""
    top = cl.largest_key(ex)
    rec = dict(ex.rec)
    k = ex.rec[f"blocks.{top.layer}.att.k"].clone()
    k[(top.token + 1) % ex.n_tokens, (top.channel + 1) % k.shape[-1]] = -5 * top.value   # far below, in the same layer
    rec[f"blocks.{top.layer}.att.k"] = k
    other = (top.layer + 1) % ex.model.config.n_layer
    rec[f"blocks.{other}.att.k"] = -3 * ex.rec[f"blocks.{other}.att.k"].abs() - 20   # a layer of very negative keys
    found = cl.largest_key(lc.Example(ex.model, ex.ids, ex.labels, rec, ex.logits, ex.state))
    assert (found.value, found.layer, found.token, found.channel) == (top.value, top.layer, top.token, top.channel)


def test_largest_key_is_the_largest_recorded_k(ex, small_ex):
    for e in (ex, small_ex):
        k = cl.largest_key(e)
        every = torch.stack([e.rec[f"blocks.{l}.att.k"] for l in range(e.model.config.n_layer)])   # (L, T, C)
        assert k.value == float(every.max())
        assert e.rec[f"blocks.{k.layer}.att.k"][k.token, k.channel] == k.value
        s = cl.largest_key_sentence(e)
        assert number(s, "k =") == pytest.approx(k.value, abs=0.005)
        assert ("above ln 65504" in s) == (k.value > math.log(65504))
        # the claim itself: e^k in float16 is infinite exactly when k is above the limit
        assert bool(torch.isinf(torch.exp(torch.tensor(k.value, dtype=torch.float16)))) == (k.value > cl.LN_FLOAT16_MAX)
    assert cl.LN_FLOAT16_MAX == pytest.approx(11.09, abs=0.005)


# --- lesson 3: the blocked parallel WKV and a true −∞ ----------------------------------------------------

@pytest.mark.parametrize("block", [1, 2, 3, fast.WKV_BLOCK, 8])
def test_blocked_wkv_is_the_recurrence_and_the_engine(ex, block):
    layer = lc.DEFAULT_LAYER
    c = lc.memory_channel(ex, layer, ex.n_tokens - 1)
    v = cl.wkv_blocked_view(ex, layer, c, block)
    assert v.block == min(block, ex.n_tokens)
    assert v.max_diff["blocked vs recurrence"] < 1e-5 and v.max_diff["blocked vs engine"] < 1e-5
    assert v.table["wkv (engine)"] == ex.rec[f"blocks.{layer}.att.wkv"][:, c].tolist()
    # the blocked column is the engine's blocked function, not the recurrence again
    att = ex.block(layer).att
    C = ex.model.config.n_embd
    blocked, _ = fast.wkv_parallel(fm.decay(att.time_decay), att.time_first, ex.rec[f"blocks.{layer}.att.k"],
                                   ex.rec[f"blocks.{layer}.att.v"], torch.zeros(C), torch.zeros(C),
                                   torch.full((C,), fm.NEG_INF), block=block)
    assert v.table["wkv (blocked)"] == blocked[:, c].tolist()
    assert len(v.table["token"]) == ex.n_tokens and v.n_blocks == len(set(v.table["block"]))


def test_a_true_minus_infinity_is_finite_token_by_token_and_nan_in_blocks(ex):
    rows = cl.neg_inf_rows(ex, lc.DEFAULT_LAYER)
    true_inf, engine = rows
    blocked = f"blocks of {fast.WKV_BLOCK}: outputs not finite"
    assert true_inf["tokens"] > fast.CARRY_GROUP * fast.WKV_BLOCK          # enough blocks for the grouped carry
    assert true_inf["token by token: outputs not finite"] == 0
    assert true_inf[blocked] > 0                                             # the text's NaN, computed
    assert engine["token by token: outputs not finite"] == 0 and engine[blocked] == 0
    # the lessons' own stable form (reference.py) is finite with a true −∞ too
    att = ex.block(0).att
    k, v = ex.rec["blocks.0.att.k"], ex.rec["blocks.0.att.v"]
    C = k.shape[-1]
    out = fm.wkv_stable(fm.decay(att.time_decay), att.time_first, k, v, torch.zeros(C), torch.zeros(C),
                        torch.full((C,), float("-inf")))[0]
    assert torch.isfinite(out).all()


# --- lesson 1: the orders of the sampling filters, against the libraries ----------------------------------

SETTINGS = [SamplingSettings(0.7, 20, 0.6), SamplingSettings(1.3, 5, 0.9), SamplingSettings(0.5, 0, 0.8),
            SamplingSettings(1.0, 40, 1.0)]


@pytest.mark.parametrize("s", SETTINGS, ids=str)
def test_hugging_face_order_is_transformers_own(ex, s):
    from transformers.generation.logits_process import (
        LogitsProcessorList,
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )
    logits = ex.logits[-1].double()
    warpers = LogitsProcessorList([TemperatureLogitsWarper(s.temperature)]
                                  + ([TopKLogitsWarper(s.top_k)] if s.top_k else [])
                                  + ([TopPLogitsWarper(s.top_p)] if s.top_p < 1 else []))
    theirs = torch.softmax(warpers(None, logits[None].clone())[0], -1)
    mine = cl.hf_order(logits, s)
    assert torch.equal(mine > 0, theirs > 0)
    assert torch.allclose(mine, theirs, atol=1e-9)


@pytest.mark.parametrize("s", SETTINGS, ids=str)
def test_blinkdl_order_is_the_rwkv_packages_own(ex, s, monkeypatch):
    """rwkv's PIPELINE.sample_logits draws with np.random.choice(p=...): catch that p."""
    from rwkv import utils
    seen = {}

    def choice(a, p):
        seen["p"] = np.asarray(p, dtype=np.float64)
        return 0
    monkeypatch.setattr(utils.np.random, "choice", choice)
    utils.PIPELINE.sample_logits(None, ex.logits[-1].clone(), temperature=s.temperature, top_p=s.top_p,
                                 top_k=s.top_k)
    theirs = torch.from_numpy(seen["p"])
    mine = cl.blinkdl_order(ex.logits[-1], s)
    assert torch.equal(mine > 0, theirs > 0)
    assert torch.allclose(mine, theirs, atol=1e-5)


def test_sampling_orders_table_counts_each_orders_tokens(ex):
    s = SETTINGS[0]
    rows = cl.sampling_orders(ex.logits[-1], s)
    assert rows[0]["tokens kept"] == int((probabilities(ex.logits[-1], s) > 0).sum())      # the engine's own
    assert rows[1]["tokens kept"] == int((cl.hf_order(ex.logits[-1], s) > 0).sum())
    assert rows[2]["tokens kept"] == int((cl.blinkdl_order(ex.logits[-1], s) > 0).sum())
    assert len({r["tokens kept"] for r in rows}) > 1        # the text's "can keep different tokens", here


# --- the page: the claims on screen, for a model without a tokenizer -------------------------------------

MY_STEPS = [("how-a-text-model-works", s) for s in ("black-box", "tokens", "embeddings", "probabilities", "sampling")] + \
           [("replacing-qkv-with-rwkv", s) for s in ("token-shift", "wkv-sum", "wkv-overflow", "wkv-stable",
                                                     "wkv-parallel", "channel-mix", "state")]


def test_steps_speak_of_a_small_model_without_tokenizer(small_pth, small_model):
    at = started_app("app_pages/lessons.py", {"lesson": "how-a-text-model-works", "step": "black-box"})
    at.sidebar.radio(key="picker_source").set_value("path").run()
    at.sidebar.text_input(key="picker_path").set_value(str(small_pth))
    at.sidebar.button(key="picker_load_path").click().run()
    no_exception(at)
    seen = {}
    for lesson, step in MY_STEPS:
        at.query_params["lesson"], at.query_params["step"] = lesson, step
        at.run()
        no_exception(at)
        assert not at.error, (step, [e.value for e in at.error])
        seen[step] = [i.value for i in at.info] + [c.value for c in at.caption]
    ex = lc.run_example(small_model)
    assert cl.describe_model(small_model) in seen["black-box"]
    assert cl.tokenizer_sentence(ex) in seen["tokens"]
    assert any(f"{small_model.config.vocab_size:,} × {small_model.config.n_embd}" in c for c in seen["embeddings"])
    assert any(f"log2 {small_model.config.vocab_size:,}" in c for c in seen["probabilities"])
    assert cl.mu_sentence(small_model) in seen["token-shift"]
    assert any(i.startswith(cl.u_sentence(small_model)) for i in seen["wkv-sum"])
    assert cl.largest_key_sentence(ex) in seen["wkv-overflow"]
    c = small_model.config
    assert any(f"k' has {c.n_ffn:,} channels, x has {c.n_embd:,}" in t for t in seen["channel-mix"])


def test_the_rwkv_top_p_note_is_said_exactly_when_it_keeps_one_token(ex):
    off = SamplingSettings(1.0, 0, 1.0)
    note = cl.blinkdl_note(ex.logits[-1], off)
    kept = int((cl.blinkdl_order(ex.logits[-1], off) > 0).sum())
    assert bool(note) == (kept == 1)
    if note:                      # the sum it prints is the package's float32 sum, short of 1
        total = float(np.cumsum(np.sort(torch.softmax(ex.logits[-1].float(), -1).numpy())[::-1])[-1])
        assert f"{total:.7f}" in note and total < 1
    assert cl.blinkdl_note(ex.logits[-1], SETTINGS[0]) == ""


def test_the_largest_key_follows_the_students_prompt():
    prompt = "To be, or not to be, that is the question"
    at = started_app("app_pages/lessons.py", {"lesson": "replacing-qkv-with-rwkv", "step": "wkv-overflow"})
    before = [i.value for i in at.info]
    assert cl.largest_key_sentence(lc.run_example(embedded())) in before
    at.text_area(key="lsn_prompt_box").set_value(prompt).run()
    no_exception(at)
    mine = cl.largest_key_sentence(lc.run_example(embedded(), prompt))
    assert mine in [i.value for i in at.info] and mine not in before
