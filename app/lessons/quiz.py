"""The live values of the quizzes that ask about a number on the screen: LIVE maps the name a
quiz step gives in `live:` to a function (example, layer, token) → {field: text}, whose fields
fill the `{field}`s of that quiz's question, options and explanations; and PREDICT, the computed
answers of the steps' predictions (asked in a room before the figure is shown), each from the same
function the step's figure draws from. No Streamlit here.

Each quiz's right answer must stay right whatever the student's prompt, layer and token: the
question is about this example's number, the answer about why the formula makes it so
(tests/test_lessons_quiz.py fills every live quiz from two prompts and checks each claim).
"""
from __future__ import annotations

import functools
from typing import Callable

import torch

import lab
from lab import kinds
from lab import reference as fm
from rivals import lstm
from rwkv_core.schedule import expected_steps

from . import core as lc
from . import scaling_core as S
from .step import Computed

LSTM_PATH = kinds.main_model("lstm").path      # the stacked LSTM trained here (lab.kinds.SHIPPED)


def sampling_top(ex: lc.Example, layer: int, t: int) -> dict[str, str]:
    """Lesson 1: the most likely next token's probability at temperature 1 and at 0.5."""
    p1 = fm.softmax_with_temperature(ex.logits[t], 1.0)                       # (V,)
    top = int(p1.argmax())
    p_half = fm.softmax_with_temperature(ex.logits[t], 0.5)                   # (V,)
    return {"after": repr(ex.labels[t]), "top": repr(lc.label(ex.model, top)), "p": f"{float(p1[top]):.1%}",
            "p_half": f"{float(p_half[top]):.1%}", "top_half": repr(lc.label(ex.model, int(p_half.argmax())))}


def counting_steps(ex: lc.Example, layer: int, t: int) -> dict[str, str]:
    """Lesson 2: this model's layers and the example's tokens, and the step counts of each order
    as the engine's own plans count them."""
    L, T = ex.model.config.n_layer, ex.n_tokens
    return {"L": str(L), "T": str(T), "rnn": str(expected_steps("rnn", L, T)),
            "cascade": str(expected_steps("cascade", L, T, 1)), "parallel": str(expected_steps("parallel", L, T))}


def wkv_top_share(ex: lc.Example, layer: int, t: int) -> dict[str, str]:
    """Lesson 3: the channel the WKV step draws, the token that gets the largest share of its
    average, and the numbers that explain why (its exponent is the largest)."""
    att, c = ex.block(layer).att, lc.memory_channel(ex, layer, t)
    w, u = fm.decay(att.time_decay), att.time_first
    k, v = ex.rec[f"blocks.{layer}.att.k"][: t + 1], ex.rec[f"blocks.{layer}.att.v"][: t + 1]   # (t+1, C)
    share = fm.wkv_weights(w, u, k)[:, c]                                      # (t+1,)
    expo = fm.wkv_exponents(w, u, k)[:, c]                                     # (t+1,)
    order = torch.argsort(share, descending=True).tolist()
    top = order[0]
    if len(order) > 1:
        nxt = order[1]
        runner = f"the next largest is {float(expo[nxt]):.2f} ({ex.labels[nxt]!r}, {float(share[nxt]):.1%})"
    else:
        runner = "it is the only token so far"
    return {"layer": str(layer), "channel": str(c), "t": str(t), "token": repr(ex.labels[t]),
            "top": repr(ex.labels[top]), "i": str(top), "share": f"{float(share[top]):.1%}",
            "exponent": f"{float(expo[top]):.2f}", "runner_up": runner,
            "kind": "the current token, u + k_t" if top == t else "an earlier token, (t−1−i)·w + k_i",
            "u": f"{float(u[c]):.3f}", "u_negative": str(int((u < 0).sum())), "C": str(len(u)),
            "v_top": f"{float(v[top, c]):.3f}", "v_max": f"{float(v[:, c].max()):.3f}",
            "w": f"{float(w[c]):.4f}", "e_w": f"{float(torch.exp(w[c])):.4f}"}


@functools.lru_cache(maxsize=2)
def _shipped_lstm(path: str, mtime_ns: int):
    """The stacked LSTM trained here, loaded once per file version (read-only)."""
    return lab.load_model(path)


def lstm_tokens(model, ex: lc.Example) -> list[int]:
    """The example's text in the LSTM's own tokenizer (the shipped rivals share the embedded
    model's), or the example's ids when either has no tokenizer."""
    if model.tokenizer is not None and ex.model.tokenizer is not None:
        return model.tokenizer.encode(ex.model.tokenizer.decode(list(ex.ids)))
    return [i for i in ex.ids if 0 <= i < model.config.vocab_size]


def lstm_layer_zero(model, ids: list[int]) -> dict[str, torch.Tensor]:
    """Layer 0 of a stacked LSTM on these tokens, from the empty state: its input products for all
    tokens in one product and one token at a time, its true outputs (the recurrence), and the
    outputs a layer "at once" would give if it ignored h[t−1] and c[t−1] (every token from h = c = 0)."""
    w = model.weights.layers[0]
    x = model.weights.emb[torch.tensor(ids)]                                    # (T, C)
    wide = lstm.input_products(x, w)                                            # (T, 4C) one product
    narrow = torch.stack([lstm.input_products(x_t, w) for x_t in x])           # (T, 4C) token by token
    empty = lstm.init_state(1, model.config.n_embd, dtype=x.dtype)[0]
    h_true, _ = lstm.lstm_layer(x, empty, w)                                    # (T, C) T products in turn
    h_once, _ = lstm.recurrent_step(wide, empty, w)                             # (T, C) the past ignored
    return {"wide": wide, "narrow": narrow, "h_true": h_true, "h_once": h_once}


