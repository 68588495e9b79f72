"""The LSTM quiz of lesson 2 ('quiz-lstm': why a stacked LSTM cannot run a layer over all tokens
at once), live on the shipped stacked LSTM (models/lstm-shakespeare.safetensors, lab.load_model),
on two prompts: the right answer's claim holds on the student's own tokens (skipping the wait for
h[t−1] changes the layer's outputs far beyond rounding) and each wrong option's claim fails on
the same model (no red line, so it cascades; the input products are wide; the state is small)."""
import pytest
import torch
from app_helpers import embedded

import lab
from app.lessons import content as ls
from app.lessons import core as lc
from app.lessons import quiz as lq
from lab.kinds import KINDS
from rivals import lstm
from rwkv_core.schedule import expected_steps

PROMPTS = [lc.EXAMPLE_PROMPT, "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind"]
STEP = next(s for lesson in ls.load_lessons() for s in lesson.steps if s.id == "quiz-lstm")


@pytest.fixture(scope="module")
def model():
    return lab.load_model(lq.LSTM_PATH)


@pytest.fixture(scope="module", params=PROMPTS, ids=["classroom prompt", "another prompt"])
def ex(request):
    return lc.run_example(embedded(), request.param)


def test_the_quiz_is_in_lesson_2_after_the_two_reasons():
    lesson = next(l for l in ls.load_lessons() if l.id == "scaling-an-rnn")
    ids = [s.id for s in lesson.steps]
    assert ids.index("quiz-lstm") == ids.index("where-the-picture-simplifies") + 1
    q = STEP.quiz
    assert q.live == "lstm_layer_at_once" and q.answer == 1 and len(q.explain) == len(q.options) == 4


def test_the_numbers_are_the_shipped_lstms_on_the_students_tokens(ex, model):
    v = lq.lstm_layer_at_once(ex, 0, 0)
    ids = lq.lstm_tokens(model, ex)
    L, C, T = model.config.n_layer, model.config.n_embd, len(ids)
    assert model.kind == "lstm" and (v["L"], v["C"], v["T"]) == (str(L), str(C), str(T))
    assert T == ex.n_tokens                                    # the rivals share the embedded tokenizer
    assert v["products"] == str(L * T) == str(expected_steps("rnn", L, T))
    f = STEP.quiz.filled(v)
    assert "{" not in f.question + "".join(f.options + f.explain) and len(set(f.options)) == 4


def test_the_right_answer_holds_the_wait_for_h_changes_the_outputs(ex, model):
    """Option 2: token t's gates need h[t−1]; starting every token from h = c = 0 (one wide step)
    gives other outputs, by far more than rounding; the true layer is the step-by-step one."""
    ids = lq.lstm_tokens(model, ex)
    r = lq.lstm_layer_zero(model, ids)
    gap = (r["h_true"][1:] - r["h_once"][1:]).abs().max()
    assert gap > 0.1 and lq.lstm_layer_at_once(ex, 0, 0)["gap"] == f"{float(gap):.2f}"
    assert torch.allclose(r["h_true"][0], r["h_once"][0], atol=1e-6)   # token 0 has no past: the same
    x = model.weights.emb[torch.tensor(ids)]
    h, _ = lstm.lstm_layer(x, lstm.init_state(1, model.config.n_embd)[0], model.weights.layers[0])
    assert torch.equal(h, r["h_true"])


def test_the_wrong_answers_fail_on_the_same_model(ex, model):
    deps = KINDS["lstm"].deps
    L = model.config.n_layer
    # option 1: no red line, so the cascade runs; a layer is not wide: layer by layer is still L·T products
    assert not deps.red_line and deps.refusal("cascade", L) is None and not deps.wide
    assert model.plan_for(9, "parallel").product_steps == L * 9
    # option 3: the input products of all tokens in one product are the token-by-token ones
    r = lq.lstm_layer_zero(model, lq.lstm_tokens(model, ex))
    assert float((r["wide"] - r["narrow"]).abs().max()) < 1e-4
    # option 4: the state is h and c per layer, whatever the length
    v = lq.lstm_layer_at_once(ex, 0, 0)
    assert v["state_numbers"] == f"{2 * L * model.config.n_embd:,}"
    assert sum(t.numel() for s in model.init_state().layers for t in (s.h, s.c)) == 2 * L * model.config.n_embd


def test_without_the_shipped_lstm_the_quiz_says_so(monkeypatch, tmp_path):
    monkeypatch.setattr(lq, "LSTM_PATH", tmp_path / "lstm-shakespeare.safetensors")
    v = lq.lstm_layer_at_once(lc.run_example(embedded()), 0, 0)
    assert "not measured" in v["gap"] and "lab.train --kind lstm" in v["gap"]
    f = STEP.quiz.filled(v)
    assert len(set(f.options)) == 4 and "{" not in "".join(f.explain)
