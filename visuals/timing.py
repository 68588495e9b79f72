"""Timing and scaling charts of the Scheduling Lab: each step's measured time, the whole forward
pass per schedule, and the benchmark records (lab/bench_record.py) as time against
sequence length and against the cascade's chunk size. Plain data in, plotly Figure out.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lab import bench_record
from rwkv_core.schedule import MODES, expected_steps, mode_label, takes_chunk

from .theme import SEQUENCE, safe, style


def step_times_figure(runs: Mapping[str, Sequence[float]], device: str | None = None) -> go.Figure:
    """runs: label → measured seconds of each step (Timings.step_seconds)."""
    fig = go.Figure([go.Scatter(x=list(range(1, len(s) + 1)), y=[v * 1000 for v in s], name=safe(label),
                                mode="lines+markers" if len(s) <= 60 else "lines",
                                hovertemplate="step %{x}: %{y:.3f} ms<extra>" + safe(label) + "</extra>")
                     for label, s in runs.items()])
    fig.update_xaxes(type="log")
    fig.update_yaxes(type="log")
    return style(fig, title="Time of each step" + (f" on {safe(device)}" if device else ""),
                 x_title="step", y_title="ms (log)",
                 caption="The rnn takes many short steps, the cascade few wider ones, parallel one per layer.")


def totals_figure(runs: Sequence[Mapping], device: str | None = None) -> go.Figure:
    """runs: [{"label": str, "seconds": float, "n_tokens": int}] → wall time and tokens/s side by side."""
    labels = [safe(r["label"]) for r in runs]
    fig = make_subplots(rows=1, cols=2, subplot_titles=["wall time (ms)", "tokens per second"])
    colours = SEQUENCE[:len(runs)]
    fig.add_trace(go.Bar(x=labels, y=[r["seconds"] * 1000 for r in runs], marker_color=colours,
                         text=[f"{r['seconds'] * 1000:.1f}" for r in runs], showlegend=False), 1, 1)
    fig.add_trace(go.Bar(x=labels, y=[r["n_tokens"] / r["seconds"] for r in runs], marker_color=colours,
                         text=[f"{r['n_tokens'] / r['seconds']:,.0f}" for r in runs], showlegend=False), 1, 2)
    return style(fig, title="Whole forward pass" + (f" on {safe(device)}" if device else ""),
                 caption="Same model, same tokens, same logits: only the order of the cells differs.")


# --- benchmark records: time against length and chunk ---------------------------------------


def _order(key: tuple) -> tuple:
    mode, chunk, workers = key
    return (MODES.index(mode), chunk or 0, workers or 0)


def scaling_figure(records: Sequence[Mapping]) -> go.Figure:
    """Left: the ideal step counts (a step = one wave of cells); right: measured seconds; both
    against the sequence length, log-log, one line per (schedule, chunk, workers) and device."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=["ideal: number of steps", "measured: seconds"])
    colour: dict[tuple, str] = {}
    dashes = ("solid", "dash", "dot", "dashdot")
    for d, rec in enumerate(records):
        L = rec["shape"]["n_layer"]
        lines = bench_record.series(rec)
        for key in sorted(lines, key=_order):
            pts = lines[key]
            c = colour.setdefault(key, SEQUENCE[len(colour) % len(SEQUENCE)])
            name = mode_label(*key) + (f" · {safe(rec['device'])}" if len(records) > 1 else "")
            ns = list(pts)
            fig.add_trace(go.Scatter(x=ns, y=[expected_steps(key[0], L, n, key[1] or 1) for n in ns],
                                     mode="lines+markers", line=dict(color=c, dash=dashes[d % 4]), name=name,
                                     legendgroup=name, showlegend=False,
                                     hovertemplate=f"{name}<br>T=%{{x}}: %{{y}} steps<extra></extra>"), 1, 1)
            fig.add_trace(go.Scatter(x=ns, y=list(pts.values()), mode="lines+markers", name=name, legendgroup=name,
                                     line=dict(color=c, dash=dashes[d % 4]),
                                     hovertemplate=f"{name}<br>T=%{{x}}: %{{y:.4g}} s<extra></extra>"), 1, 2)
    # labels at the powers of ten only: plotly's in-between labels (2, 5, 3 … 9) ran into each other
    fig.update_xaxes(type="log", dtick=1, title_text="tokens (T)")
    fig.update_yaxes(type="log", dtick=1)
    devices = ", ".join(dict.fromkeys(safe(r["device"]) for r in records)) or "no measurements"
    return style(fig, title=f"Scaling with sequence length · {devices}", height=480,
                 caption="Ideal steps grow like L·T for the rnn but like T/chunk for the cascade; measured "
                         "time follows them only where the hardware has the width to run a wave at once.")


def chunk_figure(records: Sequence[Mapping], n_tokens: int | None = None) -> go.Figure:
    """Cascade time against chunk size at one sequence length (default: the longest measured in
    cascade mode), with the rnn and parallel times at that length as horizontal references."""
    fig = go.Figure()
    for d, rec in enumerate(records):
        series = bench_record.series(rec)
        chunked = {k: v for k, v in series.items() if takes_chunk(k[0])}
        lengths = sorted({n for v in chunked.values() for n in v})
        if not lengths:
            continue
        T = n_tokens if n_tokens in lengths else lengths[-1]
        by_line: dict = {}
        for (mode, chunk, workers), pts in chunked.items():
            if T in pts:
                by_line.setdefault((mode, workers), []).append((chunk, pts[T]))
        suffix = f" · {safe(rec['device'])}" if len(records) > 1 else ""
        for (mode, workers), pairs in sorted(by_line.items(), key=lambda kv: (MODES.index(kv[0][0]), kv[0][1] or 0)):
            pairs.sort()
            fig.add_trace(go.Scatter(x=[c for c, _ in pairs], y=[s for _, s in pairs], mode="lines+markers",
                                     name=f"{mode}, T={T}" + (f", {workers} workers" if workers else "") + suffix))
        references = [m for m in MODES if not takes_chunk(m)]          # the modes a chunk does not change
        for mode, dash in zip(references, ("dot", "dash", "dashdot", "longdash")):
            pts = series.get((mode, None, None), {})
            if T in pts:
                fig.add_hline(y=pts[T], line_dash=dash, annotation_text=f"{mode}, T={T}{suffix}")
    fig.update_xaxes(type="log", dtick=1, title_text="chunk (tokens per cell)")
    fig.update_yaxes(type="log", dtick=1, title_text="seconds (log)")
    return style(fig, title="Cascade: chunk size against time", height=440,
                 caption="Small chunks mean many thin steps; huge chunks mean few steps but little overlap "
                         "between layers; the best is in between, and depends on the device.")
