"""What each lesson step shows: one renderer per figure name of app/lessons.py FIGURES.

An ordinary module (imported once by the entry file, not first in a page script). Every number
comes from app/lesson_core.py, which computes it with the lessons' formulas next to the engine's
recorded value; the renderers only lay them out. Model text reaches the screen only through
st.table / st.dataframe / st.text / st.code and plotly labels escaped in visuals/.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import streamlit as st
import torch

from app import explorer_core, lesson_core as lc, scheduling_core as sc
from app.lessons import Step, source_of
from rwkv_core.sampling import SamplingSettings, probabilities
from rwkv_core.schedule import expected_steps, plan as make_plan
from rwkv_core import analysis, reference as fm
from visuals import architecture, lessons as vl, probabilities as vp, states, tokens
from visuals import frames as vf, schedule as vs, timing as vt
from visuals.theme import caption

SCHEDULE_TOKENS = 16       # tokens of the example used in the scheduling figures
CHUNKS = (1, 2, 4, 8, 16)
N_GENERATE = 12            # tokens the generation-loop step writes

# Large type and no sidebar for a projector. Static CSS only: no user or model text in here.
CLASSROOM_CSS = """<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stExpandSidebarButton"],
[data-testid="stSidebarNav"], header[data-testid="stHeader"] { display: none !important; }
.block-container, [data-testid="stMainBlockContainer"] { max-width: 96vw; padding-top: 1rem; }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li {
  font-size: 1.7rem !important; line-height: 1.45; }
