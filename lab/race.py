"""The fair race, read from its files: is it fair yet, and what does training cost in compute time.

    sweep       docs/race/sweep.json       `python -m lab.sweep json docs/race/sweep.json`
    throughput  docs/race/throughput.json  `python -m lab.train_bench --threads 1 2 --repeats 9 --json docs/race/throughput.json`

A race is fair when (issue "A fair race") the tuning sweep is complete, every race model (race_folder:
the shipped one, or the kind's run at the sweep's setting where the shipped one was kept) was
trained with its kind's chosen setting (peak rate, warm-up and the kind's own loss; the red-line RNN
borrows the LSTM's, lab.sweep.BORROWS) and every one saw the recipe's full training tokens.
`unfair()` lists what is not yet so, worded from the files, so the pages say it whatever a rerun finds.

Compute time: a run's training tokens divided by its kind's clean throughput (one training step of
the recipe's batch, the median of the repeats on a quiet machine, at the kind's fastest thread count).
Wall-clock from runs that shared
the CPU unequally does not compare kinds; tokens ÷ throughput does.
"""
from __future__ import annotations

import json
from pathlib import Path

from lab import kinds
from lab.sweep import BEFORE, BORROWS, LOSS, TUNED

ROOT = Path(__file__).resolve().parent.parent
SWEEP_FILE = ROOT / "docs" / "race" / "sweep.json"
THROUGHPUT_FILE = ROOT / "docs" / "race" / "throughput.json"
BIGRAM_FILE = ROOT / "docs" / "race" / "bigram.json"      # `python -m lab.bigram --json docs/race/bigram.json`
PLATEAU_FILE = ROOT / "docs" / "race" / "plateau.json"    # `python -m lab.plateau --json docs/race/plateau.json`
SHIFT_FILE = ROOT / "docs" / "race" / "gpt_shift.json"    # `python -m lab.gpt_shift --json docs/race/gpt_shift.json`
BEFORE_DIR = BEFORE                                       # the shipped logs the race replaced (lab.sweep.adopt keeps them)
RACE_KINDS = ("rwkv4", "gpt", "lstm", "redline")   # the four models of the race (each kind's main shipped model)
# What this race's scale cannot show, and what would (the paper's abstract: Peng et al., 2023, arXiv:2305.13048).
SCALE_NOTE = ("At this size (about 6M parameters, 6M training tokens, one seed) the paper's claim cannot be settled "
              "either way: Peng et al. (2023) report RWKV-4 on par with similarly sized transformers at 169M to 14B "
              "parameters trained on the Pile. What would settle it is this same procedure (every kind tuned with "
              "the same budget, then trained on the same tokens, several seeds) at those sizes: GPU clusters, not "
              "a 2-core CPU.")


def read(path: Path) -> dict | None:
    """A committed JSON file, or None when it is not there."""
    return json.loads(path.read_text()) if path.is_file() else None


def setting(kind: str, sweep: dict) -> dict | None:
    """The kind's chosen setting {lr, warmup, bits_per_char} (a borrower's is its lender's), or None."""
    return sweep.get("chosen", {}).get(BORROWS.get(kind, kind))


def sweep_series(sweep: dict) -> dict[str, list[tuple[float, float]]]:
    """Per tuned kind, stage 1's finished runs as (peak rate, held-out bits/char), by rate."""
    out: dict[str, list[tuple[float, float]]] = {}
    for r in sweep["runs"]:
        if r["done"] and r["warmup"] == sweep["warmup"] and r.get("init", "kind") == sweep.get("init", "kind"):
            out.setdefault(r["kind"], []).append((r["lr"], r["bits_per_char"]))
    return {k: sorted(v) for k, v in out.items()}


def sweep_done(sweep: dict) -> tuple[int, int]:
    """(finished runs, planned runs): every run listed so far, and a stage-2 and a stage-3 run for each
    tuned kind that has none listed yet (a lower bound until stage 1 ends: lab.sweep may add a rate beyond
    the grid where a kind's best is at its edge)."""
    runs, init_2 = sweep["runs"], sweep.get("init_2")
    missing = [k for k in TUNED if not any(r["kind"] == k and r["warmup"] == sweep["warmup_2"] for r in runs)]
    missing += [k for k in TUNED if init_2 and not any(r["kind"] == k and r.get("init") == init_2 for r in runs)]
    return sum(r["done"] for r in runs), len(runs) + len(missing)


def done_text(sweep: dict) -> str:
    done, planned = sweep_done(sweep)
    return f"{done} of {planned} runs done" if sweep.get("complete") else f"{done} of at least {planned} runs done"


def full_tokens(log: dict) -> int:
    """The recipe's training tokens: steps × batch × context."""
    r = log["recipe"]
    return r["total_steps"] * r["batch_size"] * r["ctx_len"]


def seen_tokens(log: dict) -> int:
    return log["val"][-1]["train_tokens"] if log.get("val") else 0


