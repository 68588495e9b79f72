"""The quizzes that ask about a live number (app/lessons/quiz.py): filled from two different
prompts, every layer's and token's number is the example's own, and the right answer's claim holds
on those numbers while the wrong options' claims fail on them. Also the student-prompt check."""
import pytest
import torch
from app_helpers import embedded

from app.lessons import content as ls
from app.lessons import core as lc
from app.lessons.quiz import LIVE
from lab import reference as fm
from rwkv_core.schedule import expected_steps  # the engine's own count

PROMPTS = [lc.EXAMPLE_PROMPT, "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind"]


@pytest.fixture(scope="module", params=PROMPTS, ids=["classroom prompt", "another prompt"])
def ex(request):
    return lc.run_example(embedded(), request.param)


def live_quizzes():
    return [s.quiz for lesson in ls.load_lessons() for s in lesson.steps if s.quiz and s.quiz.live]


def positions(ex):
    """Layers and tokens a student can pick: first, middle and last of each."""
    L = ex.model.config.n_layer
    return [(layer, t) for layer in (0, lc.DEFAULT_LAYER, L - 1) for t in (0, 1, ex.n_tokens // 2, ex.n_tokens - 1)]


def test_the_two_prompts_give_different_examples():
    a, b = (lc.run_example(embedded(), p) for p in PROMPTS)
    assert a.ids != b.ids and a.n_tokens != b.n_tokens


def test_every_live_quiz_fills_and_keeps_distinct_options(ex):
    assert {q.live for q in live_quizzes()} == set(LIVE)
    for q in live_quizzes():
        for layer, t in positions(ex):
            f = q.filled(LIVE[q.live](ex, layer, t))
            assert "{" not in f.question + "".join(f.options + f.explain), f.question
            assert len(set(f.options)) == len(f.options), f.options


def test_sampling_quiz_the_favourite_gains_at_half_the_temperature(ex):
    for _, t in positions(ex):
        v = LIVE["sampling_top"](ex, 0, t)
        p1 = fm.softmax_with_temperature(ex.logits[t], 1.0)
        top = int(p1.argmax())
        p_half = fm.softmax_with_temperature(ex.logits[t], 0.5)
        assert v["p"] == f"{float(p1[top]):.1%}" and v["top"] == repr(lc.label(ex.model, top))
        assert float(p_half[top]) > float(p1[top])                    # option 1, "it goes up", is right
        assert int(p_half.argmax()) == top                            # the order does not change


def test_counting_quiz_the_cascade_count(ex):
    v = LIVE["counting_steps"](ex, 0, 0)
    L, T = ex.model.config.n_layer, ex.n_tokens
    assert (v["L"], v["T"]) == (str(L), str(T))
    assert v["cascade"] == str(L + T - 1) == str(expected_steps("cascade", L, T, 1))
    assert v["rnn"] == str(L * T) and v["parallel"] == str(L)


def test_share_quiz_the_largest_share_has_the_largest_exponent(ex):
    """The question's token gets the largest share of the WKV step's channel; the right answer
    says its exponent is the largest; the wrong ones' claims fail on the same numbers."""
    for layer, t in positions(ex):
        v = LIVE["wkv_top_share"](ex, layer, t)
        att = ex.block(layer).att
        c = lc.memory_channel(ex, layer, t)                           # the channel the WKV step draws
        w, u = fm.decay(att.time_decay), att.time_first
        k, vv = ex.rec[f"blocks.{layer}.att.k"][: t + 1], ex.rec[f"blocks.{layer}.att.v"][: t + 1]
        share = fm.wkv_weights(w, u, k)[:, c]
        expo = fm.wkv_exponents(w, u, k)[:, c]
        top = int(share.argmax())
        assert v["channel"] == str(c) and v["top"] == repr(ex.labels[top]) and v["share"] == f"{float(share[top]):.1%}"
        assert int(expo.argmax()) == top                              # the right answer
        assert v["exponent"] == f"{float(expo[top]):.2f}"
        assert (w < 0).all()                                          # option 4 is false: w is negative
        assert v["u_negative"] == str(int((u < 0).sum()))
        # option 3 is false: v does not enter the weights (other values, the same shares)
        assert torch.equal(fm.wkv_weights(w, u, k)[:, c], share) and vv.shape == k.shape


def test_the_share_quiz_is_the_issues_example_on_the_classroom_prompt():
    """On the classroom prompt the question reads 'gets 83.2% of the weighted average'."""
    ex = lc.run_example(embedded())
    q = next(q for q in live_quizzes() if q.live == "wkv_top_share")
    f = q.filled(LIVE[q.live](ex, lc.DEFAULT_LAYER, ex.n_tokens - 1))
    share = LIVE[q.live](ex, lc.DEFAULT_LAYER, ex.n_tokens - 1)["share"]
    assert f"gets {share} of the weighted average" in f.question and share.endswith("%")


# --- the student's prompt --------------------------------------------------------------------------

@pytest.mark.parametrize("text, says", [
    ("", "empty"), ("  ", "empty"), ("x" * 401, "401 characters"), ("the " * 90, "limit is 64"),
    ("a", "at least 2"), ("a\x00b", "U+0000"), ("lone \ud800 surrogate", "U+D800"), ("\x1b[31mred", "U+001B"),
])
def test_bad_prompts_get_a_clear_message(text, says):
    with pytest.raises(lc.PromptError, match=says.replace("+", r"\+")):
        lc.lesson_prompt(embedded(), text)


@pytest.mark.parametrize("text", ["ROMEO:\nBut soft", "日本語 🙂 and more", "e\u0301te\u0301", "\tTabbed:\nline"])
def test_ordinary_unicode_is_accepted(text):
    ids = lc.lesson_prompt(embedded(), text)
    assert lc.MIN_PROMPT_TOKENS <= len(ids) <= lc.MAX_PROMPT_TOKENS
    assert embedded().tokenizer.decode(ids) == text
