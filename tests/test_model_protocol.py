"""Every model kind has one face (rwkv_core.base.ModelBase), and it is the protocol the app types its
models with (rwkv_core.protocol.Model): checked on the shipped models of every registered kind and
on tiny random ones, the pipelined cascade included."""
import inspect

import pytest
import torch

import lab
from lab.kinds import KINDS, shipped_paths
from rivals import from_state_dict as rival_from_state_dict
from rivals import gpt
from rivals.gpt_model import from_state_dict as gpt_from_state_dict
from rivals.lstm import Config as LSTMConfig
from rwkv_core.base import ModelBase
from rwkv_core.protocol import Model


def protocol_names() -> set[str]:
    """The names the protocol promises: its annotated attributes, its methods and properties."""
    return set(Model.__annotations__) | {n for n, v in vars(Model).items()
                                         if not n.startswith("_") and (callable(v) or isinstance(v, property))}


def keywords(fn) -> set[str]:
    return {p.name for p in inspect.signature(fn).parameters.values() if p.kind is p.KEYWORD_ONLY}


@pytest.fixture(scope="module")
def shipped():
    paths = shipped_paths()
    assert set(paths) == set(KINDS), f"every registered kind has its shipped model in models/: {sorted(paths)}"
    return {kind: lab.load_model(path) for kind, path in paths.items()}


def test_every_shipped_kind_is_a_model_of_the_protocol(shipped):
    names = protocol_names()
    assert {"kind", "deps", "source", "format", "forward", "run_plan", "plan_for", "init_state", "to"} <= names
    for kind, model in shipped.items():
        assert isinstance(model, Model) and isinstance(model, ModelBase), kind
        assert model.kind == kind and model.deps is KINDS[kind].deps
        assert all(hasattr(model, n) for n in names), [n for n in names if not hasattr(model, n)]
        for method in ("forward", "run_plan"):
            assert keywords(getattr(Model, method)) <= keywords(getattr(model, method)), (kind, method)
        assert model.source.endswith(".safetensors") and model.format == "safetensors"


def test_the_classes_share_the_face_and_write_only_their_cells(shipped):
    """check_tokens, forward, run_plan, plan_for, to: the base's, not a copy per kind."""
    for model in shipped.values():
        for name in ("check_tokens", "forward", "run_plan", "plan_for", "to", "schedules"):
            assert name not in vars(type(model)), (type(model).__name__, name)
        for name in ("init_state", "_run_cell", "_head"):
            assert name in vars(type(model)), (type(model).__name__, name)


def test_to_keeps_the_kind_and_its_settings(shipped):
    for kind, model in shipped.items():
        half = model.to(dtype=torch.float64)
        assert type(half) is type(model) and half.kind == kind and half.dtype == torch.float64
        assert model.dtype == torch.float32 and half.source == model.source
        assert half.forward([1, 2, 3], all_logits=False)[0].dtype == torch.float64
    assert shipped["gpt"].with_past_context("clamp").to(dtype=torch.float64).past_context == "clamp"


def tiny_rivals() -> dict[str, ModelBase]:
    g = torch.Generator().manual_seed(0)
    gcfg = gpt.Config(n_layer=4, n_embd=16, n_head=2, n_ffn=32, vocab_size=19, n_ctx=64)
    return {"gpt": gpt_from_state_dict(gpt.init_weights(gcfg, g)),
            "lstm": rival_from_state_dict({k: 0.3 * torch.randn(shape, generator=g)
                                           for k, shape in LSTMConfig("lstm", 4, 8, 19).expected_shapes().items()})}


@pytest.mark.parametrize("kind", ["gpt", "lstm"])
def test_the_pipelined_cascade_of_a_rival_equals_its_rnn(kind):
    """workers > 1 is the base's pipeline, so every kind without a red line has it."""
    model = tiny_rivals()[kind]
    ids = torch.randint(0, 19, (30,), generator=torch.Generator().manual_seed(1)).tolist()
    ref, _ = model.forward(ids, mode="rnn")
    res = model.run_plan(model.plan_for(30, "cascade", 3), ids, workers=2, timed=True)
    assert (res.logits - ref).abs().max() < 1e-5 and len(res.timings.cell_spans) == res.plan.n_steps


def test_a_plan_of_another_kind_is_refused_with_the_reason(shipped):
    from rwkv_core.schedule import plan
    cascade = plan("cascade", n_layer=shipped["redline"].config.n_layer, n_tokens=4, chunk=2)
    with pytest.raises(ValueError, match="red line"):
        shipped["redline"].run_plan(cascade, [1, 2, 3, 4])
