"""The Explorer's session logic on the real embedded model: stepping, undo, the state rebuilt
from recordings, sampling without the model, prompt checks, surgery."""
import pytest
import torch
from app_helpers import PROMPT, embedded, stepped_session
from tolerances import CARRIED, OTHER_KERNEL, assert_close, assert_states_close

from app import explorer_core as ec
from rwkv_core.sampling import SamplingSettings


def test_step_runs_one_token_and_matches_a_full_run():
    s = stepped_session(n_steps=3)
    assert len(s.tokens) == s.n_prompt + 3 and s.forward_calls == 4
    logits, state = embedded().forward(s.tokens)                  # the whole text in one go
    assert_close(logits[-1], s.logits, OTHER_KERNEL, "stepped vs whole logits")
    assert_states_close(s.state, state, CARRIED, "stepped vs whole state")
    for name, v in s.trace.items():
        assert v.shape[0] == len(s.tokens), name


def test_state_rebuilt_from_the_trace_is_the_carried_state():
    s = stepped_session(n_steps=2)
    # the same tokens: rebuilt from one-token recordings vs carried, and vs a 3-token call
    assert_states_close(s.state_at(len(s.tokens) - 1), s.state, OTHER_KERNEL, "rebuilt vs carried state")
    _, st3 = embedded().forward(s.tokens[:3])
    assert_states_close(s.state_at(2), st3, OTHER_KERNEL, "rebuilt vs 3-token state")
    assert s.state_at(-1).allclose(embedded().init_state(), rtol=0)


def test_undo_and_reset_need_no_forward_pass():
    s = stepped_session(n_steps=0)
    before, calls = s.logits.clone(), s.forward_calls
    s.step(int(s.logits.argmax()))
    s.step(int(s.logits.argmax()))
    assert s.undo() and s.undo()
    assert not s.undo()                                           # the prompt stays
    assert s.forward_calls == calls + 2
    assert_close(s.logits, before, OTHER_KERNEL, "logits after undo")
    assert len(s.tokens) == s.n_prompt
    s.step(5)
    s.reset()
    assert len(s.tokens) == s.n_prompt and s.forward_calls == calls + 3


def test_sampling_reuses_cached_logits():
    s = stepped_session(n_steps=1)
    calls, cached = s.forward_calls, s.logits
    hot = s.next_sample(SamplingSettings(temperature=2.0), seed=1)
    cold = s.next_sample(SamplingSettings(temperature=0.3), seed=1)
    assert s.forward_calls == calls and s.logits is cached
    assert ec.analysis.implicit_attention  # the module is wired
    from rwkv_core.sampling import entropy_bits
    assert entropy_bits(hot.probs) > entropy_bits(cold.probs)
    assert s.next_sample(SamplingSettings(temperature=0.9), 7).token == s.next_sample(
        SamplingSettings(temperature=0.9), 7).token
    assert s.next_sample(SamplingSettings(temperature=0), 7).token == int(cached.argmax())


@pytest.mark.parametrize("text", ["😀🎭 emoji", "e\u0301 combining, עברית, 漢字", "tab\tand\x00null\x1b[31m",
                                  "\n\n"])
def test_odd_text_is_read(text):
    ids = ec.encode_prompt(embedded(), text)
    s = ec.ExplorerSession(embedded(), "k")
    s.start(ids)
    assert s.tokens == ids and torch.isfinite(s.logits).all()
    assert all(ch.isprintable() or ch in "\n\t" for ch in ec.decode(embedded(), ids))


@pytest.mark.parametrize("text, message", [("", "empty"), ("   ", "empty"), ("x" * (ec.MAX_PROMPT_CHARS + 1), "limit"),
                                           ("to be " * 200, "tokens"), ("\ud800", "cannot read")])
def test_bad_prompts_say_why(text, message):
    with pytest.raises(ec.PromptError, match=message):
        ec.encode_prompt(embedded(), text)


def test_model_without_tokenizer_takes_ids(small_model):
    assert ec.encode_prompt(small_model, "1, 2 3") == [1, 2, 3]
    with pytest.raises(ec.PromptError, match="numbers"):
        ec.encode_prompt(small_model, "hello")
    with pytest.raises(ec.PromptError, match="outside the vocabulary"):
        ec.encode_prompt(small_model, "1, 99999")
    assert ec.token_label(small_model, 4) == "#4"


