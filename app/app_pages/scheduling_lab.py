"""Scheduling Lab: the same model run as the article's red-line RNN, as a cascade of chunks, and layer by layer
(GPT mode), pictured from the engine's own plans and timed on this machine.

The runs are made by app/scheduling_core.py (no Streamlit there); figures come from visuals/. This
page draws the grid; the sections below it (run and time, every kind, training speed, watch it run,
scaling) are in app/lab_sections.py.
Model and user text reaches the screen only through plotly labels escaped in visuals/ and
through st.dataframe / st.text; no HTML is written here.
"""
import streamlit as st

from app import lab_sections as sections
from app import scheduling_core as sc
from app import style
from app.resources import current_model, current_model_key, rival_model
from app.widgets import number_box, show
from lab.kinds import KINDS
from rwkv_core.schedule import step_formula, takes_chunk
from visuals import architecture, export
from visuals import schedule as vs

EXPLORER = "explorer"   # where the Explorer keeps its session (tokens of the current prompt)
GEN_TEXT = """
**Why generating text cannot cascade across layers.** While the model *reads* a prompt (or trains on
a text), every token is known in advance, so layer 0 can start on token t+1 while layer 1 is still
on token t: that is the wave above. While it *writes*, token t+1 does not exist until token t has
gone through **all** layers and been picked from the probabilities at the top. The red line comes
back, not inside the network but through the sampling: each new token is L steps, one layer after
another. What RWKV keeps is the cheap step: a fixed-size state per layer instead of a cache that
grows with the text.
"""




# The figures are kept as shared objects (cache_resource), never copied: st.cache_data would
# unpickle a copy on every run, ~0.4 s of plotly validation for one grid, holding the interpreter
# while 30 students wait (scripts/load_test.py). Nothing changes a figure after it is made.
# The grid depends on the shape only (no token text in it), so a class whose prompts have the
# same length shares one drawing: under 30 sessions each student's own grid held every Step.
@st.cache_resource(max_entries=32, show_spinner="Drawing the schedules…")
def grid_fig(kind: str, n_layer: int, n_tokens: int, chunk: int, focus: tuple[int, int] | None,
             stacked: bool = False):
    plans, refused = sc.kind_panels(kind, n_layer, n_tokens, chunk)
    with sc.FIGURE_LOCK:
        return vs.grid_figure(plans, refused=refused, focus=focus, chunk=chunk, stacked=stacked, details=False)


def models_by_kind(model) -> dict:
    """The loaded RWKV model and every rival trained here that is in the models folder."""
    rivals = {k: rival_model(str(p), p.stat().st_mtime_ns) for k, p in sc.shipped_rivals().items()}
    return {"rwkv4": model, **rivals}


@st.cache_resource(max_entries=1, show_spinner=False)
def architecture_figs():
    with sc.FIGURE_LOCK:
        return (architecture.generic_model(), architecture.classic_rnn(), architecture.remove_red_line(),
                architecture.rwkv_block())






def prompt_tokens(model, key: str) -> tuple[list[int], str]:
    """The Explorer's tokens when it has a session for this model, else a default prompt."""
    s = st.session_state.get(EXPLORER)
    if s is not None and getattr(s, "model_key", None) == key and getattr(s, "tokens", None):
        return list(s.tokens), "the Explorer's current text"
    if model.tokenizer is None:
        return list(range(min(24, model.config.vocab_size))), "token ids 0, 1, 2, … (this model has no tokenizer)"
    return model.tokenizer.encode(sc.DEFAULT_PROMPT), "a default prompt (type your own in the Explorer)"


RESULTS = ("sl_runs", "sl_watch", "sl_export_files", "sl_race_files", "sl_watch_files", "sl_scale")


