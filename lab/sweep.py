"""The tuning sweep of the fair race: every kind gets the same tuning budget on the same data.

    python -m lab.sweep run [--kinds rwkv4,lstm,gpt] [--max-minutes 60]   # train what is not done yet
    python -m lab.sweep status                                            # what is done, what is next
    python -m lab.sweep json docs/race/sweep.json                         # collect the results
    python -m lab.sweep retrain [--max-minutes 120]     # then the full recipe at each kind's chosen setting
    python -m lab.sweep adopt [--kinds gpt,lstm]        # then its finished runs into models/ (RWKV-4: if as good)

The budget, the same for every kind (issue "A fair race"):
  stage 1  five peak learning rates spanning a factor of 16 (LRS), each a short run of STEPS steps
           with WARMUP warm-up steps, cosine to lr_final; where a kind's best rate is at an edge of
           the rates tried, the next rate beyond it (× or ÷ 2) is tried too, at most EXTEND more, the
           same rule for every kind (a best rate at the edge of the grid has not been found);
  stage 2  at the best rate of stage 1, a second warm-up length (WARMUP_2);
  stage 3  at the best rate and warm-up so far, a second initialisation (INIT_2: PyTorch's layer
           defaults for every matrix, lab.inits; the kind's own init is the first): the memory lab
           found GPT-2's initialisation kept its GPT on a plateau (docs/memory-lab.md), so every
           kind gets the same one more run;
  chosen   the run with the lowest held-out bits per character at its last step.
Every run uses the recipe's data, seed (1234), batch (6 × 512) and tokenizer (the embedded model's,
for every kind), and each kind's own loss (LOSS: L2Wrap is RWKV's; the others plain cross-entropy).
The red-line RNN takes the LSTM's setting and the no-WKV ablation RWKV-4's (said in the results).

Runs live in runs/sweep/<kind>-lr<rate>-wu<warm-up>/ (ignored by git), one at a time; each is the
one trainer's run (lab.train), so it resumes where it stopped: `run` can be stopped and started again
across sessions, and every log records the machine, threads, load and each stop and resume.
"""
from __future__ import annotations

import argparse
import json
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

from lab.kinds import MODELS_DIR

RUNS = Path("runs/sweep")
TUNED = ("rwkv4", "lstm", "gpt")                     # the kinds that get a budget of their own
BORROWS = {"redline": "lstm"}                        # these take another kind's chosen setting
LRS = (2.5e-4, 5e-4, 1e-3, 2e-3, 4e-3)               # 4e-3 / 2.5e-4 = 16
ORDER = (1e-3, 2e-3, 5e-4, 4e-3, 2.5e-4)             # the order they are trained in
STEPS = 300                                          # a short run: about 5.5 M tokens less than the recipe
EXTEND = 2                                           # at most this many rates beyond the grid, per kind
WARMUP = 30
WARMUP_2 = 100
INIT = "kind"                                        # each kind's own initialisation (lab.inits.INITS)
INIT_2 = "torch"                                     # stage 3's
EVAL_EVERY = 100
LOSS = {"rwkv4": "ce+l2wrap"}                        # every other kind: plain cross-entropy ("ce")
TOKENIZER = MODELS_DIR / "rwkv4-shakespeare.tokenizer.json"


@dataclass(frozen=True)
class Setting:
    kind: str
    lr: float
    warmup: int
    init: str = INIT

    @property
    def name(self) -> str:
        return f"{self.kind}-lr{self.lr:g}-wu{self.warmup}" + ("" if self.init == INIT else f"-init{self.init}")

    @property
    def out(self) -> Path:
        return RUNS / self.name


def read_log(s: Setting) -> dict | None:
    path = s.out / "log.json"
    return json.loads(path.read_text()) if path.is_file() else None


def score(log: dict | None) -> float | None:
    """Held-out bits per character at the run's last step, None while it is not finished."""
    return log["final"]["bits_per_char"] if log and "final" in log else None


def best(kind: str, settings) -> Setting | None:
    scored = [(score(read_log(s)), s) for s in settings if s.kind == kind]
    done = [(bpc, s) for bpc, s in scored if bpc is not None]
    return min(done, key=lambda d: d[0])[1] if done else None


