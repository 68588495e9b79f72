"""The MQAR generator (lab.mqar): the right answers, distinct keys, disjoint halves, seeds, the
layout (pad, pairs, gap, queries) and clear refusals; and the trainer on the task."""
from __future__ import annotations

import pytest
import torch

from lab import mqar
from lab.train import TrainConfig, default_name, train


def pairs_of(row: torch.Tensor, spec: mqar.Spec, gap: int) -> dict[int, int]:
    start = spec.length - 3 * spec.pairs - gap
    block = row[start:start + 2 * spec.pairs].tolist()
    return dict(zip(block[0::2], block[1::2]))


@pytest.mark.parametrize("gap", [0, 5, None])
def test_every_answer_is_the_value_paired_with_its_key(gap):
    spec = mqar.Spec(vocab=64, pairs=6, length=40, gap=gap)
    b = mqar.generate(spec, 50, seed=3)
    assert b.ids.shape == b.targets.shape == b.mask.shape == (50, 40) and len(b) == 50
    for ids, targets, mask in zip(b.ids, b.targets, b.mask):
        lead = int((ids != mqar.PAD).int().argmax())                    # the first key
        g = spec.length - 3 * spec.pairs - lead
        assert g == gap or (gap is None and 0 <= g <= spec.max_gap)
        kv = pairs_of(ids, spec, g)
        assert len(kv) == spec.pairs                                   # distinct keys
        assert all(1 <= k < 32 for k in kv) and all(32 <= v < 64 for v in kv.values())   # disjoint halves
        assert mask.tolist() == [False] * (40 - 6) + [True] * 6       # the queries end the sequence
        queries = ids[mask].tolist()
        assert sorted(queries) == sorted(kv)                           # each key queried once
        assert targets[mask].tolist() == [kv[q] for q in queries]
        assert (targets[~mask] == mqar.PAD).all()
        assert int((ids[:-spec.pairs] == mqar.PAD).sum()) == 40 - 3 * 6      # pad = lead + gap


def test_the_gap_and_length_are_as_asked():
    spec = mqar.Spec(vocab=32, pairs=3, length=20, gap=4)
    ids = mqar.generate(spec, 4, seed=0).ids
    # 20 − 9 − 4 = 7 pads, 6 pair tokens, 4 pads, 3 queries
    assert (ids[:, :7] == 0).all() and (ids[:, 7:13] != 0).all() and (ids[:, 13:17] == 0).all()
    assert (ids[:, 17:] != 0).all()
    random_gaps = mqar.generate(mqar.Spec(vocab=32, pairs=3, length=20, gap=None), 200, seed=0).ids
    first_pair = (random_gaps != 0).int().argmax(1)
    assert first_pair.min() == 0 and first_pair.max() == 20 - 9     # gaps 0 … T − 3N all occur


def test_same_seed_same_data_other_seed_other_data():
    spec = mqar.Spec()
    a, b, c = (mqar.generate(spec, 8, seed=s) for s in (1, 1, 2))
    assert torch.equal(a.ids, b.ids) and torch.equal(a.targets, b.targets)
    assert not torch.equal(a.ids, c.ids)
    assert torch.equal(mqar.heldout(spec, 5).ids, mqar.generate(spec, 5, mqar.HELDOUT_SEED).ids)


def test_the_worked_example_of_the_docs():
    spec = mqar.Spec(vocab=16, pairs=2, length=9, gap=1)
    b = mqar.generate(spec, 1, seed=0)
    ids = b.ids[0].tolist()
    assert ids[0:2] == [0, 0] and ids[6] == 0 and all(1 <= ids[i] < 8 for i in (2, 4, 7, 8))
    assert all(8 <= ids[i] < 16 for i in (3, 5))


@pytest.mark.parametrize("kw,words", [
    (dict(vocab=16, pairs=8), "only 7"),
    (dict(vocab=256, pairs=8, length=23, gap=0), "too short.*at least 24"),
    (dict(vocab=256, pairs=4, length=14, gap=3), "at least 15"),
    (dict(pairs=0), "at least one"),
    (dict(gap=-1), "negative"),
    (dict(vocab=2), "at least 4"),
])
def test_bad_arguments_are_refused_clearly(kw, words):
    if "length" not in kw:
        kw = {"length": 64, **kw}
    with pytest.raises(ValueError, match=words):
        mqar.Spec(**kw)
    with pytest.raises(ValueError, match="at least one sequence"):
        mqar.generate(mqar.Spec(), 0, seed=0)


