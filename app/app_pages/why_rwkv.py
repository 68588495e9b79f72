"""Why RWKV, measured: the four models trained here on the same plays (RWKV-4, a GPT, a stacked LSTM,
the red-line RNN) compared on quality, training speed, generation cost, memory and their text,
measured live on this device beside the committed figures; and where RWKV and the GPT look.

The numbers come from app/compare_core.py (no Streamlit there), the figures from visuals/compare.py.
Model and user text reach the screen only through st.code / st.dataframe and escaped plotly labels.
"""
import streamlit as st

from app import compare_core as cc
from app import looks_core as lc
from app import scheduling_core as sc
from app.compare_view import GPT_MISSING, head_choice, trained_models
from app.resources import md_escape
from app.widgets import number_box, show, table
from lab import race
from rwkv_core.sampling import SamplingSettings
from rwkv_core.timing import device_name
from visuals import compare as vc

DEFAULT_PROMPT = "ROMEO.\nBut soft, what light through yonder window breaks?"
LOOK_TEXT = "But soft, what light through yonder window breaks? It is the east, and Juliet is the sun."

models = trained_models()
device = sc.timing_device()
st.title("Why RWKV, measured")
st.markdown(
    "Four models trained **here**, on the same plays, tokenizer and batches (6 layers, about 6M parameters, "
    "batches of 6 × 512 tokens): **RWKV-4**, a **GPT** (GPT-2's layout), a **stacked LSTM** and the article's "
    "**red-line RNN**. The article's claims, measured: how well each learns, how fast it trains, and what a "
    "new token costs as the context grows.")
sweep = race.read(race.SWEEP_FILE)
reasons = race.unfair(sweep, race.race_logs())
if reasons:
    st.warning("**Not yet a fair race.** Until each kind is retrained with its own tuned setting on the same "
               "tokens, read the quality figures below as these runs' results, not as which architecture is better. "
               + race.SCALE_NOTE + " What is left, from the files:\n"
               + "\n".join(f"- {r[0].upper()}{r[1:]}." for r in reasons))
else:
    st.success("A fair race: every kind was tuned with the same budget (below) and trained with its chosen setting "
               "on the same training tokens. " + race.SCALE_NOTE)
for line in race.kept():                        # a shipped model better than its kind's race run
    st.info(md_escape(line[0].upper() + line[1:] + "."))
missing = [cc.title(k) for k in cc.order() if k not in models]
st.caption("Models in the models folder: " + ", ".join(cc.title(k) for k in models) +
           (f". Not trained yet: {', '.join(missing)}." if missing else "."))

# --- tuning -------------------------------------------------------------------------------------
st.header("Tuning: the same budget for every kind")
if sweep is None:
    st.info("No tuning sweep is committed yet (`python -m lab.sweep json docs/race/sweep.json`).")
else:
    chosen = {cc.title(k): (c["lr"], c["bits_per_char"]) for k, c in sweep["chosen"].items()}
    show(vc.sweep_figure({cc.title(k): pts for k, pts in race.sweep_series(sweep).items()}, chosen, sweep["steps"]),
         "wr_sweep")
    st.caption(f"docs/race/sweep.json (`{sweep['command']}`): {race.done_text(sweep)}. Peak rates "
               f"{', '.join(f'{x:g}' for x in sweep['lrs'])} with {sweep['warmup']} warm-up steps (and the next rate "
               "beyond the grid where a kind's best is at its edge), then "
               f"{sweep['warmup_2']} warm-up steps at each kind's best rate"
               + (f", then PyTorch's layer initialisation ({sweep['init_2']}, `lab.inits`) at the best of those"
                  if sweep.get("init_2") else "") + f"; {sweep['steps']} steps of "
               f"{sweep['batch'][0]} × {sweep['batch'][1]} tokens, seed {sweep['seed']}. The red-line RNN takes the "
               "LSTM's setting. Each run's machine, threads and load are in the file.")
    carried = race.carried_text(race.carried(), sweep)   # the sweep's choice against each kind's earlier run
    if carried:
        st.markdown(md_escape(carried))

