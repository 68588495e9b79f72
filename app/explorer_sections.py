"""The Explorer's "Look inside" sections: SECTIONS, the one registry of them, in the order the page
offers them (the first is open by default). Each has a short name (scripts and screenshot files
use it), the label the page's radio shows and a deep link carries (?ex_section=State+per+layer),
one line on what it shows, the start of a chart title it draws as soon as it opens (the tests look
for it; "" when it draws only on a click), and its renderer, registered with @section.

The page (app/app_pages/explorer.py) reads the registry for its radio and calls the chosen
renderer inside its "Look inside" fragment; the tests (tests/test_app_explorer.py, the browser
tests) and the scripts (scripts/screenshots.py, scripts/bench_clicks.py) read it for the labels.
A new section: a renderer here with @section; the tests then open it and look for its chart.

An ordinary module, not a page script (heavy imports belong in ordinary modules). A renderer takes
the ExplorerSession and draws with Streamlit; model text reaches the screen only through
components that escape it (widgets.table, st.code, plotly labels escaped in visuals/).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import streamlit as st

from app import compare_view, formats
from app import explorer_core as ec
from app.resources import md_escape
from app.widgets import show, table
from visuals import attention, probabilities

STATE_WINDOWS = [8, 16, 32, 64, "all"]
# A section's settings are kept for the session and in the address (?ex_layer=3&ex_channel=17), so a link
# or a reload opens the section as it was; a bound widget replaces the address instead of adding to
# the history (as the page's own settings do)
KEEP = {"persist_state": "session", "bind": "query-params"}   # the state heatmaps' tokens: 8 keeps a Step with the section open light


@dataclass(frozen=True)
class Section:
    name: str                                  # short, for scripts and file names: "state"
    label: str                                 # on the radio and in a deep link: "State per layer"
    shows: str                                 # one line: what the section shows
    chart: str                                 # the start of a chart title drawn on opening ("" if none)
    render: Callable[[ec.ExplorerSession], None]


SECTIONS: dict[str, Section] = {}             # name → section, in the radio's order


def section(name: str, label: str, shows: str, chart: str = ""):
    """Register the decorated renderer as the section `name` (each name and label once)."""
    def register(render: Callable[[ec.ExplorerSession], None]) -> Callable[[ec.ExplorerSession], None]:
        if name in SECTIONS or label in labels():
            raise ValueError(f"the Explorer section {name!r} ({label!r}) is registered twice")
        SECTIONS[name] = Section(name, label, shows, chart, render)
        return render
    return register


def labels() -> list[str]:
    """The radio's options, in order."""
    return [s.label for s in SECTIONS.values()]


def by_label(label: str) -> Section:
    return next(s for s in SECTIONS.values() if s.label == label)


# --- the sections -------------------------------------------------------------------------------

@section("embeddings", "Embeddings", "the prompt's tokens on a map of the whole vocabulary's embeddings (2D or "
         "3D) with their nearest neighbours, and the current token's path through the residual stream",
         chart="Embedding matrix")
def embeddings(session: ec.ExplorerSession) -> None:
    """The map and its table are the prompt's, the same on every Step (a Step redraws only the
    current token's path); figures are shared across sessions by what they show (widgets.show)."""
    model, key = session.model, session.model_key
    prompt = tuple(session.tokens[:session.n_prompt])
    dims = st.radio("Projection", [2, 3], format_func=lambda d: f"{d}D", horizontal=True, key="ex_dims", **KEEP)
    show(lambda: ec.fig_embeddings(session, dims), "ex_emb", cache=("embeddings", key, prompt, dims))
    neighbours = ec.neighbours(model, list(prompt), k=5)
    table({"prompt token": [ec.token_label(model, i) for i in neighbours],
           "id": list(neighbours),
           "nearest neighbours (cosine)": [", ".join(f"{ec.token_label(model, j)} {s:.2f}" for j, s in nb)
                                           for nb in neighbours.values()]})
    show(lambda: ec.fig_residual_path(session), "ex_resid", cache=("residual", key, tuple(session.tokens)))


@section("state", "State per layer", "a layer's five state vectors after each of the last tokens, their sizes, "
         "and the whole state's memory beside a transformer's KV cache", chart="Layer 0: the state")