def test_accuracy_counts_only_the_answers():
    spec = mqar.Spec(vocab=16, pairs=2, length=8)
    b = mqar.generate(spec, 3, seed=1)
    perfect = torch.nn.functional.one_hot(b.targets, 16).float() * 10    # right at every position
    r = mqar.accuracy(perfect, b)
    assert r["accuracy"] == 1.0 and r["tokens"] == 6
    wrong = perfect.clone()
    wrong[~b.mask] = 0          # elsewhere: no effect
    wrong[0, -1] = torch.roll(wrong[0, -1], 1)
    assert mqar.accuracy(wrong, b)["accuracy"] == pytest.approx(5 / 6)


def test_the_trainer_runs_the_task_and_logs_it(tmp_path):
    tc = TrainConfig(n_layer=1, n_embd=16, ctx_len=16, batch_size=4, warmup_steps=1, total_steps=3, eval_every=3,
                     ckpt_every=100, threads=1, task="mqar", mqar_pairs=2, mqar_vocab=32)
    log = train("gpt", tc, tmp_path / "run", export=True, models_dir=tmp_path / "models", quiet=True)
    assert log["recipe"]["task"] == "mqar" and log["data"]["spec"] == dict(vocab=32, pairs=2, length=16, gap=None)
    assert log["final"]["heldout_tokens"] == 2 * mqar.HELDOUT_SIZE and 0 <= log["final"]["accuracy"] <= 1
    assert log["sessions"][0]["cpu"] and log["val"][-1]["load"]
    assert (tmp_path / "models" / "gpt-mqar.safetensors").exists() and default_name("gpt", "", "mqar") == "gpt-mqar"
    with pytest.raises(ValueError, match="unknown task"):
        train("gpt", TrainConfig(task="sums"), tmp_path / "x", quiet=True)


def test_a_mix_draws_each_sequence_from_one_spec_of_the_mix():
    specs = [mqar.Spec(vocab=32, pairs=p, length=12, gap=12 - 3 * p) for p in (1, 2, 4)]
    b = mqar.generate_mix(specs, 300, seed=5)
    n = b.mask.sum(1)                                                  # the N of each row
    assert set(n.tolist()) == {1, 2, 4} and all((n == p).sum() > 60 for p in (1, 2, 4))
    for ids, targets, mask in zip(b.ids, b.targets, b.mask):
        p = int(mask.sum())
        kv = dict(zip(ids[0:2 * p:2].tolist(), ids[1:2 * p:2].tolist()))   # pairs first (gap = the rest)
        assert len(kv) == p and (ids[2 * p:12 - p] == mqar.PAD).all()
        assert targets[mask].tolist() == [kv[q] for q in ids[mask].tolist()]
    again = mqar.generate_mix(specs, 300, seed=5)
    assert torch.equal(again.ids, b.ids)
    with pytest.raises(ValueError, match="one length"):
        mqar.generate_mix([specs[0], mqar.Spec(vocab=32, pairs=1, length=13, gap=0)], 2, seed=0)


def test_the_mix_is_read_from_its_text():
    assert mqar.parse_mix("", 8) == (8,) and mqar.parse_mix("1,2, 4,8", 8) == (1, 2, 4, 8)
    with pytest.raises(ValueError, match="separated by commas"):
        mqar.parse_mix("1;2", 8)


@pytest.mark.parametrize("gap,lead", [(-1, None), (-2, 0)])
def test_the_trainer_trains_on_a_mix_pairs_first_or_anywhere(tmp_path, gap, lead):
    tc = TrainConfig(n_layer=1, n_embd=16, ctx_len=12, batch_size=8, warmup_steps=1, total_steps=2, eval_every=2,
                     ckpt_every=100, threads=1, task="mqar", mqar_pairs=4, mqar_vocab=32, mqar_gap=gap,
                     mqar_mix="1,2,4")
    log = train("lstm", tc, tmp_path / "run", export=False, quiet=True)
    assert log["data"]["mix"] == [1, 2, 4] and log["data"]["spec"]["pairs"] == 4
    assert log["data"]["spec"]["gap"] == (None if gap == -1 else 0)    # validation at N = 4 (12 − 3·4 = 0)
    assert log["final"]["heldout_tokens"] == 4 * mqar.HELDOUT_SIZE
