"""What each lesson step shows: the views a step can name in its `figure:` front matter, each
registered with its description and renderer by @view into VIEWS (app/lessons/registry.py). This
module holds lessons 1 and 3's views and imports the other view modules, so that its VIEWS (the
registry's, re-exported) is complete: the page and the tests read views.VIEWS.

An ordinary module (imported once by the entry file, not first in a page script). Every number
comes from app/lessons/core.py, which computes it with the lessons' formulas next to the engine's
recorded value and returns it typed (app/lessons/results.py); the renderers only lay them out.
Model text reaches the screen only through st.table / st.dataframe / st.text / st.code and plotly
labels escaped in visuals/.
"""
from __future__ import annotations

import math

import streamlit as st

from app import explorer_core, widgets
from rwkv_core import fast
from rwkv_core.sampling import SamplingSettings
from rwkv_core.schedule import plan as make_plan
from visuals import architecture, states, tokens
from visuals import lessons as vl
from visuals import probabilities as vp
from visuals import schedule as vs

from . import claims as cl
from . import core as lc
from . import views_cliffhanger, views_scaling  # noqa: F401  (lessons 2 and 4's views register themselves)
from . import views_memory  # noqa: F401  (lesson 3's memory-lab step registers itself)
from .layout import Context, agreement, quiz, show, table
from .registry import VIEWS, View, view  # noqa: F401  (VIEWS and View read here as views.*)
from .results import Checked

SCHEDULE_TOKENS = 16       # tokens of the example used in the scheduling figures
CHUNKS = (1, 2, 4, 8, 16)
N_GENERATE = 12            # tokens the generation-loop step writes


# --- lesson 1: how a text model works ----------------------------------------------------------------

@view("black_box", "the generic language model, with this prompt's tokens and prediction")
def black_box(ctx: Context) -> None:
    ex = ctx.ex
    nxt = lc.most_likely(ex, ctx.t)
    # three layer boxes stand for all of them: the picture stays readable on a projector
    show(ctx, architecture.generic_model(tokens=ex.labels[max(0, ctx.t - 3): ctx.t + 1],
                                         n_layer=min(3, ctx.model.config.n_layer), next_token=lc.label(ctx.model, nxt)),
         "generic")
    st.text("Text in:  " + explorer_core.decode(ctx.model, list(ex.ids[: ctx.t + 1])))
    st.text("Most likely next token:  " + lc.label(ctx.model, nxt))
    st.info(cl.describe_model(ctx.model))


@view("tokens", "the prompt as token chips, with ids")
def tokens_view(ctx: Context) -> None:
    ex = ctx.ex
    show(ctx, tokens.token_strip(list(ex.labels), list(ex.ids), ex.n_tokens,
                                 per_row=widgets.chips_per_row(ctx.classroom)), "strip")
    c1, c2 = st.columns(2)
    c1.metric("tokens in this prompt", ex.n_tokens)
    c2.metric("vocabulary size", f"{ctx.model.config.vocab_size:,}")
    st.info(cl.tokenizer_sentence(ex))


@view("embedding", "the token's embedding vector and its nearest neighbours")
def embedding_view(ctx: Context) -> None:
    v = lc.embedding_view(ctx.ex, ctx.t)
    word = ctx.ex.labels[ctx.t]
    show(ctx, vl.vector_bars(v.normed.tolist(), title=f"The vector for {word!r} (after ln0)",
                             caption="One number per channel: this is all block 0 ever sees of the token.",
                             name="embed"), "vec")
    c = ctx.model.config
    st.caption(f"This model's embedding matrix emb is {c.vocab_size:,} × {c.n_embd}: one row of {c.n_embd} "
               f"numbers per token.")
    agreement(v.max_diff)
    table(ctx, {"nearest tokens (cosine of embeddings)": [w for w, _ in v.neighbours],
                "cosine": [c for _, c in v.neighbours]})


@view("layers", "the residual stream through the layers, and what each layer would predict")
def layers_view(ctx: Context) -> None:
    v = lc.layer_lens(ctx.ex, ctx.t)
    show(ctx, vl.layer_lens(v.names, v.norms, v.top, v.top_prob), "lens")
    agreement({"logits from the last stage": v.max_diff_logits})


