"""Explorer: step through generation one token at a time and look inside the model.

The session (tokens, recorded intermediates, state, cached logits) is an ExplorerSession in
st.session_state["explorer"]; the sampling controls only re-sample its cached logits.
Model and user text is shown only through components that escape it (st.text, st.code,
st.dataframe, plotly labels escaped in visuals/)."""
import streamlit as st

from app import compare_view, explorer_core as ec
from app.resources import current_model, current_model_key, md_escape
from app.widgets import show
from rwkv_core import RWKV
from rwkv_core.protocol import Model
from rwkv_core.sampling import SamplingSettings
from visuals import attention, probabilities

SESSION = "explorer"
SECTIONS = ["Embeddings", "State per layer", "Memory half-life", "WKV as attention", "RNN = parallel",
            "State surgery"]


def default_prompt(model: Model) -> str:
    return "To be, or not to be" if model.tokenizer is not None else "0, 1, 2"


def new_session(model: RWKV, key: str, text: str) -> ec.ExplorerSession:
    s = ec.ExplorerSession(model, key)
    s.start(ec.encode_prompt(model, text))
    st.session_state[SESSION] = s
    return s


def settings_from_state(vocab: int) -> SamplingSettings:
    ss = st.session_state
    return SamplingSettings(temperature=float(ss.get("ex_temperature", 1.0)),
                            top_k=min(int(ss.get("ex_top_k", 0)), vocab), top_p=float(ss.get("ex_top_p", 1.0)))


model, key = current_model(), current_model_key()
st.title("Explorer")
st.caption("Type a prompt, then add one token at a time. Every chart below is the model's own numbers "
           "for these tokens.")

session = st.session_state.get(SESSION)
if session is None or session.model_key != key:
    session = new_session(model, key, default_prompt(model))
    st.session_state["ex_prompt"] = default_prompt(model)

# --- prompt ------------------------------------------------------------------------------------
text = st.text_area(f"Prompt (up to {ec.MAX_PROMPT_CHARS:,} characters, {ec.MAX_TOKENS} tokens)"
                    + ("" if model.tokenizer else ": this model has no tokenizer, type token ids"),
                    key="ex_prompt", height=90)
if st.button("Read the prompt", type="primary", key="ex_read"):
    try:
        session = new_session(model, key, text)
    except ec.PromptError as e:
        st.error(md_escape(e))

# --- stepping ----------------------------------------------------------------------------------
settings, seed = settings_from_state(model.config.vocab_size), int(st.session_state.get("ex_seed", 0))
c1, c2, c3, c4, c5 = st.columns([1, 1, 1, 1, 1.2])
n_run = c5.number_input("N", min_value=1, max_value=64, value=8, key="ex_n", label_visibility="collapsed")
try:
    if c1.button("Step", key="ex_step", help="add the marked token and run the model on it"):
        session.step(session.next_sample(settings, seed).token)
    if c2.button(f"Run {n_run}", key="ex_run"):
        for _ in range(int(n_run)):
            session.step(session.next_sample(settings, seed).token)
    if c3.button("Undo", key="ex_undo") and not session.undo():
        st.info("Nothing to undo: only generated tokens can be taken back.")
    if c4.button("Reset", key="ex_reset", help="back to the prompt alone"):
        session.reset()
except ec.PromptError as e:
    st.warning(md_escape(e))

show(ec.fig_tokens(session), "ex_tokens")
st.caption("Text so far")
st.code(ec.decode(model, session.tokens), language=None, wrap_lines=True)

# --- sampling ----------------------------------------------------------------------------------
left, right = st.columns([1, 2])
with left:
    st.subheader("Sampling")
    st.slider("Temperature (0 = greedy)", 0.0, 2.0, 1.0, 0.05, key="ex_temperature")
    st.number_input("Top-k (0 = off)", min_value=0, max_value=model.config.vocab_size, value=0, key="ex_top_k")
    st.slider("Top-p (1 = off)", 0.05, 1.0, 1.0, 0.05, key="ex_top_p")
    st.number_input("Seed", min_value=0, max_value=2 ** 31 - 1, value=0, key="ex_seed")
    st.caption(f"Model runs in this session: {session.forward_calls}. Changing these controls does not "
               "add any: they re-sample the cached logits.")
settings, seed = settings_from_state(model.config.vocab_size), int(st.session_state["ex_seed"])
with right:
    fig, smp = ec.fig_next_token(session, settings, seed)
    show(fig, "ex_next")
    greedy = int(session.logits.argmax())
    # st.dataframe shows cells as literal text (st.metric would read the token as Markdown)
    st.dataframe({"": ["greedy (temperature 0)", f"sampled (seed {seed})"],
                  "token": [ec.token_label(model, greedy), ec.token_label(model, smp.token)],
                  "id": [greedy, smp.token],
                  "probability": [f"{float(smp.raw_probs[greedy]):.1%}", f"{float(smp.raw_probs[smp.token]):.1%}"]},
                 hide_index=True)