def plan(kind: str) -> list[Setting]:
    """A kind's runs: stage 1 (the grid, then one rate beyond an edge while the best is there, at
    most EXTEND), then stage 2 once stage 1 is done (its best rate is known only then), then stage 3
    once stage 2 is done (at the best rate and warm-up of the two)."""
    stage1 = [Setting(kind, lr, WARMUP) for lr in LRS]
    while True:
        if any(score(read_log(s)) is None for s in stage1):
            return stage1
        top, lrs = best(kind, stage1).lr, sorted(s.lr for s in stage1)
        beyond = top * 2 if top == lrs[-1] else top / 2 if top == lrs[0] else None
        if beyond is None or len(stage1) >= len(LRS) + EXTEND:
            break
        stage1.append(Setting(kind, beyond, WARMUP))
    stage2 = stage1 + [Setting(kind, top, WARMUP_2)]
    if score(read_log(stage2[-1])) is None:
        return stage2
    b = best(kind, stage2)
    return stage2 + [Setting(kind, b.lr, b.warmup, INIT_2)]


def config(s: Setting, threads: int):
    from lab.train import recipe
    return replace(recipe(s.kind), lr_peak=s.lr, warmup_steps=s.warmup, init=s.init, total_steps=STEPS,
                   eval_every=EVAL_EVERY, ckpt_every=25, loss=LOSS.get(s.kind, "ce"), threads=threads,
                   max_minutes=10_000.0)


def run(kinds, max_minutes: float, threads: int, beside: str) -> None:
    """Train the unfinished runs one after another until all are done or the time is up (checked
    between runs: a run started before the deadline goes on to its end, a few minutes)."""
    import signal

    from lab.train import train

    def stop(*_):
        raise KeyboardInterrupt                      # `kill -TERM`: the trainer saves its checkpoint and returns
    signal.signal(signal.SIGTERM, stop)
    if not collect()["complete"] and committed():
        print(f"the sweep is complete ({SWEEP_JSON.relative_to(SWEEP_JSON.parents[2])}); its runs are not in this "
              f"checkout ({RUNS}/): nothing to train")
        return
    deadline = time.monotonic() + 60 * max_minutes
    while time.monotonic() < deadline:
        # the middle rates first, every kind in turn: a session that ends early has covered each kind
        todo = sorted((s for k in kinds for s in plan(k) if score(read_log(s)) is None),
                      key=lambda s: (s.init != INIT, s.warmup != WARMUP, ORDER.index(s.lr) if s.lr in ORDER else len(ORDER),
                                     kinds.index(s.kind)))
        if not todo:
            print("every run of the sweep is done")
            return
        s = todo[0]
        left = int((deadline - time.monotonic()) / 60)
        print(f"{s.name}: training ({left} min left in this session)", flush=True)
        # one run at a time, to its end; a session stopped in the middle resumes from the last checkpoint
        try:
            log = train(s.kind, config(s, threads), s.out, name=s.name, export=False, tokenizer=TOKENIZER,
                        beside=beside, quiet=True)
        except KeyboardInterrupt:                    # stopped while a run was being set up: nothing to save yet
            log = {}
        if "final" not in log:
            print("stopped: run it again to go on")
            return
    print("time is up: run it again to go on")


RETRAINED = Path("runs/race")                        # the full-recipe runs at the chosen settings (ignored by git)
RACE = ("rwkv4", "gpt", "lstm", "redline")


def retrain_config(kind: str, chosen: dict, threads: int):
    """The recipe (lab.train.recipe: 2,000 steps of 6 × 512 tokens) at the kind's chosen (or borrowed)
    rate, warm-up and initialisation and its own loss; no time cap: a session stops and resumes it instead."""
    from lab.train import recipe
    c = chosen[BORROWS.get(kind, kind)]
    return replace(recipe(kind), lr_peak=c["lr"], warmup_steps=c["warmup"], init=c.get("init", INIT),
                   loss=LOSS.get(BORROWS.get(kind, kind), "ce"), threads=threads, ckpt_every=25, max_minutes=100_000.0)


SWEEP_JSON = Path(__file__).resolve().parent.parent / "docs" / "race" / "sweep.json"   # `json`'s committed output


def committed() -> dict | None:
    """The committed results (docs/race/sweep.json) when they are complete, else None."""
    d = json.loads(SWEEP_JSON.read_text()) if SWEEP_JSON.is_file() else None
    return d if d and d.get("complete") else None