@view("probabilities", "the next-token distribution of the real model")
def probabilities_view(ctx: Context) -> None:
    v = lc.next_token_view(ctx.ex, ctx.t)
    show(ctx, vp.next_token_bars(v.probs, v.probs, v.labels, v.top, v.entropy_bits, k=10,
                                 title=f"After {ctx.ex.labels[ctx.t]!r}"), "probs")
    vocab = ctx.model.config.vocab_size
    st.caption(f"Entropy here: {v.entropy_bits:.2f} bits. With this model's {vocab:,} tokens it is at most "
               f"log2 {vocab:,} = {math.log2(vocab):.2f} bits (every token equally likely).")
    agreement(v.max_diff)


@view("sampling", "temperature, top-k, top-p on the cached logits, with a fixed seed")
def sampling_view(ctx: Context) -> None:
    c1, c2, c3 = st.columns(3)
    temp = c1.slider("Temperature", 0.0, 2.0, 1.0, 0.1, key=f"{ctx.key}_temp")
    top_k = c2.slider("Top-k (0 = off)", 0, 50, 0, 1, key=f"{ctx.key}_topk")
    top_p = c3.slider("Top-p (1 = off)", 0.05, 1.0, 1.0, 0.05, key=f"{ctx.key}_topp")
    v = lc.sampling_view(ctx.ex, ctx.t, SamplingSettings(temperature=temp, top_k=top_k, top_p=top_p))
    smp = v.sample
    show(ctx, vp.next_token_bars(smp.probs, smp.raw_probs, v.labels, smp.token, smp.entropy_bits, k=10), "sampled")
    st.text(f"Seed {lc.SEED} (the same for everyone) picks:  {v.labels[smp.token]}")
    if v.max_diff:
        agreement(v.max_diff)
    if temp > 0:
        st.markdown("**The same settings in three libraries' orders** (recomputed from the same logits):")
        settings = SamplingSettings(temperature=temp, top_k=top_k, top_p=top_p)
        table(ctx, cl.sampling_orders(ctx.ex.logits[ctx.t], settings))
        if note := cl.blinkdl_note(ctx.ex.logits[ctx.t], settings):
            st.caption(note)


@view("generation_loop", "the generation loop: pseudo-code, the real function and its output")
def generation_loop_view(ctx: Context) -> None:
    st.code(PSEUDO_CODE, language="text")
    settings = SamplingSettings(temperature=0.8, top_k=0, top_p=0.9)
    out = lc.generate(ctx.model, list(ctx.ex.ids), N_GENERATE, settings, lc.SEED)
    st.text("Prompt:     " + explorer_core.decode(ctx.model, list(ctx.ex.ids)))
    st.text(f"It wrote:   {explorer_core.decode(ctx.model, out)}")
    st.caption(f"{N_GENERATE} tokens, temperature 0.8, top-p 0.9, seed {lc.SEED}: everyone gets this text.")


PSEUDO_CODE = """state = empty state                     # fixed size, whatever the length
scores, state = model(prompt tokens, state)
repeat:
    probabilities = softmax(scores / temperature), cut by top-k / top-p
    token = draw one token from probabilities
    print(token)
    scores, state = model([token], state)    # only the new token, and the state"""


@view("qkv_vs_state", "a transformer's growing KV cache against RWKV's fixed state")
def qkv_vs_state_view(ctx: Context) -> None:
    n = ctx.ex.n_tokens
    lengths, curves = explorer_core.kv_curves(ctx.model.config, n)
    show(ctx, states.state_vs_kv_cache(lengths, ctx.ex.state.nbytes(), curves, n), "kv")
    rows = []
    for length in (n, 1_000, 100_000):
        k = lc.kv_vs_state(ctx.model, length)
        rows.append({"tokens read": f"{length:,}", "transformer (same shape): K and V kept": f"{k['kv_numbers']:,}",
                     "RWKV: state kept": f"{k['state_numbers']:,}"})
    table(ctx, rows)


# --- lesson 2: scaling an RNN ---------------------------------------------------------------------

@view("gpt_mode", "training in GPT mode: all tokens of a layer at once, same logits")
def gpt_mode_view(ctx: Context) -> None:
    L = ctx.model.config.n_layer
    plan = make_plan("parallel", n_layer=L, n_tokens=ctx.ex.n_tokens)
    show(ctx, vs.grid_figure([plan], at_frame=plan.n_steps - 1,
                             token_labels=list(ctx.ex.labels)), "parallel")
    st.metric("max |logits (parallel) − logits (one token at a time)|", f"{lc.parallel_vs_rnn(ctx.ex):.1e}")