with st.expander("Greedy vs sampled, side by side"):
    n_more = st.slider("Tokens to continue", 4, 40, 16, key="ex_both_n")
    if st.button("Continue both ways", key="ex_both"):
        st.session_state["ex_both_result"] = ((key, tuple(session.tokens)),
                                              *ec.continue_both(session, n_more, settings, seed))
    both = st.session_state.get("ex_both_result")
    if both and both[0] == (key, tuple(session.tokens)):
        b1, b2 = st.columns(2)
        b1.markdown("**Greedy** (always the most likely)")
        b1.code(ec.decode(model, both[1]), language=None, wrap_lines=True)
        b2.markdown(f"**Sampled** (temperature {settings.temperature}, top-k {settings.top_k}, "
                    f"top-p {settings.top_p}, seed {seed})")
        b2.code(ec.decode(model, both[2]), language=None, wrap_lines=True)

# --- looking inside ------------------------------------------------------------------------------
st.divider()
section = st.radio("Look inside", SECTIONS, horizontal=True, key="ex_section")
L = model.config.n_layer

if section == "Embeddings":
    dims = st.radio("Projection", [2, 3], format_func=lambda d: f"{d}D", horizontal=True, key="ex_dims")
    show(ec.fig_embeddings(session, dims), "ex_emb")
    neighbours = ec.neighbours(model, session.tokens, k=5)
    st.dataframe({"token": [ec.token_label(model, i) for i in neighbours],
                  "id": list(neighbours),
                  "nearest neighbours (cosine)": [", ".join(f"{ec.token_label(model, j)} {s:.2f}" for j, s in nb)
                                                  for nb in neighbours.values()]}, hide_index=True)
    show(ec.fig_residual_path(session), "ex_resid")

elif section == "State per layer":
    layer = st.select_slider("Layer", options=list(range(L)), key="ex_layer")
    show(ec.fig_state_heatmaps(session, layer), "ex_heat")
    show(ec.fig_state_norms(session), "ex_norms")
    st.metric("Whole state (all layers)", f"{session.state.nbytes():,} bytes",
              help="5 vectors x layers x channels x 4 bytes, at any length")
    show(ec.fig_state_vs_kv(session), "ex_kv")

elif section == "Memory half-life":
    show(ec.fig_half_lives(model), "ex_mem")
    st.caption("Half-life in tokens = ln 2 / e^time_decay: after that many tokens a channel "
               "gives an old token half the weight it had.")

elif section == "WKV as attention":
    choice = st.selectbox("Channel", ["mean over channels"] + list(range(model.config.n_embd)), key="ex_channel")
    channel = None if choice == "mean over channels" else int(choice)
    show(ec.fig_implicit_attention(session, channel), "ex_att")
    compare_view.gpt_beside_wkv(model, session.tokens)   # the GPT's QKV on the same text, beside the WKV

elif section == "RNN = parallel":
    cache = st.session_state.get("ex_equiv")
    if cache is None or cache[0] != (key, tuple(session.tokens)):
        cache = ((key, tuple(session.tokens)), ec.rnn_vs_parallel(session))
        st.session_state["ex_equiv"] = cache
    eq = cache[1]
    st.metric("max |logits rnn - logits parallel|", f"{eq.logits:.2e}")
    show(attention.equivalence_figure(eq.per_layer, eq.logits), "ex_equiv_fig")

elif section == "State surgery":
    st.caption("Edit one layer of the state the last token reads, run that token again, and compare "
               "what comes next.")
    s1, s2, s3 = st.columns(3)
    layer = s1.selectbox("Layer", list(range(L)), key="ex_surg_layer")
    op = s2.radio("Operation", ["zero", "scale", "copy"], key="ex_surg_op",
                  captions=["forget: as before any token", "the past's weight in WKV x factor",
                            "another prompt's state"])
    factor = s3.slider("Factor", 0.0, 4.0, 0.25, 0.05, key="ex_surg_factor", disabled=op != "scale")
    donor_text = st.text_input("Other prompt (for copy)", "ROMEO:" if model.tokenizer else "5, 6",
                               key="ex_surg_donor", disabled=op != "copy")
    if st.button("Apply and compare", key="ex_surg_go"):
        try:
            donor = ec.encode_prompt(model, donor_text) if op == "copy" else None
            st.session_state["ex_surg_result"] = ((key, tuple(session.tokens)), layer, op,
                                                  ec.surgery(session, layer, op, factor, donor))
        except (ec.PromptError, ValueError) as e:
            st.error(md_escape(e))
    res = st.session_state.get("ex_surg_result")
    if res and res[0] == (key, tuple(session.tokens)):
        r = res[3]
        ids = probabilities.top_tokens(r.probs_before, 10) + probabilities.top_tokens(r.probs_after, 10)
        labels = {i: ec.token_label(model, i) for i in ids}
        show(probabilities.compare_bars(labels, r.probs_before, r.probs_after, ("state as it was", "edited state"),
                                           title=f"Layer {res[1]}, {res[2]}: next-token probabilities"), "ex_surg_fig")
        t1, t2 = st.columns(2)
        t1.markdown("**Continues (state as it was)**")
        t1.code(ec.decode(model, r.text_before), language=None, wrap_lines=True)
        t2.markdown("**Continues (edited state)**")
        t2.code(ec.decode(model, r.text_after), language=None, wrap_lines=True)
        st.caption(f"Check: re-running the last token from the unedited state reproduces the session's "
                   f"logits to {r.check:.1e}.")
