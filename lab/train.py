"""Train the embedded model: a small RWKV-v4 on Shakespeare, on a CPU, through the same model
code the app runs (model.forward_batch: the layer-parallel schedule, autograd through it).

    python -m lab.train                      # the shipped configuration (about an hour, 2 threads)
    python -m lab.train --minutes 5 --out runs/try   # a quick run elsewhere

Resumes from <out>/ckpt.pt when it exists. The initialisation and the optimiser follow
BlinkDL's RWKV-LM (v4): decay and mix vectors set by depth, tiny embedding with LayerNorm after
it, zero output projections, AdamW with warm-up then cosine decay, and a small L2 penalty on the
largest logit ("L2Wrap").
"""
from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from lab.evaluate import bits_per_char
from rwkv_core.config import Config
from rwkv_core.model import RWKV, forward_batch
from rwkv_core.weights import Weights

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
NAME = "rwkv4-shakespeare"


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
    max_minutes: float = 88.0      # and stops here at the latest, whatever the step
    weight_decay: float = 0.01     # on matrices only
    eval_every: int = 250
    ckpt_every: int = 50
    seed: int = 1234
    threads: int = 2
    time_mix: str = "wkv"          # "shift": the ablation without WKV memory (lab.ablation)


# --- initialisation (RWKV-4, after RWKV-LM) ---------------------------------------------------

def init_weights(cfg: Config, generator: torch.Generator) -> dict[str, torch.Tensor]:
    C, F_, V, L = cfg.n_embd, cfg.n_ffn, cfg.vocab_size, cfg.n_layer
    h = torch.arange(C, dtype=torch.float32)
    x = h / C                                                    # (C,) 0 … 1 across channels

    def ortho(rows, cols, gain):
        t = torch.empty(rows, cols)
        torch.nn.init.orthogonal_(t, gain=gain * (math.sqrt(rows / cols) if rows > cols else 1.0),
                                  generator=generator)
        return t

    sd = {"emb.weight": torch.empty(V, C).uniform_(-1e-4, 1e-4, generator=generator),
          "blocks.0.ln0.weight": torch.ones(C), "blocks.0.ln0.bias": torch.zeros(C),
          "ln_out.weight": torch.ones(C), "ln_out.bias": torch.zeros(C),
          "head.weight": ortho(V, C, 0.5)}
    for i in range(L):
        b = f"blocks.{i}."
        r01 = i / max(L - 1, 1)             # 0 at the bottom, 1 at the top
        r10 = 1.0 - i / L                   # 1 at the bottom, near 0 at the top
        for ln in ("ln1", "ln2"):
            sd[b + ln + ".weight"], sd[b + ln + ".bias"] = torch.ones(C), torch.zeros(C)
        # decays from fast (-5) to slow (+3) across channels, slower channels higher up
        sd[b + "att.time_decay"] = -5 + 8 * (h / (C - 1)) ** (0.7 + 1.3 * r01)
        zigzag = ((h + 1) % 3 - 1) * 0.5
        sd[b + "att.time_first"] = math.log(0.3) + zigzag
        sd[b + "att.time_mix_k"] = x ** r10
        sd[b + "att.time_mix_v"] = x ** r10 + 0.3 * r01
        sd[b + "att.time_mix_r"] = x ** (0.5 * r10)
        sd[b + "att.key.weight"] = ortho(C, C, 0.1)
        sd[b + "att.value.weight"] = ortho(C, C, 1.0)
        sd[b + "att.receptance.weight"] = torch.zeros(C, C)
        sd[b + "att.output.weight"] = torch.zeros(C, C)
        sd[b + "ffn.time_mix_k"] = x ** r10
        sd[b + "ffn.time_mix_r"] = x ** r10
        sd[b + "ffn.key.weight"] = ortho(F_, C, 1.0)
        sd[b + "ffn.receptance.weight"] = torch.zeros(C, C)
        sd[b + "ffn.value.weight"] = torch.zeros(C, F_)
    return sd


# --- data -------------------------------------------------------------------------------------

