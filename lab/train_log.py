"""The one training log (models/<name>.log.json, runs/<name>/log.json): what every kind's run
records, and how it reads back (the card writer, the Why-RWKV page).

    schema 2
    kind, variant, name          "rwkv4", "shift" or "", the file stem in models/
    recipe                       lab.train.TrainConfig: lr, warm-up, betas, clip, batch, ctx, steps, seed, loss, ...
    model, params                the kind's config (from the recipe) and the trained parameters
    data                         train_tokens_per_pass: tokens of the training text (one pass)
    sessions                     one per process that trained: start_step, started (UTC), threads, cpu,
                                 cores, beside (what else ran, when told), stop_step, stopped, seconds,
                                 why ("finished", "time cap", "stop step", "interrupted"), recipe_changes
    train                        per step: step, loss (cross-entropy, nats/token), seconds (since the start)
    val                          per validation: step, train_tokens, seconds, heldout_tokens, bits_per_char,
                                 nats_per_token, chars, load (os.getloadavg: 1, 5, 15 minutes), threads
    seconds                      training wall-clock so far, validation included, over every session
    final                        step, train_tokens, heldout_tokens, bits_per_char, ..., minutes, params,
                                 tokens_per_second, train_loss_last100, why
    notes                        what a reader must know that the numbers do not say (null fields explained)

Training tokens and held-out tokens have different keys everywhere (`train_tokens`, `heldout_tokens`).
"""
from __future__ import annotations

import os
import time
from dataclasses import asdict, is_dataclass

SCHEMA = 2


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def load_average() -> list[float] | None:
    """The machine's load average over 1, 5 and 15 minutes (None where the OS has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def new_log(kind: str, variant: str, name: str, recipe: dict, model, params: int, data: dict) -> dict:
    return {"schema": SCHEMA, "kind": kind, "variant": variant, "name": name, "recipe": recipe,
            "model": asdict(model) if is_dataclass(model) else dict(model), "params": params, "data": data,
            "sessions": [], "train": [], "val": [], "seconds": 0.0, "notes": []}


def begin_session(log: dict, step: int, threads: int, recipe: dict, beside: str = "",
                  defaults: dict | None = None) -> dict:
    """A new process trains from `step`: record when, on what, with how many threads, and any
    change of the recipe since the last session (a resume with other settings). A field the log
    lacks (its code predates the field) counts as its value in `defaults`, what that code did."""
    from rwkv_core.timing import cpu_model
    before = {**(defaults or {}), **log["recipe"]}
    changes = {k: [before.get(k), v] for k, v in recipe.items() if before.get(k) != v}
    log["recipe"] = recipe
    session = {"start_step": step, "started": now(), "threads": threads, "cpu": cpu_model(),
               "cores": os.cpu_count(), "beside": beside or None, "load": load_average()}
    if changes and log["sessions"]:
        session["recipe_changes"] = changes
    log["sessions"].append(session)
    return session


def end_session(log: dict, step: int, seconds: float, why: str) -> None:
    s = log["sessions"][-1]
    s.update(stop_step=step, stopped=now(), seconds=round(seconds, 1), why=why)


def val_entry(step: int, tokens_per_step: int, seconds: float, result: dict, threads: int) -> dict:
    """One validation: the evaluator's numbers with its token count named held-out."""
    r = {k: v for k, v in result.items() if k != "tokens"}
    return {"step": step, "train_tokens": step * tokens_per_step, "seconds": round(seconds, 1),
            "heldout_tokens": result["tokens"], **r, "load": load_average(), "threads": threads}


def final_entry(log: dict, step: int, tokens_per_step: int, why: str) -> dict:
    last = [e["loss"] for e in log["train"][-100:]]
    val = {k: v for k, v in log["val"][-1].items() if k not in ("load", "threads", "seconds")}
    return {**val, "step": step, "train_tokens": step * tokens_per_step, "minutes": log["seconds"] / 60,
            "params": log["params"], "tokens_per_second": step * tokens_per_step / max(log["seconds"], 1e-9),
            "train_loss_last100": sum(last) / max(1, len(last)), "why": why}


# --- reading a log back -----------------------------------------------------------------------

def _plural(n, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def threads_text(log: dict) -> str:
    """"2 threads", or "2 threads, 1 for steps 250–325" where sessions ran with other counts."""
    sessions = log.get("sessions") or []
    if not sessions:
        return f"{log.get('recipe', {}).get('threads', '?')} threads"
    first = sessions[0]["threads"]
    other = [f"{s['threads']} for steps {s['start_step']}–{s.get('stop_step', '?')}"
             for s in sessions[1:] if s["threads"] != first]
    return ", ".join([_plural(first, "thread") if first is not None else "threads not recorded", *other])


def resumes(log: dict) -> list[int]:
    """The steps at which the run was resumed from its checkpoint."""
    return [s["start_step"] for s in (log.get("sessions") or [])[1:]]


def load_range(log: dict) -> tuple[float, float] | None:
    """The lowest and highest 1-minute load average sampled at validation (None: never measured)."""
    loads = [v["load"][0] for v in log.get("val", []) if v.get("load")]
    return (min(loads), max(loads)) if loads else None


def conditions(log: dict) -> str:
    """The machine and who shared it while the model trained, in a line, read from the log."""
    sessions = log.get("sessions") or []
    cpus = sorted({s["cpu"] for s in sessions if s.get("cpu")})
    cores = sorted({s["cores"] for s in sessions if s.get("cores")})
    parts = [(" / ".join(cpus) or "CPU not recorded") + (f", {'/'.join(map(str, cores))} cores" if cores else ""),
             threads_text(log)]
    r = resumes(log)
    parts.append(f"resumed {_plural(len(r), 'time')} (at step {', '.join(map(str, r))})" if r else "one session")
    lo_hi = load_range(log)
    parts.append(f"load average {lo_hi[0]:.1f}–{lo_hi[1]:.1f} at validation" if lo_hi else "load not measured")
    beside = list(dict.fromkeys(s["beside"] for s in sessions if s.get("beside")))
    if beside:
        parts.append("beside it: " + "; ".join(beside))
    return "; ".join(parts)


def passes(log: dict) -> float | None:
    """How many times over the training text its training tokens amount to (None: not recorded)."""
    per_pass = (log.get("data") or {}).get("train_tokens_per_pass")
    return log["final"]["train_tokens"] / per_pass if per_pass else None


def val_curve(log: dict) -> list[tuple[int, float, float]]:
    """(training tokens, seconds, held-out bits/char) of each validation, one per step."""
    seen, out = set(), []
    for v in log.get("val", []):
        if v["step"] not in seen:
            seen.add(v["step"])
            out.append((v["train_tokens"], v["seconds"], v["bits_per_char"]))
    return out
