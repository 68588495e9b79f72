"""Train the rivals on the embedded model's recipe: the same training plays, tokenizer, context
(512 tokens), batch (6), AdamW with warm-up then cosine decay (lab.train.lr_at), the same
loss (cross-entropy + L2Wrap), 2000 steps or 88 minutes, whichever comes first.

    python -m lab.train_rivals --kind lstm --threads 2      # → runs/lstm/, models/lstm-shakespeare.*
    python -m lab.train_rivals --kind redline --threads 2   # → runs/redline/, models/redline-shakespeare.*
    python -m lab.train_rivals --kind gpt --threads 2       # → runs/gpt/ (lab/train_gpt.py)

Resumes from runs/<kind>/ckpt.pt. For speed, training runs the LSTM through torch's fused LSTM
(torch.lstm) with the very weights of our model (tests/test_rivals.py proves the two equal);
the red-line RNN cannot use it (layer 0 needs the top layer's previous output), so it runs a tight
per-token loop: layer 0's input products for all tokens at once, then token by token through
the layers. Validation runs the same training forward, the state carried through each held-out play.
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from lab.evaluate import bits_per_char
from lab.train import MODELS_DIR, TrainConfig, encode_corpus, loss_fn, lr_at
from rivals import lstm
from rivals.lstm import Config, State, Weights

TOKENIZER = MODELS_DIR / "rwkv4-shakespeare.tokenizer.json"   # the embedded model's own tokenizer
N_EMBD = 320   # 6 layers x 320: about 6.24M parameters (6.65M with the red line), RWKV's is 6.18M


def recipe() -> TrainConfig:
    """The embedded model's TrainConfig, only the width changed (to match its parameter count)."""
    return replace(TrainConfig(), n_embd=N_EMBD)


# --- initialisation (PyTorch's LSTM default: uniform ±1/√C) ----------------------------------

def init_weights(config: Config, generator: torch.Generator) -> dict[str, torch.Tensor]:
    k = 1 / math.sqrt(config.n_embd)
    sd = {}
    for key, shape in config.expected_shapes().items():
        if key == "lstm.emb.weight":
            sd[key] = torch.randn(shape, generator=generator)           # (V, C) like nn.Embedding
        else:
            sd[key] = torch.empty(shape).uniform_(-k, k, generator=generator)
    return sd


# --- the training forward passes (batched; B sequences of T tokens) ---------------------------

def lstm_forward(w: Weights, ids: torch.Tensor, state: State | None = None):
    """ids (B, T) → (logits (B, T, V), state): each layer through torch's fused LSTM with our
    weights, plus its input (the residual)."""
    x = w.emb[ids]                                                      # (B, T, C)
    state = state or lstm.init_state(len(w.layers), x.shape[-1], batch=ids.shape[:1], dtype=x.dtype)
    layers = []
    for lw, st in zip(w.layers, state.layers):
        flat = [lw.weight_ih, lw.weight_hh, lw.bias_ih, lw.bias_hh]
        h, h_n, c_n = torch.lstm(x, (st.h[None], st.c[None]), flat, True, 1, 0.0, True, False, True)  # (B, T, C)
        layers.append(lstm.LayerState(h_n[0], c_n[0]))                  # (B, C) each
        x = x + h                                                       # (B, T, C)
    return lstm.head(w, x), State(tuple(layers))                        # (B, T, V)


def redline_forward(w: Weights, ids: torch.Tensor, deferred: "DeferredGrads | None" = None,
                    state: State | None = None):
    """ids (B, T) → (logits (B, T, V), state) for the red-line RNN: token by token, layer by layer.

    deferred=None: plain autograd (the reference). With a DeferredGrads, the per-token products
    multiply by detached weights, and the weights' gradients are taken after backward in one wide
    product over all tokens (deferred.apply()): the same gradients, without 2·L·T thin products
    and as many additions of a full (4C, C) gradient matrix."""
    B, T = ids.shape
    x = w.emb[ids]                                                      # (B, T, C)
    C, L = x.shape[-1], len(w.layers)
    w0 = w.layers[0]
    xw0 = lstm.input_products(x, w0)                                    # (B, T, 4C) the only wide product
    # per layer, one product per token: [input, h[t-1]] @ [W_ih, W_hh]^T; layer 0's input is the red line
    recur = [torch.cat([w0.weight_hh, w.red_line], dim=1)] + \
            [torch.cat([lw.weight_ih, lw.weight_hh], dim=1) for lw in w.layers[1:]]   # (4C, 2C) each
    bias = [None] + [lw.bias_ih + lw.bias_hh for lw in w.layers[1:]]                  # (4C,)
    if deferred is not None:
        recur, bias = deferred.detach(w, recur, bias)
    state = state or lstm.init_state(L, C, batch=(B,), dtype=x.dtype)
    h = [st.h for st in state.layers]                                   # (B, C) each
    c = [st.c for st in state.layers]
    tops = []
    for x_t, xw0_t in zip(x.unbind(1), xw0.unbind(1)):   # unbind, not xw0[:, t]: one gradient buffer, not one per token
        for l in range(L):
            z = torch.cat([h[0], h[-1]] if l == 0 else [x_t, h[l]], dim=-1)       # (B, 2C)
            gates = torch.addmm(xw0_t if l == 0 else bias[l], z, recur[l].t())      # (B, 4C)
            if deferred is not None:
                deferred.record(l, z, gates)
            i, f, g, o = gates.chunk(4, dim=-1)
            c[l] = torch.sigmoid(f) * c[l] + torch.sigmoid(i) * torch.tanh(g)      # (B, C)
            h[l] = torch.sigmoid(o) * torch.tanh(c[l])                              # (B, C)
            x_t = x_t + h[l]                                                        # (B, C) the residual
        tops.append(x_t)
    new = State(tuple(lstm.LayerState(hl, cl) for hl, cl in zip(h, c)))
    return lstm.head(w, torch.stack(tops, dim=1)), new                  # (B, T, V)


