"""A new model kind needs one registry entry and its model module (lab/kinds.py, "Adding a model
kind"): a toy kind (tests/toy_kind.py) registered with lab.kinds.register, its checkpoint saved in a
models folder of its own, is loaded by lab.load_model, offered by the Scheduling Lab's kind control
and compared on the Why page, without any other file knowing it.
"""
import shutil

import pytest
import toy_kind
from app_helpers import chart, no_exception, started_app
from safetensors.torch import save_file

import lab
from app import compare_core as cc
from app import scheduling_core as sc
from lab import kinds
from rwkv_core.base import ModelBase
from rwkv_core.protocol import Model
from visuals.theme import kind_colour

STEM = "toy-shakespeare"
TITLE = toy_kind.KIND.title


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """The toy kind registered, and a models folder holding its checkpoint (with the embedded model's
    tokenizer) beside the shipped RWKV-4's files; the registry as it was after the test."""
    models = tmp_path / "models"
    models.mkdir()
    save_file(toy_kind.random_state_dict(), str(models / f"{STEM}.safetensors"))
    rwkv = kinds.main_model("rwkv4")
    shutil.copy(kinds.MODELS_DIR / f"{rwkv.stem}.tokenizer.json", models / f"{STEM}.tokenizer.json")
    for ext in (".safetensors", ".tokenizer.json"):
        (models / f"{rwkv.stem}{ext}").symlink_to(kinds.MODELS_DIR / f"{rwkv.stem}{ext}")
    monkeypatch.setattr(kinds, "MODELS_DIR", models)
    monkeypatch.setitem(kinds.SHIPPED, STEM, kinds.Shipped(STEM, "toy", TITLE, "the previous token, per layer",
                                                           "purple"))
    kinds.register(toy_kind.KIND)                    # what a plug-in does
    yield models / f"{STEM}.safetensors"
    del kinds.KINDS[toy_kind.KIND.name]


def test_the_loader_builds_the_toy_from_its_tensors(toy):
    model = lab.load_model(toy)
    assert isinstance(model, toy_kind.ToyModel) and isinstance(model, ModelBase) and isinstance(model, Model)
    assert model.kind == "toy" and model.tokenizer is not None and model.format == "safetensors"
    assert model.schedules == ("rnn", "cascade", "parallel")
    ids = model.tokenizer.encode("ROMEO: But soft")
    rnn, state = model.forward(ids)
    for mode, chunk in (("cascade", 2), ("parallel", None)):         # the base's executor, the toy's cells
        logits, other = model.forward(ids, mode=mode, chunk=chunk)
        assert (logits - rnn).abs().max() < 1e-5 and all((a - b).abs().max() < 1e-6
                                                           for a, b in zip(state.layers, other.layers))
    assert sc.shipped_rivals() == {"toy": toy}                      # the Lab's kinds, the Why page's models
    assert cc.shipped() == {"rwkv4": toy.parent / "rwkv4-shakespeare.safetensors", "toy": toy}


def test_the_scheduling_lab_offers_the_toy_and_runs_its_schedules(toy):
    page = started_app("app_pages/scheduling_lab.py")
    radio = page.radio(key="sl_kind")
    assert radio.options[-1].startswith(TITLE)
    radio.set_value("toy").run()
    no_exception(page)
    T = int(page.number_input(key="sl_tokens").value)
    assert chart(page, f"6 layers × {T} tokens")["layout"]["title"]["text"].endswith(TITLE)
    page.button(key="sl_run").click().run()
    no_exception(page)
    assert list(page.dataframe[0].value["schedule"])[0] == "rnn" and len(page.dataframe[0].value) == 3
    assert any(s.value.startswith(f"Same outputs, {TITLE}") for s in page.success), [e.value for e in page.error]
    page.button(key="sl_kinds_run").click().run()
    no_exception(page)
    table = next(d.value for d in page.dataframe if "product steps" in d.value.columns)
    assert {"RWKV-4", TITLE} == set(table["kind"])


def test_the_why_page_compares_the_toy(toy):
    page = started_app("app_pages/why_rwkv.py")
    said = " ".join(c.value for c in page.caption)
    assert f"Models in the models folder: RWKV-4, {TITLE}." in said
    page.multiselect(key="wr_gen_contexts").set_value([16]).run()
    page.button(key="wr_gen_run").click().run()
    no_exception(page)
    lines = chart(page, "Generation: time per new token", last=True)["data"]
    assert [t["name"] for t in lines] == ["RWKV-4", TITLE]
    assert [t["line"]["color"] for t in lines] == [kind_colour("blue"), kind_colour("purple")]   # the registry's
    page.number_input(key="wr_n_new").set_value(4).run()
    page.button(key="wr_generate").click().run()
    no_exception(page)
    assert len(page.code) == 2 and all(c.value.startswith("ROMEO.") for c in page.code)
