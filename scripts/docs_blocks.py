"""docs/benchmarks.md's tables of the models trained here, and the README's summary of the fair race,
written from their files only:

    python scripts/docs_blocks.py            # rewrite every block in docs/benchmarks.md and README.md
    python scripts/docs_blocks.py --print    # print them

A block sits between `<!-- block:NAME -->` and `<!-- /block:NAME -->`; everything between is
written here, from the shipped models' logs (models/<stem>.log.json: lab.train_log's schema),
their evaluations (models/<stem>.eval.json: `python -m lab.card`) and docs/compare/recall_cpu.json
(`python -m lab.recall --json ...`). tests/test_docs_blocks.py writes them again and fails when the
committed file differs: rerun this after a model, an evaluation or the recall file changes.
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from app.lessons import views_cliffhanger as vcl
from lab import kinds, race, train_log
from scripts.race_report import md_table

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
README = ROOT / "README.md"
DOCS = (DOC, README)                                 # each holds the blocks it names
RACE = ("rwkv4", "lstm", "gpt", "redline")          # the order of "The rivals trained here"


def _read(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def rivals(models_dir: Path = kinds.MODELS_DIR) -> str:
    """Each kind's shipped model: parameters, held-out bits/char, tokens, wall-clock, the run's
    average tokens/s and who shared the CPU, every cell from its log and evaluation."""
    rows, gpt_ev = [], None
    for kind in RACE:
        s = kinds.main_model(kind)
        log, ev = _read(models_dir / f"{s.stem}.log.json"), _read(models_dir / f"{s.stem}.eval.json")
        if log is None:
            continue
        fin, r = log["final"], log["recipe"]
        bpc = ev["total"]["bits_per_char"] if ev else fin["bits_per_char"]
        steps = fin["train_tokens"] // (r["batch_size"] * r["ctx_len"])
        cut = "" if steps >= r["total_steps"] else f": stopped, {fin.get('why', 'before the end')}"
        rows.append([f"{s.title} (`models/{s.stem}.md`)", f"{log['params']:,}", f"**{bpc:.3f}**",
                     f"{fin['train_tokens']:,} ({steps:,} steps{cut})", f"{log['seconds'] / 60:.1f} min",
                     f"{fin['train_tokens'] / log['seconds']:,.0f}", f"peak rate {r['lr_peak']:g}, "
                     f"{r['warmup_steps']} warm-up steps, {r.get('loss', 'ce+l2wrap')}; "
                     + train_log.conditions(log)])
        gpt_ev = ev if kind == "gpt" else gpt_ev
    out = md_table(["model", "parameters", "held-out bits/char", "training tokens seen", "wall-clock",
                  "tokens/s (run average)", "recipe, machine, threads, who shared the CPU (its log)"], rows)
    if gpt_ev and "rwkv_same_windows" in gpt_ev:
        rw = _read(models_dir / f"{kinds.main_model('rwkv4').stem}.eval.json")
        out += ["", f"The GPT reads the held-out plays with a sliding window (its 512 positions, moved by 256); read "
                f"that way RWKV-4 gives {gpt_ev['rwkv_same_windows']['bits_per_char']:.3f} bits/char instead of "
                f"{rw['total']['bits_per_char']:.3f} (`models/gpt-shakespeare.eval.json`)."]
    return "\n".join(out)


def cliffhanger(models_dir: Path = kinds.MODELS_DIR) -> str:
    """Lesson 2's cliffhanger table (app.lessons.views_cliffhanger) and its sentence."""
    models = vcl.trained_models(models_dir)
    rows = [[m.label, m.keeps, f"**{m.bits_per_char:.3f}**", f"{m.train_tokens / 1e6:.2f}M"] for m in models]
    return "\n".join(md_table(["model", "keeps of the past", "held-out bits/char", "training tokens"], rows)
                     + ["", vcl.gap_sentence(models), vcl.tokens_note(models),
                        vcl.red_line_sentence(race.race_logs(models_dir))])


