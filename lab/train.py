"""The one trainer: every kind of lab.kinds (RWKV-4, the stacked LSTM, the red-line RNN, the GPT),
on a CPU, through the kinds' own model code, with one recipe, one loop and one log (lab.train_log).

    python -m lab.train --kind rwkv4                         # the embedded model (about an hour, 2 threads)
    python -m lab.train --kind rwkv4 --time-mix shift        # the ablation without WKV (lab.ablation)
    python -m lab.train --kind lstm                          # → runs/lstm-shakespeare/, models/lstm-shakespeare.*
    python -m lab.train --kind gpt --max-minutes 5 --out runs/try --no-export
    python -m lab.train --kind lstm --task mqar --mqar-pairs 8 --ctx-len 64 --n-embd 64 --n-layer 2 --no-export

The task is the Shakespeare plays (bits/char on two held-out plays) by default, or associative
recall (--task mqar, lab.mqar: the loss only at the answers, accuracy on held-out sequences).

A run resumes from <out>/ckpt.pt when it exists (with the settings given now, recorded as a new
session); it stops at the end of the schedule, at --max-minutes of training (validation
included, over all sessions) or at --stop-at, always with a checkpoint to resume from. The
recipe follows BlinkDL's RWKV-LM (v4): AdamW with warm-up then cosine decay, weight decay on
matrices only, gradient clipping, and a small L2 penalty on the largest logit ("L2Wrap"). A kind's
own part (config, initialisation, training forward, validation model) is its hooks
(lab.train_kinds, named in lab.kinds).
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from lab import inits, train_log
from lab.train_kinds import init_weights  # noqa: F401  (RWKV-4's, imported from here by tests and recall)
from lab.train_tasks import MODELS_DIR, TASKS, TOKENIZER, encode_corpus  # noqa: F401  (the tasks: lab.train_tasks)


@dataclass
class TrainConfig:
    n_layer: int = 6
    n_embd: int = 256
    vocab_size: int = 2048         # byte-level BPE, trained on the training plays only
    ctx_len: int = 512             # tokens per training window (about 1,300 characters)
    batch_size: int = 6
    lr_peak: float = 1.5e-3
    lr_final: float = 1e-4
    warmup_steps: int = 100
    total_steps: int = 2000        # the cosine decay ends here (and training stops)
    max_minutes: float = 88.0      # and stops here at the latest, whatever the step (all sessions together)
    weight_decay: float = 0.01     # on matrices only, not the embeddings
    beta1: float = 0.9             # AdamW's betas
    beta2: float = 0.99
    clip: float = 1.0              # the gradient's norm is clipped to this
    loss: str = "ce+l2wrap"        # a key of LOSSES
    eval_every: int = 250
    ckpt_every: int = 50
    seed: int = 1234
    threads: int = 2
    task: str = "text"             # "text": the plays; "mqar": associative recall (lab.mqar), ctx_len tokens a sequence
    mqar_pairs: int = 8            # mqar: key-value pairs (and queries) a sequence
    mqar_vocab: int = 256          # mqar: the pad, keys from the lower half, values from the upper (vocab_size unused)
    mqar_gap: int = -1             # mqar: pad tokens between pairs and queries; -1: random; -2: the rest (pairs first)
    mqar_mix: str = ""             # mqar: pair counts to train on ("1,2,4,8"), one drawn per sequence; "": mqar_pairs
    init: str = "kind"             # "kind": each kind's own initialisation; "torch": PyTorch's layer defaults (lab.inits)


def recipe(kind: str) -> TrainConfig:
    """TrainConfig's defaults with the kind's own changes (the LSTMs' width)."""
    from lab.kinds import KINDS
    return replace(TrainConfig(), **KINDS[kind].trainer.recipe) if kind in KINDS and KINDS[kind].trainer \
        else TrainConfig()


def lr_at(step: int, tc: TrainConfig) -> float:
    if step < tc.warmup_steps:
        return tc.lr_peak * (step + 1) / tc.warmup_steps
    progress = min(1.0, (step - tc.warmup_steps) / max(1, tc.total_steps - tc.warmup_steps))
    return tc.lr_final + 0.5 * (tc.lr_peak - tc.lr_final) * (1 + math.cos(math.pi * progress))


# --- loss -------------------------------------------------------------------------------------

def cross_entropy(logits, targets):
    """Cross-entropy (nats per token) of logits (B, T, V) against targets (B, T); (loss, ce)."""
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
    return ce, ce


def loss_fn(logits, targets):
    """Cross-entropy, plus RWKV-LM's L2Wrap: a tiny pull of the largest logit towards 0."""
    _, ce = cross_entropy(logits, targets)
    l2 = 1e-4 * 0.5 * logits.max(dim=-1).values.square().mean()
    return ce + l2, ce


LOSSES = {"ce+l2wrap": loss_fn, "ce": cross_entropy}   # every shipped model was trained with ce+l2wrap


# --- one run ----------------------------------------------------------------------------------

class Run:
    """The state of one training run: tensors, optimiser, generator, step and log; saved to and
    resumed from <out>/ckpt.pt."""

    def __init__(self, hooks, tc: TrainConfig, config, tokenizer, log: dict, out: Path):
        self.hooks, self.tc, self.config, self.out, self.log = hooks, tc, config, out, log
        self.g = torch.Generator().manual_seed(tc.seed)
        sd = inits.initial(hooks.init_weights(config, self.g), tc.init, self.g)
        if hooks.prepare:
            hooks.prepare(sd)
        self.fixed = {k: v for k, v in sd.items() if not v.dtype.is_floating_point}   # e.g. the GPT's head count
        self.params = {k: v.requires_grad_(not hooks.frozen(k)) for k, v in sd.items() if k not in self.fixed}
        self.trained = {k: v for k, v in self.params.items() if v.requires_grad}
        decay = {k for k, v in self.trained.items() if v.ndim == 2 and k not in hooks.decay_exempt}
        self.opt = torch.optim.AdamW(
            [{"params": [v for k, v in self.trained.items() if k in decay], "weight_decay": tc.weight_decay},
             {"params": [v for k, v in self.trained.items() if k not in decay], "weight_decay": 0.0}],
            lr=tc.lr_peak, betas=(tc.beta1, tc.beta2), eps=1e-8)
        self.step = 0
        self.weights = hooks.weights({**self.params, **self.fixed})         # views of the trained tensors
        self.scorer = hooks.scorer(self.weights, config, tokenizer)

    @property
    def ckpt(self) -> Path:
        return self.out / "ckpt.pt"

    def resume(self) -> bool:
        if not self.ckpt.exists():
            return False
        state = torch.load(self.ckpt, weights_only=True)
        with torch.no_grad():
            for k, v in state["params"].items():
                self.params[k].copy_(v)
        self.opt.load_state_dict(state["opt"])
        self.g.set_state(state["rng"])
        self.step, self.log = state["step"], json.loads(state["log"])
        return True

    def save(self) -> None:
        tmp = self.ckpt.with_suffix(".tmp")
        torch.save({"params": {k: v.detach() for k, v in self.params.items()}, "opt": self.opt.state_dict(),
                    "rng": self.g.get_state(), "step": self.step, "log": json.dumps(self.log)}, tmp)
        tmp.replace(self.ckpt)
        (self.out / "log.json").write_text(json.dumps(self.log))

    def train_step(self, draw) -> float:
        """One optimiser step on draw(generator) -> (ids (B, T), targets (B, T), mask (B, T) or None):
        the loss over every position, or only where the mask is set (the task's answers)."""
        tc, hooks = self.tc, self.hooks
        ids, targets, mask = draw(self.g)
        for group in self.opt.param_groups:
            group["lr"] = lr_at(self.step, tc)
        self.opt.zero_grad(set_to_none=True)
        deferred = hooks.deferred() if hooks.deferred else None           # the red line's batched gradients
        logits = hooks.forward(self.weights, ids, deferred) if deferred else hooks.forward(self.weights, ids)
        if mask is not None:                                               # only the answers count
            logits, targets = logits[mask][None], targets[mask][None]     # (1, M, V), (1, M)
        loss, ce = LOSSES[tc.loss](logits, targets)                       # logits (B, T, V)
        loss.backward()
        if deferred:
            deferred.apply()
        torch.nn.utils.clip_grad_norm_(self.trained.values(), tc.clip)
        self.opt.step()
        self.step += 1
        return ce.item()

    def validate(self, score) -> dict:
        r = score(self)
        tps = self.tc.batch_size * self.tc.ctx_len
        self.log["val"].append(train_log.val_entry(self.step, tps, self.log["seconds"], r, torch.get_num_threads()))
        return self.log["val"][-1]


def _stop_reason(run: Run, t_start: float, stop_step: int | None) -> str | None:
    if run.step >= run.tc.total_steps:
        return "finished"
    if (time.perf_counter() - t_start) / 60 >= run.tc.max_minutes:
        return "time cap"
    if stop_step is not None and run.step >= stop_step:
        return "stop step"
    return None


def train(kind: str, tc: TrainConfig, out: Path, *, variant: str = "", name: str | None = None,
          export: bool = True, texts=None, quiet: bool = False, models_dir: Path = MODELS_DIR,
          tokenizer: str | Path | None = None, beside: str = "", stop_step: int | None = None,
          every: int = 10) -> dict:
    """Train (or go on training) one model of `kind` in `out`; returns the log. The model is written
    to models_dir when the run ends (its schedule done or its time cap reached) and export is set."""
    from lab.kinds import KINDS
    from lab.train_kinds import hooks_for
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; known: {', '.join(KINDS)}")
    if tc.loss not in LOSSES:
        raise ValueError(f"unknown loss {tc.loss!r}; known: {', '.join(LOSSES)}")
    hooks = hooks_for(KINDS[kind].trainer, kind, variant)
    if tc.task not in TASKS:
        raise ValueError(f"unknown task {tc.task!r}; known: {', '.join(TASKS)}")
    name = name or default_name(kind, variant, tc.task)
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    torch.set_num_threads(tc.threads)
    out.mkdir(parents=True, exist_ok=True)
    task = TASKS[tc.task](tc, out, hooks, KINDS[kind].evaluation, texts, tokenizer)
    config = hooks.make_config(tc, task.vocab_size)
    run = Run(hooks, tc, config, task.tokenizer, {}, out)
    n_params = sum(v.numel() for v in run.trained.values())
    run.log = train_log.new_log(kind, variant, name, asdict(tc), config, n_params, task.data)
    if run.resume():
        say(f"resumed from {run.ckpt} at step {run.step}")
    train_log.begin_session(run.log, run.step, torch.get_num_threads(), asdict(tc), beside, asdict(TrainConfig()))
    tps = tc.batch_size * tc.ctx_len
    say(f"{name}: {n_params:,} parameters, {task.data}, {tc.threads} threads")
    t_start, t_session = time.perf_counter() - run.log["seconds"], time.perf_counter()
    why = None
    try:
        while (why := _stop_reason(run, t_start, stop_step)) is None:
            ce = run.train_step(task.draw)
            run.log["seconds"] = time.perf_counter() - t_start
            run.log["train"].append({"step": run.step, "loss": ce, "seconds": round(run.log["seconds"], 1)})
            if run.step % every == 0:
                say(f"step {run.step}/{tc.total_steps}  loss {ce:.3f}  lr {lr_at(run.step, tc):.1e}  "
                    f"{run.log['seconds'] / 60:.1f} min")
            if run.step % tc.eval_every == 0:
                say(f"step {run.step}: validation {task.headline} {run.validate(task.score)[task.headline]:.3f}")
            if run.step % tc.ckpt_every == 0:
                run.save()
    except KeyboardInterrupt:
        why = "interrupted"
    train_log.end_session(run.log, run.step, time.perf_counter() - t_session, why)
    if why in ("finished", "time cap"):
        if not run.log["val"] or run.log["val"][-1]["step"] != run.step:
            run.validate(task.score)
        run.log["final"] = train_log.final_entry(run.log, run.step, tps, why)
    run.save()
    if export and "final" in run.log and why != "interrupted":
        say(export_model(run.params, run.fixed, task.tokenizer and run.out / "tokenizer.json", run.log, models_dir, name, hooks.half))
    return run.log


def default_name(kind: str, variant: str = "", task: str = "text") -> str:
    """The shipped model's stem for a kind and variant ("rwkv4-shiftonly-shakespeare"), else
    <kind>[-variant]-shakespeare; <kind>[-variant]-<task> for another task than the plays."""
    from lab.kinds import SHIPPED
    if task != "text":
        return "-".join(filter(None, (kind, variant, task)))
    stem = next((s.stem for s in SHIPPED.values() if s.kind == kind and s.variant == variant), None)
    return stem or "-".join(filter(None, (kind, variant, "shakespeare")))


def export_model(params: dict, fixed: dict, tok_path: Path, log: dict, models_dir: Path, name: str,
                 half: torch.dtype = torch.float16) -> Path:
    """models/<name>.safetensors (in `half` when float32 would pass 25 MB: cast back on load), its
    tokenizer and its log."""
    from safetensors.torch import save_file
    models_dir.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().float().contiguous().clone() for k, v in params.items()}
    if sum(t.numel() for t in tensors.values()) * 4 > 25e6:
        tensors = {k: v.to(half) for k, v in tensors.items()}
    tensors.update({k: v.clone() for k, v in fixed.items()})
    target = models_dir / f"{name}.safetensors"
    save_file(tensors, str(target), metadata={"format": "pt", "source": "lab.train", "kind": log["kind"],
                                               "variant": log["variant"], "final": json.dumps(log.get("final", {}))})
    if tok_path:                       # a task of plain ids (MQAR) has no tokenizer
        shutil.copy(tok_path, models_dir / f"{name}.tokenizer.json")
    (models_dir / f"{name}.log.json").write_text(json.dumps(log))
    return target


