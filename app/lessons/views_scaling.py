"""Lesson 2's views (scaling an RNN): why RWKV trains in parallel, on the real red-line RNN, the
real stacked LSTM and the loaded RWKV-4, live and timed on the student's prompt; and the chunk
sizes real engines use, measured. Registered in app/lessons/views.py's VIEWS with its `view`
decorator (views.py imports this module at its end).

Every number comes from app/lessons/scaling_core.py (run on the models) or from the committed
measurements it reads (docs/chunks/*.json, named with their CPU); the renderers only lay them out.
"""
from __future__ import annotations

import streamlit as st

from app import scheduling_core as sc
from app import style
from app.formats import count
from app.resources import rival_model
from lab.kinds import KINDS
from rwkv_core.protocol import Model
from rwkv_core.schedule import expected_steps
from rwkv_core.schedule import plan as make_plan
from visuals import architecture
from visuals import frames as vf
from visuals import lessons_scaling as vls
from visuals import schedule as vs
from visuals import timing as vt

from . import scaling_core as S
from .layout import Context, show, table
from .registry import view

GRID_TOKENS = 512          # the chunking step's grid: a long prompt, as engines read
KIND_GRID_TOKENS = 8       # the dependency grids: few tokens, so every arrow can be seen


# --- the models and the run, once per model and prompt ------------------------------------------

def story_models(ctx: Context) -> dict[str, Model]:
    """The loaded RWKV-4 and the rivals shipped in models/ (loaded once per server, read-only)."""
    rivals = {k: rival_model(str(p), p.stat().st_mtime_ns) for k, p in sc.shipped_rivals().items()
              if k in S.STORY}
    return {**rivals, "rwkv4": ctx.model}


def prompt_text(ctx: Context) -> str | None:
    """The student's prompt as text, for the rivals' own tokenizer; None without a tokenizer
    (then the rivals read the same ids)."""
    tok = ctx.ex.model.tokenizer
    return tok.decode(list(ctx.ex.ids)) if tok is not None else None


def measured(ctx: Context) -> S.TwoParts:
    """The three models on this prompt, every schedule, timed: once per model and prompt in the
    session (the button measures again)."""
    key = (ctx.model_key, tuple(ctx.ex.ids))
    cached = st.session_state.get("lsn_two_parts")
    again = st.button("Measure again", key=f"{ctx.key}_again")
    if again or cached is None or cached[0] != key:
        with st.spinner("Running the three models in every schedule they allow…"):
            cached = (key, S.two_parts(story_models(ctx), prompt_text(ctx), list(ctx.ex.ids)))
        st.session_state["lsn_two_parts"] = cached
    return cached[1]


def _figure_rows(tp: S.TwoParts) -> list[dict]:
    return [{"title": r.title, "mode": r.mode, "product_steps": r.product_steps, "ms": r.ms} for r in tp.rows]


def _missing_rivals(tp: S.TwoParts) -> None:
    missing = [KINDS[k].title for k in S.STORY if k not in tp.params]
    if missing:
        st.warning(f"Not in the models folder: {', '.join(missing)} (train with `python -m lab.train --kind lstm` "
                   "or `--kind redline`); "
                   "the table shows the models that are there.")


# --- part 1: the red line ---------------------------------------------------------------------------

@view("red_line_live", "the article's red-line RNN, and the real red-line RNN run on this prompt")
def red_line_live(ctx: Context) -> None:
    show(ctx, architecture.classic_rnn(n_layer=3, n_tokens=4), "rnn")
    tp = measured(ctx)
    if "redline" not in tp.params:
        _missing_rivals(tp)
        return
    ran = tp.row("redline", "rnn")
    c1, c2 = st.columns(2)
    c1.metric(f"red-line RNN ({count(ran.n_layer, 'layer')}) on your {count(tp.n_tokens, 'token')}",
              f"{ran.product_steps} steps = L·T", help="Plan.product_steps of its only possible plan")
    c2.metric(f"measured on {tp.device}", f"{ran.ms:.1f} ms")
    for mode in ("cascade", "parallel"):
        st.info(f"{mode}: refused. {tp.row('redline', mode).refusal}.")