@view("generation_chain", "generating new tokens: the red line comes back")
def generation_chain_view(ctx: Context) -> None:
    n_prompt = min(6, ctx.ex.n_tokens)
    new = lc.generate(ctx.model, list(ctx.ex.ids[:n_prompt]), 4, SamplingSettings(temperature=0.8), lc.SEED)
    labels = list(ctx.ex.labels[:n_prompt]) + [lc.label(ctx.model, i) for i in new]
    show(ctx, vl.generation_chain(ctx.model.config.n_layer, labels, n_prompt), "chain")


# --- lesson 3: inside the block -----------------------------------------------------------------

def _channels(ctx: Context) -> list[int]:
    return lc.pick_channels(ctx.ex, ctx.layer, ctx.t)


def _where(ctx: Context) -> str:
    return f"layer {ctx.layer}, token {ctx.t} {ctx.ex.labels[ctx.t]!r}"


def _checked_table(ctx: Context, v: Checked, note: str) -> None:
    """A table of formula and engine columns under a one-line note, and how far they are apart."""
    st.caption(note)
    table(ctx, v.table)
    agreement(v.max_diff)


@view("token_shift", "token shift on this token's real numbers")
def token_shift_view(ctx: Context) -> None:
    v = lc.token_shift_view(ctx.ex, ctx.layer, ctx.t, _channels(ctx))
    _checked_table(ctx, v, f"{_where(ctx)}; the {len(v.table['channel'])} channels with the largest |k|.")
    st.markdown("**The learned μ of every layer** (time-mix k, v, r and channel-mix k, r together):")
    st.info(cl.mu_sentence(ctx.model))
    table(ctx, cl.mu_table(ctx.model))


@view("rkv", "receptance, key and value on this token's real numbers")
def rkv_view(ctx: Context) -> None:
    _checked_table(ctx, lc.rkv_view(ctx.ex, ctx.layer, ctx.t, _channels(ctx)), _where(ctx))


def _channel(ctx: Context) -> int:
    return lc.memory_channel(ctx.ex, ctx.layer, ctx.t)


@view("wkv_sum", "the WKV as a weighted average over the past, with decay w and bonus u")
def wkv_sum_view(ctx: Context) -> None:
    c = _channel(ctx)
    v = lc.wkv_sum_view(ctx.ex, ctx.layer, ctx.t, c)
    show(ctx, vl.wkv_shares(v.labels, v.share, channel=c, layer=ctx.layer, w=v.w, u=v.u, wkv=v.wkv_formula),
         "shares")
    c1, c2, c3 = st.columns(3)
    c1.metric("wkv by the sum formula", f"{v.wkv_formula:.6f}")
    c2.metric("wkv recorded by the engine", f"{v.wkv_engine:.6f}")
    c3.metric("half-life of this channel", f"{v.half_life:.1f} tokens")
    st.info(cl.u_sentence(ctx.model) + f" This channel: u = {v.u:.2f}, next to RWKV-4's initial value "
            f"ln 0.3 = {cl.U_INIT:.2f} (± 0.5).")
    table(ctx, {"token": v.labels, "k": v.k, "v": v.v, "exponent": v.exponent, "share": v.share})
    agreement(v.max_diff)


@view("wkv_recurrent", "the recurrent form: two running sums a and b")
def wkv_recurrent_view(ctx: Context) -> None:
    c = _channel(ctx)
    v = lc.wkv_recurrent_view(ctx.ex, ctx.layer, ctx.t, c)
    show(ctx, vl.running_sums(v.table["token"], v.table["a (formula)"], v.table["b (formula)"], c), "sums")
    table(ctx, v.table)
    agreement(v.max_diff)


@view("wkv_overflow", "the naive form's overflow, on this model's largest key and with every k shifted")
def wkv_overflow_view(ctx: Context) -> None:
    c = _channel(ctx)
    v = lc.wkv_stable_view(ctx.ex, ctx.layer, ctx.t, c)
    st.info(cl.largest_key_sentence(ctx.ex))
    show(ctx, vl.exponent_bars(ctx.ex.labels[: ctx.t + 1], v.shifted_exponents, lc.OVERFLOW_UP), "exps")
    st.markdown(f"**Every k shifted, channel {c}, float32** (the true wkv does not change: the shift cancels):")
    table(ctx, v.overflow)
    agreement({"stable wkv, k unshifted": v.max_diff["wkv"]})


