"""The tables of a GPU check's output folder (scripts/gpu_check.sh), as the issue asks for them.

    python scripts/gpu_summary.py /path/to/OUT          # e.g. docs/gpu/rehearsal-cpu
    python scripts/gpu_summary.py /path/to/OUT --export .   # also copy the figures where the app reads them

The training race (tokens/s per kind, the device named), parallel against rnn at 1024 and 4096
tokens with the rwkv package beside it, the cascade's chunks, the equivalence tests on the
device (from the junit files in logs.tar.gz), the time per new token against context, and the
wall-clock of each part. A part whose file is missing is said to be missing, not skipped.

--export ROOT writes, under the repo root ROOT, each race record as docs/compare/train_step_<gpu>_<shape>_b<batch>.json
(the Why page and the Lab show every train_step_*.json there), the scaling record as
docs/bench/<gpu>_169m_scaling.json (the Lab's scaling charts read every docs/bench/*.json), and the
rest (bench, generation, logs, this summary) under docs/gpu/<gpu>/.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import shutil
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path

from lab.kinds import title


def _json(out: Path, name: str) -> dict | None:
    f = out / name
    if not f.is_file():
        print(f"\n({name}: missing)")
        return None
    return json.loads(f.read_text())


def _logs(out: Path) -> dict[str, bytes]:
    """The files in logs.tar.gz by name (or the loose files of a folder that has no tar)."""
    tar = out / "logs.tar.gz"
    if not tar.is_file():
        return {f.name: f.read_bytes() for f in out.glob("*") if f.suffix in (".xml", ".txt", ".log")}
    with tarfile.open(tar) as t:
        return {Path(m.name).name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}


def race(rec: dict) -> None:
    print(f"\n## Training race: one training step (forward, backward, AdamW), {rec['device']}, torch {rec['torch']}, "
          f"{rec['ctx']} tokens a sequence, median of {rec['repeats']}")
    cols = [(r["shape"], r["batch"]) for r in rec["records"]]
    by = {(r["shape"], r["batch"], row["kind"]): row for r in rec["records"] for row in r["rows"]}
    kinds = list(dict.fromkeys(k for (_, _, k) in by))
    print("| kind | " + " | ".join(f"{s}, batch {b}: tokens/s" for s, b in cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for k in kinds:
        cells = []
        for s, b in cols:
            row = by.get((s, b, k))
            ran = f" (batch {row['batch']})" if row and row.get("batch") not in (None, b) else ""
            cells.append(f"{row['tokens_per_s']:,.0f}{ran}" if row else "-")
        print(f"| {title(k)} | " + " | ".join(cells) + " |")
    for s in rec.get("skipped", []):
        print(f"skipped: {s['kind']} {s['shape']} batch {s['batch']}: {s['why']}")


def parallel_vs_rnn(bench: dict, kernel: dict | None) -> None:
    s = bench["shape"]
    print(f"\n## Parallel against rnn, {s['n_layer']} x {s['n_embd']} ({s['params'] / 1e6:.0f}M), {bench['device']}, "
          f"{bench['dtype']}; tokens/s (the package: {(bench.get('rwkv_package') or {}).get('strategy', 'absent')})")
    print("| T | ours parallel | ours rnn | parallel / rnn | package (kernel off) | package (CUDA kernel) |")
    print("|---:|---:|---:|---:|---:|---:|")
    lengths = sorted({int(k.split("_")[1]) for k in bench["ours"] if k.startswith("rnn_")}
                     | {int(k.split("_")[1]) for k in bench["paired"] if k.startswith("prefill_")})
    for T in lengths:
        par, rnn = bench["paired"].get(f"prefill_{T}", {}), bench["ours"].get(f"rnn_{T}_tok_s")
        on = ((kernel or {}).get("rwkv_package") or {}).get("cuda_kernel")
        kern = kernel["paired"].get(f"prefill_{T}", {}) if on else {}
        ratio = f"{par['ours'] / rnn:.1f}x" if par and rnn else "-"
        print(f"| {T} | {_n(par.get('ours'))} | {_n(rnn)} | {ratio} | {_n(par.get('pkg'))} | {_n(kern.get('pkg'))} |")
    d = bench["paired"].get("decode", {})
    print(f"decode (one token a call): ours {_n(d.get('ours'))}, package {_n(d.get('pkg'))} tokens/s")
    rows = bench.get("concurrent_cascade") or []
    if rows:
        S = rows[0]["workers"]
        print(f"\ncascade over {rows[0]['n_tokens']} tokens: tokens/s with 1 worker and {S} workers (streams)")
        print(f"| chunk | 1 worker | {S} workers | vs rnn |\n|---:|---:|---:|---:|")
        for r in rows:
            print(f"| {r['chunk']} | {_n(r['n_tokens'] / r['cascade_1_worker_s'])} | "
                  f"{_n(r[f'cascade_{S}_workers_tok_s'])} | {r['speedup_vs_rnn']:.2f}x |")


def _n(x) -> str:
    return "-" if x is None else f"{x:,.0f}" if x >= 100 else f"{x:.1f}"


def tests(logs: dict[str, bytes]) -> None:
    print("\n## Equivalence tests on the device (tests/test_reference.py, tests/test_engine.py)")
    if not any(n.startswith("tests_") for n in logs):
        print("(no test results)")
    for log in sorted(n for n in logs if n.startswith("tests_") and n.endswith(".log")):
        if log[:-4] + ".xml" not in logs:
            print(f"{log[6:-4]}: no junit file (timed out or stopped; the last lines of {log}):")
            print("  " + "\n  ".join(logs[log].decode(errors="replace").strip().splitlines()[-3:]))
    for name in sorted(n for n in logs if n.startswith("tests_") and n.endswith(".xml")):
        suite = ET.parse(io.BytesIO(logs[name])).getroot()
        suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
        n, f, e, s = (int(suite.get(a, 0)) for a in ("tests", "failures", "errors", "skipped"))
        print(f"{name[6:-4]}: {n - f - e - s} passed, {f} failed, {e} errors, {s} skipped")
        for case in suite.iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                print(f"  failed: {case.get('name')}")


def generation(rec: dict) -> None:
    print(f"\n## Time per new token against context ({rec['device']}, median of {rec['new_tokens']}), ms")
    models = rec["models"]
    contexts = [r["context"] for r in next(iter(models.values()))]
    print("| model | " + " | ".join(map(str, contexts)) + " |\n|---|" + "---:|" * len(contexts))
    for name, rows in models.items():
        name = f"{Path(name).name} (random weights)" if "/" in name else name   # the checkpoints did not travel
        print(f"| {name} | " + " | ".join(f"{1e3 * r['seconds_per_token']:.2f}" + ("*" if r["past_training_context"]
                                                                                  else "") for r in rows) + " |")
    print("(*: past the GPT's training context, positions clamped: timing only)")


def slug(device: str) -> str:
    """'NVIDIA H100 80GB HBM3' -> 'h100'; 'CPU: AMD EPYC, 2 threads' -> 'cpu'."""
    m = re.search(r"\b([A-Z]\d{2,4}[A-Z]?)\b", device)
    return m.group(1).lower() if m and not device.startswith("CPU") else "cpu"


def export(out: Path, root: Path, summary: str) -> list[Path]:
    """Copy the figures where the app reads them (see the module's doc); returns the files written."""
    race_rec = json.loads((out / "train_race.json").read_text()) if (out / "train_race.json").is_file() else None
    device = race_rec["device"] if race_rec else json.loads((out / "bench.json").read_text())["device"]
    name, written = slug(device), []
    for sub in ("compare", "bench", f"gpu/{name}"):
        (root / "docs" / sub).mkdir(parents=True, exist_ok=True)
    for rec in (race_rec or {}).get("records", []):
        f = root / "docs" / "compare" / f"train_step_{name}_{rec['shape']}_b{rec['batch']}.json"
        f.write_text(json.dumps(rec, indent=1))
        written.append(f)
    if (out / "scaling_169m.json").is_file():
        written.append(Path(shutil.copy(out / "scaling_169m.json", root / "docs" / "bench" / f"{name}_169m_scaling.json")))
    folder = root / "docs" / "gpu" / name
    for f in ("bench.json", "bench_pkgkernel.json", "generation.json", "logs.tar.gz"):
        if (out / f).is_file():
            written.append(Path(shutil.copy(out / f, folder / f)))
    (folder / "summary.md").write_text(summary)
    return [*written, folder / "summary.md"]


def summarise(out: Path) -> None:
    logs = _logs(out)
    print(logs.get("environment.txt", b"(no environment.txt)").decode().strip())
    if (rec := _json(out, "train_race.json")) is not None:
        race(rec)
    if (bench := _json(out, "bench.json")) is not None:
        parallel_vs_rnn(bench, _json(out, "bench_pkgkernel.json"))
    tests(logs)
    if (rec := _json(out, "generation.json")) is not None:
        generation(rec)
    if (rec := _json(out, "scaling_169m.json")) is not None:
        print(f"\nscaling record for the Lab: {len(rec['rows'])} rows, {rec['device']}, shape {rec['shape']}")
    print("\n## Wall-clock of each part\n" + logs.get("summary.txt", b"(no summary.txt)").decode().strip())


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", nargs="?", default="gpu_out", help="the GPU check's output folder (its $OUT)")
    p.add_argument("--export", metavar="ROOT", default=None, help="also copy the figures into the repo at ROOT")
    args = p.parse_args(argv)
    out = Path(args.out)
    if not out.is_dir():
        p.error(f"{out}: no such folder (give the GPU check's output folder, its $OUT)")
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        summarise(out)
    print(text.getvalue(), end="")
    if args.export:
        for f in export(out, Path(args.export), text.getvalue()):
            print(f"wrote {f}")


if __name__ == "__main__":
    main()
