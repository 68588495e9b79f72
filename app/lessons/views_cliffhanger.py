"""The article's cliffhanger, measured: the models trained here side by side, with the ablation
that keeps RWKV-4 but drops its WKV memory (lab.ablation).

Numbers come from files the training and measuring commands wrote: each model's
models/<name>.eval.json and .log.json (held-out bits per character, training tokens) and
docs/compare/recall_cpu.json (`python -m lab.recall`); the one live number is each model's
loss on the lesson's own prompt, computed here.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import streamlit as st
import torch
import torch.nn.functional as F

from app import resources
from lab import card, kinds, race
from visuals import cliffhanger as vc

from .layout import Context, show, table
from .registry import view

ROOT = Path(__file__).resolve().parents[2]
RECALL = ROOT / "docs" / "compare" / "recall_cpu.json"

# file stem → the shipped model (its title, what it keeps of the past), in the order the lesson
# tells the story: the registry's (lab.kinds.SHIPPED)
MODELS = kinds.SHIPPED
FULL = kinds.main_model("rwkv4").stem
ABLATION = next(s.stem for s in MODELS.values() if s.variant == "shift")   # RWKV-4 without its WKV (lab.ablation)


@dataclass(frozen=True)
class Trained:
    name: str                      # file name in models/
    label: str
    keeps: str
    bits_per_char: float           # held-out (The Tempest, Timon of Athens)
    train_tokens: int
    minutes: float


def trained_models(models_dir: Path | None = None) -> list[Trained]:
    """The models trained here whose evaluation and log are in models_dir (default: the models
    folder, lab.kinds.MODELS_DIR), in MODELS order."""
    folder, out = Path(models_dir or kinds.MODELS_DIR), []
    for name, shipped in MODELS.items():
        ev, log = folder / f"{name}.eval.json", folder / f"{name}.log.json"
        if not (ev.is_file() and log.is_file()):
            continue
        total = json.loads(ev.read_text())["total"]
        lg = json.loads(log.read_text())
        final = lg["final"]
        minutes = final.get("minutes") or lg.get("seconds", 0) / 60
        out.append(Trained(name, shipped.title, shipped.memory, total["bits_per_char"],
                           final["train_tokens"], minutes))
    return out


def context_curves(path: Path = RECALL) -> tuple[dict[str, list[tuple[int, float]]], dict]:
    """label → [(tokens of context, bits/char)] from lab.recall's JSON, and its machine."""
    if not path.is_file():
        return {}, {}
    data = json.loads(path.read_text())
    order = [n for n in MODELS if n in data["models"]] + [n for n in data["models"] if n not in MODELS]
    curves = {MODELS[name].title if name in MODELS else name:
              [(r["context"], r["bpc"]) for r in data["models"][name]["context_curve"] if r["fits"]]
              for name in order}                                   # the lesson's order
    return curves, data.get("machine", {})


@torch.no_grad()
def bits_per_token(model, ids: list[int]) -> float:
    """Mean loss of the prompt's tokens 1… (each predicted from the ones before), in bits."""
    logits, _ = model.forward(ids[:-1], mode="parallel")                         # (T−1, V)
    return F.cross_entropy(logits.float(), torch.tensor(ids[1:])).item() / math.log(2)


def gap_sentence(models: list[Trained]) -> str:
    by = {m.name: m for m in models}
    full, abl = by.get(FULL), by.get(ABLATION)
    if not (full and abl):
        return "The ablation's evaluation is not in models/: train it with `python -m lab.train --time-mix shift`."
    gap = abl.bits_per_char - full.bits_per_char
    return (f"Without WKV the same model, trained the same way on the same {abl.train_tokens / 1e6:.1f}M tokens, "
            f"scores {abl.bits_per_char:.3f} bits per character on the held-out plays against RWKV-4's "
            f"{full.bits_per_char:.3f}: {gap:+.3f} bits, {gap / full.bits_per_char:+.0%}. "
            "That gap is what the WKV memory buys.")


def tokens_note(models: list[Trained]) -> str:
    """Which models saw fewer training tokens than the most any saw, read from their logs."""
    most = max((m.train_tokens for m in models), default=0)
    short = [f"the {m.label} {m.train_tokens / 1e6:.2f}M" for m in models if m.train_tokens < most]
    if not short:
        return f"Every model saw the same {most / 1e6:.2f}M training tokens."
    return f"Not every model saw the same tokens: {most / 1e6:.2f}M each, except " + ", ".join(short) + "."


