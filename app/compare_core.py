"""Why RWKV, measured: the four models trained here (RWKV-4, a GPT, a stacked LSTM and the red-line
RNN), compared on what the article claims, without Streamlit.

  quality          held-out bits per character from each model's training log (models/<stem>.log.json)
                   and evaluation (.eval.json), read at equal training tokens and equal wall-clock
  training         one training step's tokens per second (lab.train_bench)
  generation       time per new token against the context already read, and the state's bytes
                   (lab.measure), live or from docs/compare/generation_cpu.json
  memory           state or KV-cache bytes against context: the models' real tensors, and two
                   computed lines at full size (RWKV-4 169M, GPT-2 small)
  side by side     the same prompt, seed and settings through each model, with tokens per second
  where they look  the GPT's attention weights beside RWKV's implicit attention (its WKV written as
                   weights over earlier tokens), for the same text

The page (app/app_pages/why_rwkv.py), the Explorer's "WKV as attention" section
(app/compare_view.py) and the tests drive this code.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch

from lab import analysis, card, kinds, train_log
from lab.kinds import KINDS
from lab.measure import GenerationRow, generation_cost
from rwkv_core import Recorder
from rwkv_core.sampling import SamplingSettings, make_generator, sample

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "docs" / "compare"           # not docs/bench: the Lab reads every *.json there as a scaling record
GENERATION_FILE = COMMITTED / "generation_cpu.json"
TRAIN_STEP_FILE = COMMITTED / "train_step_four_models_cpu.json"   # the Lab reads every train_step_*.json here too
TABLE_CONTEXTS = (64, 512, 2048, 4096)          # the lead's table: time per token and memory at these
LIVE_CONTEXTS = (16, 64, 256, 512)              # the live button's default: seconds on a CPU, not minutes
ALL_CONTEXTS = (16, 64, 256, 512, 1024, 2048, 4096)
MAX_PROMPT_CHARS = 1000
MAX_NEW_TOKENS = 200
MAX_LOOK_TOKENS = 64                            # "where they look": a matrix a person can read

def title(kind: str) -> str:
    return KINDS[kind].title


def order() -> list[str]:
    """The page's order of the kinds: the registry's (lab.kinds.KINDS), a kind registered later included."""
    return list(KINDS)


def stem(kind: str) -> str:
    """A kind's main shipped model's file stem in the models folder (lab.kinds.SHIPPED)."""
    return kinds.main_model(kind).stem


def shipped(models_dir: Path | None = None) -> dict[str, Path]:
    """The trained models in the models folder, in the registry's order: {kind: its .safetensors}."""
    return kinds.shipped_paths(models_dir)


def fastest(model) -> str:
    """The schedule a kind reads a prompt in fastest: the last it allows (parallel, or rnn)."""
    return model.schedules[-1]


# --- quality: the training logs ---------------------------------------------------------------

@dataclass(frozen=True)
class Curve:
    kind: str
    points: list[tuple[int, float, float]]    # (training tokens, training seconds, held-out bits/char)
    final_bpc: float                           # the shipped file's held-out bits/char (.eval.json, else the log)
    final_from: str                            # where final_bpc was read
    threads: str                               # torch threads of the run, and where a resumed run changed them
    shared_cpu: str                            # the machine and who else had it (lab.train_log.conditions)

    @property
    def tokens(self) -> int:
        return self.points[-1][0]

    @property
    def seconds(self) -> float:
        return self.points[-1][1]


def read_curve(kind: str, models_dir: Path | None = None) -> Curve | None:
    """A model's validation points from its .log.json (None when it is not there), in the one log
    schema (lab.train_log); the conditions it trained in (threads, CPU, who shared it) from the log."""
    if kinds.main_model(kind) is None:
        return None
    folder = Path(models_dir or kinds.MODELS_DIR)
    log_file, eval_file = folder / f"{stem(kind)}.log.json", folder / f"{stem(kind)}.eval.json"
    if not log_file.is_file():
        return None
    log = json.loads(log_file.read_text())
    points = card.val_curve(log)
    if not points:
        return None
    final, source = log.get("final", {}).get("bits_per_char", points[-1][2]), log_file.name
    if eval_file.is_file():
        final, source = json.loads(eval_file.read_text())["total"]["bits_per_char"], eval_file.name
    return Curve(kind, points, float(final), source, train_log.threads_text(log),
                 train_log.conditions(log))


def read_curves(models_dir: Path | None = None) -> dict[str, Curve]:
    out = {k: read_curve(k, models_dir) for k in order()}
    return {k: c for k, c in out.items() if c is not None}


@dataclass(frozen=True)
class Equal:
    tokens: int                        # the most training tokens every curve reached
    seconds: float                     # the most training seconds every curve reached
    at_tokens: dict[str, float]        # each kind's bits/char there (linear between validation points)
    at_seconds: dict[str, float]