@view("wave", "the grid without the red line: diagonal waves, counted on this prompt")
def wave_view(ctx: Context) -> None:
    show(ctx, architecture.remove_red_line(n_layer=3, n_tokens=4), "cascade")
    L, T = ctx.model.config.n_layer, ctx.ex.n_tokens
    c1, c2 = st.columns(2)
    c1.metric(f"red-line RNN order, {count(L, 'layer')} × your {count(T, 'token')}", f"{expected_steps('rnn', L, T)} steps")
    c2.metric("cascade (one token per cell)", f"{expected_steps('cascade', L, T, 1)} steps")


@view("race", "the loaded model on this prompt in every schedule, timed; the cascade with concurrent workers")
def race_view(ctx: Context) -> None:
    ids = list(ctx.ex.ids)
    key = (ctx.model_key, tuple(ids))
    cached = st.session_state.get("lsn_race")
    again = st.button("Measure again", key=f"{ctx.key}_remeasure")
    if again or cached is None or cached[0] != key:          # once per model and prompt
        with st.spinner("Timing every schedule on your tokens…"):
            cached = (key, S.race(ctx.model, ids))
        st.session_state["lsn_race"] = cached
    runs = cached[1]
    drawn = [r for r in runs if not (r.plan.mode == "cascade" and r.workers == 1 and len(runs) == 4)]
    device = runs[0].timings.device
    frames = vf.race_frames([r.clock_steps for r in drawn])
    with sc.FIGURE_LOCK:
        fig = vs.grid_figure([r.plan for r in drawn], frames=frames, device=device,
                             token_labels=list(ctx.ex.labels), stacked=style.phone())   # a phone: one per row
    show(ctx, fig, "race")
    st.caption(S.race_caption(runs))
    show(ctx, vt.totals_figure([{"label": r.label, "seconds": r.timings.total_seconds, "n_tokens": len(ids)}
                                for r in runs], device), "totals")
    table(ctx, [{"schedule": r.label, "steps": r.plan.n_steps, "workers": r.workers,
                 "ms": r.timings.total_seconds * 1000, "max |logits − rnn logits|": r.max_diff} for r in runs])


# --- part 2: the nonlinear recurrence, and the three models side by side -----------------------------

@view("two_parts", "red-line RNN, stacked LSTM and RWKV-4 in every schedule: critical path and measured time")
def two_parts_view(ctx: Context) -> None:
    tp = measured(ctx)
    _missing_rivals(tp)
    show(ctx, vls.kind_schedules(_figure_rows(tp), device=tp.device, n_tokens=tp.n_tokens), "kinds")
    table(ctx, S.two_parts_table(tp))
    L = {r.kind: r.n_layer for r in tp.rows}
    st.caption(f"T = {count(tp.n_tokens, 'token')} of your prompt (at most {S.MAX_TOKENS}); L = "
               + ", ".join(f"{KINDS[k].title} {n}" for k, n in L.items()) + ". Cascade with one token per cell.")
    worst = max(r.max_diff for r in tp.rows if r.max_diff is not None)
    (st.success if worst < sc.SAME_TOLERANCE else st.error)(
        f"Each model gives the same logits in every order it can run: largest |difference| {worst:.1e} "
        "(float32 rounding).")
    if tp.concurrent_ms is not None:
        st.info(f"RWKV-4's cascade as the picture draws it, {tp.workers} workers running a wave's cells at the "
                f"same time: {tp.concurrent_ms:.1f} ms, against {tp.row('rwkv4', 'cascade').ms:.1f} ms with the "
                "one worker of the bars above.")
    for kind in tp.params:
        st.markdown("- " + S.kind_sentence(kind))


@view("kind_grids", "each kind's real dependencies as a grid: red line, sequential-inside cells, refused schedules")
def kind_grids_view(ctx: Context) -> None:
    L, T = ctx.model.config.n_layer, min(KIND_GRID_TOKENS, ctx.ex.n_tokens)
    labels = list(ctx.ex.labels[:T])
    for kind in S.STORY:
        plans, refused = sc.kind_panels(kind, L, T, 1)
        frames = vs.step_frames([p.n_steps for p in plans])
        with sc.FIGURE_LOCK:            # every cell drawn done: the dependencies are the point here
            fig = vs.grid_figure(plans, refused=refused, token_labels=labels, frames=frames,
                                 at_frame=len(frames.windows) - 1, stacked=style.phone())
        st.markdown(f"**{KINDS[kind].title}** — {KINDS[kind].why}.")
        show(ctx, fig, f"grid_{kind}")
        st.caption(critical_path_line(plans))