# --- the grid's settings, kept in the address: ?kind=lstm&L=6&T=24&chunk=4 -------------------------
# Read here and written back after the controls with st.query_params. Streamlit's own
# bind="query-params" drops a value it cannot use without a word, and a bound link wins over the
# page's own checks on the first run; a link that asks for T=9999 must be told, not ignored.
# Streamlit forgets a page's widget values when another page runs, so the settings last shown are
# kept in plain state (SHOWN) and put back on every later visit.
LINK_KEYS = {"kind": "sl_kind", "L": "sl_layers", "T": "sl_tokens", "chunk": "sl_chunk"}
SHOWN = "sl_link_written"     # the settings last shown, as the address holds them ({"L": "4", ...})
DEFAULTS = "sl_defaults"      # the model's own size when SHOWN was made (a new prompt moves only those)


def default_settings(model, n_prompt: int) -> dict[str, str]:
    return {"kind": "rwkv4", "L": str(model.config.n_layer), "T": str(min(n_prompt, sc.MAX_GRID_TOKENS)),
            "chunk": "4"}


def kept_settings(model, key: str, n_prompt: int) -> dict[str, str]:
    """The settings to go on from: those last shown, or the model's own size on a first visit. A new
    model or prompt clears the results made for the old one, and moves a setting to the new size
    only where it was still at the old size (a grid the student set stays as it was set)."""
    ss, new = st.session_state, default_settings(model, n_prompt)
    shown, old = ss.get(SHOWN), ss.get(DEFAULTS, new)
    if ss.get("sl_stamp") != (key, n_prompt):
        ss["sl_stamp"] = (key, n_prompt)
        for k in RESULTS:
            ss.pop(k, None)
    ss[DEFAULTS] = new
    if shown is None:
        return new
    return {n: new[n] if shown.get(n, old[n]) == old[n] else shown[n] for n in LINK_KEYS}


def restore_controls(model, key: str, n_prompt: int, kinds: list[str], max_layers: int) -> None:
    """The grid's controls set before they are drawn, whenever they need it: on every visit (their
    values were forgotten), for a new model or prompt, and for a new address (a link opened or typed,
    or Back/Forward to another of the Lab's addresses), whose refused values are told."""
    ss = st.session_state
    kept = kept_settings(model, key, n_prompt)
    asked = {n: st.query_params[n] for n in LINK_KEYS if n in st.query_params}
    new_link = bool(asked) and asked != ss.get(SHOWN)
    if not new_link and kept == ss.get(SHOWN) and all(k in ss for k in LINK_KEYS.values()):
        return
    def parsed(params: dict) -> dict:
        return sc.parse_link(params, kinds=kinds, max_layers=max_layers)[0]
    # a kept setting this model forbids (L above a smaller model's limit) falls back to its default
    settings = {**parsed(default_settings(model, n_prompt)), **parsed(kept)}
    if new_link:
        good, bad = sc.parse_link(asked, kinds=kinds, max_layers=max_layers)
        settings.update(good)
        if bad:
            ss["sl_messages"] = ["This link's " + "; ".join(bad) + ". Those controls keep their values."]
    for name, value in settings.items():
        ss[LINK_KEYS[name]] = float(value) if name == "T" else value


def write_link(values: dict) -> None:
    """The current settings into the address in one change (one history entry), and only when they
    changed; other parameters (?classroom=1) are kept."""
    link = {n: str(v) for n, v in values.items()}
    if {n: st.query_params.get(n) for n in link} != link:
        others = {k: v for k, v in st.query_params.to_dict().items() if k not in link}
        st.query_params.from_dict({**others, **link})
    st.session_state[SHOWN] = link


def messages() -> None:
    for m in st.session_state.pop("sl_messages", []):
        st.warning(m)


def lazy_expander(label: str, key: str):
    """An expander whose content is made only while it is open (its state tracked, rerun on toggle)."""
    box = st.expander(label, key=key, on_change="rerun")
    return box, bool(box.open)