def unfair(sweep: dict | None, logs: dict[str, dict]) -> list[str]:
    """Why the race is not fair yet, one sentence each; empty when it is. logs: kind → the race model's
    training log (race_logs; lab.train_log's schema)."""
    if sweep is None:
        return ["no tuning sweep is committed (docs/race/sweep.json)"]
    reasons = []
    if not sweep.get("complete"):
        reasons.append(f"the tuning sweep is not finished: {done_text(sweep)}")
    for kind, log in logs.items():
        name, r = kinds.title(kind), log["recipe"]
        want, loss = setting(kind, sweep), LOSS.get(BORROWS.get(kind, kind), "ce")
        if want is not None and (r["lr_peak"], r["warmup_steps"]) != (want["lr"], want["warmup"]):
            reasons.append(f"the race's {name} was trained at a peak rate of {r['lr_peak']:g} with "
                           f"{r['warmup_steps']} warm-up steps; the sweep chose {want['lr']:g} and {want['warmup']}")
        if want is not None and r.get("init", "kind") != want.get("init", "kind"):
            reasons.append(f"the race's {name} was trained with the {r.get('init', 'kind')} initialisation; "
                           f"the sweep chose {want['init']}")
        if r.get("loss", "ce+l2wrap") != loss:
            reasons.append(f"the race's {name} was trained with the {r.get('loss')} loss, not its own ({loss})")
        if seen_tokens(log) < full_tokens(log):
            reasons.append(f"the race's {name} saw {seen_tokens(log) / 1e6:.2f}M of the recipe's "
                           f"{full_tokens(log) / 1e6:.2f}M training tokens")
    return reasons


def race_folder(kind: str, models_dir: Path | None = None) -> Path:
    """Where the race reads a kind's model: <models>/race/ when it holds the kind's run at the sweep's
    setting because the shipped model was kept (RWKV-4's is the embedded model, replaced only by one at
    least as good on held-out text: lab.sweep.adopt), else the models folder itself."""
    folder = Path(models_dir or kinds.MODELS_DIR)
    main = kinds.main_model(kind)
    return folder / "race" if main and (folder / "race" / f"{main.stem}.log.json").is_file() else folder


def race_logs(models_dir: Path | None = None) -> dict[str, dict]:
    """kind → the training log of the race's model of that kind (race_folder), for the kinds that have one."""
    out = {}
    for kind in RACE_KINDS:
        main = kinds.main_model(kind)
        path = race_folder(kind, models_dir) / f"{main.stem}.log.json" if main else None
        if path is not None and path.is_file():
            out[kind] = json.loads(path.read_text())
    return out


def final_bpc(folder: Path, stem: str) -> tuple[float, str] | None:
    """A model's held-out bits/char and the file it was read from: its .eval.json (the whole held-out
    text, lab.evaluate), else its log's last validation; None when neither is there."""
    def named(path: Path) -> str:
        return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name
    ev, log = folder / f"{stem}.eval.json", folder / f"{stem}.log.json"
    if ev.is_file():
        return json.loads(ev.read_text())["total"]["bits_per_char"], named(ev)
    final = json.loads(log.read_text()).get("final", {}) if log.is_file() else {}
    return (final["bits_per_char"], named(log)) if "bits_per_char" in final else None


def kept(models_dir: Path | None = None) -> list[str]:
    """A sentence for each kind whose shipped model is not its race model (kept because the race's run
    at the sweep's setting did worse on held-out text), worded from both files."""
    folder, out = Path(models_dir or kinds.MODELS_DIR), []
    for kind in RACE_KINDS:
        main = kinds.main_model(kind)
        if main is None or race_folder(kind, folder) == folder:
            continue
        ship, run = final_bpc(folder, main.stem), final_bpc(folder / "race", main.stem)
        if ship is None or run is None:
            continue
        la = json.loads((folder / f"{main.stem}.log.json").read_text())
        lb = json.loads((folder / "race" / f"{main.stem}.log.json").read_text())
        a, b, name = la["recipe"], lb["recipe"], kinds.title(kind)
        ta, tb = seen_tokens(la), seen_tokens(lb)
        tokens = (f"on the same {tb / 1e6:.2f}M training tokens" if ta == tb else
                  f"on {tb / 1e6:.2f}M training tokens (the shipped one: {ta / 1e6:.2f}M)")
        worse = ship[0] < run[0]                  # the race's run did worse than the shipped one
        out.append(f"the shipped {name} (trained at a peak rate of {a['lr_peak']:g} with {a['warmup_steps']} warm-up "
                   f"steps) reads the held-out text at {ship[0]:.4f} bits/char ({ship[1]}); the race's {name}, "
                   f"trained {tokens} at the sweep's choice ({b['lr_peak']:g}, {b['warmup_steps']} warm-up steps), "
                   f"at {run[0]:.4f} ({run[1]}): the shipped one is {abs(run[0] - ship[0]):.4f} bits/char "
                   f"{'better' if worse else 'no worse'}, so the app keeps it and the race shows the race's run (the "
                   f"sweep's choice for the {name}, made at {'its' if worse else 'a'} short budget, "
                   f"{'did not carry over to the full run' if worse else 'matched it'})")
    return out


