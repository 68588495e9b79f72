"""The Scheduling Lab's sections below the grid (the page, app/app_pages/scheduling_lab.py, draws the
grid and calls these): run and time, every model kind on the same text, one training step per kind,
watch it run, and scaling against sequence length. Each section is a fragment: its buttons rerun it
alone. Its figures are made once, when its run is made, and kept with the run in st.session_state (a
rerun shows them again; the browser has them already). An ordinary module, so that the page script
stays short and its heavy imports are done once.

Model and user text reaches the screen only through plotly labels escaped in visuals/ and through
st.dataframe / st.text; no HTML is written here.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from app import scheduling_core as sc
from app.formats import count
from app.widgets import show, table
from lab import bench_record
from lab.kinds import KINDS
from rwkv_core.protocol import Model
from visuals import export
from visuals import frames as vf
from visuals import schedule as vs
from visuals import timing as vt

BENCH = Path(__file__).resolve().parents[1] / "docs" / "bench"


def downloads(files: tuple[str, bytes], what: str, stem: str, key: str, html_note: str = "") -> None:
    """The two download buttons of an exported animation: files = (HTML text, GIF bytes)."""
    st.download_button(f"Download {what} (HTML{html_note})", files[0], f"{stem}.html", "text/html",
                       key=f"{key}_html")
    st.download_button(f"Download {what} (GIF)", files[1], f"{stem}.gif", "image/gif", key=f"{key}_gif")


@st.cache_resource(max_entries=2, show_spinner="Copying the model to the GPU…")
def timing_model(model_key: str, device: str, _model):
    """The model on the timing device (a copy when that is a GPU and the model is on the CPU)."""
    return sc.on_device(_model, device)


@st.cache_resource(max_entries=2, show_spinner=False)
def train_step_files(stamp: tuple) -> list[dict]:
    return sc.training_step_records()


def bench_stamp() -> tuple:
    """The benchmark files' names, sizes and times: a new or changed file draws the charts again."""
    return tuple(sorted((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in BENCH.glob("*.json")))


@st.cache_resource(max_entries=2, show_spinner=False)
def bench_files(stamp: tuple):
    """docs/bench/*.json read once and their two charts drawn once, shared by every session."""
    records, problems = bench_record.read_folder(BENCH)
    with sc.FIGURE_LOCK:
        figs = (vt.scaling_figure(records), vt.chunk_figure(records)) if records else None
    return records, problems, figs


@dataclass(frozen=True)
class Timed:
    """What the sections run: the loaded model on the timing device, every kind's model (the loaded
    RWKV and the rivals in the models folder), and the prompt the grid's tokens come from."""
    model: Model               # the loaded RWKV on `device`
    device: str
    by_kind: dict              # kind → its model, as loaded
    prompt: list[int]
    prompt_text: str | None    # the prompt as text, for a rival's own tokenizer (None: no tokenizer)

    def kind_model(self, kind: str):
        """That kind's model on the timing device."""
        if kind == "rwkv4":
            return self.model
        m = self.by_kind[kind]
        return timing_model(f"{kind}:{m.source}", self.device, m)


# --- run and time ------------------------------------------------------------------------------

@st.fragment
def run_section(timed: Timed, kind: str, n_tokens: int, chunk: int, tokens: list[int]) -> None:
    st.header("Run it and time it")
    deps = KINDS[kind]
    kmodel = timed.kind_model(kind)
    ktokens = tokens if kind == "rwkv4" else sc.kind_tokens(kmodel, timed.prompt_text, timed.prompt, n_tokens)
    what = "the loaded model" if kind == "rwkv4" else f"the {deps.title} trained here"
    st.markdown(f"Runs {what} ({count(kmodel.config.n_layer, 'layer')}) on the grid's {count(n_tokens, 'token')}, once per schedule "
                f"it allows, cascade chunk {chunk}.")
    st.text(f"Device: {sc.device_label(kmodel)}")
    if st.button("Run and time", type="primary", key="sl_run"):
        with st.spinner(f"Running {deps.title}'s schedules…"):
            runs = sc.run_schedules(kmodel, ktokens, chunk)
            frames = vf.race_frames([r.timings.step_seconds for r in runs])
            dev = runs[0].timings.device
            # the wave as drawn: its cells at once, a worker per layer group (the replay keeps one worker)
            wave = sc.concurrent_cascade(kmodel, ktokens, chunk, runs[0].logits)
            timed_runs = runs + ([wave] if wave else [])
            figs = (vt.totals_figure([{"label": r.label, "seconds": r.timings.total_seconds, "n_tokens": n_tokens}
                                      for r in timed_runs], dev),
                    vt.step_times_figure({r.label: r.timings.step_seconds for r in runs}, dev),
                    vs.grid_figure([r.plan for r in runs], frames=frames, device=dev))
            st.session_state["sl_runs"] = ((kind, n_tokens, chunk), [r.light() for r in runs], frames, figs,
                                           wave.light() if wave else None)
            st.session_state.pop("sl_race_files", None)
    saved = st.session_state.get("sl_runs")
    if not saved:
        return
    (k_done, t_done, c_done), runs, frames, (totals, step_times, race), wave = saved
    if (k_done, t_done, c_done) != (kind, n_tokens, chunk):
        st.caption(f"These results are for {KINDS[k_done].title}, {count(t_done, 'token')}, chunk {c_done}: press Run and "
                   "time again for the current settings.")
    rows = runs + ([wave] if wave else [])
    table({"schedule": [r.label for r in rows], "steps": [r.plan.n_steps for r in rows],
           "wall time (ms)": [round(r.timings.total_seconds * 1000, 2) for r in rows],
           "tokens / s": [round(r.tokens_per_second) for r in rows],
           "max |logits − rnn logits|": [f"{r.max_diff_vs_rnn:.2e}" for r in rows]}, key="sl_runs_table")
    if any(r.plan.mode == "cascade" for r in runs):
        st.caption("The cascade with one worker runs a wave's cells one after another: its gain is the chunk's alone. "
                   + (f"\"{wave.label}\" runs them as the grid draws them, at the same time, one worker per layer "
                      f"group ({wave.label.rsplit(', ', 1)[-1]} on {sc.device_label(timed.kind_model(k_done))}): a "
                      "wave's cells belong to different layers, with different weights, so they cannot be fused "
                      "into one product." if wave else
                      "This device allows one worker, so no concurrent cascade is timed here."))
    worst = max(r.max_diff_vs_rnn for r in rows)
    if len(runs) == 1:
        st.info(f"The {KINDS[k_done].title} can run only one cell at a time: there is no other schedule to "
                "compare its outputs with.")
    elif worst < sc.SAME_TOLERANCE:
        st.success(f"Same outputs, {KINDS[k_done].title}: its {len(runs)} schedules' logits differ by at most {worst:.2e} "
                   f"(floating-point rounding; all {t_done} × {runs[0].logits.shape[-1]:,} logits compared).")
    else:
        st.error(f"The schedules disagree: max |difference| {worst:.2e}.")
    show(totals, "sl_totals")
    show(step_times, "sl_step_times")
    st.subheader("Replay at the measured speed")
    show(race, "sl_race")
    st.caption(f"One clock for all three: each frame is {frames.durations_ms[0] / frames.slowdown:.3g} ms of "
               f"measured time, shown {frames.slowdown:,.0f}× slower. Times are the sum of each step's cells "
               "(the engine's step timer).")
    if st.button("Make the replay's HTML and GIF", key="sl_export_race"):
        with st.spinner("Drawing every frame…"):
            st.session_state["sl_race_files"] = (export.figure_html(race, title="RWKV schedules, measured"),
                                                 export.schedule_gif([r.plan for r in runs], frames=frames))
    files = st.session_state.get("sl_race_files")
    if files:
        downloads(files, "the replay", "rwkv-replay", "sl_download_race")


# --- every kind ----------------------------------------------------------------------------------

@st.fragment
def kinds_section(timed: Timed, n_tokens: int, chunk: int) -> None:
    st.header("Every model kind, the same text")
    st.markdown(f"The same text ({count(n_tokens, 'token')}, cascade chunk {chunk}) through the loaded RWKV and every rival "
                "trained here, each in every schedule its dependencies allow: the times, and each kind's proof that "
                "its schedules compute the same numbers.")
    if st.button("Time every kind", key="sl_kinds_run"):
        with st.spinner("Running every kind's schedules…"):
            models = {k: timed.kind_model(k) for k in timed.by_kind}
            st.session_state["sl_kinds"] = ((n_tokens, chunk),
                                            sc.run_kinds(models, timed.prompt_text, timed.prompt, n_tokens, chunk))
    saved_kinds = st.session_state.get("sl_kinds")
    if not saved_kinds:
        return
    (t_k, c_k), kind_runs = saved_kinds
    table(sc.kinds_table(kind_runs), key="sl_kinds_table")
    for kr in kind_runs:
        if len(kr.runs) == 1:
            st.info(f"{kr.title}: one schedule only (rnn), nothing to compare.")
        elif kr.max_diff < sc.SAME_TOLERANCE:
            st.success(f"{kr.title}: same outputs in its {len(kr.runs)} schedule(s) (max |difference| {kr.max_diff:.1e}).")
        else:
            st.error(f"{kr.title}: the schedules disagree by {kr.max_diff:.2e}.")
    st.caption(f"{count(t_k, 'token')}, chunk {c_k}, on {kind_runs[0].runs[0].timings.device}. On a CPU a wide step is not "
               "much faster than a narrow one (few cores); the step counts are what a GPU turns into time.")


@st.fragment
def training_section(device: str) -> None:
    st.subheader("Training speed: one training step per kind")
    for rec in train_step_files(sc.training_step_stamp()):
        if rec.get("problem"):
            st.warning(f"Skipped {rec['file']}: {rec['problem']}")
        elif rec["rows"]:
            table(sc.speed_table(rec["rows"]), key=f"sl_speed_{sc.record_key(rec)}")
            st.caption(f"{rec['file']}: {rec['device']}, batch {rec['batch']} × {rec['ctx']} tokens, "
                       f"forward + backward, each kind in its fastest allowed schedule "
                       "(`python -m lab.train_bench`).")
    if st.button("Measure one training step of each kind here (tens of seconds on a CPU)", key="sl_speed_run"):
        with st.spinner("Timing a training step of each kind…"):
            st.session_state["sl_speed"] = sc.measure_training_steps(device)
    if st.session_state.get("sl_speed"):
        table(sc.speed_table(st.session_state["sl_speed"]), key="sl_speed_live")


# --- watch it run --------------------------------------------------------------------------------

@st.fragment
def watch_section(timed: Timed, n_tokens: int, chunk: int, tokens: list[int]) -> None:
    st.header("Watch it run, side by side")
    w1, w2 = st.columns([2, 1])
    watch_mode = w1.radio("Schedule", list(sc.MODES), horizontal=True, key="sl_watch_mode")
    n_watch = min(n_tokens, sc.MAX_WATCH_TOKENS)
    w2.caption(f"The loaded model on the first {n_watch} grid tokens, chunk {chunk}.")
    if st.button("Record and watch", key="sl_watch_run"):
        wplan = timed.model.plan_for(n_watch, watch_mode, chunk)
        with st.spinner("Recording the run…"):
            data = sc.watch_data(timed.model, tokens[:n_watch], wplan)
            st.session_state["sl_watch"] = (wplan, data, vs.watch_figure(wplan, **{k: data[k] for k in vs.WATCH_FIELDS}))
            st.session_state.pop("sl_watch_files", None)
    watched = st.session_state.get("sl_watch")
    if not watched:
        return
    wplan, data, wfig = watched
    show(wfig, "sl_watch_fig")
    st.caption(f"Recorded and timed in two runs (recording adds copies); their logits differ by "
               f"{data['max_diff_recorded_vs_timed']:.1e}.")
    if st.button("Make this run's HTML and GIF", key="sl_export_watch"):
        with st.spinner("Drawing every frame…"):
            st.session_state["sl_watch_files"] = (
                export.figure_html(wfig, title="RWKV, watch it run"),
                export.watch_gif(wplan, **{k: data[k] for k in vs.WATCH_FIELDS}))
    files = st.session_state.get("sl_watch_files")
    if files:
        downloads(files, "the run", "rwkv-watch", "sl_download_watch")


# --- scaling -------------------------------------------------------------------------------------

def scaling_files() -> None:
    """The committed measurements (docs/bench/*.json), drawn once for every session."""
    st.header("Scaling: time against sequence length")
    records, problems, bench_figs = bench_files(bench_stamp())
    for p in problems:
        st.warning(f"Skipped a benchmark file: {p}")
    if not any(bench_record.is_gpu(r) for r in records):
        st.info("No GPU figures have been measured yet: the charts below are CPU measurements only. On a CPU a "
                "wave of cells cannot really run at once, so the cascade gains less than its step count promises.")
    if records:
        show(bench_figs[0], "sl_scaling_files")
        show(bench_figs[1], "sl_chunk_files")
        st.caption("From " + ", ".join(f"{r['file']} ({r['device']})" for r in records))
        if note := bench_record.concurrent_note(BENCH.parent / "engine-bench-cpu.json"):   # speedup beside its bound
            st.caption(note)


@st.fragment
def measure_section(timed: Timed) -> None:
    st.subheader("Measure here")
    s1, s2 = st.columns(2)
    longest = s1.select_slider("Longest sequence", options=[32, 64, 128, 256], value=128, key="sl_scale_max")
    chunks = s2.multiselect("Cascade chunks", [c for c in sc.CHUNKS if c <= longest], default=[4, 32],
                            key="sl_scale_chunks")
    if st.button("Measure scaling here", key="sl_scale_run"):
        lengths = [n for n in (16, 32, 64, 128, 256) if n <= longest]
        bar = st.progress(0.0, text="Starting…")
        record = sc.measure_scaling(timed.model, lengths, sorted(chunks), on_progress=lambda f, t: bar.progress(f, text=t))
        bar.empty()
        live = bench_record.parse(record, "live measurement")
        st.session_state["sl_scale"] = (live, vt.scaling_figure([live]), vt.chunk_figure([live]))
    if st.session_state.get("sl_scale"):
        live, scaling, by_chunk = st.session_state["sl_scale"]
        show(scaling, "sl_scaling_live")
        show(by_chunk, "sl_chunk_live")
        st.download_button("Download these measurements (JSON, the docs/bench layout)", bench_record.to_json(live),
                           "scheduling-bench.json", "application/json", key="sl_scale_download")