model, key = current_model(), current_model_key()
L_model = model.config.n_layer
max_layers = max(24, L_model)
prompt, prompt_source = prompt_tokens(model, key)
by_kind = models_by_kind(model)
restore_controls(model, key, len(prompt), list(by_kind), max_layers)

st.title("Scheduling Lab")
st.markdown(
    "Why RWKV trains like a transformer, in two parts, on real models trained here on the same plays:\n\n"
    "1. **The red line blocks the cascade.** The seed article's red-line RNN (its own variant: a standard stacked "
    "RNN or LSTM has no such link) feeds the **top layer of token t into the first layer of token t+1**, so its "
    "L × T cells run one at a time. Without it, a cell needs only the cell **below** and the **previous tokens of "
    "its own layer**: cells can run as a diagonal wave (the *cascade*), given one worker per layer group.\n"
    "2. **A nonlinear recurrence blocks GPT mode.** A stacked LSTM has no red line and can cascade, but its "
    "gates need W_h·h[t−1] inside a nonlinearity: a layer's tokens stay one matrix product after another. "
    "RWKV's R, K, V depend only on the layer's input and its WKV is linear, with nothing from h[t−1] inside "
    "(RWKV-4's data-independent decay is sufficient for that, not necessary), so a whole layer's products run "
    "over all tokens at once (*GPT mode*): L wide steps of matrix products, while the WKV still walks the "
    "tokens per channel, a cheap scan.\n\n"
    "Pick a **model kind** below: the grid draws that kind's real dependencies and refuses what they forbid.")


@st.fragment
def pictures() -> None:
    box, is_open = lazy_expander("The pictures: from a language model to the RWKV block", "sl_pictures_open")
    if is_open:
        with box:
            tabs = st.tabs(["Language model", "The red-line RNN", "Remove the red line", "RWKV block"])
            for tab, fig, k in zip(tabs, architecture_figs(),
                                   ("sl_arch_generic", "sl_arch_rnn", "sl_arch_removed", "sl_arch_block")):
                with tab:
                    show(fig, k)


pictures()

# --- the grid -----------------------------------------------------------------------------------
# Kind, L, T and chunk set every section below, so they rerun the page; each section is a
# fragment that reruns alone for its own controls, and every figure is built once for its inputs.
st.header("The grid: layers × tokens")
st.caption(f"Starts as the loaded model's {L_model} layers × the {len(prompt)} tokens of {prompt_source}. "
           "The address bar keeps the model kind, L, T and the chunk: copy it to share this grid.")
kind = st.radio("Model kind", list(by_kind), horizontal=True, key="sl_kind",
                format_func=lambda k: KINDS[k].title + (" (the loaded model)" if k == "rwkv4" else " (trained here)"))
if len(by_kind) == 1:
    st.caption("No rival model is in the models folder: train them with "
               + ", ".join(f"`python -m lab.train --kind {k}`" for k in KINDS if k != "rwkv4") + ".")
deps = KINDS[kind]
st.markdown(f"**{deps.title}**: {deps.why}.")
c1, c2, c3 = st.columns(3)
n_layer = c1.slider("Layers (L)", 1, max_layers, key="sl_layers")
n_tokens = number_box("Tokens (T)", "sl_tokens", 1, sc.MAX_GRID_TOKENS, container=c2,
                      help=f"1 to {sc.MAX_GRID_TOKENS}: the prompt is cut or repeated to this length.")
chunk = c3.select_slider("Cascade chunk (tokens per cell)", options=list(sc.CHUNKS), key="sl_chunk")
write_link({"kind": kind, "L": n_layer, "T": n_tokens, "chunk": chunk})
messages()
if sc.chunk_note(chunk, n_tokens):
    st.info(sc.chunk_note(chunk, n_tokens))

