"""The memory lab on screen: the committed results' charts, the live probe (a student's key-value
pairs read by the committed tiny models trained at that N) and RWKV-4's WKV weight on the queried pair, shared by
the Memory lab page (app/app_pages/memory_lab.py) and lesson 3's last step (the view "memory").

Numbers come from docs/memory/results.json (`python -m lab.memory --json`) and models/memory/;
the probe's are computed live (app/memory_core.py). A missing file is said, never hidden.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from app import memory_core as mc
from app import widgets
from lab import mqar
from visuals import memory as vm

from .layout import Context
from .registry import view

PROBE_HELP = ("Keys are 1 … {k}, values {h} … {v}. Write pairs as key:value separated by commas, and the keys "
              "to ask (each must be a key of the pairs).")


@st.cache_resource(max_entries=12, show_spinner="Loading the memory lab's models…")
def memory_model(path: str, mtime_ns: int):
    """One committed tiny model, loaded once per server and shared read-only."""
    return mc.load(Path(path))


def models(paths: list[Path]) -> dict:
    """{name: model} of these committed tiny models, in their order."""
    return {p.stem: memory_model(str(p), p.stat().st_mtime_ns) for p in paths}


def charts(results: dict | None, key: str, show=widgets.show, full: bool = True) -> None:
    """The committed charts: recall against the trained N, against the bytes of state (a point per
    model at its trained N), against the length (the models of one N)."""
    if results is None:
        st.info(mc.MISSING_RESULTS)
        return
    show(vm.recall_vs_state_figure(mc.state_points(results)), f"{key}_fig_state")
    if not full:
        return
    ns = mc.pairs_trained(results)
    c1, c2 = st.columns(2)
    with c1:
        show(vm.recall_by_n_figure(mc.n_series(results)), f"{key}_fig_pairs")
    with c2:
        n = ns[0] if len(ns) == 1 else st.selectbox("The models trained at N", ns, key=f"{key}_len_n")
        show(vm.recall_by_length_figure(mc.length_series(results, n), n), f"{key}_fig_length")
    # on screen without the nominal width (the model's label has it) and s/step (minutes say it): a
    # projector's 1280 px hold the rest; docs/memory-lab.md's tables keep every column
    widgets.table([{k: v for k, v in r.items() if k not in ("nominal width", "s/step")} for r in mc.table_rows(results)])
    st.caption(f"`{results['command']}` on {results['cpu']}, {results['sequences']} held-out sequences a cell "
               f"(seed {results['heldout_seed']}). Each model's training (steps, minutes, who shared the CPU) "
               "is in the file.")


def _generate(key: str, settings: dict[int, mc.Setting], new_seed: bool) -> None:
    """A generated sequence at the student's N, as long as the models that will read it expect."""
    if new_seed:
        st.session_state[f"{key}_seed"] = st.session_state.get(f"{key}_seed", mqar.HELDOUT_SEED) + 1
    seed = st.session_state.get(f"{key}_seed", mqar.HELDOUT_SEED)
    n = st.session_state[f"{key}_n"]
    setting = settings[mc.pick_n(list(settings), n)]
    probe = mc.generated(n, seed, setting.length, setting.vocab, setting.gap)
    st.session_state[f"{key}_pairs"], st.session_state[f"{key}_queries"] = mc.text_of(probe)