def results() -> dict:
    """The sweep's results: collected from its runs (runs/sweep/, local) where they are complete here, else the
    committed JSON its `json` command wrote from them (a new checkout has no runs folder)."""
    sweep = collect()
    return sweep if sweep["complete"] else committed() or sweep


def matches(log: dict, tc) -> bool:
    """Whether a run's log was trained at this config's tuned setting (rate, warm-up, loss, initialisation)."""
    r = log.get("recipe", {})
    return (r.get("lr_peak"), r.get("warmup_steps"), r.get("loss", "ce+l2wrap"), r.get("init", INIT)) == \
        (tc.lr_peak, tc.warmup_steps, tc.loss, tc.init)


def retrain(kinds, max_minutes: float, threads: int, beside: str) -> None:
    """Train the full recipe of each kind at its chosen setting, one at a time, into
    runs/race/<kind>/ (not models/: `lab.race` judges and the shipped files change only by hand,
    RWKV-4's only if at least as good). The session ends after max_minutes, at once: the run
    saves its checkpoint and the next session resumes it."""
    import signal

    from lab.train import train
    sweep = results()
    if not sweep["complete"]:
        raise SystemExit("the tuning sweep is not complete: `python -m lab.sweep run` first")

    def stop(*_):
        raise KeyboardInterrupt                      # the trainer saves and returns on it
    signal.signal(signal.SIGALRM, stop)
    signal.signal(signal.SIGTERM, stop)
    signal.alarm(max(1, int(60 * max_minutes)))
    try:
        for kind in kinds:
            out = RETRAINED / kind
            log = json.loads((out / "log.json").read_text()) if (out / "log.json").is_file() else {}
            want = retrain_config(kind, sweep["chosen"], threads)
            if log and not matches(log, want):     # a run of an earlier choice (the sweep gained a stage): set aside
                aside = out.with_name(f"{kind}.superseded-{time.strftime('%Y%m%d-%H%M%S')}")
                out.rename(aside)
                print(f"{kind}: {out} was trained at another setting; moved to {aside}", flush=True)
                log = {}
            if "final" in log:
                continue
            if not log and adopted(kind, sweep):
                print(f"{kind}: already adopted (its run is not in this checkout)", flush=True)
                continue
            print(f"{kind}: the full recipe at {sweep['chosen'][BORROWS.get(kind, kind)]}", flush=True)
            log = train(kind, want, out, name=f"{kind}-race", export=False,
                        tokenizer=TOKENIZER, beside=beside, quiet=True)
            if "final" not in log:
                print("stopped: run it again to go on")
                return
        print("every retraining is done")
    except KeyboardInterrupt:
        print("stopped: run it again to go on")
    finally:
        signal.alarm(0)


def adoption_notes(log: dict) -> list[str]:
    """A race run's log, as adopted: its own notes, then where it came from (read from its recipe)."""
    r = log["recipe"]
    said = (f"The fair race's run: `python -m lab.sweep retrain` trained it at the tuning sweep's choice (peak rate "
            f"{r['lr_peak']:g}, {r['warmup_steps']} warm-up steps, {r.get('loss', 'ce+l2wrap')}, "
            f"{r.get('init', 'kind')} initialisation; docs/race/sweep.json), and `python -m lab.sweep adopt` exported it.")
    return [n for n in log.get("notes", []) if n != said] + [said]


def adopted(kind: str, sweep: dict, models_dir: Path = MODELS_DIR) -> bool:
    """Whether `kind`'s shipped model (or RWKV-4's race model, models_dir/race/) is an adopted race run at the
    sweep's choice: then its retraining is done, whether or not its run folder (local) is here."""
    from lab.train import default_name
    if not sweep["complete"]:
        return False
    want = retrain_config(kind, sweep["chosen"], 1)
    for folder in (models_dir, models_dir / "race"):
        path = folder / f"{default_name(kind)}.log.json"
        log = json.loads(path.read_text()) if path.is_file() else {}
        if "final" in log and matches(log, want) and adoption_notes(log)[-1] in log.get("notes", []):
            return True
    return False