def carried(models_dir: Path | None = None, before_dir: Path | None = None) -> list[dict]:
    """Did the sweep's choice, made after its short budget, carry over to the full recipe? For each race
    kind with a run from before the race (before_dir's copy of the replaced log, or the shipped model kept
    beside its race run): both runs' settings, steps, training tokens and held-out bits/char (final_bpc)."""
    folder = Path(models_dir or kinds.MODELS_DIR)
    before_dir = Path(before_dir or BEFORE_DIR)

    def run(where: Path, stem: str) -> dict | None:
        log, bpc = where / f"{stem}.log.json", final_bpc(where, stem)
        if not log.is_file() or bpc is None:
            return None
        d = json.loads(log.read_text())
        r = d["recipe"]
        return {"lr": r["lr_peak"], "warmup": r["warmup_steps"], "loss": r.get("loss", "ce+l2wrap"),
                "init": r.get("init", "kind"), "steps": r["total_steps"], "tokens": seen_tokens(d),
                "full": seen_tokens(d) >= full_tokens(d), "bits_per_char": bpc[0], "file": bpc[1]}
    rows = []
    for kind in RACE_KINDS:
        main = kinds.main_model(kind)
        if main is None:
            continue
        now_folder = race_folder(kind, folder)
        was_folder = (before_dir if (before_dir / f"{main.stem}.log.json").is_file()
                      else folder if now_folder != folder else None)   # else: no run from before the race
        now, was = run(now_folder, main.stem), was_folder and run(was_folder, main.stem)
        if now and was:
            rows.append({"kind": kind, "before": was, "race": now})
    return rows


def named(kind: str) -> str:
    """A kind's title as a sentence names it: "the GPT", "RWKV-4"."""
    title = kinds.title(kind)
    return title if title.startswith("RWKV") else f"the {title}"


def carried_text(rows: list[dict], sweep: dict | None) -> str:
    """The verdict on `carried`'s rows, worded from them: for which kinds the sweep's choice read the
    held-out text better or worse over the full recipe than the setting shipped before the race."""
    same = [r for r in rows if r["before"]["full"] and r["race"]["full"] and r["before"]["tokens"] == r["race"]["tokens"]]
    if not same:
        return ""

    def said(rs: list[dict]) -> str:
        parts = [f"{named(r['kind'])} ({r['race']['bits_per_char'] - r['before']['bits_per_char']:+.3f})"
                 for r in rs]
        return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    worse = [r for r in same if r["race"]["bits_per_char"] > r["before"]["bits_per_char"]]
    better = [r for r in same if r not in worse]
    full = same[0]["race"]
    out = (f"Over the full recipe ({full['tokens'] / 1e6:.2f}M training tokens), the sweep's choice read the held-out "
           "text " + "; ".join(([f"worse than the setting shipped before the race for {said(worse)}"] if worse else [])
                               + ([f"at least as well for {said(better)}"] if better else []))
           + " (held-out bits/char, the race's run minus the earlier one).")
    if worse and sweep and all(r["race"]["lr"] > r["before"]["lr"] for r in worse):
        out += (" Wherever it did worse, the sweep had chosen a higher peak rate than the one shipped ("
                + ", ".join(f"{r['race']['lr']:g} against {r['before']['lr']:g}" for r in worse)
                + f"): the sweep ranks settings after {sweep['steps']} steps, and what gains most in {sweep['steps']} "
                f"steps need not be best over {full['steps']:,}. The race stays fair (every kind had the same "
                "procedure), but a short budget can favour fast starts; a sweep at the full length would take about "
                f"{full['steps'] / sweep['steps']:.0f} times the CPU.")
    others = [r for r in rows if r not in same]
    if others:
        out += " Not compared: " + "; ".join(
            f"{named(r['kind'])}'s run from before the race saw {r['before']['tokens'] / 1e6:.2f}M training "
            f"tokens, the race's {r['race']['tokens'] / 1e6:.2f}M" for r in others) + "."
    return out


def fastest(race: dict | None, batch: int = 6, shape: str = "shipped") -> dict[str, tuple[float, int | None]]:
    """kind → (clean training tokens per second at the recipe's batch, the CPU threads it ran on), from a
    train_bench race: where the race timed several thread counts, each kind's fastest (on a 2-core CPU a
    small model's sequential steps can run faster on one thread than on two)."""
    out: dict[str, tuple[float, int | None]] = {}
    for rec in (race or {}).get("records", []):
        if rec.get("batch") == batch and rec.get("shape", "shipped") == shape:
            for r in rec["rows"]:
                if r["kind"] not in out or r["tokens_per_s"] > out[r["kind"]][0]:
                    out[r["kind"]] = (r["tokens_per_s"], rec.get("threads"))
    return out


def throughput(race: dict | None, batch: int = 6, shape: str = "shipped") -> dict[str, float]:
    """kind → clean training tokens per second at the recipe's batch, from a train_bench race (each
    kind's fastest thread count: fastest)."""
    return {k: v for k, (v, _) in fastest(race, batch, shape).items()}


def compute_seconds(tokens: float, kind: str, speed: dict[str, float]) -> float | None:
    """Training tokens ÷ the kind's clean throughput: the seconds of one quiet machine's compute."""
    return tokens / speed[kind] if speed.get(kind) else None
