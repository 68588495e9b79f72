"""One-off: an old training log (the three trainers before lab.train was one) in the one schema
(lab.train_log). scripts/convert_logs.py ran it once over models/*.log.json.

What the old logs said is kept; their drifted keys are fixed ("tokens" meant held-out tokens in
RWKV's, the LSTMs' and every validation entry, training tokens in the GPT's: training tokens are
step x batch x ctx, exact, as every old run kept its batch and context); what they never recorded
(when each session ran, the load) is null, and a note says so. The sessions (resumes, threads,
what ran beside) come from the caller, transcribed from the old cards and evaluations, and a
note says that too.
"""
from __future__ import annotations

from dataclasses import asdict, fields

from lab import train_log

OLD_RECIPE = {"beta1": 0.9, "beta2": 0.99, "clip": 1.0, "loss": "ce+l2wrap"}   # what every old trainer ran


def _seconds_at(old: dict, step: int) -> float | None:
    return next((e["seconds"] for e in old["train"] if e["step"] == step), 0.0 if step == 0 else None)


def _threads_at(sessions: list[dict], step: int) -> int | None:
    return next((s["threads"] for s in sessions if s["start_step"] < step <= s["stop_step"]), None)


def sessions_from(old: dict, spans: list[dict], cpu: str | None, cores: int | None, beside: str | None) -> list[dict]:
    """Sessions from transcribed spans ({start_step, stop_step, threads, why[, recipe_changes]}):
    their seconds read from the training entries, their dates unknown (null)."""
    out = []
    for span in spans:
        t0, t1 = _seconds_at(old, span["start_step"]), _seconds_at(old, span["stop_step"])
        out.append({"start_step": span["start_step"], "started": None, "threads": span["threads"], "cpu": cpu,
                    "cores": cores, "beside": beside, "load": None, "stop_step": span["stop_step"], "stopped": None,
                    "seconds": None if None in (t0, t1) else round(t1 - t0, 1), "why": span.get("why"),
                    **({"recipe_changes": span["recipe_changes"]} if span.get("recipe_changes") else {})})
    return out


def convert(old: dict, *, kind: str, variant: str, name: str, sessions: list[dict], train_tokens_per_pass: int | None,
            notes: list[str]) -> dict:
    """The old log in schema 2 (the old dict is not changed)."""
    from lab.kinds import KINDS
    from lab.train import TrainConfig
    if old.get("schema") == train_log.SCHEMA:
        raise ValueError(f"{name}: already in schema {train_log.SCHEMA}")
    cfg = old["config"]
    recipe = {**asdict(TrainConfig()), **OLD_RECIPE, **{f.name: cfg[f.name] for f in fields(TrainConfig) if f.name in cfg}}
    tps = cfg["batch_size"] * cfg["ctx_len"]
    model = KINDS[kind].trainer.make_config(TrainConfig(**recipe), cfg["vocab_size"])
    log = train_log.new_log(kind, variant, name, recipe, model, old["final"]["params"],
                            {"train_tokens_per_pass": train_tokens_per_pass})
    log.update(sessions=sessions, train=old["train"], seconds=old["seconds"])
    for v in old["val"]:
        heldout = v.get("held_out_tokens", v["tokens"])       # the GPT's "tokens" were its training tokens
        assert "held_out_tokens" not in v or v["tokens"] == v["step"] * tps, (name, v)
        rest = {k: x for k, x in v.items() if k not in ("tokens", "held_out_tokens", "step", "seconds")}
        seconds = v.get("seconds", _seconds_at(old, v["step"]))
        log["val"].append({"step": v["step"], "train_tokens": v["step"] * tps, "seconds": seconds,
                           "heldout_tokens": heldout, **rest, "load": None, "threads": _threads_at(sessions, v["step"])})
    fin = old["final"]
    step = fin["step"]
    last = {k: x for k, x in log["val"][-1].items() if k not in ("load", "threads", "seconds")}
    assert last["step"] == step, name
    log["final"] = {**last, "step": step, "train_tokens": step * tps, "minutes": fin["minutes"],
                    "params": fin["params"], "tokens_per_second": step * tps / old["seconds"],
                    "train_loss_last100": fin["train_loss_last100"],
                    "why": "finished" if step >= cfg["total_steps"] else "time cap"}
    log["notes"] = [f"Converted once from the old log (lab.log_convert): 'tokens' renamed to heldout_tokens "
                    f"(held-out) and train_tokens (step x {cfg['batch_size']} x {cfg['ctx_len']}); beta1, beta2, "
                    f"clip and loss filled from the old trainer's code (AdamW (0.9, 0.99), clipping at 1, "
                    f"cross-entropy + L2Wrap).",
                    "Not recorded by the old trainer (null): each session's start and stop time (UTC), and the load "
                    "average (never measured) at every validation.", *notes]
    return log