def recall(path: Path = vcl.RECALL) -> str:
    """How far back each model reads: lab.recall's context curves, a row per model."""
    data = _read(path)
    if data is None:
        return f"({path.name} is not committed: `python -m lab.recall --json docs/compare/{path.name}`.)"
    ctxs = data["contexts"]
    rows = []
    order = [n for n in kinds.SHIPPED if n in data["models"]] + [n for n in data["models"] if n not in kinds.SHIPPED]
    for name in order:
        by = {r["context"]: r for r in data["models"][name]["context_curve"]}
        title = kinds.SHIPPED[name].title if name in kinds.SHIPPED else name
        rows.append([title] + [f"{by[c]['bpc']:.3f}" if by.get(c, {}).get("fits") else "beyond its window"
                               for c in ctxs])
    reads = []
    for name in order:
        pts = [(r["context"], r["bpc"]) for r in data["models"][name]["context_curve"] if r["fits"]]
        best = min(b for _, b in pts)
        settled = next(c for c, b in pts if b <= best + 0.005)
        title = kinds.SHIPPED[name].title if name in kinds.SHIPPED else name
        at16 = next((b for c, b in pts if c == 16), None)
        gain = f", {at16 - best:.3f} bits/char better than at 16 tokens" if at16 is not None and settled > 16 else ""
        reads.append(f"{title} is within 0.005 bits/char of its best from {settled:,} tokens of context on{gain}")
    twice = [[kinds.SHIPPED[n].title if n in kinds.SHIPPED else n]
             + [f"{r['first_bpc']:.3f} → {r['second_bpc']:.3f}" if r["fits"] else "beyond its window"
                for r in data["models"][n]["read_twice"]] for n in order]
    better = [t[0] for t, n in zip(twice, order) if any(r["fits"] and r["second_bpc"] < r["first_bpc"] - 0.05
                                                      for r in data["models"][n]["read_twice"])]
    lengths = [str(r["n"]) for r in data["models"][order[0]]["read_twice"]]
    machine = data.get("machine", {})
    return "\n".join([f"`python -m lab.recall --json docs/compare/{path.name}` on {machine.get('cpu', 'a CPU')}, "
                      f"{machine.get('threads', '?')} thread(s): bits per character of the same {data['target']} "
                      f"held-out tokens at {data['places']} evenly spaced places, each read from an empty state "
                      "after c tokens of context.", ""]
                     + md_table(["context c (tokens)"] + [str(c) for c in ctxs], rows)
                     + ["", "; ".join(reads) + ".", "",
                        f"A held-out passage of n tokens read twice in a row ({data['passages']} passages): bits per "
                        "character of the first reading → the second. A model that looked the first copy up would "
                        "read the second almost free.", ""]
                     + md_table(["n (tokens)"] + lengths, twice)
                     + ["", ("The second reading was more than 0.05 bits/char better for: " + ", ".join(better) + ".")
                        if better else "No model read the second copy more than 0.05 bits/char better than the "
                        "first: none learned to copy at this size and budget."])


def race_summary(models_dir: Path | None = None) -> str:
    """The fair race in a paragraph (README): fair yet, who is best at equal tokens and at equal compute,
    when the GPT left the bigram plateau: lab.race's and the Why page's own sentences, from the files."""
    from app import compare_core as cc
    from lab import bigram
    sweep = race.read(race.SWEEP_FILE)
    reasons = race.unfair(sweep, race.race_logs(models_dir))
    out = ["**The fair race** ([docs/race/README.md](docs/race/README.md), `python scripts/race_report.py --out "
           "docs/race/README.md`; the Why page): "
           + ("every kind was tuned with the same budget (a sweep of peak rates, warm-up and initialisation) and "
              "trained at its chosen setting on the same 6.14M training tokens." if not reasons else
              "not yet fair: " + "; ".join(reasons) + ".")]
    curves = cc.read_curves(models_dir)
    eq = cc.equal_race(curves, race.throughput(race.read(race.THROUGHPUT_FILE)))
    if eq is not None:
        out.append(cc.verdict(curves, eq) + " " + cc.verdict_compute(curves, eq) + " Compute time is a run's "
                   "training tokens ÷ its kind's clean throughput (docs/race/throughput.json).")
    data = race.read(race.BIGRAM_FILE)
    if data and bigram.gpt_sentence(data):
        out.append(bigram.gpt_sentence(data))
    shift = race.read(race.SHIFT_FILE)
    if shift:
        out += [shift["verdict"], *([shift["full_verdict"]] if shift.get("full_verdict") else [])]
    return " ".join(out + [race.SCALE_NOTE])


BLOCKS = {"rivals": rivals, "cliffhanger": cliffhanger, "recall": recall, "race": race_summary}


def fill(doc: str) -> str:
    """The document with every block's body written again (a block it lacks is left out)."""
    for name, make in BLOCKS.items():
        pattern = re.compile(rf"(<!-- block:{name} -->\n)(?:.*?\n)?(<!-- /block:{name} -->)", re.S)
        doc = pattern.sub(lambda m: m.group(1) + make() + "\n" + m.group(2), doc)
    return doc


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--print", action="store_true", help="print the blocks instead of writing them")
    args = p.parse_args(argv)
    if args.print:
        for name, make in BLOCKS.items():
            print(f"<!-- block:{name} -->\n{make()}\n<!-- /block:{name} -->\n")
        return
    for doc in DOCS:
        doc.write_text(fill(doc.read_text()))
        print(f"wrote the blocks of {doc}")


if __name__ == "__main__":
    main()
