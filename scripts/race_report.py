"""The fair race's report, written from its files only (docs/race/README.md):

    python scripts/race_report.py --out docs/race/README.md     # write it (and sweep.svg beside it)
    python scripts/race_report.py                               # print it

Every number in it is read from docs/race/sweep.json (`python -m lab.sweep json ...`),
docs/race/throughput.json (`python -m lab.train_bench --repeats 9 --json ...`) and the race's
models' logs; every conclusion is computed from them (lab.race, app.compare_core). tests/test_race.py
writes it again and fails when the committed file differs: rerun this after any of them changes.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from app import compare_core as cc
from lab import race

ROOT = Path(__file__).resolve().parent.parent


def md_table(head: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table's lines (scripts/docs_blocks.py uses it too)."""
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows]


def fairness(sweep: dict | None, logs: dict) -> list[str]:
    reasons = race.unfair(sweep, logs)
    if not reasons:
        return ["**Fair**: every kind was tuned with the same budget, and every model in the race was trained with "
                "its kind's chosen setting on the recipe's full training tokens."]
    return ["**Not yet fair.** What is left (computed by `lab.race.unfair`):", ""] + [f"- {r[0].upper()}{r[1:]}."
                                                                                     for r in reasons]


def sweep_section(sweep: dict) -> list[str]:
    lrs = sweep["lrs"]
    out = [f"`{sweep['command']}`: {race.done_text(sweep)}. Each run: {sweep['steps']} steps of "
           f"{sweep['batch'][0]} × {sweep['batch'][1]} tokens, seed {sweep['seed']}, the embedded model's tokenizer "
           f"and data; {sweep['warmup']} warm-up steps, then cosine; each kind's own loss. Held-out bits per "
           "character at the last step (lower is better)" + ("; — not run yet" if not sweep["complete"] else "")
           + ". Where a kind's best rate is at an edge "
           f"of the rates tried, the next rate beyond it (× or ÷ 2) is tried too, at most {sweep.get('extend', 0)} "
           "more, the same rule for every kind. Then a second warm-up length at each kind's best rate"
           + (f", and at the best of those a second initialisation ({sweep['init_2']}: PyTorch's layer defaults for "
              "every matrix, `lab.inits`; the first is the kind's own: GPT-2's for the GPT, RWKV-LM's for RWKV-4, "
              "nn.LSTM's for the LSTMs)" if sweep.get("init_2") else "") + ".", ""]
    rows, init, init_2 = [], sweep.get("init", "kind"), sweep.get("init_2")
    for kind in dict.fromkeys(r["kind"] for r in sweep["runs"]):
        own = [r for r in sweep["runs"] if r["kind"] == kind]
        runs = {(r["lr"], r["warmup"]): r for r in own if r.get("init", "kind") == init}
        cells = [f"{runs[(lr, sweep['warmup'])]['bits_per_char']:.3f}"
                 if runs.get((lr, sweep["warmup"]), {}).get("done") else "—" for lr in lrs]
        more = [r for (lr, wu), r in runs.items() if wu == sweep["warmup"] and lr not in lrs]
        cells.append(", ".join(f"{r['bits_per_char']:.3f} at {r['lr']:g}" if r["done"] else f"— at {r['lr']:g}"
                               for r in more) or "none")
        second = [r for (lr, wu), r in runs.items() if wu == sweep["warmup_2"]]
        cells.append(f"{second[0]['bits_per_char']:.3f} at {second[0]['lr']:g}" if second and second[0]["done"] else "—")
        if init_2:
            third = [r for r in own if r.get("init") == init_2]
            cells.append(f"{third[0]['bits_per_char']:.3f} at {third[0]['lr']:g}, {third[0]['warmup']} warm-up"
                         if third and third[0]["done"] else "—")
        chosen = race.setting(kind, sweep)
        cells.append(f"{chosen['lr']:g}, {chosen['warmup']} warm-up" + (f", {chosen['init']} init" if "init" in chosen
                                                                       else "") if chosen else "not yet")
        rows.append([cc.title(kind), own[0]["loss"], *cells])
    out += md_table(["kind", "loss", *[f"{lr:g}" for lr in lrs], "beyond the grid",
                   f"{sweep['warmup_2']} warm-up at the best rate",
                   *([f"{init_2} init at the best so far"] if init_2 else []), "chosen"], rows)
    borrow = ", ".join(f"the {cc.title(k)} takes the {cc.title(v)}'s" for k, v in sweep["borrows"].items())
    return out + ["", f"Borrowed settings: {borrow}."]


