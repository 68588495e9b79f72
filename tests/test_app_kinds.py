"""The Scheduling Lab's model kinds on the real models: the embedded RWKV and the rivals trained
here (models/lstm-shakespeare, models/redline-shakespeare), through the real app (AppTest) and
through app/scheduling_core without Streamlit."""
import pytest
from app_helpers import chart, embedded, no_exception, started_app

from app import scheduling_core as sc
from lab import load_model
from lab.kinds import KINDS

PAGE = "app_pages/scheduling_lab.py"
RIVALS = ("lstm", "redline")


@pytest.fixture(scope="module")
def shipped():
    found = sc.shipped_rivals()
    assert set(RIVALS) <= set(found), f"the trained rivals must be in models/: found {sorted(found)}"
    return {k: load_model(found[k]) for k in RIVALS}


def test_the_shipped_rivals_are_what_their_names_say(shipped):
    for kind, model in shipped.items():
        assert model.kind == kind and model.schedules == KINDS[kind].deps.allowed(model.config.n_layer)
        assert model.tokenizer is not None and model.tokenizer.vocab_size == embedded().tokenizer.vocab_size
        # within ±10% of the embedded model's parameters: the same size, the same recipe
        assert abs(model.config.n_params / embedded().config.n_params - 1) <= 0.10


def test_every_kind_same_text_same_numbers_in_every_allowed_schedule(shipped):
    text = "ROMEO:\nBut soft, what light through yonder window breaks?"
    ids = embedded().tokenizer.encode(text)
    runs = sc.run_kinds({"rwkv4": embedded(), **shipped}, text, ids, 24, chunk=4)
    assert [r.kind for r in runs] == ["rwkv4", "lstm", "redline"]
    for kr in runs:
        assert [r.plan.mode for r in kr.runs] == list(KINDS[kr.kind].deps.allowed(6))
        assert kr.max_diff < sc.SAME_TOLERANCE, (kr.kind, kr.max_diff)
        assert all(r.plan.n_tokens == 24 for r in kr.runs)
    redline = runs[-1]
    assert [r.mode for r in redline.refused] == ["cascade", "parallel"]
    table = sc.kinds_table(runs)
    assert len(table["kind"]) == 3 + 3 + 3                           # refused schedules listed too
    assert table["schedule"][-2:] == ["cascade: not possible (the red line)", "parallel: not possible (the red line)"]


def test_the_lab_draws_each_kind_and_refuses_what_it_cannot_run(shipped):
    lab = started_app(PAGE)
    radio = lab.radio(key="sl_kind")
    assert radio.options[0].startswith("RWKV-4") and len(radio.options) >= 3
    for kind in ("rwkv4", "lstm", "redline"):
        lab.radio(key="sl_kind").set_value(kind).run()
        no_exception(lab)
        T = int(lab.number_input(key="sl_tokens").value)
        grid = chart(lab, f"6 layers × {T} tokens")
        assert grid["layout"]["title"]["text"].endswith(KINDS[kind].title)
        values = {m.label.split(" steps")[0].split(":")[0]: m.value for m in lab.metric}
        if kind == "redline":
            assert values["cascade"] == values["parallel"] == "not possible"
            assert sum(a.get("name") == "refused reason" for a in grid["layout"]["annotations"]) == 2
        elif kind == "lstm":                 # the big number is the critical path in products: L·T in parallel
            assert values["parallel"] == f"{6 * T:,} products"
        else:
            assert values["parallel"] == "6"
        lab.button(key="sl_run").click().run()
        no_exception(lab)
        table = lab.dataframe[0].value
        allowed = KINDS[kind].deps.allowed(6)
        # the concurrent cascade's row, where the app's device allows more than one worker (the app
        # decides it with its own torch threads; the caption must say which it was)
        wave = len(table) == len(allowed) + 1
        assert list(table["schedule"])[0] == "rnn" and len(table) == len(allowed) + wave
        captions = " ".join(c.value for c in lab.caption)
        if wave:
            assert "cascade" in allowed and list(table["schedule"])[-1].endswith(" workers")
            assert "at the same time, one worker per layer group" in captions
        elif "cascade" in allowed:
            assert "This device allows one worker, so no concurrent cascade is timed here." in captions
        if kind != "redline":
            assert any(s.value.startswith("Same outputs") for s in lab.success), [e.value for e in lab.error]


def test_the_lab_times_every_kind_on_the_same_text(shipped):
    lab = started_app(PAGE)
    lab.button(key="sl_kinds_run").click().run()
    no_exception(lab)
    table = next(d.value for d in lab.dataframe if "product steps" in d.value.columns)
    assert {KINDS[k].title for k in ("rwkv4", "lstm", "redline")} <= set(table["kind"])
    said = [s.value for s in lab.success] + [i.value for i in lab.info]
    assert any(s.startswith("RWKV-4: same outputs") for s in said)
    assert any(s.startswith("stacked LSTM: same outputs") for s in said)
    assert any(s.startswith("red-line RNN: one schedule only") for s in said)


def test_a_rival_picked_in_the_sidebar_is_refused_with_where_to_see_it(shipped):
    """The Explorer and the Lessons show RWKV-4: a rival typed as a path gets a clear message and
    the student keeps the model they had."""
    app = started_app()
    app.sidebar.radio[0].set_value("path").run()
    app.sidebar.text_input(key="picker_path").set_value(str(sc.shipped_rivals()["lstm"])).run()
    app.sidebar.button(key="picker_load_path").click().run()
    no_exception(app)
    errors = [e.value for e in app.sidebar.error]
    assert any("one of RWKV's rivals" in e and "Scheduling Lab" in e for e in errors), errors
    assert any("previous model is still loaded" in e for e in errors)


def test_the_labs_concurrent_cascade_follows_the_threads_and_gives_the_same_logits():
    import torch
    m, before = embedded(), torch.get_num_threads()
    tokens = embedded().tokenizer.encode("ROMEO. But soft, what light through yonder window breaks?")[:12]
    rnn = sc.run_schedules(m, tokens, 4)[0]
    try:
        torch.set_num_threads(1)
        assert sc.cascade_workers(m) == 1 and sc.concurrent_cascade(m, tokens, 4, rnn.logits) is None
        torch.set_num_threads(2)
        wave = sc.concurrent_cascade(m, tokens, 4, rnn.logits)
        assert wave.label == "cascade (chunk 4), 2 workers" and wave.max_diff_vs_rnn < sc.SAME_TOLERANCE
    finally:
        torch.set_num_threads(before)