[data-testid="stMarkdownContainer"] .katex-display { font-size: 1.7rem; }
[data-testid="stMarkdownContainer"] .katex { font-size: 1.35em; }
h1 { font-size: 3.2rem !important; } h2 { font-size: 2.5rem !important; } h3 { font-size: 2.1rem !important; }
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p { font-size: 1.35rem !important; }
[data-testid="stTable"] td, [data-testid="stTable"] th { font-size: 1.35rem !important; }
[data-testid="stMetricValue"] { font-size: 2.6rem !important; }
[data-testid="stCode"] code, [data-testid="stCode"] pre { font-size: 1.2rem !important; }
[data-testid="stMetricLabel"] p { font-size: 1.3rem !important; }
[data-testid="stWidgetLabel"] p, [data-testid="stRadio"] label p, .stButton button p { font-size: 1.45rem !important; }
</style>"""


@dataclass(frozen=True)
class Context:
    """What a renderer needs: the model, its recorded example, the chosen layer and token."""
    model: object
    model_key: str
    ex: lc.Example
    layer: int
    t: int
    classroom: bool
    step: Step
    key: str               # a widget-key prefix unique to the step


# --- shared layout helpers --------------------------------------------------------------------------

def show(ctx: Context, fig, key: str) -> None:
    st.plotly_chart(vl.presenter(fig) if ctx.classroom else fig, theme=None, key=f"{ctx.key}_{key}")
    st.caption(caption(fig))


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def table(ctx: Context, data: dict | list[dict]) -> None:
    """Columns {name: values} or rows [{name: value}], numbers to 6 significant digits.
    Classroom mode uses st.table (plain HTML, scaled by the large-type CSS)."""
    if isinstance(data, list):
        data = {k: [r[k] for r in data] for k in data[0]}
    shown = {k: [_fmt(v) for v in vals] for k, vals in data.items()}
    if ctx.classroom:
        st.table(shown)
    else:
        st.dataframe(shown, hide_index=True)


def agreement(diffs: dict[str, float]) -> None:
    """One line saying how far the lesson's formulas are from the engine's recorded values."""
    worst = max(diffs.values())
    parts = ", ".join(f"{n} {d:.1e}" for n, d in diffs.items())
    text = f"Formula = engine: largest |difference| {parts} (float32 rounding)."
    (st.success if worst < 1e-3 else st.error)(text)


def _labels(ex: lc.Example, *dists: torch.Tensor, k: int = 12) -> dict[int, str]:
    """Display text for the k most likely tokens of each distribution (all a bar chart shows)."""
    ids = {int(i) for p in dists for i in torch.topk(p, min(k, len(p))).indices}
    return {i: lc.label(ex.model, i) for i in ids}


# --- lesson 1: how a text model works ----------------------------------------------------------------

def black_box(ctx: Context) -> None:
    ex = ctx.ex
    nxt = int(ex.logits[ctx.t].argmax())
    # three layer boxes stand for all of them: the picture stays readable on a projector
    show(ctx, architecture.generic_model(tokens=ex.labels[max(0, ctx.t - 3): ctx.t + 1],
                                         n_layer=min(3, ctx.model.config.n_layer), next_token=lc.label(ctx.model, nxt)),
         "generic")
    st.text("Text in:  " + explorer_core.decode(ctx.model, list(ex.ids[: ctx.t + 1])))
    st.text("Most likely next token:  " + lc.label(ctx.model, nxt))


def tokens_view(ctx: Context) -> None:
    ex = ctx.ex
    show(ctx, tokens.token_strip(list(ex.labels), list(ex.ids), ex.n_tokens), "strip")
    c1, c2 = st.columns(2)
    c1.metric("tokens in this prompt", ex.n_tokens)
    c2.metric("vocabulary size", f"{ctx.model.config.vocab_size:,}")


def embedding_view(ctx: Context) -> None:
    v = lc.embedding_view(ctx.ex, ctx.t)
    word = ctx.ex.labels[ctx.t]
    show(ctx, vl.vector_bars(v["normed"].tolist(), title=f"The vector for {word!r} (after ln0)",
                             caption="One number per channel: this is all block 0 ever sees of the token.",
                             name="embed"), "vec")
    agreement({"embed": v["max_diff"]})
    nb = analysis.nearest_neighbours(ctx.model.weights.emb, [ctx.ex.ids[ctx.t]], k=8)[ctx.ex.ids[ctx.t]]
    table(ctx, {"nearest tokens (cosine of embeddings)": [lc.label(ctx.model, j) for j, _ in nb],
                "cosine": [float(s) for _, s in nb]})


def layers_view(ctx: Context) -> None:
    v = lc.layer_lens(ctx.ex, ctx.t)
    show(ctx, vl.layer_lens(v["names"], v["norms"], v["top"], v["top_prob"]), "lens")
    agreement({"logits from the last stage": v["max_diff_logits"]})


def probabilities_view(ctx: Context) -> None:
    logits = ctx.ex.logits[ctx.t]
    p = fm.softmax_with_temperature(logits, 1.0)
    top = int(p.argmax())
    fig = vp.next_token_bars(p, p, _labels(ctx.ex, p), top, float(-(p[p > 0] * torch.log2(p[p > 0])).sum()), k=10,
                             title=f"After {ctx.ex.labels[ctx.t]!r}")
    show(ctx, fig, "probs")
    agreement({"softmax": lc.max_diff(p, probabilities(logits, SamplingSettings()))})


def sampling_view(ctx: Context) -> None:
    c1, c2, c3 = st.columns(3)
    temp = c1.slider("Temperature", 0.0, 2.0, 1.0, 0.1, key=f"{ctx.key}_temp")
    top_k = c2.slider("Top-k (0 = off)", 0, 50, 0, 1, key=f"{ctx.key}_topk")
    top_p = c3.slider("Top-p (1 = off)", 0.05, 1.0, 1.0, 0.05, key=f"{ctx.key}_topp")
    settings = SamplingSettings(temperature=temp, top_k=top_k, top_p=top_p)
    smp = lc.next_token(ctx.ex, ctx.t, settings, lc.SEED)
    labels = {**_labels(ctx.ex, smp.probs, smp.raw_probs), smp.token: lc.label(ctx.model, smp.token)}
    show(ctx, vp.next_token_bars(smp.probs, smp.raw_probs, labels, smp.token, smp.entropy_bits, k=10), "sampled")
    st.text(f"Seed {lc.SEED} (the same for everyone) picks:  {lc.label(ctx.model, smp.token)}")
    if temp > 0:
        p = fm.softmax_with_temperature(ctx.ex.logits[ctx.t], temp)
        mine = fm.renormalise(fm.top_p_filter(fm.top_k_filter(p, top_k), top_p))
        agreement({"filtered probabilities": lc.max_diff(mine, smp.probs)})


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

def _schedule_tokens(ctx: Context) -> list[int]:
    return sc.grid_tokens(list(ctx.ex.ids), SCHEDULE_TOKENS)


def red_line_view(ctx: Context) -> None:
    show(ctx, architecture.classic_rnn(n_layer=3, n_tokens=4), "rnn")
    L, T = ctx.model.config.n_layer, SCHEDULE_TOKENS
    st.metric(f"This model ({L} layers) on {T} tokens, as a classic RNN",
              f"{expected_steps('rnn', L, T)} steps, one after another")


def cascade_view(ctx: Context) -> None:
    show(ctx, architecture.remove_red_line(n_layer=3, n_tokens=4), "cascade")
    L, T = ctx.model.config.n_layer, SCHEDULE_TOKENS
    c1, c2 = st.columns(2)
    c1.metric("classic RNN", f"{expected_steps('rnn', L, T)} steps")
    c2.metric("cascade (one token per cell)", f"{expected_steps('cascade', L, T, 1)} steps")


def schedule_race_view(ctx: Context) -> None:
    ids = _schedule_tokens(ctx)
    cache_key = f"{ctx.key}_race"
    runs = st.session_state.get(cache_key)
    if st.button("Measure again", key=f"{ctx.key}_remeasure") or runs is None or runs[0] != ctx.model_key:
        runs = (ctx.model_key, sc.run_schedules(ctx.model, ids, chunk=4))
        st.session_state[cache_key] = runs
    runs = runs[1]
    device = runs[0].timings.device
    frames = vf.race_frames([r.timings.step_seconds for r in runs])
    show(ctx, vs.grid_figure([r.plan for r in runs], frames=frames, device=device,
                             token_labels=[lc.label(ctx.model, i) for i in ids]), "race")
    show(ctx, vt.totals_figure([{"label": r.label, "seconds": r.timings.total_seconds, "n_tokens": len(ids)}
                                for r in runs], device), "totals")
    table(ctx, [{"schedule": r.label, "steps": r.plan.n_steps, "ms": r.timings.total_seconds * 1000,
                 "max |logits − rnn logits|": r.max_diff_vs_rnn} for r in runs])


def chunking_view(ctx: Context) -> None:
    chunk = st.select_slider("Tokens per chunk", CHUNKS, value=4, key=f"{ctx.key}_chunk")
    L, T = ctx.model.config.n_layer, SCHEDULE_TOKENS
    plan = make_plan("cascade", n_layer=L, n_tokens=T, chunk=chunk)
    show(ctx, vs.grid_figure([plan], at_frame=plan.n_steps - 1), "grid")
    counts = sc.step_counts(L, T, chunk)
    c1, c2, c3 = st.columns(3)
    c1.metric("rnn", f"{counts['rnn']} steps")
    c2.metric(f"cascade, chunk {chunk}", f"{counts['cascade']} steps")
    c3.metric("parallel", f"{counts['parallel']} steps")


def gpt_mode_view(ctx: Context) -> None:
    L = ctx.model.config.n_layer
    plan = make_plan("parallel", n_layer=L, n_tokens=ctx.ex.n_tokens)
    show(ctx, vs.grid_figure([plan], at_frame=plan.n_steps - 1,
                             token_labels=list(ctx.ex.labels)), "parallel")
    rnn_logits, _ = ctx.model.forward(list(ctx.ex.ids), mode="rnn")
    st.metric("max |logits (parallel) − logits (one token at a time)|", f"{lc.max_diff(ctx.ex.logits, rnn_logits):.1e}")


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


def token_shift_view(ctx: Context) -> None:
    v = lc.token_shift_view(ctx.ex, ctx.layer, ctx.t, _channels(ctx))
    st.caption(f"{_where(ctx)}; the {len(_channels(ctx))} channels with the largest |k|.")
    table(ctx, v["table"])
    agreement(v["max_diff"])


def rkv_view(ctx: Context) -> None:
    v = lc.rkv_view(ctx.ex, ctx.layer, ctx.t, _channels(ctx))
    st.caption(_where(ctx))
    table(ctx, v["table"])
    agreement(v["max_diff"])


def _channel(ctx: Context) -> int:
    return lc.memory_channel(ctx.ex, ctx.layer, ctx.t)


def wkv_sum_view(ctx: Context) -> None:
    c = _channel(ctx)
    v = lc.wkv_sum_view(ctx.ex, ctx.layer, ctx.t, c)
    show(ctx, vl.wkv_shares(v["labels"], v["share"], channel=c, layer=ctx.layer, w=v["w"], u=v["u"],
                            wkv=v["wkv_formula"]), "shares")
    c1, c2, c3 = st.columns(3)
    c1.metric("wkv by the sum formula", f"{v['wkv_formula']:.6f}")
    c2.metric("wkv recorded by the engine", f"{v['wkv_engine']:.6f}")
    c3.metric("half-life of this channel", f"{v['half_life']:.1f} tokens")
    table(ctx, {"token": v["labels"], "k": v["k"], "v": v["v"], "exponent": v["exponent"], "share": v["share"]})
    agreement(v["max_diff"])


def wkv_recurrent_view(ctx: Context) -> None:
    c = _channel(ctx)
    v = lc.wkv_recurrent_view(ctx.ex, ctx.layer, ctx.t, c)
    show(ctx, vl.running_sums(v["table"]["token"], v["table"]["a (formula)"], v["table"]["b (formula)"], c), "sums")
    table(ctx, v["table"])
    agreement(v["max_diff"])


def wkv_stable_view(ctx: Context) -> None:
    c = _channel(ctx)
    v = lc.wkv_stable_view(ctx.ex, ctx.layer, ctx.t, c)
    shift = lc.OVERFLOW_UP
    k = ctx.ex.rec[f"blocks.{ctx.layer}.att.k"][: ctx.t + 1] + shift
    att = ctx.ex.block(ctx.layer).att
    ex_shift = fm.wkv_exponents(fm.decay(att.time_decay), att.time_first, k)[:, c].tolist()
    show(ctx, vl.exponent_bars(ctx.ex.labels[: ctx.t + 1], ex_shift, shift), "exps")
    st.markdown(f"**Every k shifted, channel {c}, float32** (the true wkv does not change: the shift cancels):")
    table(ctx, v["overflow"])
    st.markdown("**The stable state after each token, formula and engine:**")
    table(ctx, v["table"])
    agreement(v["max_diff"])


def time_mix_out_view(ctx: Context) -> None:
    v = lc.time_mix_out_view(ctx.ex, ctx.layer, ctx.t, _channels(ctx))
    st.caption(_where(ctx))
    table(ctx, v["table"])
    agreement(v["max_diff"])


def channel_mix_view(ctx: Context) -> None:
    v = lc.channel_mix_view(ctx.ex, ctx.layer, ctx.t, _channels(ctx))
    show(ctx, vl.squared_relu_figure(v["pre"].tolist(), v["k"].tolist()), "relu")
    st.metric("hidden channels that are exactly 0 after the squared ReLU", f"{v['zero_share']:.0%}")
    table(ctx, v["table"])
    agreement(v["max_diff"])


def block_view(ctx: Context) -> None:
    show(ctx, architecture.rwkv_block(), "block")
    v = lc.block_view(ctx.ex, ctx.layer, ctx.t)
    table(ctx, {"vector": list(v["norms"]), "‖·‖ at this token": list(v["norms"].values())})
    agreement(v["max_diff"])


def state_view(ctx: Context) -> None:
    t = ctx.ex.n_tokens - 1   # the state the whole prompt leaves, which the engine also returns
    v = lc.state_view(ctx.ex, ctx.layer, t)
    show(ctx, vl.state_fields({n: f.tolist() for n, f in v["fields"].items()}, layer=ctx.layer,
                              token=ctx.ex.labels[t]), "state")
    pp = v["fields"]["pp"]
    c1, c2, c3 = st.columns(3)
    c1.metric("numbers in this layer's state", f"{v['numbers']:,}")
    c2.metric("whole model's state", f"{ctx.ex.state.nbytes() / 1024:.0f} KiB")
    c3.metric("pp, range over channels", f"{float(pp.min()):.2f} … {float(pp.max()):.2f}")
    agreement(v["max_diff"])
    nxt = int(ctx.ex.logits[t].argmax())
    diff = lc.continue_from_state(ctx.ex, nxt)
    st.metric(f"Next token {lc.label(ctx.model, nxt)!r} from this state vs re-reading all "
              f"{ctx.ex.n_tokens + 1} tokens: max |logit difference|", f"{diff:.1e}")


def quiz_view(ctx: Context) -> None:
    q = ctx.step.quiz
    choice = st.radio(q.question, q.options, index=None, key=f"{ctx.key}_quiz")
    verdict = q.check(choice)
    if verdict is True:
        st.success("Right. " + q.explain)
    elif verdict is False:
        st.error("Not quite: think again and try another answer.")


VIEWS: dict[str, Callable[[Context], None]] = {
    "black_box": black_box, "tokens": tokens_view, "embedding": embedding_view, "layers": layers_view,
    "probabilities": probabilities_view, "sampling": sampling_view, "generation_loop": generation_loop_view,
    "qkv_vs_state": qkv_vs_state_view, "red_line": red_line_view, "cascade": cascade_view,
    "schedule_race": schedule_race_view, "chunking": chunking_view, "gpt_mode": gpt_mode_view,
    "generation_chain": generation_chain_view, "token_shift": token_shift_view, "rkv": rkv_view,
    "wkv_sum": wkv_sum_view, "wkv_recurrent": wkv_recurrent_view, "wkv_stable": wkv_stable_view,
    "time_mix_out": time_mix_out_view, "channel_mix": channel_mix_view, "block": block_view,
    "state": state_view, "quiz": quiz_view,
}


# --- around every step --------------------------------------------------------------------------

def focus_table(ctx: Context) -> None:
    """The recorder points the step names, at this token: size and first channels."""
    names = [n for n in ctx.step.focus_names(ctx.layer) if n in ctx.ex.rec]
    if not names:
        return
    with st.expander(f"Recorder points in this step ({len(names)})"):
        rows = []
        for n in names:
            x = ctx.ex.rec[n][ctx.t]
            rows.append({"point": n, "shape": str(tuple(ctx.ex.rec[n].shape)), "‖x_t‖": float(x.norm()),
                         "first values": ", ".join(f"{float(a):.3f}" for a in x[:5])})
        table(ctx, rows)


def sources(ctx: Context) -> None:
    for dotted in ctx.step.source:
        with st.expander(f"The real code: {dotted}", expanded=ctx.classroom):
            st.code(source_of(dotted), language="python")