def throughput_section(rec: dict) -> list[str]:
    recs = [x for x in rec["records"] if x["batch"] == 6 and x.get("shape", "shipped") == "shipped"]
    r = recs[0]
    counts = [x["threads"] for x in recs]
    out = [f"`{rec['command']}`: one training step (forward, loss, backward, clipping, AdamW) of {r['batch']} × "
           f"{r['ctx']} tokens, each kind in its fastest allowed schedule, random weights of the shipped shapes; "
           f"the median of {rec['repeats']} steps after a warm-up, at "
           + (f"{counts[0]} thread(s)" if len(counts) == 1 else " and at ".join(f"{n}" for n in counts) + " threads")
           + f". {rec['device'].split(',')[0]}, torch {rec['torch']}, measured {r['measured_at']}; load average "
           f"{rec['load_before'][0]:.2f} before and {rec['load_after'][0]:.2f} after (1 minute).", ""]
    rows = [[cc.title(x["kind"]), x["schedule"], str(y["threads"]), f"{x['params']:,}", f"{x['seconds']:.3f}",
             f"{x['seconds_min']:.3f}–{x['seconds_max']:.3f}", f"{x['tokens_per_s']:,.0f}"]
            for y in recs for x in y["rows"]]
    out += md_table(["kind", "schedule", "threads", "parameters", "s/step (median)", "range", "tokens/s"], rows)
    if len(counts) > 1:
        best = race.fastest(rec)
        out += ["", "Each kind's fastest is its throughput below: " + ", ".join(
            f"{cc.title(k)} {v:,.0f} tokens/s at {n} thread{'s' if n != 1 else ''}" for k, (v, n) in best.items()) + "."]
    return out


def quality_section(speed: dict[str, float]) -> list[str]:
    curves = cc.read_curves()
    eq = cc.equal_race(curves, speed)
    if eq is None:
        return ["Needs two race models' logs and every kind's throughput."]
    rows = [[cc.title(k), f"{c.final_bpc:.3f}", f"{c.tokens / 1e6:.2f}M", f"{eq.at_tokens[k]:.3f}",
             f"{c.tokens / speed[k] / 60:.1f}", f"{eq.at_seconds[k]:.3f}",
             "—" if c.train_loss is None else f"{c.train_loss:.3f}"] for k, c in curves.items()]
    return ["The race's models (lab.race.race_folder), from their logs: each validation curve read at the most training tokens every run "
            "reached, and at the most compute time every run had (a run's tokens ÷ its kind's throughput above; "
            "linear between validation points).", ""] + md_table(
        ["model", "held-out bits/char", "trained on", f"at {eq.tokens / 1e6:.2f}M tokens",
         "compute (min)", f"at {eq.seconds / 60:.1f} min of compute",
         "final train loss (nats/token, last 100 steps)"], rows) + [
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


def sweep_svg(sweep: dict, width: int = 720, height: int = 420) -> str:
    """The sweep drawn (held-out bits/char against the peak rate, log axis, a line per kind, a ring on
    the chosen setting) as a plain SVG, from the file alone: docs/race/sweep.svg."""
    import math

    from lab.kinds import KINDS
    from visuals.theme import kind_colour
    series = race.sweep_series(sweep)
    pts = [p for v in series.values() for p in v]
    if not pts:
        return f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="60"><text x="10" y="30">' \
               "no finished sweep runs yet</text></svg>\n"
    left, right, top, bottom = 70, 170, 40, 50
    lx = [math.log2(lr) for lr, _ in pts]
    x0, x1 = min(lx) - 0.3, max(lx) + 0.3
    y0, y1 = min(b for _, b in pts) - 0.05, max(b for _, b in pts) + 0.05

    def xy(lr: float, bpc: float) -> tuple[float, float]:
        return (left + (math.log2(lr) - x0) / (x1 - x0) * (width - left - right),
                top + (y1 - bpc) / (y1 - y0) * (height - top - bottom))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
           f'font-size="13"><rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="22" font-size="15">The tuning sweep: held-out bits/char after {sweep["steps"]} steps '
           "(lower is better)</text>"]
    for lr in sorted({lr for lr, _ in pts}):
        x, _ = xy(lr, y0)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - bottom}" stroke="#ddd"/>'
                   f'<text x="{x:.1f}" y="{height - bottom + 18}" text-anchor="middle">{lr:g}</text>')
    for i in range(5):
        b = y0 + (y1 - y0) * i / 4
        _, y = xy(2 ** x0, b)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#eee"/>'
                   f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{b:.2f}</text>')
    out.append(f'<text x="{(left + width - right) / 2:.0f}" y="{height - 12}" text-anchor="middle">peak learning rate '
               "(log)</text>")
    for j, (kind, line) in enumerate(series.items()):
        colour = kind_colour(KINDS[kind].colour)
        xs = " ".join("{:.1f},{:.1f}".format(*xy(lr, b)) for lr, b in line)
        out.append(f'<polyline points="{xs}" fill="none" stroke="{colour}" stroke-width="2.5"/>')
        out += [f'<circle cx="{xy(lr, b)[0]:.1f}" cy="{xy(lr, b)[1]:.1f}" r="4" fill="{colour}"/>' for lr, b in line]
        chosen = sweep["chosen"].get(kind)
        if chosen and chosen["warmup"] == sweep["warmup"]:
            cx, cy = xy(chosen["lr"], chosen["bits_per_char"])
            out.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="9" fill="none" stroke="{colour}" stroke-width="2"/>')
        out.append(f'<line x1="{width - right + 15}" y1="{top + 10 + 22 * j}" x2="{width - right + 40}" '
                   f'y2="{top + 10 + 22 * j}" stroke="{colour}" stroke-width="3"/><text x="{width - right + 46}" '
                   f'y="{top + 14 + 22 * j}">{cc.title(kind)}</text>')
    return "\n".join(out + ["</svg>"]) + "\n"


