"""The fair race's report, written from its files only (docs/race/README.md):

    python scripts/race_report.py --out docs/race/README.md     # write it
    python scripts/race_report.py                               # print it

Every number in it is read from docs/race/sweep.json (`python -m lab.sweep json ...`),
docs/race/throughput.json (`python -m lab.train_bench --repeats 9 --json ...`) and the shipped
models' logs; every conclusion is computed from them (lab.race, app.compare_core). tests/test_race.py
writes it again and fails when the committed file differs: rerun this after any of them changes.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from app import compare_core as cc
from lab import race

ROOT = Path(__file__).resolve().parent.parent


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows]


def fairness(sweep: dict | None, logs: dict) -> list[str]:
    reasons = race.unfair(sweep, logs)
    if not reasons:
        return ["**Fair**: every kind was tuned with the same budget, and every shipped model was trained with its "
                "kind's chosen setting on the recipe's full training tokens."]
    return ["**Not yet fair.** What is left (computed by `lab.race.unfair`):", ""] + [f"- {r[0].upper()}{r[1:]}."
                                                                                     for r in reasons]


def sweep_section(sweep: dict) -> list[str]:
    lrs = sweep["lrs"]
    out = [f"`{sweep['command']}`: {race.done_text(sweep)}. Each run: {sweep['steps']} steps of "
           f"{sweep['batch'][0]} × {sweep['batch'][1]} tokens, seed {sweep['seed']}, the embedded model's tokenizer "
           f"and data; {sweep['warmup']} warm-up steps, then cosine; each kind's own loss. Held-out bits per "
           "character at the last step (lower is better); — not run yet. Where a kind's best rate is at an edge "
           f"of the rates tried, the next rate beyond it (× or ÷ 2) is tried too, at most {sweep.get('extend', 0)} "
           "more, the same rule for every kind.", ""]
    rows = []
    for kind in dict.fromkeys(r["kind"] for r in sweep["runs"]):
        runs = {(r["lr"], r["warmup"]): r for r in sweep["runs"] if r["kind"] == kind}
        cells = [f"{runs[(lr, sweep['warmup'])]['bits_per_char']:.3f}"
                 if runs.get((lr, sweep["warmup"]), {}).get("done") else "—" for lr in lrs]
        more = [r for (lr, wu), r in runs.items() if wu == sweep["warmup"] and lr not in lrs]
        cells.append(", ".join(f"{r['bits_per_char']:.3f} at {r['lr']:g}" if r["done"] else f"— at {r['lr']:g}"
                               for r in more) or "none")
        second = [r for (lr, wu), r in runs.items() if wu == sweep["warmup_2"]]
        cells.append(f"{second[0]['bits_per_char']:.3f} at {second[0]['lr']:g}" if second and second[0]["done"] else "—")
        chosen = race.setting(kind, sweep)
        cells.append(f"{chosen['lr']:g}, {chosen['warmup']} warm-up" if chosen else "not yet")
        rows.append([cc.title(kind), next(iter(runs.values()))["loss"], *cells])
    out += _table(["kind", "loss", *[f"{lr:g}" for lr in lrs], "beyond the grid",
                   f"{sweep['warmup_2']} warm-up at the best rate",
                   "chosen"], rows)
    borrow = ", ".join(f"the {cc.title(k)} takes the {cc.title(v)}'s" for k, v in sweep["borrows"].items())
    return out + ["", f"Borrowed settings: {borrow}."]


def throughput_section(rec: dict) -> list[str]:
    r = next(x for x in rec["records"] if x["batch"] == 6)
    out = [f"`{rec['command']}`: one training step (forward, loss, backward, clipping, AdamW) of {r['batch']} × "
           f"{r['ctx']} tokens, each kind in its fastest allowed schedule, random weights of the shipped shapes; "
           f"the median of {rec['repeats']} steps after a warm-up. {rec['device']}, torch {rec['torch']}, "
           f"measured {r['measured_at']}; load average {rec['load_before'][0]:.2f} before and "
           f"{rec['load_after'][0]:.2f} after (1 minute).", ""]
    rows = [[cc.title(x["kind"]), x["schedule"], f"{x['params']:,}", f"{x['seconds']:.3f}",
             f"{x['seconds_min']:.3f}–{x['seconds_max']:.3f}", f"{x['tokens_per_s']:,.0f}"] for x in r["rows"]]
    return out + _table(["kind", "schedule", "parameters", "s/step (median)", "range", "tokens/s"], rows)


def quality_section(speed: dict[str, float]) -> list[str]:
    curves = cc.read_curves()
    eq = cc.equal_race(curves, speed)
    if eq is None:
        return ["Needs two shipped models' logs and every kind's throughput."]
    rows = [[cc.title(k), f"{c.final_bpc:.3f}", f"{c.tokens / 1e6:.2f}M", f"{eq.at_tokens[k]:.3f}",
             f"{c.tokens / speed[k] / 60:.1f}", f"{eq.at_seconds[k]:.3f}"] for k, c in curves.items()]
    return ["The shipped models, from their logs: each validation curve read at the most training tokens every run "
            "reached, and at the most compute time every run had (a run's tokens ÷ its kind's throughput above; "
            "linear between validation points).", ""] + _table(
        ["model", "held-out bits/char", "trained on", f"at {eq.tokens / 1e6:.2f}M tokens",
         "compute (min)", f"at {eq.seconds / 60:.1f} min of compute"], rows) + [
        "", cc.verdict(curves, eq) + " " + cc.verdict_compute(curves, eq)]


def summary_section(speed: dict[str, float]) -> list[str]:
    curves, gen, steps = cc.read_curves(), cc.read_generation(), cc.read_train_steps()
    table = cc.summary_table(curves, cc.equal_race(curves, speed), steps["rows"] if steps else [],
                             gen["rows"] if gen else {})
    out = ["The Why page's table (`python scripts/why_rwkv_table.py --no-measure` prints it): quality as above, "
           "training tokens/s from the throughput above, and time per new token and the state's size after reading "
           "the context."]
    if gen:
        out += [f"Generation: docs/compare/generation_cpu.json (`python -m lab.measure --threads 1 --new-tokens 8 "
                f"--contexts 16,64,256,512,1024,2048,4096 --json docs/compare/generation_cpu.json`), {gen['device']}, "
                f"the median of {gen['new_tokens']} new tokens, measured {gen['measured_at']}. The GPT's times past "
                "its 512-token training context are timing only (its positions clamped)."]
    return out + [""] + cc.markdown_table(table).splitlines()


def report() -> str:
    sweep, rec = race.read(race.SWEEP_FILE), race.read(race.THROUGHPUT_FILE)
    logs = race.shipped_logs()
    lines = ["# The fair race", "",
             "Written by `python scripts/race_report.py --out docs/race/README.md` from the files named below; "
             "a test writes it again and fails if this file differs.", "",
             "## Is it fair yet?", "", *fairness(sweep, logs), ""]
    if sweep:
        lines += ["## The tuning sweep (docs/race/sweep.json)", "", *sweep_section(sweep), ""]
    if rec:
        lines += ["## Training throughput, measured cleanly (docs/race/throughput.json)", "",
                  *throughput_section(rec), "",
                  "## Quality at equal tokens and equal compute", "", *quality_section(race.throughput(rec)), "",
                  "## Every model side by side", "", *summary_section(race.throughput(rec)), ""]
    return "\n".join(lines)


def main(argv=None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=None, help="write the report here (else print it)")
    args = p.parse_args(argv)
    text = report()
    if args.out:
        Path(args.out).write_text(text)
    else:
        print(text)
    return text


if __name__ == "__main__":
    main()
