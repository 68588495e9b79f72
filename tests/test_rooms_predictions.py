"""The lessons' predictions (front matter predict*, app/lessons/quiz.py PREDICT): at least one per
lesson; every computed answer, on two prompts, equals an independent computation (the model run
again token by token, the chunk formula counted by hand, the WKV exponents in plain Python); the
question's text is filled; a tally counts each answer; and the answers' chart (visuals/rooms.py)."""
from __future__ import annotations

import math

import pytest
import torch
from app_helpers import embedded

from app.lessons import content as ls
from app.lessons import core as lc
from app.lessons.quiz import PREDICT
from app.rooms import predictions as pr
from visuals.rooms import answer_bars

LESSONS = ls.load_lessons()
PROMPTS = [lc.EXAMPLE_PROMPT, "To be, or not to be, that is the question"]


@pytest.fixture(scope="module", params=PROMPTS)
def example(request):
    return lc.run_example(embedded(), request.param)


def at(ex):
    """The layer and token a room uses (classroom mode's)."""
    return min(lc.DEFAULT_LAYER, ex.model.config.n_layer - 1), ex.n_tokens - 1


def test_every_lesson_asks_at_least_one_prediction():
    counts = {lesson.id: sum(s.prediction is not None for s in lesson.steps) for lesson in LESSONS}
    assert all(n >= 1 for n in counts.values()), counts
    assert {p.live for _, s in pr.questions(LESSONS) for p in [s.prediction]} == set(PREDICT)


def test_every_question_is_filled_and_its_answer_is_in_range(example):
    layer, t = at(example)
    for lesson, step in pr.questions(LESSONS):
        q = pr.question(lesson, step, example, layer, t)
        texts = [q.prediction.question, *q.prediction.options, *q.prediction.explain]
        assert not any("{" in x or "}" in x for x in texts), (step.path, texts)
        assert q.low <= q.computed.answer <= q.high, step.path
        assert q.qid == f"{lesson.id}/{step.id}"


def question(live: str, ex):
    lesson, step = next((les, s) for les, s in pr.questions(LESSONS) if s.prediction.live == live)
    return pr.question(lesson, step, ex, *at(ex))


def test_the_favourite_token_is_the_models_own_run_token_by_token(example):
    q = question("next_token_top", example)
    model, ids = example.model, list(example.ids)
    state, logits = None, None
    for i in ids:                                   # the recurrent path, not the recorded parallel run
        logits, state = model.forward([i], state)
    logits = logits.reshape(-1, logits.shape[-1])[-1]
    top = int(torch.argmax(logits))
    assert q.label(q.computed.answer) == repr(lc.label(model, top))
    assert q.computed.fields["top"] == repr(lc.label(model, top))
    offered = sorted(int(i) for i in torch.topk(logits, 4).indices)
    assert [q.label(i) for i in range(4)] == [repr(lc.label(model, i)) for i in offered]


def test_the_cascades_steps_are_the_formula_counted_by_hand(example):
    q = question("cascade_chunk_steps", example)
    L, T = example.model.config.n_layer, example.n_tokens
    assert q.computed.answer == L + math.ceil(T / 4) - 1
    assert q.label(q.computed.answer) == str(L + math.ceil(T / 4) - 1)


def test_the_largest_wkv_share_is_the_largest_exponent_in_plain_python(example):
    q = question("wkv_top_token", example)
    layer, t = at(example)
    c = int(q.computed.fields["channel"])
    att = example.block(layer).att
    w = -math.exp(float(att.time_decay[c]))         # w = −e^time_decay, written out
    u = float(att.time_first[c])
    k = [float(x) for x in example.rec[f"blocks.{layer}.att.k"][: t + 1, c]]
    exponents = [(t - 1 - i) * w + k[i] for i in range(t)] + [u + k[t]]
    assert q.computed.answer == max(range(t + 1), key=exponents.__getitem__)
    assert q.computed.labels[q.computed.answer] == example.labels[q.computed.answer]


def test_the_tally_counts_each_answer_once_and_marks_the_computed_one(example):
    q = question("next_token_top", example)
    labels, counts, right = q.tally([0, 0, 3, q.computed.answer])
    assert len(labels) == 4 and sum(counts) == 4 and right == q.computed.answer
    assert counts[0] == 2 + (q.computed.answer == 0)
    n = question("cascade_chunk_steps", example)
    labels, counts, right = n.tally([5, 5, 70])
    assert labels[right] == str(n.computed.answer) and counts[labels.index("5")] == 2 and "70" in labels


def test_the_answer_chart_highlights_only_after_the_reveal():
    before = answer_bars(["a", "<b>x</b>", "a"], [2, 0, 1], right=None)
    after = answer_bars(["a", "<b>x</b>", "a"], [2, 0, 1], right=1)
    assert list(before.data[0].y) == [2, 0, 1] and len(set(before.data[0].marker.color)) == 1
    colours = after.data[0].marker.color
    assert colours[1] != colours[0] == colours[2]
    assert "<b>" not in str(after.data[0].x) and "✓" in after.layout.xaxis.ticktext[1]
    assert after.layout.title.text.startswith("The class's answers (3)")
    assert len(set(after.data[0].x)) == 3                           # two answers named alike stay apart
    with pytest.raises(ValueError):
        answer_bars(["a"], [1, 2], right=None)