def build_tokenizer(texts, vocab_size: int, path: Path):
    """A byte-level BPE (like the Pile models' 20B tokenizer, but a few thousand tokens)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    path.parent.mkdir(parents=True, exist_ok=True)
    tok.save(str(path))
    return path


def encode_corpus(tokenizer, texts) -> torch.Tensor:
    ids = []
    for text in texts:
        ids += tokenizer.encode(text) + tokenizer.encode("\n\n\n")
    return torch.tensor(ids, dtype=torch.long)


# --- loss -----------------------------------------------------------------------

def loss_fn(logits, targets):
    """Cross-entropy, plus RWKV-LM's L2Wrap: a tiny pull of the largest logit towards 0."""
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
    l2 = 1e-4 * 0.5 * logits.max(dim=-1).values.square().mean()
    return ce + l2, ce


# --- training ---------------------------------------------------------------------------------

def lr_at(step: int, tc: TrainConfig) -> float:
    if step < tc.warmup_steps:
        return tc.lr_peak * (step + 1) / tc.warmup_steps
    progress = min(1.0, (step - tc.warmup_steps) / max(1, tc.total_steps - tc.warmup_steps))
    return tc.lr_final + 0.5 * (tc.lr_peak - tc.lr_final) * (1 + math.cos(math.pi * progress))


