"""Train the GPT on the embedded model's recipe: the same training plays, tokenizer, context (512
tokens), batch (6), AdamW with warm-up then cosine decay (lab.train.lr_at), the same loss
(cross-entropy + L2Wrap), 2000 steps or 88 minutes, whichever comes first.

    python -m lab.train_rivals --kind gpt --threads 2     # → runs/gpt/, models/gpt-shakespeare.*

The shape: 6 layers x 256 wide (RWKV's), 4 heads of 64, an MLP of 4 x 256, learned positions for
the 512 tokens of the training context, an untied head: 5,918,720 parameters, 4.2% under RWKV-4's
6,178,304 (a tied head would be 5,394,432, -12.7%). Resumes from runs/gpt/ckpt.pt. Training and
validation run gpt.forward_batch (every layer over all tokens, torch's fused attention); validation
reads the held-out plays with a sliding window (lab.gpt_eval).
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import torch

from lab.gpt_eval import bits_per_char
from lab.train import MODELS_DIR, TrainConfig, encode_corpus, loss_fn, lr_at
from rivals import gpt
from rivals.gpt import Config, Weights
from rivals.gpt_model import GPTModel

N_HEAD = 4         # heads of 64 channels, GPT-2's head size
KIND = "gpt"


def make_config(tc: TrainConfig, vocab_size: int) -> Config:
    return Config(tc.n_layer, tc.n_embd, N_HEAD, 4 * tc.n_embd, vocab_size, tc.ctx_len)


def no_decay(key: str, value: torch.Tensor) -> bool:
    """Weight decay on matrices only, and not on the embeddings (as the other kinds)."""
    return value.ndim != 2 or key in ("transformer.wte.weight", "transformer.wpe.weight")


def train(tc: TrainConfig, out: Path, *, to_models: bool = True, texts=None, every: int = 10,
          models_dir: Path = MODELS_DIR) -> dict:
    from lab.data import load_texts
    from lab.train_rivals import TOKENIZER
    from rwkv_core.tokenizer import Tokenizer
    torch.set_num_threads(tc.threads)
    out.mkdir(parents=True, exist_ok=True)
    train_texts, val_texts = texts or load_texts()
    tokenizer = Tokenizer(TOKENIZER)
    data = encode_corpus(tokenizer, train_texts.values())
    config = make_config(tc, tokenizer.vocab_size)

    g = torch.Generator().manual_seed(tc.seed)
    sd = gpt.init_weights(config, g)
    params = {k: v.requires_grad_(True) for k, v in sd.items() if v.dtype.is_floating_point}
    opt = torch.optim.AdamW([{"params": [v for k, v in params.items() if not no_decay(k, v)], "weight_decay": tc.weight_decay},
                             {"params": [v for k, v in params.items() if no_decay(k, v)], "weight_decay": 0.0}],
                            lr=tc.lr_peak, betas=(0.9, 0.99), eps=1e-8)
    log = {"kind": KIND, "config": asdict(tc), "n_head": N_HEAD, "train": [], "val": [], "seconds": 0.0}
    step = 0
    ckpt = out / "ckpt.pt"
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=True)
        with torch.no_grad():
            for k, v in state["params"].items():
                params[k].copy_(v)
        opt.load_state_dict(state["opt"])
        g.set_state(state["rng"])
        step, log = state["step"], json.loads(state["log"])
        print(f"resumed from {ckpt} at step {step}", flush=True)
    all_tensors = {**params, "transformer.n_head": sd["transformer.n_head"]}
    weights = Weights.from_state_dict(all_tensors)
    model = GPTModel(weights, config, tokenizer=tokenizer)   # the model code, over the weights being trained
    tokens_per_step = tc.batch_size * tc.ctx_len

    def save():
        torch.save({"params": {k: v.detach() for k, v in params.items()}, "opt": opt.state_dict(),
                    "rng": g.get_state(), "step": step, "log": json.dumps(log)}, ckpt.with_suffix(".tmp"))
        ckpt.with_suffix(".tmp").replace(ckpt)

    def validate():
        r = bits_per_char(model, list(val_texts.values()))
        # "tokens": training tokens seen (the held-out count is "held_out_tokens")
        log["val"].append({**r, "held_out_tokens": r["tokens"], "step": step, "tokens": step * tokens_per_step,
                           "seconds": round(log["seconds"], 1)})
        return r

    print(f"{KIND}: {config.n_params:,} parameters, {len(data):,} training tokens, {tc.threads} threads", flush=True)
    t_start = time.perf_counter() - log["seconds"]
    t_last, step_last = time.perf_counter(), step
    while step < tc.total_steps and (time.perf_counter() - t_start) / 60 < tc.max_minutes:
        starts = torch.randint(0, len(data) - tc.ctx_len - 1, (tc.batch_size,), generator=g)
        batch = torch.stack([data[s:s + tc.ctx_len + 1] for s in starts.tolist()])   # (B, T+1)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, tc)
        opt.zero_grad(set_to_none=True)
        logits = gpt.forward_batch(weights, batch[:, :-1])                          # (B, T, V)
        loss, ce = loss_fn(logits, batch[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params.values(), 1.0)
        opt.step()
        step += 1
        log["seconds"] = time.perf_counter() - t_start
        log["train"].append({"step": step, "loss": ce.item(), "seconds": round(log["seconds"], 1)})
        if step % every == 0:
            now = time.perf_counter()
            print(f"step {step}/{tc.total_steps}  loss {ce.item():.3f}  lr {lr_at(step, tc):.1e}  "
                  f"{tokens_per_step * (step - step_last) / (now - t_last):.0f} tok/s  "
                  f"{log['seconds'] / 60:.1f} min", flush=True)
            t_last, step_last = now, step
        if step % tc.eval_every == 0:
            print(f"step {step}: validation {validate()['bits_per_char']:.3f} bits/char", flush=True)
        if step % tc.ckpt_every == 0:
            save()
    final = log["val"][-1] if log["val"] and log["val"][-1]["step"] == step else validate()
    log["final"] = {**final, "step": step, "tokens": step * tokens_per_step, "minutes": log["seconds"] / 60,
                    "params": config.n_params, "tokens_per_second": step * tokens_per_step / log["seconds"],
                    "train_loss_last100": sum(e["loss"] for e in log["train"][-100:]) / max(1, len(log["train"][-100:]))}
    save()
    (out / "log.json").write_text(json.dumps(log))
    if to_models:
        print(export(params, log, models_dir), flush=True)
    return log


def export(params, log: dict, models_dir: Path) -> Path:
    """models/gpt-shakespeare.safetensors (float32: 23.7 MB), its tokenizer (the embedded model's)
    and log, as the rivals' exporter writes them, plus the head count (an integer tensor)."""
    import shutil

    from safetensors.torch import save_file

    from lab.train_rivals import TOKENIZER
    name = f"{KIND}-shakespeare"
    models_dir.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().float().contiguous().clone() for k, v in params.items() if k != "transformer.n_head"}
    if sum(t.numel() for t in tensors.values()) * 4 > 25e6:
        tensors = {k: v.half() for k, v in tensors.items()}    # cast back to float32 on load
    tensors["transformer.n_head"] = gpt.n_head_tensor(log.get("n_head", N_HEAD))
    target = models_dir / f"{name}.safetensors"
    save_file(tensors, str(target), metadata={"format": "pt", "source": "lab.train_gpt", "kind": KIND,
                                               "final": json.dumps(log.get("final", {}))})
    shutil.copy(TOKENIZER, models_dir / f"{name}.tokenizer.json")
    (models_dir / f"{name}.log.json").write_text(json.dumps(log))
    return target


def main(argv=None):
    """python -m lab.train_rivals --kind gpt [--threads 2 --out runs/gpt --no-export --export-only]"""
    import argparse
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kind", choices=(KIND,), default=KIND)
    p.add_argument("--out", default=None, help="run folder (default runs/gpt)")
    p.add_argument("--no-export", action="store_true")
    p.add_argument("--export-only", action="store_true", help="export the run's latest checkpoint, no training")
    for name, value in asdict(TrainConfig()).items():
        p.add_argument("--" + name.replace("_", "-"), type=type(value), default=value)
    args = p.parse_args(argv)
    tc = TrainConfig(**{k: getattr(args, k) for k in asdict(TrainConfig())})
    out = Path(args.out or f"runs/{KIND}")
    if args.export_only:
        state = torch.load(out / "ckpt.pt", weights_only=True)
        print(export(state["params"], json.loads(state["log"]), MODELS_DIR))
        return
    log = train(tc, out, to_models=not args.no_export)
    print(json.dumps(log["final"], indent=1))


if __name__ == "__main__":
    main()
