"""lab.inits: "kind" leaves each kind's initialisation alone; "torch" draws every matrix as torch.nn
would (checked against nn.Linear and nn.Embedding themselves) and keeps every vector; the trainer
records the choice and a resume from a log written before the field existed records no change."""
import math

import pytest
import torch

from lab import inits, train_log
from lab.kinds import KINDS
from lab.memory import recipe

TRAINED = ("rwkv4", "gpt", "lstm")


def kind_tensors(kind: str, seed: int = 0) -> dict[str, torch.Tensor]:
    tc = recipe(kind, 64, 4, 10)
    hooks = KINDS[kind].trainer
    return hooks.init_weights(hooks.make_config(tc, tc.mqar_vocab), torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("kind", TRAINED)
def test_kind_init_is_the_kinds_own(kind):
    sd = kind_tensors(kind)
    assert inits.initial(sd, "kind", torch.Generator().manual_seed(1)) is sd


@pytest.mark.parametrize("kind", TRAINED)
def test_torch_init_draws_matrices_like_torch_nn_and_keeps_vectors(kind):
    sd = kind_tensors(kind)
    out = inits.initial(sd, "torch", torch.Generator().manual_seed(1))
    assert out.keys() == sd.keys()
    embeddings = [k for k in sd if inits.is_embedding(k)]
    assert embeddings, "every kind looks its tokens up in a table"
    for key, v in sd.items():
        w = out[key]
        assert w.shape == v.shape and w.dtype == v.dtype
        if not v.dtype.is_floating_point or v.ndim != 2:
            assert torch.equal(w, v), key                   # vectors and fixed tensors: the kind's
        elif key in embeddings:
            assert abs(w.std().item() - 1.0) < 0.1, key     # N(0, 1), as nn.Embedding
        else:
            bound = 1 / math.sqrt(v.shape[1])
            reference = torch.nn.Linear(v.shape[1], v.shape[0], bias=False).weight
            assert w.abs().max() <= bound
            assert abs(w.std().item() - reference.std().item()) < 0.15 * bound, key


def test_embeddings_are_named_per_kind():
    names = {k: sorted(key for key in kind_tensors(k) if inits.is_embedding(key)) for k in TRAINED}
    assert names["rwkv4"] == ["emb.weight"]
    assert names["gpt"] == ["transformer.wpe.weight", "transformer.wte.weight"]
    assert names["lstm"] == ["lstm.emb.weight"]


def test_unknown_init_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown init 'xavier'; known: kind, torch"):
        inits.initial({}, "xavier", torch.Generator())


def test_a_field_added_since_the_log_was_written_is_no_change():
    log = train_log.new_log("gpt", "", "x", {"lr_peak": 1e-3}, {}, 1, {})
    train_log.begin_session(log, 0, 1, {"lr_peak": 1e-3})
    s = train_log.begin_session(log, 10, 1, {"lr_peak": 1e-3, "init": "kind"}, defaults={"init": "kind"})
    assert "recipe_changes" not in s
    s = train_log.begin_session(log, 20, 1, {"lr_peak": 1e-3, "init": "torch"}, defaults={"init": "kind"})
    assert s["recipe_changes"] == {"init": ["kind", "torch"]}