def train(tc: TrainConfig, out: Path, *, export: bool = True, texts=None, quiet: bool = False,
          name: str = NAME) -> dict:
    from tqdm import tqdm

    from lab.data import load_texts
    from rwkv_core.tokenizer import Tokenizer
    torch.set_num_threads(tc.threads)
    out.mkdir(parents=True, exist_ok=True)
    train_texts, val_texts = texts or load_texts()
    tok_path = out / "tokenizer.json"
    if not tok_path.exists():
        build_tokenizer(train_texts.values(), tc.vocab_size, tok_path)
    tokenizer = Tokenizer(tok_path)
    data = encode_corpus(tokenizer, train_texts.values())
    cfg = Config(tc.n_layer, tc.n_embd, 4 * tc.n_embd, tokenizer.vocab_size)

    if tc.time_mix not in ("wkv", "shift"):
        raise ValueError(f"time_mix must be 'wkv' or 'shift', not {tc.time_mix!r}")
    g = torch.Generator().manual_seed(tc.seed)
    sd = init_weights(cfg, g)
    frozen: set[str] = set()                 # tensors the ablation does not use (kept fixed)
    if tc.time_mix == "shift":
        from lab import ablation
        ablation.shift_only(sd)
        frozen = {k for k in sd if ablation.is_frozen(k)}

    def fwd(weights, ids):                   # ids (B, T) → logits (B, T, V)
        if tc.time_mix == "shift":
            return ablation.forward_batch(weights, ids)
        return forward_batch(weights, ids)[0]

    params = {k: v.requires_grad_(k not in frozen) for k, v in sd.items()}
    trained = {k: v for k, v in params.items() if k not in frozen}
    decay = [v for k, v in trained.items() if v.ndim == 2 and k != "emb.weight"]
    no_decay = [v for k, v in trained.items() if not (v.ndim == 2 and k != "emb.weight")]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": tc.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=tc.lr_peak, betas=(0.9, 0.99), eps=1e-8)
    log = {"config": asdict(tc), "train": [], "val": [], "seconds": 0.0}
    step = 0
    ckpt = out / "ckpt.pt"
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=True)
        with torch.no_grad():
            for k, v in state["params"].items():
                params[k].copy_(v)
        opt.load_state_dict(state["opt"])
        g.set_state(state["rng"])
        step = state["step"]
        log = json.loads(state["log"])
        log["config"] = asdict(tc)  # the settings this run goes on with
        if not quiet:
            print(f"resumed from {ckpt} at step {step}")
    weights = Weights.from_state_dict(params)

    def save():
        torch.save({"params": {k: v.detach() for k, v in params.items()}, "opt": opt.state_dict(),
                    "rng": g.get_state(), "step": step, "log": json.dumps(log)}, ckpt.with_suffix(".tmp"))
        ckpt.with_suffix(".tmp").replace(ckpt)

    model = RWKV(weights, cfg, tokenizer=tokenizer)  # the engine's own model, over the weights being trained

    def validate():
        r = bits_per_char(model, list(val_texts.values()))
        log["val"].append({"step": step, **r})
        return r

    t_start = time.perf_counter() - log["seconds"]
    bar = tqdm(total=tc.total_steps, initial=step, disable=quiet, dynamic_ncols=True)
    tokens_per_step = tc.batch_size * tc.ctx_len
    while step < tc.total_steps and (time.perf_counter() - t_start) / 60 < tc.max_minutes:
        t0 = time.perf_counter()
        starts = torch.randint(0, len(data) - tc.ctx_len - 1, (tc.batch_size,), generator=g)
        batch = torch.stack([data[s:s + tc.ctx_len + 1] for s in starts.tolist()])  # (B, T+1)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, tc)
        logits = fwd(weights, batch[:, :-1])                                        # (B, T, V)
        loss, ce = loss_fn(logits, batch[:, 1:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained.values(), 1.0)
        opt.step()
        step += 1
        log["seconds"] = time.perf_counter() - t_start
        log["train"].append({"step": step, "loss": ce.item(), "seconds": round(log["seconds"], 1)})
        bar.update(1)
        bar.set_postfix(loss=f"{ce.item():.3f}", tok_s=f"{tokens_per_step / (time.perf_counter() - t0):.0f}",
                        lr=f"{lr_at(step, tc):.1e}")
        if step % tc.eval_every == 0:
            bar.write(f"step {step}: validation {validate()['bits_per_char']:.3f} bits/char")
        if step % tc.ckpt_every == 0:
            save()
    bar.close()
    final = log["val"][-1] if log["val"] and log["val"][-1]["step"] == step else validate()
    log["final"] = {"step": step, "minutes": log["seconds"] / 60, "params": sum(v.numel() for v in trained.values()),
                    "train_loss_last100": sum(e["loss"] for e in log["train"][-100:]) / max(1, len(log["train"][-100:])),
                    **final}
    save()
    (out / "log.json").write_text(json.dumps(log))
    if export:
        export_model(params, tok_path, log, MODELS_DIR, name)
    return log


def export_model(params, tok_path: Path, log: dict, models_dir: Path, name: str = NAME) -> Path:
    import shutil

    from safetensors.torch import save_file
    models_dir.mkdir(parents=True, exist_ok=True)
    target = models_dir / f"{name}.safetensors"
    tensors = {k: v.detach().contiguous().clone() for k, v in params.items()}
    size = sum(t.numel() for t in tensors.values()) * 4
    if size > 25e6:  # keep the repo file small: half precision, cast back to float32 on load
        tensors = {k: v.to(torch.bfloat16) for k, v in tensors.items()}
    save_file(tensors, str(target), metadata={"format": "pt", "source": "lab.train",
                                               "final": json.dumps(log.get("final", {}))})
    shutil.copy(tok_path, models_dir / f"{name}.tokenizer.json")
    (models_dir / f"{name}.log.json").write_text(json.dumps(log))
    return target


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="runs/embedded", help="run folder (checkpoints, log, tokenizer)")
    p.add_argument("--no-export", action="store_true", help="do not write models/")
    p.add_argument("--name", default=NAME, help="file name in models/ (e.g. rwkv4-shiftonly-shakespeare)")
    p.add_argument("--tokenizer", default=None,
                   help="start from this tokenizer.json instead of training one (e.g. the embedded model's)")
    p.add_argument("--export-only", action="store_true",
                   help="write the run's latest checkpoint to models/ without training")
    for name, value in asdict(TrainConfig()).items():
        p.add_argument("--" + name.replace("_", "-"), type=type(value), default=value)
    args = p.parse_args(argv)
    tc = TrainConfig(**{k: getattr(args, k) for k in asdict(TrainConfig())})
    if args.export_only:
        out = Path(args.out)
        state = torch.load(out / "ckpt.pt", weights_only=True)
        print(export_model(state["params"], out / "tokenizer.json", json.loads(state["log"]), MODELS_DIR,
                           args.name))
        return
    if args.tokenizer:
        import shutil
        Path(args.out).mkdir(parents=True, exist_ok=True)
        if not (Path(args.out) / "tokenizer.json").exists():
            shutil.copy(args.tokenizer, Path(args.out) / "tokenizer.json")
    log = train(tc, Path(args.out), export=not args.no_export, name=args.name)
    print(json.dumps(log["final"], indent=1))


if __name__ == "__main__":
    main()