# --- quality -----------------------------------------------------------------------------------
st.header("Quality: held-out bits per character")
curves = cc.read_curves()
speed = race.throughput(race.read(race.THROUGHPUT_FILE))
eq = cc.equal_race(curves, speed)
if eq is not None:
    compute = cc.compute_curves(curves, speed)
    q1, q2 = st.columns(2)
    with q1:
        show(vc.quality_figure({cc.title(k): c.points for k, c in curves.items()}, "tokens", eq.tokens),
             "wr_quality_tokens")
    with q2:
        show(vc.quality_figure({cc.title(k): c.points for k, c in compute.items()}, "seconds", eq.seconds),
             "wr_quality_seconds")
    st.markdown(cc.verdict(curves, eq) + " " + cc.verdict_compute(curves, eq))
    table(cc.quality_table(curves, eq), key="wr_quality_table")
    st.caption(
        "Held-out: *The Tempest* and *Timon of Athens*, never trained on. Equal tokens: each curve read at the "
        "most training tokens every run reached; equal compute: at the most compute time every run had, a run's "
        "tokens ÷ its kind's clean training throughput (below), so runs that shared the CPU unequally compare "
        "fairly. Linear between validation points.")
    with st.expander("How each run was trained (from its log)"):
        st.markdown("\n".join(f"- **{cc.title(k)}**: {md_escape(c.shared_cpu)}" for k, c in curves.items()))
elif len(curves) >= 2:
    st.info("The comparison needs every model's clean training throughput (docs/race/throughput.json).")
else:
    st.info("The comparison needs at least two training logs in the models folder (models/*.log.json).")

# --- the early plateau -------------------------------------------------------------------------
st.header("Learning early: the bigram plateau")
early = cc.plateau_view()
if early is None:
    st.info("No bigram level is committed yet (`python -m lab.bigram --json docs/race/bigram.json`).")
else:
    show(vc.plateau_figure(early.curves, early.level, early.full), "wr_plateau")
    if early.short:                              # the experiment's steps, close up
        n = max(p[0] for pts in early.short.values() for p in pts)
        show(vc.plateau_figure({}, early.level, early.short,
                               title=f"The first {n} steps: the GPT with and without RWKV-4's token shift"),
             "wr_plateau_shift")
    table(early.table, key="wr_plateau_table")
    st.markdown(md_escape(early.text))
    st.caption(early.caption)

# --- training ----------------------------------------------------------------------------------
st.header("Training: tokens per second of one step")
for rec in sc.training_step_records():          # docs/compare/train_step_*.json: this page's and the Lab's
    if rec.get("problem"):
        st.warning(md_escape(f"Skipped {rec['file']}: {rec['problem']}"))
        continue
    show(vc.speed_figure([(cc.title(r.kind), r.tokens_per_s) for r in rec["rows"]], rec["device"]),
         f"wr_speed_{sc.record_key(rec)}")
    table(sc.speed_table(rec["rows"]), key=f"wr_speed_table_{sc.record_key(rec)}")
    load = (f", load average {rec['load_before'][0]:.2f} before and {rec['load_after'][0]:.2f} after"
            if rec.get("load_before") and rec.get("load_after") else "")
    how = (f", the median of {rec['repeats']} steps" if rec.get("repeats") else "")
    st.caption(f"{rec['file']}: batch {rec['batch']} × {rec['ctx']} tokens, {rec.get('threads') or 'default'} "
               f"thread(s){how}{load}, measured {rec['measured_at']}"
               + (f" (`{rec['command']}`)." if rec.get("command") else "."))
if st.button("Measure one training step of each model here (one batch of 512 tokens)", key="wr_speed_run"):
    with st.spinner("Timing a training step of each model…"):
        st.session_state["wr_speed"] = cc.train_step_speeds([k for k in cc.order() if k in models], device=device,
                                                            batch=1, ctx=512)