def equal_points(curves: dict[str, Curve]) -> Equal:
    """Each curve read at the same training tokens, and at the same training seconds: the
    furthest point that every run reached (so no curve is extrapolated)."""
    tokens = min(c.tokens for c in curves.values())
    seconds = min(c.seconds for c in curves.values())
    return Equal(tokens, seconds, {k: card.at(c.points, tokens, 0) for k, c in curves.items()},
                 {k: card.at(c.points, seconds, 1) for k, c in curves.items()})


def verdict(curves: dict[str, Curve], eq: Equal) -> str:
    """The page's headline about quality, worded from the numbers (whichever kind they favour):
    the best kind at equal training tokens, RWKV-4's place and its gap to the best other kind."""
    def the(k):
        return title(k) if title(k).startswith("RWKV") else f"the {title(k)}"
    ranked = sorted(curves, key=lambda k: eq.at_tokens[k])
    best, runner = ranked[0], ranked[1]
    line = (f"At the same {eq.tokens / 1e6:.2f}M training tokens, {the(best)} scores best on held-out text "
            f"({eq.at_tokens[best]:.3f} bits/char), {eq.at_tokens[runner] - eq.at_tokens[best]:.3f} ahead of "
            f"{the(runner)}")
    if "rwkv4" in curves and best != "rwkv4" and runner != "rwkv4":
        place = ("first", "second", "third", "fourth", "fifth", "sixth")[ranked.index("rwkv4")]
        line += f"; RWKV-4 is {place} of {len(ranked)} ({eq.at_tokens['rwkv4']:.3f})"
    return line + "."


def quality_table(curves: dict[str, Curve], eq: Equal) -> dict[str, list]:
    return {"model": [title(k) for k in curves],
            "held-out bits/char (shipped file)": [round(c.final_bpc, 3) for c in curves.values()],
            f"at {eq.tokens / 1e6:.2f}M training tokens": [round(eq.at_tokens[k], 3) for k in curves],
            f"at {eq.seconds / 60:.0f} min of training": [round(eq.at_seconds[k], 3) for k in curves],
            "trained on": [f"{c.tokens / 1e6:.2f}M tokens in {c.seconds / 60:.0f} min" for c in curves.values()],
            "threads": [c.threads for c in curves.values()],
            "CPU while training": [c.shared_cpu for c in curves.values()]}


# --- training speed ---------------------------------------------------------------------------

def train_step_speeds(kinds: Sequence[str], *, device="cpu", batch: int = 6, ctx: int = 512,
                      repeats: int = 1) -> list:
    """One training step per kind (batch × ctx tokens), each in its fastest allowed schedule
    (lab.train_bench, random weights of the trained shapes)."""
    from lab.train_bench import train_step_speed
    return [train_step_speed(k, device=device, batch=batch, ctx=ctx, repeats=repeats) for k in kinds]


def read_train_steps(path: Path = TRAIN_STEP_FILE) -> dict | None:
    """The committed training-step record (lab.train_bench's layout), or None."""
    from lab.train_bench import StepSpeed
    if not path.is_file():
        return None
    rec = json.loads(path.read_text())
    return {**rec, "rows": [StepSpeed(**r) for r in rec["rows"]]}


# --- generation cost and memory ---------------------------------------------------------------

def measure_generation(models: dict[str, object], contexts: Sequence[int], new_tokens: int = 4,
                       on_progress: Callable[[float, str], None] | None = None) -> dict[str, list[GenerationRow]]:
    """lab.measure.generation_cost for each model: time per new token and state bytes
    after each context length."""
    out = {}
    for i, (kind, model) in enumerate(models.items()):
        if on_progress:
            on_progress(i / len(models), f"{title(kind)}: contexts {', '.join(map(str, contexts))}")
        out[kind] = generation_cost(model, tuple(contexts), new_tokens)
    return out


def read_generation(path: Path = GENERATION_FILE) -> dict | None:
    """A committed generation record, its rows keyed by kind; None when there is no file."""
    if not path.is_file():
        return None
    rec = json.loads(path.read_text())
    by_kind = {}
    for name, rows in rec["models"].items():
        shipped = kinds.SHIPPED.get(name)
        if shipped is not None and shipped == kinds.main_model(shipped.kind):
            by_kind[shipped.kind] = [GenerationRow(**{**r, "seconds": tuple(r["seconds"])}) for r in rows]
    return {**rec, "rows": {k: by_kind[k] for k in order() if k in by_kind}}