class DeferredGrads:
    """The red-line loop's weight gradients, summed over tokens in one product per layer:
    dL/dW = Σ_t g_tᵀ z_t = Gᵀ Z, with G the gates' gradients (caught by a hook in backward) and
    Z the products' inputs, both stacked over tokens."""

    def __init__(self):
        self.z: dict[int, list[torch.Tensor]] = {}
        self.g: dict[int, list[torch.Tensor]] = {}

    def detach(self, w: Weights, recur, bias):
        self.w = w
        return [r.detach() for r in recur], [b if b is None else b.detach() for b in bias]

    def record(self, l: int, z: torch.Tensor, gates: torch.Tensor) -> None:
        self.z.setdefault(l, []).append(z.detach())
        self.g.setdefault(l, [])
        gates.register_hook(self.g[l].append)       # backward visits the tokens last to first

    def apply(self) -> None:
        """After loss.backward(): add each layer's weight gradients to the parameters' .grad."""
        C = self.w.emb.shape[1]
        for l, zs in self.z.items():
            Z = torch.cat(zs)                                            # (T·B, 2C)
            G = torch.cat(self.g[l][::-1])                               # (T·B, 4C)
            dW = G.t() @ Z                                               # (4C, 2C) one wide product
            lw = self.w.layers[l]
            if l == 0:
                _add_grad(lw.weight_hh, dW[:, :C])
                _add_grad(self.w.red_line, dW[:, C:])
            else:
                _add_grad(lw.weight_ih, dW[:, :C])
                _add_grad(lw.weight_hh, dW[:, C:])
                db = G.sum(0)                                            # (4C,)
                _add_grad(lw.bias_ih, db)
                _add_grad(lw.bias_hh, db)
        self.z, self.g = {}, {}


def _add_grad(p: torch.Tensor, g: torch.Tensor) -> None:
    p.grad = g.clone() if p.grad is None else p.grad + g


FORWARD = {"lstm": lstm_forward, "redline": redline_forward}


class TrainingForward:
    """The training forward of a kind as a model for lab.evaluate: one sequence, the state
    carried. Validation during training runs it (the model code in its fastest allowed schedule
    gives the same numbers, tests/test_rivals.py, but the red-line RNN's rnn order through the
    cell-by-cell engine took about 7 minutes over the held-out plays on this machine)."""

    def __init__(self, kind: str, weights: Weights, tokenizer):
        self.forward_batch, self.weights, self.tokenizer = FORWARD[kind], weights, tokenizer

    def forward(self, tokens, state: State | None = None, *, mode: str = "", all_logits: bool = True):
        with torch.no_grad():
            logits, state = self.forward_batch(self.weights, torch.as_tensor(tokens)[None], state=state)
        return (logits[0] if all_logits else logits[0, -1]), state      # (T, V) or (V,)


# --- training ---------------------------------------------------------------------------------

def make_config(kind: str, tc: TrainConfig, vocab_size: int) -> Config:
    return Config(kind, tc.n_layer, tc.n_embd, vocab_size)