def main(argv=None):
    from lab.kinds import KINDS
    first = argparse.ArgumentParser(add_help=False)     # the kind first: its recipe gives the defaults below
    first.add_argument("--kind", default="rwkv4")
    kind = first.parse_known_args(argv)[0].kind
    defaults = recipe(kind) if kind in KINDS else TrainConfig()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--kind", default="rwkv4", choices=[k for k, v in KINDS.items() if v.trainer])
    p.add_argument("--time-mix", "--variant", dest="variant", default="", choices=("", "wkv", "shift"),
                   help="rwkv4 only: 'shift' trains the ablation without WKV memory (lab.ablation)")
    p.add_argument("--name", default=None, help="file stem in models/ (default: the shipped model's)")
    p.add_argument("--out", default=None, help="run folder: checkpoint, log, tokenizer (default runs/<name>)")
    p.add_argument("--no-export", action="store_true", help="do not write models/")
    p.add_argument("--tokenizer", default=None, help="start from this tokenizer.json (default: the kind's)")
    p.add_argument("--beside", default="", help="what else runs on the machine (recorded in the log)")
    p.add_argument("--stop-at", type=int, default=None, help="stop cleanly at this step (resume later)")
    for f in fields(TrainConfig):
        p.add_argument("--" + f.name.replace("_", "-"), type=type(getattr(defaults, f.name)),
                       default=getattr(defaults, f.name), help="recipe")
    args = p.parse_args(argv)
    variant = "" if args.variant == "wkv" else args.variant
    tc = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    name = args.name or default_name(args.kind, variant, args.task)
    try:
        log = train(args.kind, tc, Path(args.out or f"runs/{name}"), variant=variant, name=name,
                    export=not args.no_export, tokenizer=args.tokenizer, beside=args.beside, stop_step=args.stop_at)
    except ValueError as e:
        p.error(str(e))
    print(json.dumps(log.get("final", {"step": log["sessions"][-1]["stop_step"]}), indent=1))


if __name__ == "__main__":
    main()