def critical_path_line(plans) -> str:
    """Each plan's critical path in matrix products first, its count of steps (layer calls for
    layer by layer) second: for an LSTM the two differ by a factor of T."""
    return "Critical path in matrix products: " + "; ".join(
        f"{p.mode} **{p.product_steps}** ({p.n_steps} {'layer calls' if p.mode == 'parallel' else 'steps'})"
        for p in plans) + "."


# --- chunk sizes ----------------------------------------------------------------------------------------

@view("chunk_sizes", "the cascade's step count for chunk sizes 1 to 512 on a long prompt, and its grid")
def chunk_sizes_view(ctx: Context) -> None:
    cfg = ctx.model.config
    chunk = st.select_slider("Tokens per chunk", sc.CHUNKS, value=32, key=f"{ctx.key}_chunk")
    facts = S.chunk_facts(cfg.n_layer, cfg.n_ffn, GRID_TOKENS, chunk)
    steps = {c: S.chunk_facts(cfg.n_layer, cfg.n_ffn, GRID_TOKENS, c).steps["cascade"] for c in sc.CHUNKS}
    show(ctx, vls.cascade_steps(cfg.n_layer, GRID_TOKENS, steps, chunk), "steps")
    c1, c2, c3 = st.columns(3)
    c1.metric(f"cascade, chunk {chunk}", f"{facts.steps['cascade']} steps")
    c2.metric("layers at work per step, on average", f"{facts.busy_layers:.1f} of {cfg.n_layer}")
    c3.metric("one cell's channel-mix activations", f"{facts.cell_bytes / 1024:,.0f} KiB",
              help=f"chunk × {cfg.n_ffn} hidden channels × 4 bytes (float32)")
    p = make_plan("cascade", n_layer=cfg.n_layer, n_tokens=GRID_TOKENS, chunk=chunk)
    frames = vs.step_frames([p.n_steps])
    with sc.FIGURE_LOCK:
        fig = vs.grid_figure([p], frames=frames, at_frame=len(frames.windows) - 1)
    show(ctx, fig, "grid")


@st.cache_data(max_entries=8, show_spinner="Timing the cascade at each chunk size on this model…")
def live_chunk_cost(model_key: str, _model: Model) -> dict:
    """The loaded model's chunk record, measured once per model and server (a second or two for
    the embedded model on one CPU thread)."""
    return S.chunk_cost(_model, name=_model.source.rsplit("/", 1)[-1] or "the loaded model",
                        note="measured live by the lesson")


def _summary_line(label: str, points) -> str:
    s = S.cost_summary(points)
    return (f"**{label}**: chunk 1 costs {s['one']:.2f} ms per token; chunk 1 → 32: **{s['first']:.1f}× less** "
            f"per token; 32 → the best in 32–512 (chunk {s['best_chunk']}, {s['best']:.3f} ms): "
            f"{s['then']:.1f}× less.")


@view("chunk_cost", "time per token against chunk size: live on this model, and the 169M shape as committed")
def chunk_cost_view(ctx: Context) -> None:
    live = live_chunk_cost(ctx.model_key, ctx.model)
    series = {f"{S.record_label(live)}, live on {live['device']}": S.per_token_ms(live)}
    committed, problems = S.committed_chunk_costs()
    for rec in committed:
        series[f"{S.record_label(rec)}, {rec['device']}"] = S.per_token_ms(rec)
    show(ctx, vls.chunk_cost(series), "cost")
    for label, points in series.items():
        st.markdown(_summary_line(label, points))
    for rec in committed:
        st.caption(f"{S.record_label(rec)}: measured {rec.get('measured_at', '')} on {rec['device']} "
                   f"(`python scripts/bench_chunks.py`, {rec.get('note', '')}).")
    for p in problems:
        st.warning(f"A committed measurement could not be read: {p}")
    cfg = ctx.model.config
    table(ctx, [{"chunk": c, "ms per token (live)": round(ms, 3),
                 "cascade steps on 512 tokens": S.chunk_facts(cfg.n_layer, cfg.n_ffn, GRID_TOKENS, c).steps["cascade"],
                 "one cell's channel-mix activations (KiB)": round(c * cfg.n_ffn * 4 / 1024)}
                for c, ms in S.per_token_ms(live)])