def lstm_layer_at_once(ex: lc.Example, layer: int, t: int) -> dict[str, str]:
    """Lesson 2: the shipped stacked LSTM on the student's tokens. Its input products do run over
    all tokens at once (the same numbers as token by token); skipping the wait for h[t−1] changes
    layer 0's outputs far beyond rounding: that wait, inside σ and tanh, is what keeps a layer's
    tokens in order."""
    if not LSTM_PATH.is_file():
        missing = (f"(not measured: {LSTM_PATH.name} is not in models/; "
                   "`python -m lab.train --kind lstm` trains it)")
        return {"L": "L", "C": "C", "T": str(ex.n_tokens), "products": "L·T", "cascade": "L + T − 1",
                "gap": missing, "ih_diff": missing, "state_numbers": "2·L·C"}
    model = _shipped_lstm(str(LSTM_PATH), LSTM_PATH.stat().st_mtime_ns)
    ids = lstm_tokens(model, ex)
    r = lstm_layer_zero(model, ids)
    L, C, T = model.config.n_layer, model.config.n_embd, len(ids)
    gap = float((r["h_true"][1:] - r["h_once"][1:]).abs().max()) if T > 1 else 0.0
    return {"L": str(L), "C": str(C), "T": str(T), "products": str(expected_steps("rnn", L, T)),
            "cascade": str(expected_steps("cascade", L, T, 1)), "gap": f"{gap:.2f}",
            "ih_diff": f"{float((r['wide'] - r['narrow']).abs().max()):.1e}", "state_numbers": f"{2 * L * C:,}"}


LIVE: dict[str, Callable[[lc.Example, int, int], dict[str, str]]] = {
    "sampling_top": sampling_top, "counting_steps": counting_steps, "wkv_top_share": wkv_top_share,
    "lstm_layer_at_once": lstm_layer_at_once,
}


# --- the predictions' computed answers (a room asks them before the figure; content.py's docstring) ---

PREDICT_CHUNK = 4           # lesson 2's question: the cascade's steps with chunks of this many tokens
N_CANDIDATES = 4            # lesson 1's question: the model's most likely tokens, offered in id order


def next_token_top(ex: lc.Example, layer: int, t: int) -> Computed:
    """Lesson 1, "The output: probabilities": which of the model's four most likely next tokens is
    its favourite. From lc.next_token_view, the function the step's bar chart draws."""
    v = lc.next_token_view(ex, t)
    ids = sorted(int(i) for i in torch.topk(v.probs, N_CANDIDATES).indices)      # id order: no hint
    fields = {"after": repr(ex.labels[t]), "top": repr(lc.label(ex.model, v.top)),
              "p_top": f"{float(v.probs[v.top]):.1%}"}
    for n, i in enumerate(ids):
        fields[f"c{n}"], fields[f"p{n}"] = repr(lc.label(ex.model, i)), f"{float(v.probs[i]):.1%}"
    return Computed(ids.index(v.top), 0, N_CANDIDATES - 1, fields)


def cascade_chunk_steps(ex: lc.Example, layer: int, t: int) -> Computed:
    """Lesson 2, "Chunks": the cascade's steps on the room's prompt with chunks of PREDICT_CHUNK
    tokens. From S.chunk_facts, the function the step's chart and metric count with."""
    L, T = ex.model.config.n_layer, ex.n_tokens
    steps = S.chunk_facts(L, ex.model.config.n_ffn, T, PREDICT_CHUNK).steps["cascade"]
    fields = {"L": str(L), "T": str(T), "chunk": str(PREDICT_CHUNK), "answer": str(steps),
              "chunks": str(-(-T // PREDICT_CHUNK)), "rnn": str(expected_steps("rnn", L, T))}
    return Computed(steps, 1, L * T, fields)


def wkv_top_token(ex: lc.Example, layer: int, t: int) -> Computed:
    """Lesson 3, "WKV: a weighted average": which token gets the largest share of the average in
    the channel the step draws. From lc.wkv_sum_view, the function the step's bars draw."""
    c = lc.memory_channel(ex, layer, t)
    v = lc.wkv_sum_view(ex, layer, t, c)
    top = max(range(len(v.share)), key=v.share.__getitem__)
    fields = {"layer": str(layer), "channel": str(c), "token": repr(ex.labels[t]), "top": repr(v.labels[top]),
              "i": str(top), "share": f"{v.share[top]:.1%}", "self_share": f"{v.share[t]:.1%}",
              "u": f"{v.u:.2f}", "w": f"{v.w:.3f}"}
    return Computed(top, 0, t, fields, tuple(v.labels))


PREDICT: dict[str, Callable[[lc.Example, int, int], Computed]] = {
    "next_token_top": next_token_top, "cascade_chunk_steps": cascade_chunk_steps, "wkv_top_token": wkv_top_token,
}