@view("wkv_stable", "the stable form: aa, bb, pp after each token, animated, against the engine")
def wkv_stable_view(ctx: Context) -> None:
    c = _channel(ctx)
    v = lc.wkv_stable_view(ctx.ex, ctx.layer, ctx.t, c)
    show(ctx, vl.stable_state_frames(v.table["token"], v.table["aa (formula)"], v.table["bb (formula)"],
                                     v.table["pp (formula)"], c), "frames")
    st.markdown("**The stable state after each token, formula and engine:**")
    table(ctx, v.table)
    agreement(v.max_diff)


@view("wkv_parallel", "the engine's blocked parallel WKV beside the recurrence, and what a true −∞ does")
def wkv_parallel_view(ctx: Context) -> None:
    c = _channel(ctx)
    block = st.select_slider("Tokens per block", (1, 2, 3, 4, 5, 6, 8), value=fast.WKV_BLOCK,
                             key=f"{ctx.key}_block")
    v = cl.wkv_blocked_view(ctx.ex, ctx.layer, c, block)
    show(ctx, vl.blocked_wkv(v.table["token"], v.table["wkv (recurrence)"], v.table["wkv (blocked)"],
                             v.table["block"], channel=c, block=v.block), "blocked")
    st.caption(f"Layer {ctx.layer}, channel {c}: {ctx.ex.n_tokens} tokens in {v.n_blocks} blocks "
               f"(the engine uses {fast.WKV_BLOCK}).")
    table(ctx, v.table)
    agreement(v.max_diff)
    st.markdown("**Starting pp at a true −∞:**")
    table(ctx, cl.neg_inf_rows(ctx.ex, ctx.layer))
    st.caption(f"This prompt's k and v repeated to more than {fast.CARRY_GROUP} blocks of {fast.WKV_BLOCK} tokens: "
               f"from {fast.CARRY_GROUP + 1} blocks on, the carry groups them by {fast.CARRY_GROUP}.")


@view("time_mix_out", "the time-mix output W_o (r ⊙ wkv) and the residual")
def time_mix_out_view(ctx: Context) -> None:
    _checked_table(ctx, lc.time_mix_out_view(ctx.ex, ctx.layer, ctx.t, _channels(ctx)), _where(ctx))


@view("channel_mix", "channel-mix: squared ReLU and the receptance gate")
def channel_mix_view(ctx: Context) -> None:
    v = lc.channel_mix_view(ctx.ex, ctx.layer, ctx.t, _channels(ctx))
    show(ctx, vl.squared_relu_figure(v.pre.tolist(), v.k.tolist()), "relu")
    c = ctx.model.config
    st.caption(f"This model: k' has {c.n_ffn:,} channels, x has {c.n_embd:,} ({c.n_ffn / c.n_embd:g} times as many).")
    st.metric("hidden channels that are exactly 0 after the squared ReLU", f"{v.zero_share:.0%}")
    table(ctx, v.table)
    agreement(v.max_diff)


@view("block", "the whole block, with every sum checked")
def block_view(ctx: Context) -> None:
    show(ctx, architecture.rwkv_block(), "block")
    v = lc.block_view(ctx.ex, ctx.layer, ctx.t)
    table(ctx, {"vector": list(v.norms), "‖·‖ at this token": list(v.norms.values())})
    agreement(v.max_diff)


@view("state", "the state the token leaves behind")
def state_view(ctx: Context) -> None:
    t = ctx.ex.n_tokens - 1   # the state the whole prompt leaves, which the engine also returns
    v = lc.state_view(ctx.ex, ctx.layer, t)
    show(ctx, vl.state_fields({n: f.tolist() for n, f in v.fields.items()}, layer=ctx.layer,
                              token=ctx.ex.labels[t]), "state")
    pp = v.fields["pp"]
    c1, c2, c3 = st.columns(3)
    c1.metric("numbers in this layer's state", f"{v.numbers:,}")
    c2.metric("whole model's state", f"{ctx.ex.state.nbytes() / 1024:.0f} KiB")
    c3.metric("pp, range over channels", f"{float(pp.min()):.2f} … {float(pp.max()):.2f}")
    agreement(v.max_diff)
    nxt = lc.most_likely(ctx.ex, t)
    diff = lc.continue_from_state(ctx.ex, nxt)
    st.metric(f"Next token {lc.label(ctx.model, nxt)!r} from this state vs re-reading all "
              f"{ctx.ex.n_tokens + 1} tokens: max |logit difference|", f"{diff:.1e}")


@view("quiz", "a short question with instant feedback")
def quiz_view(ctx: Context) -> None:
    quiz(ctx)       # app/lessons/layout.py: live fields, and each option's own explanation