counts = sc.step_counts(n_layer, n_tokens, chunk)
kind_plans, kind_refused = sc.kind_panels(kind, n_layer, n_tokens, chunk)
product = {p.mode: p for p in kind_plans}
for col, mode in zip(st.columns(len(counts)), counts):
    formula = step_formula(mode, chunk=chunk, n_layer=n_layer, n_tokens=n_tokens) if takes_chunk(mode) else None
    if mode in product and product[mode].product_steps != counts[mode]:
        # an LSTM: a cell over n tokens is n products one after another, so the big number is the
        # critical path in products; the steps of cells (layer calls) come second, named as such
        col.metric(f"{mode}: critical path", f"{product[mode].product_steps:,} products",
                   help="matrix products that must run one after another")
        col.caption(f"{counts[mode]:,} steps of cells ({step_formula(mode)}), each up to "
                    f"{product[mode].chunk:,} tokens one after another")
    elif mode in product:
        col.metric(f"{mode} steps: {step_formula(mode)}", f"{counts[mode]:,}", help=formula)
        col.caption(f"{product[mode].product_steps:,} matrix-product steps, each ≤ {product[mode].step_width:,} "
                    "cell-tokens wide")
    else:
        col.metric(f"{mode} steps: {step_formula(mode)}", "not possible",
                   help=next(r.reason for r in kind_refused if r.mode == mode))


@st.fragment
def grid_section(kind: str, n_layer: int, n_tokens: int, chunk: int, kind_plans) -> None:
    f1, f2, f3 = st.columns([2, 1, 1])
    focus_on = f1.toggle("Show one cell's inputs and its critical path", value=True, key="sl_focus_on")
    st.session_state.setdefault("sl_focus_layer", float(n_layer // 2))
    st.session_state.setdefault("sl_focus_token", float(n_tokens // 2))
    focus_layer = number_box("Cell: layer", "sl_focus_layer", 0, n_layer - 1, container=f2, disabled=not focus_on)
    focus_token = number_box("Cell: token", "sl_focus_token", 0, n_tokens - 1, container=f3, disabled=not focus_on)
    stacked = st.toggle("One panel per row (for a narrow screen)", value=style.phone(), key="sl_stacked")
    messages()
    focus = (focus_layer, focus_token) if focus_on else None
    show(grid_fig(kind, n_layer, n_tokens, chunk, focus, stacked), "sl_grid")
    st.caption("Press ▶ play, pick a speed, or drag the frame slider to step. Arrows: the chosen cell's inputs "
               "(red: the red line). Orange line: its critical path, the longest chain it has to wait for; "
               "the chosen cell is outlined in vermilion.")
    box, is_open = lazy_expander("Export for slides (HTML and GIF)", "sl_export_open")
    if not is_open:
        return
    with box:
        params = (kind, n_layer, n_tokens, chunk, focus)
        if st.button("Make the files", key="sl_export"):
            with st.spinner("Drawing every frame…"):
                st.session_state["sl_export_files"] = (
                    params, export.figure_html(grid_fig(kind, n_layer, n_tokens, chunk, focus, False)),
                    export.schedule_gif(kind_plans))
        saved_files = st.session_state.get("sl_export_files")
        files = saved_files[1:] if saved_files and saved_files[0] == params else None
        if files:
            sections.downloads(files, "the animation", "rwkv-schedules", "sl_download", html_note=", works offline")


grid_section(kind, n_layer, n_tokens, chunk, kind_plans)
tokens = sc.grid_tokens(prompt, n_tokens)
st.info(GEN_TEXT)

# --- below the grid: run and time, every kind, training speed, watch it run, scaling (app/lab_sections.py)
device = sc.timing_device()
timed = sections.Timed(sections.timing_model(key, device, model), device, by_kind, prompt,
                       model.tokenizer.decode(prompt) if model.tokenizer is not None else None)
sections.run_section(timed, kind, n_tokens, chunk, tokens)
sections.kinds_section(timed, n_tokens, chunk)
sections.training_section(device)
sections.watch_section(timed, n_tokens, chunk, tokens)
sections.scaling_files()
sections.measure_section(timed)
