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
  where they look  app/looks_core.py

The page (app/app_pages/why_rwkv.py), the Explorer's "WKV as attention" section
(app/compare_view.py) and the tests drive this code.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

from lab import card, kinds, race, train_log
from lab.kinds import KINDS
from lab.measure import GenerationRow, generation_cost
from rwkv_core.sampling import SamplingSettings, make_generator, sample

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "docs" / "compare"           # not docs/bench: the Lab reads every *.json there as a scaling record
GENERATION_FILE = COMMITTED / "generation_cpu.json"
TRAIN_STEP_FILE = race.THROUGHPUT_FILE         # the fair race's clean training throughput (lab.train_bench)
TABLE_CONTEXTS = (64, 512, 2048, 4096)          # the lead's table: time per token and memory at these
LIVE_CONTEXTS = (16, 64, 256, 512)              # the live button's default: seconds on a CPU, not minutes
ALL_CONTEXTS = (16, 64, 256, 512, 1024, 2048, 4096)
MAX_PROMPT_CHARS = 1000
MAX_NEW_TOKENS = 200

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
    final_bpc: float                           # the model file's held-out bits/char (.eval.json, else the log)
    final_from: str                            # where final_bpc was read
    threads: str                               # torch threads of the run, and where a resumed run changed them
    shared_cpu: str                            # the machine and who else had it (lab.train_log.conditions)
    train_loss: float | None = None            # the mean training loss of its last 100 steps, nats/token (the log)

    @property
    def tokens(self) -> int:
        return self.points[-1][0]

    @property
    def seconds(self) -> float:
        return self.points[-1][1]


def read_curve(kind: str, models_dir: Path | None = None) -> Curve | None:
    """The race's model of a kind (lab.race.race_folder: the shipped one, or models/race/ where the
    shipped one was kept): its validation points from its .log.json (None when it is not there), in
    the one log schema (lab.train_log); the conditions it trained in (threads, CPU, who shared it)."""
    if kinds.main_model(kind) is None:
        return None
    folder = race.race_folder(kind, models_dir)      # the race's run of the kind (lab.race: where it is not shipped)
    log_file = folder / f"{stem(kind)}.log.json"
    if not log_file.is_file():
        return None
    log = json.loads(log_file.read_text())
    points = card.val_curve(log)
    if not points:
        return None
    got = race.final_bpc(folder, stem(kind))           # its .eval.json, else its log's last validation
    final, source = (got[0], Path(got[1]).name) if got else (points[-1][2], log_file.name)
    return Curve(kind, points, float(final), source, train_log.threads_text(log),
                 train_log.conditions(log), log.get("final", {}).get("train_loss_last100"))


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


def equal_race(curves: dict[str, Curve], speed: dict[str, float]) -> Equal | None:
    """Equal training tokens (from the curves) and equal compute time (tokens ÷ each kind's clean
    throughput, compute_curves); None without two curves or without every kind's throughput."""
    compute = compute_curves(curves, speed)
    if len(curves) < 2 or len(compute) != len(curves):
        return None
    eq, eq_c = equal_points(curves), equal_points(compute)
    return Equal(eq.tokens, eq_c.seconds, eq.at_tokens, eq_c.at_seconds)


def _the(k: str) -> str:
    return title(k) if title(k).startswith("RWKV") else f"the {title(k)}"


def _ranking(at: dict[str, float], where: str) -> str:
    ranked = sorted(at, key=at.get)
    best, runner = ranked[0], ranked[1]
    line = (f"{where}, {_the(best)} scores best on held-out text ({at[best]:.3f} bits/char), "
            f"{at[runner] - at[best]:.3f} ahead of {_the(runner)}")
    if "rwkv4" in at and best != "rwkv4" and runner != "rwkv4":
        place = ("first", "second", "third", "fourth", "fifth", "sixth")[ranked.index("rwkv4")]
        line += f"; RWKV-4 is {place} of {len(ranked)} ({at['rwkv4']:.3f})"
    return line + "."


def verdict(curves: dict[str, Curve], eq: Equal) -> str:
    """The page's headline about quality, worded from the numbers (whichever kind they favour):
    the best kind at equal training tokens, RWKV-4's place and its gap to the best other kind."""
    return _ranking({k: eq.at_tokens[k] for k in curves}, f"At the same {eq.tokens / 1e6:.2f}M training tokens")


