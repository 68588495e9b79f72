"""The rivals (rwkv_core/rivals): a stacked LSTM and the red-line RNN, on tiny random models.

Each equals a plain reference (torch.nn.LSTM; an nn.LSTMCell loop with the feedback), runs every
schedule its dependencies allow with the same numbers (and the same gradients), refuses the
others naming the red line, carries its state, and loads from a checkpoint by its tensor names."""
from __future__ import annotations

import pytest
import torch

import lab
import rwkv_core
from rivals import from_state_dict, infer_kind
from rivals.lstm import Config, init_weights, lstm_forward, redline_forward
from rwkv_core.checkpoint import CheckpointError

L, C, V, T = 3, 8, 13, 11
ATOL = 1e-5


def tiny_sd(kind: str, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    sd = init_weights(Config(kind, L, C, V), g)
    # larger than the default init, so the gates saturate sometimes and the red line matters
    return {k: v * (1.0 if k == "lstm.emb.weight" else 3.0) for k, v in sd.items()}


def tiny(kind: str, seed: int = 0):
    return from_state_dict(tiny_sd(kind, seed))


def tokens(n: int = T, seed: int = 1) -> list[int]:
    return torch.randint(0, V, (n,), generator=torch.Generator().manual_seed(seed)).tolist()


# --- against plain references -----------------------------------------------------------------

def test_lstm_equals_torch_nn_lstm():
    """Reference: one torch.nn.LSTM per layer, with the same weights, and the residual adds."""
    model, ids = tiny("lstm"), tokens()
    refs = [torch.nn.LSTM(C, C, 1) for _ in range(L)]
    with torch.no_grad():
        x, states = model.weights.emb[torch.tensor(ids)], []                       # (T, C)
        for ref, lw in zip(refs, model.weights.layers):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(ref, f"{name}_l0").copy_(getattr(lw, name))
            h, (h_n, c_n) = ref(x)                                                  # (T, C)
            x = x + h
            states.append((h_n[0], c_n[0]))
        expected = x @ model.weights.head.T                                        # (T, V)
    logits, state = model.forward(ids, mode="rnn")
    assert (logits - expected).abs().max() <= ATOL
    for layer, (h_n, c_n) in zip(state.layers, states):
        assert (layer.h - h_n).abs().max() <= ATOL and (layer.c - c_n).abs().max() <= ATOL


def test_redline_equals_an_lstm_cell_loop_with_the_feedback():
    """Reference: nn.LSTMCell per layer; layer 0's input is [embedding, top h of the previous token]."""
    model, ids = tiny("redline"), tokens()
    w = model.weights
    cells = [torch.nn.LSTMCell(2 * C if i == 0 else C, C) for i in range(L)]
    with torch.no_grad():
        for i, (cell, lw) in enumerate(zip(cells, w.layers)):
            cell.weight_ih.copy_(torch.cat([lw.weight_ih, w.red_line], 1) if i == 0 else lw.weight_ih)
            cell.weight_hh.copy_(lw.weight_hh)
            cell.bias_ih.copy_(lw.bias_ih)
            cell.bias_hh.copy_(lw.bias_hh)
        hc = [(torch.zeros(1, C), torch.zeros(1, C)) for _ in range(L)]
        expected = []
        for t in ids:
            x = w.emb[t][None]                                                      # (1, C)
            for i, cell in enumerate(cells):
                hc[i] = cell(torch.cat([x, hc[-1][0]], 1) if i == 0 else x, hc[i])  # the red line: top h of t-1
                x = x + hc[i][0]
            expected.append(x[0] @ w.head.T)
    logits, _ = model.forward(ids)
    assert (logits - torch.stack(expected)).abs().max() <= ATOL


@pytest.mark.parametrize("kind", ["lstm", "redline"])
def test_the_training_forward_equals_the_model(kind):
    """Training runs torch's fused LSTM (lstm) or a tight batched loop (redline): the same numbers."""
    model = tiny(kind)
    batch = torch.tensor([tokens(seed=1), tokens(seed=2)])                          # (2, T)
    fast, state = {"lstm": lstm_forward, "redline": redline_forward}[kind](model.weights, batch)
    for b in range(2):
        logits, ref_state = model.forward(batch[b])
        assert (fast[b] - logits).abs().max() <= ATOL
        assert all((a.h[b] - r.h).abs().max() <= ATOL and (a.c[b] - r.c).abs().max() <= ATOL
                   for a, r in zip(state.layers, ref_state.layers))


@pytest.mark.parametrize("kind", ["lstm", "redline"])
def test_validation_during_training_equals_the_model(kind):
    """The training forward as a model (the state carried) gives the model's bits per character."""
    from lab.evaluate import bits_per_char
    from rivals.lstm import TrainingForward

    class Tok:                                   # a tokenizer of single characters
        vocab_size = V
        def encode(self, text): return [ord(ch) % V for ch in text]
        def decode(self, ids): return "x" * len(list(ids))
    model = tiny(kind)
    model.tokenizer = Tok()
    fast = TrainingForward(kind, model.weights, Tok())
    texts = ["to be or not to be, that is the question", "whether 'tis nobler in the mind"]
    a, b = bits_per_char(model, texts, piece=7), bits_per_char(fast, texts, piece=7)
    assert abs(a["bits_per_char"] - b["bits_per_char"]) <= 1e-5


# --- schedules ----------------------------------------------------------------------------------

def test_lstm_every_schedule_gives_the_same_numbers():
    model, ids = tiny("lstm"), tokens()
    ref, ref_state = model.forward(ids, mode="rnn")
    runs = [model.forward(ids, mode="parallel")] + [model.forward(ids, mode="cascade", chunk=k)
                                                    for k in range(1, T + 1)]
    for logits, state in runs:
        assert (logits - ref).abs().max() <= ATOL
        for a, b in zip(state.layers, ref_state.layers):
            assert (a.h - b.h).abs().max() <= ATOL and (a.c - b.c).abs().max() <= ATOL


@pytest.mark.parametrize("kind,mode", [("lstm", "rnn"), ("lstm", "cascade"), ("lstm", "parallel"),
                                       ("redline", "rnn")])
def test_whole_equals_split_with_state(kind, mode):
    model, ids = tiny(kind), tokens()
    whole, _ = model.forward(ids, mode=mode, chunk=3)
    first, state = model.forward(ids[:5], mode=mode, chunk=3)
    given = state.clone()
    second, _ = model.forward(ids[5:], state, mode=mode, chunk=3)
    assert (torch.cat([first, second]) - whole).abs().max() <= ATOL
    assert all(torch.equal(a.h, b.h) and torch.equal(a.c, b.c) for a, b in zip(state.layers, given.layers))
    last, _ = model.forward(ids, mode=mode, chunk=3, all_logits=False)
    assert (last - whole[-1]).abs().max() <= ATOL


@pytest.mark.parametrize("mode", ["cascade", "parallel"])
def test_the_red_line_refuses_every_order_but_rnn(mode):
    model = tiny("redline")
    assert model.schedules == ("rnn",)
    with pytest.raises(ValueError, match="red line"):
        model.forward(tokens(), mode=mode, chunk=2)
    with pytest.raises(ValueError, match="red line"):
        model.plan_for(T, mode, 2)
    rwkv_plan = rwkv_core.plan(mode, n_layer=L, n_tokens=T, chunk=2)   # a plan made for another kind
    with pytest.raises(ValueError, match="red line"):
        model.run_plan(rwkv_plan, tokens())


def test_faces_and_timed_run():
    for kind, schedules in (("lstm", ("rnn", "cascade", "parallel")), ("redline", ("rnn",))):
        model = tiny(kind)
        assert model.kind == kind and model.deps is lab.kinds.KINDS[kind].deps
        assert model.schedules == schedules and model.config.n_layer == L and model.config.n_params > 0
        result = model.run_plan(model.plan_for(T, schedules[-1], 4), tokens(), timed=True)
        assert len(result.timings.cell_spans) == result.plan.n_steps and result.logits.shape == (T, V)
        assert result.plan.deps is model.deps


def test_state_size_is_constant_in_the_number_of_tokens():
    for kind in ("lstm", "redline"):
        model = tiny(kind)
        sizes = {model.forward(tokens(n))[1].nbytes() for n in (1, 5, 40)}
        assert sizes == {model.init_state().nbytes()} == {2 * L * C * 4}


def bad_ids(bad, vocab_size: int):
    return {"past the vocabulary": [vocab_size], "negative": [-1]}[bad] if isinstance(bad, str) else bad


@pytest.mark.parametrize("bad", [[], [1.5], [[]], "past the vocabulary", "negative"])
def test_bad_tokens_give_rwkvs_errors(bad, small_model):
    model = tiny("lstm")
    with pytest.raises(ValueError) as ours:
        model.forward(bad_ids(bad, V))
    with pytest.raises(ValueError) as theirs:
        small_model.forward(bad_ids(bad, small_model.config.vocab_size))
    if isinstance(bad, str):
        vocab = small_model.config.vocab_size
        assert str(ours.value) == str(theirs.value).replace(str(vocab - 1), str(V - 1)).replace(str(vocab), str(V))
    else:
        assert str(ours.value) == str(theirs.value)


# --- gradients equal across schedules -----------------------------------------------------------

def _grads(model, ids, mode, chunk=None):
    params = list(model.weights.state_dict().values()) if hasattr(model.weights, "state_dict") else []
    for p in params:
        p.grad = None
    logits, _ = model.forward(ids, mode=mode, chunk=chunk)
    (logits.square().mean() + logits[-1, 0]).backward()
    return [p.grad.clone() for p in params]


def test_lstm_gradients_equal_across_schedules():
    sd = {k: v.requires_grad_(True) for k, v in tiny_sd("lstm").items()}
    model, ids = from_state_dict(sd), tokens()
    model = type(model)(type(model.weights).from_state_dict(sd), model.config)   # weights = the leaves
    ref = _grads(model, ids, "rnn")
    for mode, chunk in (("parallel", None), ("cascade", 1), ("cascade", 4)):
        for a, b in zip(_grads(model, ids, mode, chunk), ref):
            assert (a - b).abs().max() <= ATOL


def test_rwkv_gradients_equal_rnn_and_parallel(small_sd):
    """RWKV trains layer-parallel (forward_batch); token by token through the same block function
    (the rnn order, the state carried) gives the same gradients. (RWKV.run_plan writes its cells
    into preallocated buffers, so it is for inference: training never goes through it.)"""
    from rwkv_core.model import block, embed, forward_batch, head
    from rwkv_core.weights import Weights
    model = rwkv_core.from_state_dict({k: v.clone() for k, v in small_sd.items()})
    params = {k: v.detach().clone().requires_grad_(True) for k, v in model.weights.state_dict().items()}
    w = Weights.from_state_dict(params)
    ids = torch.tensor(tokens(9))

    def rnn_logits():
        layers, out = list(model.init_state().layers), []
        for t in range(len(ids)):
            x = embed(w, ids[t:t + 1])                                             # (1, C)
            for l, bw in enumerate(w.blocks):
                x, layers[l] = block(x, layers[l], bw)
            out.append(head(w, x))                                                 # (1, V)
        return torch.cat(out)

    def grads(logits):
        for p in params.values():
            p.grad = None
        logits.square().mean().backward()
        return {k: p.grad.clone() for k, p in params.items()}
    ref, par = grads(rnn_logits()), grads(forward_batch(w, ids[None])[0][0])
    for k in ref:
        assert (par[k] - ref[k]).abs().max() <= 1e-4 * (1 + ref[k].abs().max()), k


# --- checkpoints --------------------------------------------------------------------------------

def test_infer_kind():
    assert infer_kind(tiny_sd("lstm")) == "lstm" and infer_kind(tiny_sd("redline")) == "redline"
    assert infer_kind({"emb.weight": torch.zeros(2, 2)}) is None


@pytest.mark.parametrize("kind", ["lstm", "redline"])
def test_bad_checkpoints_name_the_tensor(kind):
    sd = tiny_sd(kind)
    missing = dict(sd)
    del missing["lstm.layers.1.weight_hh"]
    with pytest.raises(CheckpointError, match="lstm.layers.1.weight_hh"):
        from_state_dict(missing)
    for key in ("lstm.head.weight", "lstm.layers.2.bias_ih") + (("red_line.weight",) if kind == "redline" else ()):
        bad = dict(sd)
        bad[key] = torch.zeros(*(s + 1 for s in sd[key].shape))
        with pytest.raises(CheckpointError, match=key.replace(".", r"\.")):
            from_state_dict(bad)


@pytest.mark.parametrize("kind", ["lstm", "redline"])
def test_load_model_infers_the_kind(kind, tmp_path):
    from safetensors.torch import save_file
    sd = tiny_sd(kind)
    save_file(sd, str(tmp_path / f"{kind}.safetensors"))
    model = lab.load_model(tmp_path / f"{kind}.safetensors")
    assert model.kind == kind and model.config.n_layer == L
    ids = tokens()
    assert (model.forward(ids)[0] - from_state_dict(sd).forward(ids)[0]).abs().max() <= ATOL


def test_the_red_line_trainings_deferred_weight_gradients_are_autograds():
    from rivals.lstm import DeferredGrads, Weights
    sd = {k: v.requires_grad_(True) for k, v in tiny_sd("redline").items()}
    w = Weights.from_state_dict(sd)
    batch = torch.tensor([tokens(seed=1), tokens(seed=2)])

    def grads(deferred):
        for p in sd.values():
            p.grad = None
        redline_forward(w, batch, deferred)[0].square().mean().backward()
        if deferred:
            deferred.apply()
        return {k: p.grad.clone() for k, p in sd.items()}
    plain, fast = grads(None), grads(DeferredGrads())
    for k in plain:
        assert (fast[k] - plain[k]).abs().max() <= ATOL * (1 + plain[k].abs().max()), k


def test_a_copy_in_another_dtype_gives_the_same_numbers():
    model, ids = tiny("lstm"), tokens()
    double = model.to(dtype=torch.float64)
    assert double.dtype == torch.float64 and model.dtype == torch.float32
    assert (double.forward(ids)[0].float() - model.forward(ids)[0]).abs().max() <= ATOL


def test_the_cards_comparison_reads_both_logs():
    from lab.card import at, comparison
    def val(step, bpc, seconds):
        return {"step": step, "train_tokens": step * 3072, "seconds": seconds, "bits_per_char": bpc}
    rwkv = {"val": [val(250, 2.2, 500.0), val(500, 2.0, 1000.0), val(1000, 1.9, 2000.0), val(1000, 1.9, 2000.0)],
            "final": {"step": 1000, "train_tokens": 1000 * 3072, "minutes": 2000 / 60, "bits_per_char": 1.9}}
    ours = {"kind": "lstm", "val": [val(375, 2.5, 100.0)],
            "final": {"step": 375, "train_tokens": 375 * 3072, "minutes": 750 / 60, "bits_per_char": 2.5}}
    c = comparison(ours, rwkv, speed={"lstm": 2 * 3072.0, "rwkv4": 3072.0})
    assert c["tokens"] == 375 * 3072 and abs(c["rwkv_at_equal_tokens"] - 2.1) < 1e-9
    # equal compute: the LSTM's 375 steps at 2 steps/s are 187.5 s, in which RWKV (1 step/s) trains 187.5 steps,
    # before its first validation (step 250): outside its curve
    assert c["compute"] == 187.5 and c["rwkv_at_equal_compute"] is None
    c = comparison({**ours, "kind": "gpt"}, rwkv, speed={"gpt": 3072.0 / 2, "rwkv4": 3072.0})
    assert c["compute"] == 750 and abs(c["rwkv_at_equal_compute"] - 1.95) < 1e-9   # RWKV's step 750
    assert comparison(ours, rwkv, speed={})["compute"] is None
    assert c["ours_at_rwkv_tokens"] is None and at([], 1, 0) is None


@pytest.mark.parametrize("kind", ["lstm", "redline"])
def test_the_shipped_rivals_load_with_their_kind(kind):
    """The trained files (models/<kind>-shakespeare.*): the kind from the tensors, within ±10% of
    RWKV-4's 6,178,304 parameters, the embedded model's tokenizer, loaded in well under 3 s."""
    import time
    from pathlib import Path
    path = Path(__file__).resolve().parent.parent / "models" / f"{kind}-shakespeare.safetensors"
    if not path.exists():
        pytest.skip(f"{path.name} is not trained yet")
    t0 = time.perf_counter()
    model = lab.load_model(path)
    assert time.perf_counter() - t0 < 3.0
    assert model.kind == kind and model.dtype == torch.float32 and model.tokenizer.vocab_size == 2048
    assert 0.9 * 6_178_304 <= model.config.n_params <= 1.1 * 6_178_304
    ids = model.tokenizer.encode("ROMEO.\n")
    logits, state = model.forward(ids, mode=model.schedules[-1])
    assert logits.shape == (len(ids), 2048) and torch.isfinite(logits).all() and state.nbytes() == 2 * 6 * 320 * 4