def probe(results: dict | None, key: str, show=widgets.show) -> None:
    """The live probe: pairs and queries (typed or generated), read token by token by the models
    trained at the student's N (or the smallest trained N above it); the probe as N grows; RWKV-4's
    WKV weight on a queried pair."""
    groups = mc.by_trained_n(mc.model_paths())
    if not groups:
        st.info(mc.MISSING_MODELS)
        return
    settings = {n: mc.setting_of(paths[0]) for n, paths in groups.items()}
    most = settings[max(settings)].length // 3
    if f"{key}_pairs" not in st.session_state:          # the first held-out sequence at the smallest trained N
        st.session_state[f"{key}_n"] = min(min(settings), most)
        _generate(key, settings, False)
    c1, c2 = st.columns([2, 1])
    c1.slider("Key-value pairs N", 1, most, key=f"{key}_n", on_change=_generate, args=(key, settings, False))
    c2.button("New pairs", key=f"{key}_new", on_click=_generate, args=(key, settings, True))
    n = st.session_state[f"{key}_n"]
    picked = mc.pick_n(list(settings), n)
    setting, loaded = settings[picked], models(groups[picked])
    half = setting.vocab // 2
    help_ = PROBE_HELP.format(k=half - 1, h=half, v=setting.vocab - 1)
    pairs_text = st.text_input("Pairs (key:value)", key=f"{key}_pairs", help=help_)
    queries_text = st.text_input("Queries (keys)", key=f"{key}_queries", help=help_)
    seed = st.session_state.get(f"{key}_seed", mqar.HELDOUT_SEED)
    st.caption(f"The models trained at N = {picked} read this probe ({setting.length} tokens)." if picked == n else
               f"No model was trained at N = {n}: the models trained at N = {picked}, "
               + (f"the nearest above, read this probe ({setting.length} tokens, so your pairs get pad before them)."
                  if picked > n else f"the largest trained N, read this probe ({setting.length} tokens)."))
    try:
        p = mc.parse(pairs_text, queries_text, setting.length, setting.vocab, setting.gap)
    except ValueError as e:
        st.error(f"This probe cannot run: {e}. The boxes keep what you wrote.")
        return
    st.caption(f"The sequence the models read ({setting.length} tokens; 0 is the pad): "
               + " ".join(map(str, p.ids)) + (f". Generated with seed {seed}" if seed == mqar.HELDOUT_SEED else ""))
    rows = [{"query": q, "right value": p.right(q)} for q in p.queries]
    for name, model in loaded.items():
        got = mc.answers(model, p)
        st.markdown(f"**{mc.label(name, results)}** answered {sum(a.correct for a in got)} of {len(got)} right: "
                    + ", ".join(f"{a.query} → {a.answer} ({a.p_answer:.0%}{'' if a.correct else ', wrong'})"
                                for a in got))
        for row, a in zip(rows, got):
            row[f"{mc.label(name, results)}: p(right)"] = round(a.p_right, 3)
    widgets.table(rows)
    ns = list(range(1, setting.length // 3 + 1))
    over = [(mc.label(nm, results), mc.kind_of(nm), mc.nominal(nm),
             mc.over_n(m, ns, seed, setting.length, setting.vocab, setting.gap)) for nm, m in loaded.items()]
    show(vm.probe_over_n_figure(over, seed), f"{key}_fig_over_n")
    wkv(p, loaded, results, key, show)


def wkv(p: mc.Probe, loaded: dict, results: dict | None, key: str, show=widgets.show) -> None:
    """RWKV-4: per layer and channel, the WKV's weight on the queried pair at the query."""
    rwkv = [n for n in loaded if mc.kind_of(n) == "rwkv4"]
    if not rwkv:
        return
    st.subheader("Inside RWKV-4: what its WKV still holds of the queried pair")
    c1, c2 = st.columns(2)
    name = c1.selectbox("RWKV-4 model", rwkv, key=f"{key}_wkv_model_n{mc.trained_n(rwkv[0])}",   # one per N
                        format_func=lambda n: mc.label(n, results))
    query = c2.selectbox("Query", p.queries, key=f"{key}_wkv_query")
    r = mc.wkv_on_pair(loaded[name], p, query)
    show(vm.wkv_pair_figure([f"layer {i}" for i in range(len(r["weights"]))],
                            [k + v for k, v in zip(r["on_key"], r["on_value"])], r["max_diff"]), f"{key}_fig_wkv")
    st.caption(f"Weights from `lab.analysis.implicit_attention` (the engine's recorded k at every token, and "
               f"time_decay, time_first): the key {query} at position {r['key_pos']} and its value at "
               f"{r['value_pos']}, seen from the query at position {r['t']}. Each channel's weights over all "
               "earlier tokens sum to 1: the more pairs, the smaller each pair's share.")


@view("memory", "the memory lab: what a fixed-size state can recall, trained and measured here, with a live probe")
def memory_step(ctx: Context) -> None:
    results = mc.read_results()
    st.info(mc.summary(results))
    charts(results, ctx.key, show=lambda fig, k: widgets.show(fig, k, classroom=ctx.classroom), full=False)
    probe(results, ctx.key, show=lambda fig, k: widgets.show(fig, k, classroom=ctx.classroom))
    st.caption("The whole lab, with every chart and table: the Memory lab page.")