def verdict_compute(curves: dict[str, Curve], eq: Equal) -> str:
    """The same, at equal compute time (eq from equal_race)."""
    return _ranking({k: eq.at_seconds[k] for k in curves}, f"In the same {eq.seconds / 60:.0f} minutes of compute")


def quality_table(curves: dict[str, Curve], eq: Equal, unit: str = "of compute") -> dict[str, list]:
    return {"model": [title(k) for k in curves],
            "held-out bits/char": [f"{c.final_bpc:.3f}" for c in curves.values()],
            f"at {eq.tokens / 1e6:.2f}M tokens": [f"{eq.at_tokens[k]:.3f}" for k in curves],
            f"at {eq.seconds / 60:.0f} min {unit}": [f"{eq.at_seconds[k]:.3f}" for k in curves],
            "trained on": [f"{c.tokens / 1e6:.2f}M tokens" for c in curves.values()],
            "final train loss (nats/token)": ["—" if c.train_loss is None else f"{c.train_loss:.3f}"
                                              for c in curves.values()],
            "threads": [c.threads for c in curves.values()]}


def compute_curves(curves: dict[str, Curve], speed: dict[str, float]) -> dict[str, Curve]:
    """The curves against compute time instead of wall-clock: each point's training tokens ÷ its
    kind's clean throughput (lab.race.compute_seconds). A kind without a throughput is left out."""
    return {k: replace(c, points=[(t, race.compute_seconds(t, k, speed), b) for t, _, b in c.points])
            for k, c in curves.items() if speed.get(k)}


# --- training speed ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Plateau:
    """The Why page's "Learning early" section, from docs/race/bigram.json, plateau.json and gpt_shift.json."""
    level: float                                   # the bigram level, nats/token
    curves: dict[str, list[tuple[int, float]]]     # model title → (step, 50-step mean training loss), the race's runs
    short: dict[str, list[tuple[int, float]]]      # the token-shift experiment's two runs (dashed), if committed
    full: dict[str, list[tuple[int, float]]]       # its full-length run (dashed beside the race's), if committed
    table: dict[str, list]                         # model → the step its loss went below the level
    text: str                                      # the verdicts, worded from the files
    caption: str                                   # the commands that wrote them


def _step(step: int | None, steps: int | None = None) -> str:
    return f"{step:,}" if step is not None else f"not by step {steps:,}" if steps else "not reached"


def plateau_view(models_dir: Path | None = None) -> Plateau | None:
    """None until docs/race/bigram.json is committed (`python -m lab.bigram --json docs/race/bigram.json`)."""
    from lab import bigram, plateau
    data = race.read(race.BIGRAM_FILE)
    if data is None:
        return None
    attention, shift = race.read(race.PLATEAU_FILE), race.read(race.SHIFT_FILE)
    logs = race.race_logs(models_dir)
    curves = {title(k): bigram.smoothed(log, data["window"]) for k, log in logs.items()}
    short = ({f"GPT, {shift['plain']['steps']}-step run": [tuple(p) for p in shift["plain"]["smoothed"]],
              f"GPT + token shift, {shift['shift']['steps']}-step run": [tuple(p) for p in shift["shift"]["smoothed"]]}
             if shift else {})
    rows = [r for r in data["runs"] if "/before/" not in r["log"]]
    rows += [r for r in data["runs"] if "/before/" in r["log"]]
    table = {"model": [title(r["kind"]) + (" (before the race)" if "/before/" in r["log"] else "") for r in rows],
             "setting": [f"{r['lr_peak']:g}, {r['warmup_steps']} warm-up, {r['loss'] or 'ce+l2wrap'}, "
                         f"{r.get('init', 'kind')} init" for r in rows],
             "below the bigram level from step": [_step(r["leaves_at_step"]) for r in rows]}
    full = ({f"GPT + token shift, {shift['full']['steps']:,} steps": [tuple(p) for p in shift["full"]["shift"]["smoothed"]]}
            if shift and shift.get("full") else {})
    if shift:                                        # every run of the experiment: the GPT's chosen setting
        s = shift["setting"]
        runs = [shift["plain"], shift["shift"], *([shift["full"]["shift"]] if full else [])]
        for name, r in zip([*short, *full], runs):
            table["model"].append(name)
            table["setting"].append(f"{s['lr']:g}, {s['warmup']} warm-up, ce, {s['init']} init")
            table["below the bigram level from step"].append(_step(r["below_bigram_from_step"], r["steps"]))
    text = " ".join(filter(None, [bigram.gpt_sentence(data),
                                  attention and plateau.verdict(attention, measured=bool(shift)),
                                  shift and shift["verdict"], shift and shift.get("full_verdict")]))
    caption = (f"docs/race/bigram.json (`{data['command']}`): the bigram level is the training loss of the best table "
               f"of which token follows which, over the {data['train_tokens']:,} training tokens. "
               + (f"docs/race/plateau.json (`{attention['command']}`): the weight the GPT's attention heads put on "
                  "the previous token. " if attention else "")
               + (f"docs/race/gpt_shift.json (`{shift['command']}`): the same GPT with RWKV-4's token shift, and "
                  "without it, for the sweep's short budget on the same data and seed. " if shift else "")
               + "The whole story, with every run: docs/race/README.md.")
    return Plateau(data["bigram_nats_per_token"], curves, short, full, table, text, caption)