def red_line_sentence(logs: dict[str, dict]) -> str:
    """The article's worry (removing the red line), answered from the race's logs (lab.race.race_logs):
    the stacked LSTM (the red-line RNN without its line) against the red-line RNN at the most training
    tokens both reached, and whether the two trained at the same setting. Worded from the numbers."""
    lstm, red = logs.get("lstm"), logs.get("redline")
    a, b = (card.val_curve(lstm) if lstm else []), (card.val_curve(red) if red else [])
    if not (a and b):
        return ""
    tokens = min(a[-1][0], b[-1][0])
    with_line, without = card.at(b, tokens, 0), card.at(a, tokens, 0)
    gap = without - with_line                                   # > 0: removing the line cost that much
    said = (f"The article's own worry, removing the red line, measured: at the same {tokens / 1e6:.2f}M training "
            f"tokens the stacked LSTM (no red line) reads the held-out plays at {without:.3f} bits/char, the "
            f"red-line RNN at {with_line:.3f}. ")
    if abs(gap) < 0.01:
        said += "Removing the line cost nothing measurable here (under 0.01 bits/char)."
    elif gap > 0:
        said += f"Removing the line cost {gap:.3f} bits/char here."
    else:
        said += f"Removing the line cost nothing here: the model without it is {-gap:.3f} bits/char better."

    def setting(log: dict) -> tuple:
        r = log["recipe"]
        return r["lr_peak"], r["warmup_steps"], r.get("loss", "ce+l2wrap"), r.get("init", "kind")
    if setting(lstm) != setting(red):
        said += (" The two did not train at the same setting (peak rate, warm-up, loss, initialisation: the LSTM "
                 + ", ".join(str(x) for x in setting(lstm)) + "; the red-line RNN "
                 + ", ".join(str(x) for x in setting(red)) + "), so this compares two runs, not yet the two designs.")
    return said


@view("cliffhanger", "the models trained here side by side, with RWKV-4 without its WKV memory")
def cliffhanger(ctx: Context) -> None:
    models = trained_models()
    st.info(gap_sentence(models))
    show(ctx, vc.held_out_figure([(m.label, m.bits_per_char) for m in models],
                                 highlight=("RWKV-4", "RWKV-4 without WKV")), "held_out")
    table(ctx, [{"model": m.label, "keeps of the past": m.keeps, "held-out bits/char": round(m.bits_per_char, 3),
                 "training tokens": f"{m.train_tokens / 1e6:.2f}M", "training minutes": round(m.minutes)}
                for m in models])
    st.caption("Held-out: The Tempest and Timon of Athens, never trained on. RWKV and the LSTMs carry their "
               "state through each play; the GPT reads it in 512-token windows moving by 256. "
               + tokens_note(models) + " Training ran on the same 2-core CPU.")
    worry = red_line_sentence(race.race_logs())
    if worry:
        st.markdown(worry)
    curves, machine = context_curves()
    if curves:
        show(ctx, vc.context_curve_figure(curves), "context")
        st.caption(f"`python -m lab.recall` on {machine.get('cpu', 'a CPU')}: the same 8 tokens at 48 "
                   "places of the held-out plays, each read after c tokens of context from an empty state.")
    path = MODELS[ABLATION].path
    if path.is_file() and ctx.ex.n_tokens >= 2 and ctx.model.config.vocab_size == 2048:
        ablation = resources.rival_model(str(path), path.stat().st_mtime_ns)
        ids = list(ctx.ex.ids)
        full, abl = bits_per_token(ctx.model, ids), bits_per_token(ablation, ids)
        c1, c2 = st.columns(2)
        c1.metric("RWKV-4 on this prompt", f"{full:.2f} bits/token")
        c2.metric("without WKV, on this prompt", f"{abl:.2f} bits/token")
        st.caption(live_sentence(len(ids), full, abl))


def live_sentence(n_tokens: int, full: float, ablation: float) -> str:
    """What the two live numbers say, and no more: one short text decides little, and its layout
    (one long line where the plays break their verse, say) can move the two models apart by more
    than their average gap; the recall curve is the comparison on held-out plays."""
    said = f"Live: the mean loss of this prompt's {n_tokens - 1} predicted tokens under each model. "
    if ablation < full:
        verdict = f"On this text the model without WKV does better, by {full - ablation:.2f} bits. "
    else:
        verdict = f"On this text RWKV-4 is ahead, by {ablation - full:.2f} bits. "
    return said + verdict + ("One prompt decides little: a text laid out unlike the plays (one paragraph where "
                             "they break their lines, say) hurts most the model that reads further back, whatever "
                             "its length. For the comparison, read the curve above: the same held-out tokens at "
                             "every length of context.")