if st.session_state.get("wr_speed"):
    live = st.session_state["wr_speed"]
    show(vc.speed_figure([(cc.title(r.kind), r.tokens_per_s) for r in live], device_name(device)), "wr_speed_live")
    table(sc.speed_table(live), key="wr_speed_live_table")

# --- generation --------------------------------------------------------------------------------
st.header("Generation: time per new token against the context read")
st.markdown("Each model reads *n* tokens, then writes a few more one at a time; each new token is timed. "
            "RWKV and the LSTMs carry a fixed-size state, the GPT a cache it attends over. The GPT was trained "
            f"on {models['gpt'].config.n_ctx if 'gpt' in models else 512}-token windows: longer contexts are "
            "timed with its positions clamped, **for timing only** (hollow points).")
saved_gen = cc.read_generation()
if saved_gen and saved_gen["rows"]:
    gpt_ctx = models["gpt"].config.n_ctx if "gpt" in models else None
    show(vc.generation_figure(cc.cost_series(saved_gen["rows"]), gpt_ctx, saved_gen["device"]), "wr_gen_file")
    st.caption(f"{cc.GENERATION_FILE.name}: {saved_gen['new_tokens']} new tokens per context (median), "
               f"{saved_gen.get('threads') or 'default'} thread(s), measured {saved_gen['measured_at']} "
               "(`python -m lab.measure --json docs/compare/generation_cpu.json`).")
g1, g2 = st.columns([3, 1])
contexts = g1.multiselect("Contexts (tokens)", list(cc.ALL_CONTEXTS), default=list(cc.LIVE_CONTEXTS),
                          key="wr_gen_contexts")
new_tokens = number_box("New tokens each", "wr_gen_new", 1, 32, default=8, container=g2)
if st.button("Measure generation cost here", type="primary", key="wr_gen_run", disabled=not contexts):
    bar = st.progress(0.0, text="Starting…")
    st.session_state["wr_gen"] = (device_name(device), cc.measure_generation(
        {k: sc.on_device(m, device) for k, m in models.items()}, sorted(contexts), new_tokens,
        on_progress=lambda f, t: bar.progress(f, text=t)))
    bar.empty()
live_gen = st.session_state.get("wr_gen")
if live_gen:
    dev, results = live_gen
    gpt_ctx = models["gpt"].config.n_ctx if "gpt" in models else None
    show(vc.generation_figure(cc.cost_series(results), gpt_ctx, dev), "wr_gen_live")
    done = sorted({r.context for rs in results.values() for r in rs})
    st.success(f"Measured here, contexts {done[0]} → {done[-1]}: " + "; ".join(
        f"{cc.title(k)} {1e3 * rows[0].seconds_per_token:.2f} → {1e3 * rows[-1].seconds_per_token:.2f} ms/token"
        for k, rows in results.items()) + ".")

# --- memory ------------------------------------------------------------------------------------
st.header("Memory: the state carried to the next token")
source = live_gen[1] if live_gen else (saved_gen["rows"] if saved_gen else {})
ctxs = sorted({r.context for rows in source.values() for r in rows} | set(cc.TABLE_CONTEXTS))
measured = cc.memory_series(source)
show(vc.memory_figure(measured, cc.full_size_memory(ctxs)), "wr_memory")
same = [n for n, pts in measured.items() if sum(pts == other for other in measured.values()) > 1]
st.caption(("From the live measurement above" if live_gen else "From the committed measurement") +
           ": each model's state after reading the context, its real tensors' nbytes(). Computed: RWKV-4 169M "
           "(12 × 768) and GPT-2 small (12 × 768, float32)." +
           (f" The {' and the '.join(same)} carry states of the same size: their lines lie on each other." if same else ""))