def train_step_speeds(kinds: Sequence[str], *, device="cpu", batch: int = 6, ctx: int = 512,
                      repeats: int = 1) -> list:
    """One training step per kind (batch × ctx tokens), each in its fastest allowed schedule
    (lab.train_bench, random weights of the trained shapes)."""
    from lab.train_bench import train_step_speed
    return [train_step_speed(k, device=device, batch=batch, ctx=ctx, repeats=repeats) for k in kinds]


def read_train_steps(path: Path = TRAIN_STEP_FILE, batch: int = 6) -> dict | None:
    """The committed training-step record at the recipe's batch (lab.train_bench's race), or None. Where
    the race timed several thread counts, one record of each kind's fastest row (threads_of: its count)."""
    from lab.train_bench import read_record_file
    if not path.is_file():
        return None
    recs = [r for r in read_record_file(path) if r.get("batch") == batch and r.get("shape", "shipped") == "shipped"]
    if len(recs) < 2:
        return recs[0] if recs else None
    best: dict[str, tuple] = {}                       # timed at several thread counts: each kind's fastest
    for rec in recs:
        for row in rec["rows"]:
            if row.kind not in best or row.tokens_per_s > best[row.kind][0].tokens_per_s:
                best[row.kind] = (row, rec["threads"])
    return {**recs[0], "rows": [row for row, _ in best.values()],
            "threads": "each kind's fastest of " + ", ".join(str(r["threads"]) for r in recs),
            "threads_of": {k: n for k, (_, n) in best.items()}}


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
    """The lead's table, one row per model, narrow enough for a projector: held-out bits/char (and
    at equal tokens / compute time), training tokens/s, and from the first context to the last,
    ms per new token and the state's size."""
    kinds = [k for k in order() if k in curves or k in gen or any(s.kind == k for s in steps)]
    speed = {s.kind: s.tokens_per_s for s in steps}
    table: dict[str, list] = {"model": [title(k) for k in kinds],
                              "bits/char": [f"{curves[k].final_bpc:.3f}" if k in curves else None for k in kinds]}
    if eq is not None:
        table[f"at {eq.tokens / 1e6:.2f}M tokens"] = [_f3(eq.at_tokens.get(k)) for k in kinds]
        table[f"at {eq.seconds / 60:.0f} min of compute"] = [_f3(eq.at_seconds.get(k)) for k in kinds]
    table["training tokens/s"] = [f"{speed[k]:,.0f}" if k in speed else None for k in kinds]
    first, last = contexts[0], contexts[-1]
    rows = {k: at_contexts(gen.get(k, []), contexts) for k in kinds}
    table[f"ms/token, {first} → {last} read"] = [_span(rows[k].get(first), rows[k].get(last), _ms) for k in kinds]
    table[f"state, {first} → {last} read"] = [_span(rows[k].get(first), rows[k].get(last), _size) for k in kinds]
    return table


def _f3(x: float | None) -> str | None:
    return None if x is None else f"{x:.3f}"


def _span(a: GenerationRow | None, b: GenerationRow | None, fmt) -> str | None:
    return None if a is None or b is None else f"{fmt(a)} → {fmt(b)}"


def _ms(row: GenerationRow) -> str:
    return f"{1e3 * row.seconds_per_token:.2f}" + (" (timing only)" if row.past_training_context else "")


def _size(row: GenerationRow) -> str:
    n = row.state_bytes
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 2**10:.1f} KiB"


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