def cost_series(results: dict[str, list[GenerationRow]]) -> dict[str, list[tuple[int, float, bool]]]:
    """For the figure: {title: [(context, seconds per token, past the training context)]}."""
    return {title(k): [(r.context, r.seconds_per_token, r.past_training_context) for r in rows]
            for k, rows in results.items()}


def memory_series(results: dict[str, list[GenerationRow]]) -> dict[str, list[tuple[int, int]]]:
    """{title: [(context, state bytes)]}: the real states after each context (nbytes())."""
    return {title(k): [(r.context, r.state_bytes) for r in rows] for k, rows in results.items()}


def full_size_memory(contexts: Sequence[int]) -> dict[str, list[tuple[int, int]]]:
    """Two computed lines at full size: RWKV-4 169M's state (12 layers × 768, a real init_state's
    nbytes(), the same at every length) and GPT-2 small's KV cache (12 layers × 768: 2·L·C float32
    values per token read)."""
    from rivals.gpt import Config as GPTConfig
    from rwkv_core.state import init_state
    rwkv = init_state(12, 768).nbytes()
    gpt2 = GPTConfig(n_layer=12, n_embd=768, n_head=12, n_ffn=3072, vocab_size=50257, n_ctx=1024)
    return {"RWKV-4 169M (computed)": [(n, rwkv) for n in contexts],
            "GPT-2 small (computed)": [(n, gpt2.cache_bytes(n)) for n in contexts]}


def at_contexts(rows: list[GenerationRow], contexts: Sequence[int]) -> dict[int, GenerationRow]:
    return {r.context: r for r in rows if r.context in contexts}


def summary_table(curves: dict[str, Curve], eq: Equal | None, steps: list, gen: dict[str, list[GenerationRow]],
                  contexts: Sequence[int] = TABLE_CONTEXTS) -> dict[str, list]:
    """The lead's table, one row per model: held-out bits/char (and at equal tokens / seconds),
    training tokens/s, ms per new token and state bytes at each context."""
    kinds = [k for k in order() if k in curves or k in gen or any(s.kind == k for s in steps)]
    speed = {s.kind: s.tokens_per_s for s in steps}
    table: dict[str, list] = {"model": [title(k) for k in kinds],
                              "bits/char": [round(curves[k].final_bpc, 3) if k in curves else None for k in kinds]}
    if eq is not None:
        table[f"bits/char at {eq.tokens / 1e6:.2f}M tokens"] = [round(eq.at_tokens[k], 3) if k in eq.at_tokens
                                                               else None for k in kinds]
        table[f"bits/char at {eq.seconds / 60:.0f} min"] = [round(eq.at_seconds[k], 3) if k in eq.at_seconds
                                                           else None for k in kinds]
    table["training tokens/s"] = [round(speed[k]) if k in speed else None for k in kinds]
    for n in contexts:
        table[f"ms/token @{n}"] = [_ms(at_contexts(gen.get(k, []), contexts).get(n)) for k in kinds]
    for n in contexts:
        table[f"state bytes @{n}"] = [_bytes(at_contexts(gen.get(k, []), contexts).get(n)) for k in kinds]
    return table


def _ms(row: GenerationRow | None) -> str | None:
    if row is None:
        return None
    return f"{1e3 * row.seconds_per_token:.2f}" + (" (timing only)" if row.past_training_context else "")


def _bytes(row: GenerationRow | None) -> int | None:
    return None if row is None else row.state_bytes


def markdown_table(table: dict[str, list]) -> str:
    cols = list(table)
    fmt = lambda v: "—" if v is None else (f"{v:,}" if isinstance(v, int) else str(v))   # noqa: E731
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(table[c][i]) for c in cols) + " |" for i in range(len(table[cols[0]]))]
    return "\n".join(lines)


# --- side by side -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Generation:
    kind: str
    text: str                  # the new text only
    tokens: list[int]          # the new tokens
    prompt_tokens: int         # tokens of the prompt the model read (cut to its context if need be)
    prefill_seconds: float
    seconds: float             # generating the new tokens, one at a time with the state

    @property
    def tokens_per_second(self) -> float:
        return len(self.tokens) / self.seconds if self.seconds > 0 else float("inf")


def generate(model, prompt: str, n_tokens: int, settings: SamplingSettings, seed: int) -> Generation:
    """The prompt read in the kind's fastest schedule, then n_tokens sampled one at a time with the
    state carried, from a generator seeded with `seed`. A GPT reads at most its context: the
    prompt's start is cut so that prompt and new tokens fit."""
    ids = model.tokenizer.encode(prompt)
    if not ids:
        raise ValueError("the prompt is empty")
    limit = getattr(model.config, "n_ctx", None)
    if limit is not None:
        ids = ids[-max(1, limit - n_tokens):]
    g = make_generator(seed)
    t0 = time.perf_counter()
    logits, state = model.forward(ids, mode=fastest(model), all_logits=False)
    t1 = time.perf_counter()
    out = []
    for i in range(n_tokens):
        out.append(sample(logits, settings, g).token)
        if i < n_tokens - 1:
            logits, state = model.forward(out[-1:], state, mode="rnn", all_logits=False)
    t2 = time.perf_counter()
    return Generation(model.kind, model.tokenizer.decode(out), out, len(ids), t1 - t0, t2 - t1)