def pending(kinds=RACE, models_dir: Path = MODELS_DIR) -> list[str]:
    """The kinds whose retraining is neither finished (runs/race/<kind>) nor adopted."""
    sweep = results()
    def finished(kind):
        path = RETRAINED / kind / "log.json"
        return path.is_file() and "final" in json.loads(path.read_text())
    return [k for k in kinds if not finished(k) and not adopted(k, sweep, models_dir)]


BEFORE = Path(__file__).resolve().parent.parent / "docs" / "race" / "before"   # replaced logs (lab.race.BEFORE_DIR)


def adopt(kind: str, models_dir: Path = MODELS_DIR, *, force: bool = False, before_dir: Path | None = None) -> str:
    """Export `kind`'s finished retraining (runs/race/<kind>) into models_dir under its shipped stem, with
    its tokenizer and log (what every page, card and table reads). RWKV-4's file is the embedded model:
    it is replaced only if its held-out bits per character are at most the shipped one's (force: anyway);
    else the retrained one goes to models_dir/race/, where the race reads it (lab.race.race_folder).
    The log of a model it replaces is kept in before_dir (default docs/race/before/; an earlier copy
    there stays), where lab.race.carried and lab.bigram read the run from before the race.
    Returns what was done, in a line."""
    from lab.kinds import KINDS
    from lab.train import Run, TrainConfig, default_name, export_model
    from lab.train_kinds import hooks_for
    from rwkv_core.tokenizer import Tokenizer
    out = RETRAINED / kind
    log = json.loads((out / "log.json").read_text()) if (out / "log.json").is_file() else {}
    sweep = results()
    if not log and adopted(kind, sweep, models_dir):
        return f"{kind}: already adopted (its run is not in this checkout)"
    if "final" not in log:
        raise SystemExit(f"{kind}: its retraining has not finished ({out}): `python -m lab.sweep retrain` first")
    if sweep["complete"] and not matches(log, retrain_config(kind, sweep["chosen"], 1)):
        raise SystemExit(f"{kind}: {out} was trained at another setting than the sweep's choice "
                         f"({sweep['chosen'][BORROWS.get(kind, kind)]}): `python -m lab.sweep retrain` again")
    stem = default_name(kind)
    shipped = models_dir / f"{stem}.log.json"
    old = json.loads(shipped.read_text()).get("final", {}).get("bits_per_char") if shipped.is_file() else None
    new = log["final"]["bits_per_char"]
    keep = kind == "rwkv4" and old is not None and new > old and not force
    target = models_dir / "race" if keep else models_dir    # the race reads it there (lab.race.race_folder)
    there = target / f"{stem}.log.json"
    if there.is_file() and (target / f"{stem}.safetensors").is_file() and \
            json.loads(there.read_text()) == {**log, "notes": adoption_notes(log)}:
        return f"{kind}: already adopted ({target / stem}.safetensors is this run)"
    tc = TrainConfig(**log["recipe"])
    hooks = hooks_for(KINDS[kind].trainer, kind, "")
    tok = Tokenizer(out / "tokenizer.json")                 # the one it trained with (a race run reads the plays)
    run = Run(hooks, tc, hooks.make_config(tc, tok.vocab_size), tok, {}, out)
    if not run.resume():
        raise SystemExit(f"{kind}: no checkpoint in {out}")
    run.log["notes"] = adoption_notes(run.log)
    kept_as = Path(before_dir or BEFORE) / f"{stem}.log.json"
    if not keep and shipped.is_file() and not kept_as.is_file():
        kept_as.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shipped, kept_as)             # the run from before the race, for the comparison
    path = export_model(run.params, run.fixed, out / "tokenizer.json", run.log, target, stem, hooks.half)
    stale = target / f"{stem}.eval.json"           # it described the file just replaced
    stale.unlink(missing_ok=True)
    was = f"{old:.4f}" if old is not None else "none"
    if keep:
        return (f"{kind}: kept the shipped model, the embedded one ({old:.4f} held-out bits/char); wrote the "
                f"retrained one ({new:.4f}) to {path} for the race: evaluate it there (python -m lab.evaluate "
                f"--model {path} --json {path.with_suffix('').with_suffix('.eval.json')})")
    return (f"{kind}: wrote {path} ({new:.4f} held-out bits/char; the shipped model's was {was}); its evaluation "
            f"and card: python -m lab.card --model {stem}")