def test_session_stops_at_the_token_limit(monkeypatch):
    monkeypatch.setattr(ec, "MAX_TOKENS", 12)
    s = stepped_session(n_steps=0, prompt="To be, or not")
    while len(s.tokens) < 12:
        s.step(1)
    with pytest.raises(ec.PromptError, match="12 tokens"):
        s.step(1)


def test_surgery_identity_edits_change_nothing():
    s = stepped_session(n_steps=2)
    same = ec.surgery(s, 2, "scale", factor=1.0, n_continue=3)
    assert same.check < 1e-4
    assert torch.allclose(same.probs_before, same.probs_after, atol=1e-6)
    assert same.text_before == same.text_after
    # copying a layer from the same text is also no change
    copy = ec.surgery(s, 4, "copy", donor_ids=s.tokens[:-1], n_continue=2)
    assert torch.allclose(copy.probs_before, copy.probs_after, atol=1e-5)


def test_surgery_zero_changes_the_prediction():
    s = stepped_session(n_steps=2)
    r = ec.surgery(s, 0, "zero", n_continue=3)
    assert (r.probs_before - r.probs_after).abs().max() > 1e-3
    zero = ec.edit_layer(s.state[0], "zero")
    assert zero.aa.abs().max() == 0 and (zero.pp < -1e30).all()
    forget = ec.edit_layer(s.state[0], "scale", 0.0)
    assert torch.equal(forget.x_att, s.state[0].x_att) and forget.bb.abs().max() == 0
    with pytest.raises(ValueError):
        ec.edit_layer(s.state[0], "melt")


def test_continue_both_is_greedy_and_seeded():
    s = stepped_session(n_steps=0)
    calls = s.forward_calls
    greedy, sampled = ec.continue_both(s, 5, SamplingSettings(temperature=1.2), seed=11)
    again = ec.continue_both(s, 5, SamplingSettings(temperature=1.2), seed=11)
    assert (greedy, sampled) == again and len(greedy) == 5
    assert greedy[0] == int(s.logits.argmax())
    logits, _ = embedded().forward(s.tokens + greedy[:2])
    assert greedy[2] == int(logits[-1].argmax())
    assert len(s.tokens) == s.n_prompt and s.forward_calls == calls + 20


def test_rnn_equals_parallel_per_layer():
    eq = ec.rnn_vs_parallel(stepped_session(n_steps=2, prompt=PROMPT))
    L = embedded().config.n_layer
    assert len(eq.per_layer["residual output"]) == L == len(eq.per_layer["state"])
    assert max(eq.per_layer["residual output"]) < 1e-3 and eq.logits < 1e-3


def test_a_session_keeps_its_prompt_text_and_one_row_of_logits():
    """The page flags a prompt box that differs from `prompt_text`; and a session holds the next
    token's logits only, (V,), never the prompt's (T, V)."""
    model = embedded()
    s = ec.ExplorerSession(model, "embedded")
    s.start(ec.encode_prompt(model, PROMPT), PROMPT)
    assert s.prompt_text == PROMPT and s.logits.shape == (model.config.vocab_size,)
    s.step(int(s.logits.argmax()))
    assert s.logits.shape == (model.config.vocab_size,)
    tensors = [v for v in vars(s).values() if isinstance(v, torch.Tensor)]
    assert all(v.numel() < len(s.tokens) * model.config.vocab_size for v in tensors)


def test_a_prompt_is_run_once_per_model_and_shared_read_only():
    model = embedded()
    ids = ec.encode_prompt(model, "A prompt read by two students")
    a, b = ec.ExplorerSession(model, "a"), ec.ExplorerSession(model, "b")
    a.start(ids)
    calls = {"n": 0}
    real = model.forward

    def counted(*args, **kw):
        calls["n"] += 1
        return real(*args, **kw)

    model.forward = counted
    try:
        b.start(ids)                                                 # the second reader: no model run
        assert calls["n"] == 0 and b.forward_calls == 1
        assert b.trace is a.trace and b.state is a.state
        kept = {n: v.clone() for n, v in a.trace.items()}, a.state.clone(), a.logits.clone()
        b.step(7)
        b.undo()
        b.step(9)                                                    # b moves on; a's prompt is untouched
        assert all(torch.equal(kept[0][n], v) for n, v in a.trace.items())
        assert a.state.allclose(kept[1], rtol=0) and torch.equal(a.logits, kept[2])
        assert len(a.tokens) == len(ids) and len(b.tokens) == len(ids) + 1
    finally:
        del model.forward
    logits, _ = model.forward(ids)                                   # the shared read is the model's own
    assert_close(logits[-1], a.logits, OTHER_KERNEL, "shared prompt logits")
