"""The benchmark record: wall times of whole forward passes per schedule and sequence length, as
written to docs/bench/*.json by `python -m lab.bench --scaling-json`,
scripts/bench_scheduling.py and the Scheduling Lab's live measurement, and read by the Lab's
scaling charts (visuals/timing.py). Every writer builds it with `record` and `row`, every reader
checks it with `parse`. One JSON object per file:

    {
      "device": "NVIDIA H100 80GB HBM3",          # what ran it (rwkv_core.timing.device_name)
      "shape": {"n_layer": 6, "n_embd": 256, "vocab_size": 2048},   # n_layer required
      "dtype": "float32",                          # optional
      "model": "rwkv4-shakespeare",                # optional
      "note": "warm, median of 5",                 # optional, shown in the legend hover
      "measured_at": "2026-01-01T00:00:00Z",       # optional
      "rows": [                                    # one measured run each
        {"mode": "rnn" | "cascade" | "parallel",
         "chunk": 32,          # tokens per cell: required for cascade, null otherwise
         "workers": null,      # parallel workers/streams used, or null for one
         "n_tokens": 512,      # sequence length
         "seconds": 0.0123}    # wall time of the whole forward pass
      ]
    }

Rows with the same (mode, chunk, workers, n_tokens) are summarised by their median (`series`).
"""
from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Mapping

from rwkv_core.config import Config
from rwkv_core.schedule import MODES, takes_chunk


def shape(config: Config) -> dict:
    """The record's "shape": the model's size as the charts need it."""
    return {"n_layer": config.n_layer, "n_embd": config.n_embd, "vocab_size": config.vocab_size}


def row(mode: str, chunk: int | None, n_tokens: int, seconds: float, workers: int | None = None) -> dict:
    """One measured run; the chunk is kept only for a mode that takes one."""
    return {"mode": mode, "chunk": chunk if takes_chunk(mode) else None, "workers": workers,
            "n_tokens": n_tokens, "seconds": seconds}


def record(*, device: str, config: Config, rows: list[dict], dtype: str | None = None, model: str | None = None,
           note: str | None = None, measured_at: str | None = None) -> dict:
    """A benchmark record; the optional fields that are None are left out."""
    optional = {"dtype": dtype, "model": model, "note": note, "measured_at": measured_at}
    return {"device": device, "shape": shape(config), **{k: v for k, v in optional.items() if v is not None},
            "rows": rows}


def to_json(obj: Mapping) -> str:
    """A record as the text of a docs/bench/*.json file."""
    return json.dumps(obj, indent=1)


def parse(obj: Mapping, source: str = "bench") -> dict:
    """Check a benchmark record (schema in the module docstring); ValueError says what is wrong."""
    if not isinstance(obj, Mapping):
        raise ValueError(f"{source}: expected a JSON object")
    if not isinstance(obj.get("device"), str) or not obj["device"]:
        raise ValueError(f"{source}: 'device' (a non-empty string) is missing")
    size = obj.get("shape")
    if not isinstance(size, Mapping) or not isinstance(size.get("n_layer"), int) or size["n_layer"] < 1:
        raise ValueError(f"{source}: 'shape' needs a positive integer 'n_layer'")
    rows = obj.get("rows")
    if not isinstance(rows, list) or not rows:
        raise ValueError(f"{source}: 'rows' must be a non-empty list")
    return {**obj, "rows": [_parse_row(r, f"{source} row {i}") for i, r in enumerate(rows)]}


def _parse_row(r, where: str) -> dict:
    if not isinstance(r, Mapping):
        raise ValueError(f"{where}: expected an object")
    if r.get("mode") not in MODES:
        raise ValueError(f"{where}: mode must be one of {', '.join(MODES)}, got {r.get('mode')!r}")
    n, sec = r.get("n_tokens"), r.get("seconds")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"{where}: n_tokens must be a positive integer, got {n!r}")
    if not isinstance(sec, (int, float)) or not sec > 0:
        raise ValueError(f"{where}: seconds must be a positive number, got {sec!r}")
    chunk = r.get("chunk")
    if takes_chunk(r["mode"]) and (not isinstance(chunk, int) or chunk < 1):
        raise ValueError(f"{where}: a {r['mode']} row needs a positive integer chunk, got {chunk!r}")
    workers = r.get("workers")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ValueError(f"{where}: workers must be a positive integer or null, got {workers!r}")
    return row(r["mode"], chunk, n, float(sec), workers)


def read_folder(folder: str | Path) -> tuple[list[dict], list[str]]:
    """Every *.json in the folder as a checked record, and a message for each file that is not."""
    records, problems = [], []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            records.append({**parse(json.loads(path.read_text()), path.name), "file": path.name})
        except (ValueError, OSError) as e:
            problems.append(str(e))
    return records, problems


def write(path: str | Path, obj: Mapping) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_json(obj))


def is_gpu(obj: Mapping) -> bool:
    return not obj["device"].startswith("CPU")


def series(obj: Mapping) -> dict[tuple, dict[int, float]]:
    """(mode, chunk, workers) → {n_tokens: median seconds}, lengths in increasing order."""
    acc: dict[tuple, dict[int, list[float]]] = {}
    for r in obj["rows"]:
        acc.setdefault((r["mode"], r["chunk"], r["workers"]), {}).setdefault(r["n_tokens"], []).append(r["seconds"])
    return {k: {n: statistics.median(v) for n, v in sorted(d.items())} for k, d in acc.items()}


def concurrent_note(bench: Mapping | str | Path) -> str | None:
    """One sentence on the concurrent cascade at chunk 1 from a `python -m lab.bench --json`
    result (or its file): its measured speedup over rnn beside the bound this machine measured for
    it (the workers streaming their layers' weights at the same time; rwkv_core.calibrate), or None
    when the result has no such row. A result without bounds says so."""
    if not isinstance(bench, Mapping):
        try:
            bench = json.loads(Path(bench).read_text())
        except (OSError, ValueError):
            return None
    rows = [r for r in bench.get("concurrent_cascade") or [] if r.get("chunk") == 1]
    if not rows:
        return None
    r = rows[0]
    S, n = r["workers"], r["n_tokens"]
    text = (f"Concurrent cascade on {bench.get('device', 'this machine')}, {S} workers, chunk 1, {n} tokens: "
            f"{r['speedup_vs_rnn']:.2f}× rnn measured")
    b = bench.get("bounds")
    if not b or b.get("workers") != S or "rnn_tok_s" not in r:
        return text + " (no bound measured with it)."
    bound = b["cascade_bound_tok_s"] * n / (n + S - 1)
    return (text + f"; bound {bound / r['rnn_tok_s']:.2f}× ({S} workers streaming their layers' weights at once "
            f"reach {b[f'gbps_{S}_workers']:.1f} GB/s, one alone {b['gbps_1_worker']:.1f} GB/s: at most "
            f"{bound:.0f} tokens/s; the cascade ran {r[f'cascade_{S}_workers_tok_s']:.1f}).")