def collect(kinds=TUNED) -> dict:
    """Every run's setting, curve and conditions, each kind's chosen setting, and the borrowers."""
    rows, chosen = [], {}
    for k in kinds:
        runs = plan(k)
        for s in runs:
            log = read_log(s)
            rows.append({"kind": k, "lr": s.lr, "warmup": s.warmup, "init": s.init, "steps": STEPS,
                         "loss": LOSS.get(k, "ce"),
                         "bits_per_char": score(log), "done": score(log) is not None,
                         "val": [{"step": v["step"], "bits_per_char": v["bits_per_char"]} for v in (log or {}).get("val", [])],
                         "train_loss_last": (log or {}).get("final", {}).get("train_loss_last100"),
                         "sessions": [{key: x.get(key) for key in ("cpu", "threads", "load", "started", "seconds",
                                                                    "start_step", "stop_step", "why", "beside")}
                                      for x in (log or {}).get("sessions", [])]})
        done = [r for r in rows if r["kind"] == k and r["done"]]
        if done and len(done) == len(runs) and runs[-1].init == INIT_2:
            c = min(done, key=lambda r: r["bits_per_char"])
            chosen[k] = {"lr": c["lr"], "warmup": c["warmup"], "init": c["init"], "bits_per_char": c["bits_per_char"]}
    return {"command": "python -m lab.sweep json docs/race/sweep.json", "lrs": list(LRS), "extend": EXTEND,
            "steps": STEPS, "warmup": WARMUP, "warmup_2": WARMUP_2, "init": INIT, "init_2": INIT_2, "batch": [6, 512], "seed": 1234, "runs": rows,
            "chosen": chosen, "borrows": BORROWS,
            "complete": all(k in chosen for k in kinds)}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="train the sweep's unfinished runs, one at a time")
    r.add_argument("--kinds", default=",".join(TUNED))
    r.add_argument("--max-minutes", type=float, default=60.0)
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--beside", default="", help="what else runs on the machine (recorded in each log)")
    t = sub.add_parser("retrain", help="the full recipe at each kind's chosen setting, one at a time")
    t.add_argument("--kinds", default=",".join(RACE))
    t.add_argument("--max-minutes", type=float, default=60.0)
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--beside", default="", help="what else runs on the machine (recorded in each log)")
    a = sub.add_parser("adopt", help="export finished retrainings into models/ (RWKV-4's only if at least as good)")
    a.add_argument("--kinds", default=",".join(RACE))
    a.add_argument("--force", action="store_true", help="replace RWKV-4's embedded model even if worse")
    sub.add_parser("status", help="print what is done and what is next")
    sub.add_parser("pending", help="list the kinds whose retraining is neither finished nor adopted (exit 1 if any)")
    j = sub.add_parser("json", help="write the results")
    j.add_argument("path")
    args = p.parse_args(argv)
    if args.cmd == "run":
        kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
        unknown = [k for k in kinds if k not in TUNED]
        if unknown:
            p.error(f"unknown or untuned kind(s) {', '.join(unknown)}; tuned: {', '.join(TUNED)}")
        run(kinds, args.max_minutes, args.threads, args.beside)
    elif args.cmd == "retrain":
        kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
        if [k for k in kinds if k not in RACE]:
            p.error(f"unknown kind(s); the race's: {', '.join(RACE)}")
        retrain(kinds, args.max_minutes, args.threads, args.beside)
    elif args.cmd == "adopt":
        kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
        if [k for k in kinds if k not in RACE]:
            p.error(f"unknown kind(s); the race's: {', '.join(RACE)}")
        for kind in kinds:
            print(adopt(kind, force=args.force))
    elif args.cmd == "status":
        for row in results()["runs"]:
            print(f"{row['kind']:6} lr {row['lr']:<7g} warm-up {row['warmup']:<4} init {row['init']:<5} "
                  + (f"{row['bits_per_char']:.4f} bits/char" if row["done"] else "not done"))
    elif args.cmd == "pending":
        left = pending()
        print(" ".join(left) if left else "every retraining is finished or adopted")
        raise SystemExit(1 if left else 0)
    else:
        out = Path(args.path)
        new = collect()
        old = json.loads(out.read_text()) if out.is_file() else {}
        if not new["complete"] and old.get("complete"):
            print(f"kept {out}: it holds the complete sweep, and this checkout's runs ({RUNS}/) do not")
            return
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(new, indent=1) + "\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