def train(kind: str, tc: TrainConfig, out: Path, *, export: bool = True, texts=None, every: int = 10) -> dict:
    from lab.data import load_texts
    from rwkv_core.tokenizer import Tokenizer
    torch.set_num_threads(tc.threads)
    out.mkdir(parents=True, exist_ok=True)
    train_texts, val_texts = texts or load_texts()
    tokenizer = Tokenizer(TOKENIZER)
    data = encode_corpus(tokenizer, train_texts.values())
    config = make_config(kind, tc, tokenizer.vocab_size)

    g = torch.Generator().manual_seed(tc.seed)
    params = {k: v.requires_grad_(True) for k, v in init_weights(config, g).items()}
    decay = [v for k, v in params.items() if v.ndim == 2 and k != "lstm.emb.weight"]
    no_decay = [v for k, v in params.items() if not (v.ndim == 2 and k != "lstm.emb.weight")]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": tc.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=tc.lr_peak, betas=(0.9, 0.99), eps=1e-8)
    log = {"kind": kind, "config": asdict(tc), "train": [], "val": [], "seconds": 0.0}
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
        log.setdefault("resumed", []).append({"step": step, "threads": tc.threads})   # how the run went
        print(f"resumed from {ckpt} at step {step}", flush=True)
    weights = Weights.from_state_dict(params)
    model = TrainingForward(kind, weights, tokenizer)   # for validation: the same numbers as RivalModel
    forward = FORWARD[kind]
    tokens_per_step = tc.batch_size * tc.ctx_len

    def save():
        torch.save({"params": {k: v.detach() for k, v in params.items()}, "opt": opt.state_dict(),
                    "rng": g.get_state(), "step": step, "log": json.dumps(log)}, ckpt.with_suffix(".tmp"))
        ckpt.with_suffix(".tmp").replace(ckpt)

    def validate():
        r = bits_per_char(model, list(val_texts.values()))
        log["val"].append({"step": step, "tokens": step * tokens_per_step, "seconds": round(log["seconds"], 1), **r})
        return r

    print(f"{kind}: {config.n_params:,} parameters, {len(data):,} training tokens, {tc.threads} threads", flush=True)
    t_start = time.perf_counter() - log["seconds"]
    t_last, step_last = time.perf_counter(), step
    while step < tc.total_steps and (time.perf_counter() - t_start) / 60 < tc.max_minutes:
        starts = torch.randint(0, len(data) - tc.ctx_len - 1, (tc.batch_size,), generator=g)
        batch = torch.stack([data[s:s + tc.ctx_len + 1] for s in starts.tolist()])   # (B, T+1)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, tc)
        opt.zero_grad(set_to_none=True)
        deferred = DeferredGrads() if kind == "redline" else None
        logits, _ = forward(weights, batch[:, :-1], deferred) if deferred else forward(weights, batch[:, :-1])  # (B, T, V)
        loss, ce = loss_fn(logits, batch[:, 1:])
        loss.backward()
        if deferred:
            deferred.apply()
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
    log["final"] = {**final, "step": step, "train_tokens": step * tokens_per_step, "minutes": log["seconds"] / 60,
                    "params": config.n_params, "tokens_per_second": step * tokens_per_step / log["seconds"],
                    "train_loss_last100": sum(e["loss"] for e in log["train"][-100:]) / max(1, len(log["train"][-100:]))}
    save()
    (out / "log.json").write_text(json.dumps(log))
    if export:
        print(export_model(kind, params, log, MODELS_DIR), flush=True)
    return log


def export_model(kind: str, params, log: dict, models_dir: Path) -> Path:
    """models/<kind>-shakespeare.safetensors (float16 when float32 would pass 25 MB), its tokenizer and log."""
    from safetensors.torch import save_file
    name = f"{kind}-shakespeare"
    models_dir.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().float().contiguous().clone() for k, v in params.items()}
    if sum(t.numel() for t in tensors.values()) * 4 > 25e6:
        tensors = {k: v.half() for k, v in tensors.items()}    # cast back to float32 on load
    target = models_dir / f"{name}.safetensors"
    save_file(tensors, str(target), metadata={"format": "pt", "source": "lab.train_rivals", "kind": kind,
                                               "final": json.dumps(log.get("final", {}))})
    shutil.copy(TOKENIZER, models_dir / f"{name}.tokenizer.json")
    (models_dir / f"{name}.log.json").write_text(json.dumps(log))
    return target


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kind", choices=("lstm", "redline", "gpt"), required=True)
    p.add_argument("--out", default=None, help="run folder (default runs/<kind>)")
    p.add_argument("--no-export", action="store_true")
    p.add_argument("--export-only", action="store_true", help="export the run's latest checkpoint, no training")
    for name, value in asdict(recipe()).items():
        p.add_argument("--" + name.replace("_", "-"), type=type(value), default=value)
    args = p.parse_args(argv)
    if args.kind == "gpt":  # its own shape and loop (6 x 256, attention): lab/train_gpt.py
        from lab.train_gpt import main as gpt_main
        return gpt_main(argv)
    tc = TrainConfig(**{k: getattr(args, k) for k in asdict(TrainConfig())})
    out = Path(args.out or f"runs/{args.kind}")
    if args.export_only:
        state = torch.load(out / "ckpt.pt", weights_only=True)
        print(export_model(args.kind, state["params"], json.loads(state["log"]), MODELS_DIR))
        return
    log = train(args.kind, tc, out, export=not args.no_export)
    print(json.dumps(log["final"], indent=1))


if __name__ == "__main__":
    main()