def plateau_section(bigram: dict) -> list[str]:
    """When each run's training loss went below the bigram level (lab.bigram), worded from the file."""
    from lab import bigram as lab_bigram
    runs, level = bigram["runs"], bigram["bigram_nats_per_token"]
    rows = [[cc.title(r["kind"]) + (" (before the race)" if "/before/" in r["log"] else ""), f"{r['lr_peak']:g}",
             str(r["warmup_steps"]), r["loss"] or "ce+l2wrap", r.get("init", "kind"),
             f"{r['leaves_at_step']:,}" if r["leaves_at_step"] is not None else "never", f"`{r['log']}`"]
            for r in runs]
    out = [f"`{bigram['command']}`: the training loss of the best model that reads one token back, counted over "
           f"the {bigram['train_tokens']:,} training tokens, is {level:.3f} nats/token. A run leaves that plateau at "
           f"the first step whose mean training loss over the {bigram['window']} steps before it is below it.", ""]
    out += md_table(["model", "peak rate", "warm-up", "loss", "init", "below the bigram level from step", "log"], rows)
    said = lab_bigram.gpt_sentence(bigram)
    if said:
        out += ["", said]
    return out


def carried_section(sweep: dict | None) -> list[str]:
    rows = race.carried()
    if not rows:
        return []

    def setting(r: dict) -> str:
        return f"{r['lr']:g}, {r['warmup']} warm-up, {r['loss']}, {r['init']} init"
    table = [[cc.title(r["kind"]), setting(r["before"]), f"{r['before']['tokens'] / 1e6:.2f}M",
              f"{r['before']['bits_per_char']:.4f}", setting(r["race"]), f"{r['race']['tokens'] / 1e6:.2f}M",
              f"{r['race']['bits_per_char']:.4f}", f"{r['race']['bits_per_char'] - r['before']['bits_per_char']:+.4f}",
              f"`{r['before']['file']}`, `{r['race']['file']}`"] for r in rows]
    return ["Each kind's run from before the race (its setting then) against the race's run at the sweep's choice "
            "(`lab.race.carried`; held-out bits/char from each model's evaluation, else its log).", "",
            *md_table(["model", "before: setting", "tokens", "bits/char", "race: setting", "tokens", "bits/char",
                       "race − before", "files"], table), "", race.carried_text(rows, sweep)]


def attention_section(data: dict, measured: bool = False) -> list[str]:
    """What the GPT's attention reads on and past the plateau (lab.plateau), worded from the file."""
    from lab import plateau
    rows = [[f"`{r['checkpoint']}`", f"{r['step']:,}", f"{r['lr_peak']:g}, {r['warmup_steps']} warm-up, {r['init']} init",
             f"{r['train_loss']:.3f}", f"layer {r['layer']}, head {r['head']}", f"{r['best']:.3f}"] for r in data["runs"]]
    return [f"`{data['command']}` ({data['machine']}): for each GPT checkpoint, the mean weight its attention heads "
            f"put on the token just before each query, over {data['windows']} windows of {data['ctx']} held-out "
            f"tokens; the strongest head. Training loss: the mean of the {data['window']} steps up to the checkpoint "
            "(nats/token).", "",
            *md_table(["checkpoint", "step", "setting", "training loss", "strongest head", "weight on the previous token"],
                      rows), "", plateau.verdict(data, measured)]