def state_per_layer(session: ec.ExplorerSession) -> None:
    model = session.model
    layer = st.select_slider("Layer", options=list(range(model.config.n_layer)), key="ex_layer", **KEEP)
    shown = st.select_slider("Tokens shown: the state after each of the last …", options=STATE_WINDOWS,
                             value=STATE_WINDOWS[0], key="ex_state_window", **KEEP)
    last = None if shown == "all" else int(shown)
    show(ec.fig_state_heatmaps(session, layer, last), "ex_heat")
    if last is not None and len(session.tokens) > last:
        st.caption(f"The last {last} of {len(session.tokens)} tokens: each token shown adds "
                   f"5 × {model.config.n_embd} numbers to every Step's page (choose \"all\" for the whole text).")
    show(ec.fig_state_norms(session), "ex_norms")
    st.metric("Whole state (all layers)", f"{formats.nbytes(session.state.nbytes())} ({session.state.nbytes():,} bytes)",
              help="5 vectors x layers x channels x 4 bytes, at any length")
    show(ec.fig_state_vs_kv(session), "ex_kv")


@section("memory", "Memory half-life", "how many tokens each channel's memory lasts, from its time decay",
         chart="Memory: how many tokens")
def memory_half_life(session: ec.ExplorerSession) -> None:
    show(ec.fig_half_lives(session.model), "ex_mem")
    st.caption("Half-life in tokens = ln 2 / e^time_decay: after that many tokens a channel "
               "gives an old token half the weight it had.")


@section("wkv", "WKV as attention", "the weights the current token's WKV gives every earlier token, "
         "beside a GPT's attention on the same text", chart="What the current token's WKV")
def wkv_as_attention(session: ec.ExplorerSession) -> None:
    model = session.model
    choice = st.selectbox("Channel", ["mean over channels"] + list(range(model.config.n_embd)), key="ex_channel",
                          **KEEP)
    channel = None if choice == "mean over channels" else int(choice)
    show(ec.fig_implicit_attention(session, channel), "ex_att")
    compare_view.gpt_beside_wkv(model, session.tokens)   # the GPT's QKV on the same text, beside the WKV


@section("rnn-parallel", "RNN = parallel", "the same text run one token at a time and all at once: "
         "the largest difference, layer by layer", chart="RNN (one token at a time)")
def rnn_equals_parallel(session: ec.ExplorerSession) -> None:
    cache = st.session_state.get("ex_equiv")
    if cache is None or cache[0] != (session.model_key, tuple(session.tokens)):
        cache = ((session.model_key, tuple(session.tokens)), ec.rnn_vs_parallel(session))
        st.session_state["ex_equiv"] = cache
    eq = cache[1]
    st.metric("max |logits rnn - logits parallel|", f"{eq.logits:.2e}")
    show(attention.equivalence_figure(eq.per_layer, eq.logits), "ex_equiv_fig")


@section("surgery", "State surgery", "one layer of the state zeroed, scaled or copied from another prompt, "
         "and what the model says next, before and after")
def state_surgery(session: ec.ExplorerSession) -> None:
    model, key = session.model, session.model_key
    st.caption("Edit one layer of the state the last token reads, run that token again, and compare "
               "what comes next.")
    s1, s2, s3 = st.columns(3)
    layer = s1.selectbox("Layer", list(range(model.config.n_layer)), key="ex_surg_layer")
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
        _surgery_result(model, res[1], res[2], res[3])


def _surgery_result(model, layer: int, op: str, r) -> None:
    ids = probabilities.top_tokens(r.probs_before, 10) + probabilities.top_tokens(r.probs_after, 10)
    labels_ = {i: ec.token_label(model, i) for i in ids}
    show(probabilities.compare_bars(labels_, r.probs_before, r.probs_after, ("state as it was", "edited state"),
                                    title=f"Layer {layer}, {op}: next-token probabilities"), "ex_surg_fig")
    t1, t2 = st.columns(2)
    t1.markdown("**Continues (state as it was)**")
    t1.code(ec.decode(model, r.text_before), language=None, wrap_lines=True)
    t2.markdown("**Continues (edited state)**")
    t2.code(ec.decode(model, r.text_after), language=None, wrap_lines=True)
    st.caption(f"Check: re-running the last token from the unedited state reproduces the session's "
               f"logits to {r.check:.1e}.")