def generate_all(models: dict[str, object], prompt: str, n_tokens: int, settings: SamplingSettings,
                 seed: int) -> list[Generation]:
    if len(prompt) > MAX_PROMPT_CHARS:
        raise ValueError(f"the prompt is longer than {MAX_PROMPT_CHARS} characters")
    if not 1 <= n_tokens <= MAX_NEW_TOKENS:
        raise ValueError(f"new tokens must be between 1 and {MAX_NEW_TOKENS}")
    return [generate(m, prompt, n_tokens, settings, seed) for m in models.values()]


# --- where each model looks -------------------------------------------------------------------

def gpt_attention(gpt_model, tokens: Sequence[int]) -> torch.Tensor:
    """The GPT's real attention weights for tokens (at most its context): (L, H, T, T), from its
    own forward pass (rivals.gpt_model.attention_weights); each row sums to 1."""
    from rivals.gpt_model import attention_weights
    return torch.stack(attention_weights(gpt_model, list(tokens)))          # (L, H, T, T)


@dataclass(frozen=True)
class Implicit:
    weights: torch.Tensor      # (L, T, T): row t, RWKV's weights over tokens 0..t (mean over channels)
    max_diff: float            # max |WKV rebuilt from the per-channel weights - WKV recorded|


def rwkv_implicit_attention(model, tokens: Sequence[int]) -> Implicit:
    """RWKV's WKV of every token written as weights over the tokens so far (analysis.implicit_attention,
    per channel), averaged over channels: (L, T, T), lower triangular, rows summing to 1. Each
    channel's weights rebuild the recorded WKV (max_diff)."""
    rec = Recorder(["blocks.*.att.k", "blocks.*.att.v", "blocks.*.att.wkv"])
    model.forward(list(tokens), mode="parallel", recorder=rec, all_logits=False)
    T, worst, layers = len(tokens), 0.0, []
    for i, bw in enumerate(model.weights.blocks):
        p = f"blocks.{i}.att."
        k, v, wkv = rec[p + "k"], rec[p + "v"], rec[p + "wkv"]                 # (T, C) each
        rows = torch.zeros(T, T, dtype=torch.float64)
        for t in range(T):
            w = analysis.implicit_attention(k, bw.att.time_decay, bw.att.time_first, t)   # (t+1, C)
            worst = max(worst, float((analysis.wkv_from_attention(w, v) - wkv[t].double()).abs().max()))
            rows[t, : t + 1] = w.mean(1)
        layers.append(rows)
    return Implicit(torch.stack(layers), worst)                                  # (L, T, T)


@dataclass(frozen=True)
class Looks:
    labels: list[str]          # the tokens as shown
    rwkv: Implicit
    gpt: torch.Tensor          # (L, H, T, T)


def look_tokens(model, text: str, limit: int = MAX_LOOK_TOKENS) -> list[int]:
    ids = model.tokenizer.encode(text)
    if not ids:
        raise ValueError("the text is empty")
    return ids[:limit]


def where_they_look(rwkv_model, gpt_model, tokens: Sequence[int]) -> Looks:
    """The same tokens through both: RWKV's implicit attention and the GPT's attention weights."""
    labels = [rwkv_model.tokenizer.display(t) for t in tokens]
    return Looks(labels, rwkv_implicit_attention(rwkv_model, tokens), gpt_attention(gpt_model, tokens))


def pick_head(gpt_weights: torch.Tensor, head: int | None) -> torch.Tensor:
    """(L, H, T, T) → (L, T, T): one head, or the mean over heads (None)."""
    return gpt_weights.mean(1) if head is None else gpt_weights[:, head]


def last_row(weights: torch.Tensor) -> torch.Tensor:
    """(L, T, T) → (L, T): every layer's weights for the last token."""
    return weights[:, -1, :]


def distance(weights: torch.Tensor) -> torch.Tensor:
    """(L, T, T) → (L,): per layer, how far back a token looks on average (weighted distance in
    tokens, averaged over the tokens), a one-number summary of 'where it looks'."""
    T = weights.shape[-1]
    gap = (torch.arange(T)[:, None] - torch.arange(T)[None, :]).clamp(min=0).to(weights.dtype)   # (T, T)
    return (weights * gap).sum(-1).mean(-1)                                   # (L,)