# --- side by side ------------------------------------------------------------------------------
st.header("The same prompt, side by side")
prompt = st.text_area("Prompt", DEFAULT_PROMPT, max_chars=cc.MAX_PROMPT_CHARS, key="wr_prompt")
s1, s2, s3 = st.columns(3)
seed = number_box("Seed", "wr_seed", 0, 2**31 - 1, default=1, container=s1)
temperature = s2.slider("Temperature", 0.0, 2.0, 0.8, 0.05, key="wr_temp")
n_new = number_box("New tokens", "wr_n_new", 1, cc.MAX_NEW_TOKENS, default=60, container=s3)
if st.button("Generate with every model", key="wr_generate"):
    try:
        with st.spinner("Generating…"):
            st.session_state["wr_texts"] = (prompt, cc.generate_all(models, prompt, n_new,
                                                                    SamplingSettings(temperature=temperature), seed))
    except ValueError as e:
        st.error(md_escape(e))
texts = st.session_state.get("wr_texts")
if texts:
    for col, gen in zip(st.columns(len(texts[1])), texts[1]):
        col.markdown(f"**{cc.title(gen.kind)}**")
        col.code(texts[0] + gen.text, language=None, wrap_lines=True)
        col.metric("tokens / s", f"{gen.tokens_per_second:,.0f}", help=f"{len(gen.tokens)} tokens one at a time; "
                   f"the {gen.prompt_tokens}-token prompt read in {1e3 * gen.prefill_seconds:.0f} ms")
    st.caption(f"Seed {seed}, temperature {temperature}, one shared tokenizer: the differences are the models'.")

# --- where they look ---------------------------------------------------------------------------
st.header("Where each model looks: QKV beside WKV")
ids = []
if "gpt" not in models:
    st.info(GPT_MISSING)
else:
    text = st.text_input("Text", LOOK_TEXT, key="wr_look_text")
    try:
        ids = lc.look_tokens(models["rwkv4"], text)
    except ValueError as e:
        st.error(md_escape(e))
        ids = []
if ids:
    stamp = tuple(ids)
    if st.session_state.get("wr_looks", (None,))[0] != stamp:
        st.session_state["wr_looks"] = (stamp, lc.where_they_look(models["rwkv4"], models["gpt"], ids))
    looks = st.session_state["wr_looks"][1]
    l1, l2 = st.columns(2)
    with l1:
        layer = st.selectbox("Layer", list(range(models["gpt"].config.n_layer)), key="wr_look_layer")
    with l2:
        head = head_choice(models["gpt"], "wr_look_head")
    gpt_w = lc.pick_head(looks.gpt, head)
    which = "mean over heads" if head is None else f"head {head}"
    rwkv_fig, gpt_fig = vc.looks_figures(looks.rwkv.weights[layer], gpt_w[layer], looks.labels,
                                         "RWKV-4, WKV as weights (mean over channels)", f"GPT, attention ({which})",
                                         f"Layer {layer}, what each token reads")
    f1, f2 = st.columns(2)
    with f1:
        show(rwkv_fig, "wr_looks_rwkv")
    with f2:
        show(gpt_fig, "wr_looks_gpt")
    table({"layer": list(range(len(gpt_w))),
           "RWKV: mean look-back (tokens)": [round(float(d), 2) for d in lc.distance(looks.rwkv.weights)],
           "GPT: mean look-back (tokens)": [round(float(d), 2) for d in lc.distance(gpt_w)]}, key="wr_look_distance")
    st.caption(f"{len(ids)} tokens (at most {lc.MAX_LOOK_TOKENS}). RWKV's weights are its WKV written as attention, "
               f"rebuilt from its own k, decay and bonus: they give back the recorded WKV to "
               f"{looks.rwkv.max_diff:.1e}. The GPT's are its softmax(q·Kᵀ/√d), from its own forward pass.")

# --- the table ---------------------------------------------------------------------------------
st.header("The table")
committed = cc.read_train_steps()
summary = cc.summary_table(curves, eq,
                           committed["rows"] if committed else [], saved_gen["rows"] if saved_gen else {})
table(summary, key="wr_summary")
st.caption("From the committed files (docs/compare/) and the models' logs; `python scripts/why_rwkv_table.py` "
           "measures and prints it (docs/benchmarks.md, \"Why RWKV, measured\").")