def shift_section(data: dict) -> list[str]:
    """The GPT with and without RWKV-4's token shift at the sweep's budget (lab.gpt_shift), from the file."""
    from lab import gpt_shift
    s = data["setting"]
    steps = [c["step"] for c in data["plain"]["curve"]]

    def row(name, r):
        at = {c["step"]: c for c in r["curve"]}
        return [name, f"{r['params']:,}", *[f"{at[n]['train_loss']:.3f} / {at[n]['bits_per_char']:.3f}" for n in steps],
                _from(r)]
    machine = "; ".join(sorted({f"{x['cpu']}, {x['threads']} thread(s)" for r in (data["plain"], data["shift"])
                                for x in r["sessions"]}))
    said = ([f"The plain run repeats the sweep's (held-out {data['sweep_bits_per_char']:.4f} bits/char there, "
             f"{data['plain']['bits_per_char']:.4f} here)."] if data.get("sweep_bits_per_char") else [])
    return [f"`{data['command']}` ({machine}): the GPT at its chosen setting ({s['lr']:g}, {s['warmup']} warm-up, "
            f"{s['init']} init) for the sweep's {s['steps']:,} steps, the same data, seed and batch, with and without "
            "RWKV-4's token shift before each sublayer (`lab.gpt_shift`: each block mixes its layer-normed input "
            "with the previous token's, per channel, as RWKV-4's time-mix does). Each cell: the training loss (the "
            f"mean of the {data['window']} steps up to it, nats/token) / held-out bits per character.", "",
            *md_table(["model", "parameters", *[f"step {n:,}" for n in steps], "below the bigram level from step"],
                      [row("GPT", data["plain"]), row("GPT + token shift", data["shift"])]), "",
            " ".join([gpt_shift.verdict(data), *said]),
            *(["", *md_table(["model", "parameters", f"held-out bits/char after {data['full']['steps']:,} steps",
                              "below the bigram level from step"],
                             [[f"GPT (the race's, `{data['full']['plain_log']}`)", f"{data['full']['plain']['params']:,}",
                               f"{data['full']['plain']['bits_per_char']:.3f}",
                               _from(data["full"]["plain"])],
                              ["GPT + token shift", f"{data['full']['shift']['params']:,}",
                               f"{data['full']['shift']['bits_per_char']:.3f}", _from(data["full"]["shift"])]]),
               "", data["full_verdict"]] if data.get("full") else [])]


def _from(r: dict) -> str:
    return f"{r['below_bigram_from_step']:,}" if r["below_bigram_from_step"] is not None else f"not by step {r['steps']:,}"


def report() -> str:
    sweep, rec = race.read(race.SWEEP_FILE), race.read(race.THROUGHPUT_FILE)
    logs = race.race_logs()
    lines = ["# The fair race", "",
             "Written by `python scripts/race_report.py --out docs/race/README.md` from the files named below; "
             "a test writes it again and fails if this file differs.", "",
             "## Is it fair yet?", "", *fairness(sweep, logs), "", race.SCALE_NOTE, "",
             *[f"{line[0].upper()}{line[1:]}." for line in race.kept()], *([""] if race.kept() else [])]
    if sweep:
        lines += ["## The tuning sweep (docs/race/sweep.json)", "", "![The tuning sweep](sweep.svg)", "",
                  *sweep_section(sweep), ""]
    carried = carried_section(sweep)
    if carried:
        lines += ["## Did the sweep's choice carry over to the full recipe?", "", *carried, ""]
    if rec:
        lines += ["## Training throughput, measured cleanly (docs/race/throughput.json)", "",
                  *throughput_section(rec), "",
                  "## Quality at equal tokens and equal compute", "", *quality_section(race.throughput(rec)), "",
                  "## Every model side by side", "", *summary_section(race.throughput(rec)), ""]
    bigram = race.read(race.BIGRAM_FILE)
    if bigram:
        lines += ["## The early plateau (docs/race/bigram.json)", "", *plateau_section(bigram), ""]
    attention, shift = race.read(race.PLATEAU_FILE), race.read(race.SHIFT_FILE)
    if attention:
        lines += ["### What the GPT's attention reads (docs/race/plateau.json)", "",
                  *attention_section(attention, measured=bool(shift)), ""]
    if shift:
        lines += ["### The GPT with RWKV-4's token shift (docs/race/gpt_shift.json)", "", *shift_section(shift), ""]
    return "\n".join(lines)


def main(argv=None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=None, help="write the report here (else print it)")
    args = p.parse_args(argv)
    text = report()
    if args.out:
        Path(args.out).write_text(text)
        sweep = race.read(race.SWEEP_FILE)
        if sweep:
            (Path(args.out).parent / "sweep.svg").write_text(sweep_svg(sweep))
    else:
        print(text)
    return text


if __name__ == "__main__":
    main()
