"""The memory lab's page and lesson step, without Streamlit: the committed results
(docs/memory/results.json, `python -m lab.memory --json`), the committed tiny models
(models/memory/), and the live probe: key-value pairs and queries laid out as lab.mqar lays them
out, each model's answer and probability, and for RWKV-4 the WKV's implicit-attention weight, per
channel, on the queried pair (lab.analysis.implicit_attention of the engine's recorded k).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

import lab
from lab import analysis, memory, mqar
from rwkv_core.trace import Recorder

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "memory" / "results.json"
MODELS = ROOT / "models" / "memory"
COMMAND = "python -m lab.memory --json docs/memory/results.json"
MISSING_RESULTS = ("No memory-lab results are committed yet: docs/memory/results.json is missing "
                   f"(`{COMMAND}` writes it from the models in models/memory/).")
MISSING_MODELS = ("No memory-lab models are committed yet: models/memory/ has no *.safetensors "
                  "(scripts/memory_runs.sh trains them), so the live probe has nothing to run.")
TITLES = {"rwkv4": "RWKV-4", "gpt": "GPT", "lstm": "stacked LSTM"}


def read_results(path: Path | None = None) -> dict | None:
    """The committed measurement, or None when it is missing or unreadable."""
    try:
        return json.loads((path or RESULTS).read_text())
    except (OSError, ValueError):
        return None


def model_paths(folder: Path | None = None) -> list[Path]:
    """The committed tiny models by trained N, then RWKV-4, the GPT, the LSTM; narrow before wide."""
    order, folder = {k: i for i, k in enumerate(memory.KINDS)}, folder or MODELS

    def key(p: Path):
        kind, width = p.stem.split("-")[:2]
        return trained_n(p.stem), order.get(kind, 9), int(width[1:]) if width[1:].isdigit() else 0
    return sorted(folder.glob("*.safetensors"), key=key) if folder.is_dir() else []


def trained_n(name: str) -> int:
    """The N a model was trained at, from its name (<kind>-w<W>-n<N>); 0 for a name without one."""
    last = name.split("-")[-1]
    return int(last[1:]) if last.startswith("n") and last[1:].isdigit() else 0


def by_trained_n(paths: list[Path]) -> dict[int, list[Path]]:
    """{N: the models trained at N}, N ascending, each list in model_paths' order."""
    return {n: [p for p in paths if trained_n(p.stem) == n] for n in sorted({trained_n(p.stem) for p in paths})}


def pick_n(trained: list[int], n: int) -> int:
    """The trained N whose models read a student's N: N, else the smallest above it (pad before the pairs)."""
    above = [t for t in sorted(trained) if t >= n]
    return above[0] if above else max(trained)


def kind_of(name: str) -> str:
    return name.split("-")[0]


def label(name: str, results: dict | None = None) -> str:
    """'RWKV-4, width 64' for 'rwkv4-w64-mix8' (the matched rivals' own width from the results)."""
    kind, width = name.split("-")[:2]
    entry = next((m for m in (results or {}).get("models", []) if m["name"] == name), None)
    own = f" ({entry['width']} wide)" if entry and str(entry["width"]) != width[1:] else ""
    return f"{TITLES.get(kind, kind)}, width {width[1:]}{own}"



@dataclass(frozen=True)
class Setting:
    """What the probe needs of the models' recipe, from a model's log (models/memory/<name>.log.json)."""
    length: int                     # the training length: the GPT reads no more
    vocab: int
    gap: int                        # the trainer's mqar_gap
    pairs: int                      # the training N (the largest of the mix)


def setting_of(path: Path) -> Setting:
    r = json.loads(path.with_suffix(".log.json").read_text())["recipe"]
    return Setting(r["ctx_len"], r["mqar_vocab"], r.get("mqar_gap", -1), r["mqar_pairs"])


def load(path: Path):
    """A committed model through the ordinary loader."""
    return lab.load_model(path)


# --- the probe: a sequence the student writes or generates -------------------------------------

@dataclass(frozen=True)
class Probe:
    ids: list[int]                  # the sequence: pad, the pairs, the gap, the queries last
    pairs: list[tuple[int, int]]    # (key, value) in order
    queries: list[int]              # the keys asked, in order (they end the sequence)

    @property
    def query_positions(self) -> list[int]:
        return list(range(len(self.ids) - len(self.queries), len(self.ids)))

    def position_of(self, key: int) -> int:
        """Where `key` stands among the pairs (its value is the next token)."""
        first = next(i for i, t in enumerate(self.ids) if t != mqar.PAD)
        return first + 2 * [k for k, _ in self.pairs].index(key)

    def right(self, key: int) -> int:
        return dict(self.pairs)[key]


def layout(pairs: list[tuple[int, int]], queries: list[int], length: int, vocab: int, gap: int = 0) -> Probe:
    """lab.mqar's layout: pad, the pairs, `gap` pad tokens, the queries last (the recipe's mqar_gap:
    the models were trained so; below 0, the pairs first); every refusal says why."""
    half = vocab // 2
    if not pairs:
        raise ValueError("write at least one key:value pair")
    keys = [k for k, _ in pairs]
    bad_k = [k for k in keys if not 1 <= k < half]
    bad_v = [v for _, v in pairs if not half <= v < vocab]
    if bad_k:
        raise ValueError(f"keys are 1 … {half - 1}; {', '.join(map(str, bad_k))} is not a key")
    if bad_v:
        raise ValueError(f"values are {half} … {vocab - 1}; {', '.join(map(str, bad_v))} is not a value")
    if len(set(keys)) != len(keys):
        raise ValueError("each key once: a key written twice has no single answer")
    if not queries:
        raise ValueError("ask at least one query (a key from the pairs)")
    unknown = [q for q in queries if q not in keys]
    if unknown:
        raise ValueError(f"a query must be a key of the pairs; {', '.join(map(str, unknown))} is not one")
    need = 2 * len(pairs) + len(queries)
    if need > length:
        raise ValueError(f"{len(pairs)} pairs and {len(queries)} queries take {need} tokens; "
                         f"the models read {length}: use fewer")
    gap = length - need if gap < 0 else min(gap, length - need)      # < 0: the rest (pairs first)
    ids = [mqar.PAD] * (length - need - gap) + [t for kv in pairs for t in kv] + [mqar.PAD] * gap + list(queries)
    return Probe(ids, list(pairs), list(queries))


def parse(pairs_text: str, queries_text: str, length: int, vocab: int, gap: int = 0) -> Probe:
    """'5:200, 7:131' and '7, 5' → the probe; ValueError with the reason for anything else."""
    pairs = []
    for part in filter(None, (p.strip() for p in pairs_text.replace("\n", ",").split(","))):
        k, sep, v = part.partition(":")
        if not sep or not k.strip().isdigit() or not v.strip().isdigit():
            raise ValueError(f"write each pair as key:value (whole numbers), e.g. 5:200; got {part!r}")
        pairs.append((int(k), int(v)))
    queries = []
    for part in filter(None, (p.strip() for p in queries_text.split(","))):
        if not part.isdigit():
            raise ValueError(f"a query is a key (a whole number), got {part!r}")
        queries.append(int(part))
    return layout(pairs, queries, length, vocab, gap)


def spec_for(n_pairs: int, length: int, vocab: int, gap: int) -> mqar.Spec:
    """The probe's spec: the recipe's gap (`gap`, the trainer's mqar_gap) as lab.memory.probe_gap reads it."""
    return mqar.Spec(vocab, n_pairs, length, memory.probe_gap(gap, length, n_pairs))


def generated(n_pairs: int, seed: int, length: int, vocab: int, gap: int = 0) -> Probe:
    """Sequence 0 of lab.mqar's generator with this seed."""
    return from_ids(mqar.generate(spec_for(n_pairs, length, vocab, gap), 1, seed).ids[0].tolist(), n_pairs)


def from_ids(ids: list[int], n_pairs: int) -> Probe:
    first = next(i for i, t in enumerate(ids) if t != mqar.PAD)
    flat = ids[first:first + 2 * n_pairs]
    return Probe(list(ids), list(zip(flat[0::2], flat[1::2])), list(ids[-n_pairs:]))


def text_of(probe: Probe) -> tuple[str, str]:
    """The probe written back as the boxes show it: '5:200, 7:131' and '7, 5'."""
    return ", ".join(f"{k}:{v}" for k, v in probe.pairs), ", ".join(map(str, probe.queries))


# --- each model's answers -------------------------------------------------------------------

@dataclass(frozen=True)
class Answer:
    query: int
    right: int                      # the value paired with the query
    answer: int                     # the model's arg-max over the whole vocabulary
    p_answer: float                 # its probability
    p_right: float                  # the probability of the right value

    @property
    def correct(self) -> bool:
        return self.answer == self.right


def answers(model, probe: Probe, mode: str = "rnn") -> list[Answer]:
    """The model reads the probe through one of its schedules (token by token by default: the way
    it would run); at each query its arg-max and probabilities."""
    logits, _ = model.forward(probe.ids, mode=mode)                          # (T, V)
    out = []
    for q, t in zip(probe.queries, probe.query_positions):
        p = torch.softmax(logits[t].double(), -1)                             # (V,)
        a = int(p.argmax())
        out.append(Answer(q, probe.right(q), a, float(p[a]), float(p[probe.right(q)])))
    return out


def score(rows: list[Answer]) -> float:
    return sum(a.correct for a in rows) / max(1, len(rows))


def over_n(model, ns: list[int], seed: int, length: int, vocab: int, gap: int = 0) -> list[tuple[int, float, float]]:
    """(N, fraction right, mean probability of the right value) on the generated sequence of each N."""
    rows = []
    for n in ns:
        a = answers(model, generated(n, seed, length, vocab, gap))
        rows.append((n, score(a), sum(x.p_right for x in a) / len(a)))
    return rows


# --- RWKV-4: the WKV's weight on the queried pair, per channel ----------------------------------

def wkv_on_pair(model, probe: Probe, query: int) -> dict:
    """For the query `query` (its position t), each layer's implicit-attention weights over tokens
    0..t, per channel (lab.analysis.implicit_attention of the recorded k, time_decay, time_first):
    the weight on the queried key's position and on its value's (the token whose token shift also
    holds the key), per channel, and the largest |WKV rebuilt from the weights − WKV recorded|."""
    t = probe.query_positions[probe.queries.index(query)]
    pos = probe.position_of(query)
    rec = Recorder(["blocks.*.att.k", "blocks.*.att.v", "blocks.*.att.wkv"])
    model.forward(probe.ids[:t + 1], mode="rnn", recorder=rec)
    trace = rec                                                              # name -> (t+1, C)
    layers, worst = [], 0.0
    for i, bw in enumerate(model.weights.blocks):
        p = f"blocks.{i}.att."
        w = analysis.implicit_attention(trace[p + "k"], bw.att.time_decay, bw.att.time_first, t)   # (t+1, C)
        rebuilt = analysis.wkv_from_attention(w, trace[p + "v"])                                   # (C,)
        worst = max(worst, float((rebuilt - trace[p + "wkv"][t].double()).abs().max()))
        layers.append(w)
    return {"t": t, "key_pos": pos, "value_pos": pos + 1, "weights": layers,
            "on_key": [w[pos] for w in layers], "on_value": [w[pos + 1] for w in layers], "max_diff": worst}


def heldout_probe(n_pairs: int, length: int, vocab: int, gap: int = 0, i: int = 0) -> Probe:
    """Held-out sequence i at N = n_pairs as the probe lays it out (results.json keeps its answers)."""
    spec = spec_for(n_pairs, length, vocab, gap)
    return from_ids(mqar.heldout(spec, memory.EXAMPLES).ids[i].tolist(), n_pairs)


# --- the committed results, read for the page --------------------------------------------------

def cell(entry: dict, pairs: int) -> float | None:
    return next((r["accuracy"] for r in entry["by_pairs"] if r["pairs"] == pairs), None)


nominal = memory.nominal_width               # the nominal width in a model's name


def at_trained(entry: dict) -> tuple[int, int, float | None, int]:
    """A model's point on the charts: (trained N, trained length, accuracy, state bytes there), from
    `at_trained` or, in results older than the recipe per N, from `train`, `by_pairs`, `state_bytes`."""
    if t := entry.get("at_trained"):
        return t["pairs"], t["length"], t["accuracy"], t["state_bytes"]
    n = entry["train"]["pairs"]
    return n, entry["train"]["length"], cell(entry, n), entry["state_bytes"]


def pairs_trained(results: dict) -> list[int]:
    return sorted({m["train"]["pairs"] for m in results["models"]})


def n_series(results: dict) -> list[tuple[str, str, int, list[tuple[int, float]]]]:
    """Accuracy against the trained N: one line per kind and nominal width, each point the model
    trained at that N (at its trained length): (label, kind, width, [(N, accuracy)])."""
    lines: dict[tuple[str, int], list] = {}
    for m in results["models"]:
        n, _, acc, _ = at_trained(m)
        if acc is not None:
            lines.setdefault((m["kind"], nominal(m["name"])), []).append((n, acc))
    order = {k: i for i, k in enumerate(memory.KINDS)}
    return [(f"{TITLES.get(k, k)}, width {w}", k, w, sorted(pts))
            for (k, w), pts in sorted(lines.items(), key=lambda kv: (order.get(kv[0][0], 9), kv[0][1]))]


def state_points(results: dict) -> list[tuple[str, str, int, int, float, int]]:
    """A point per model: (label, kind, nominal width, state bytes, accuracy, trained N) at its trained
    N and length: RWKV-4's and the LSTM's fixed state, the GPT's cache after 3N tokens."""
    out = []
    for m in results["models"]:
        n, _, acc, nbytes = at_trained(m)
        if acc is not None:
            out.append((label(m["name"], results), m["kind"], nominal(m["name"]), nbytes, acc, n))
    return out


def length_series(results: dict, n: int) -> list[tuple[str, str, int, list[tuple[int, float | None]]]]:
    """Accuracy against the length for the models trained at N = n."""
    return [(label(m["name"], results), m["kind"], nominal(m["name"]), [(r["length"], r["accuracy"])
                                                                        for r in m["by_length"]])
            for m in results["models"] if m["train"]["pairs"] == n]


def table_rows(results: dict) -> list[dict]:
    """One row per model: kind, widths, trained N, parameters, budget and time, state bytes, accuracy per N."""
    rows = []
    for m in results["models"]:
        t = m["train"]
        row = {"model": TITLES.get(m["kind"], m["kind"]), "nominal width": nominal(m["name"]), "width": m["width"],
               "trained N": t["pairs"], "parameters": m["params"], "steps": t["steps"],
               "minutes": round(t["seconds"] / 60, 1), "s/step": t["s_per_step"], "state bytes": m["state_bytes"]}
        row.update({f"N={r['pairs']}": round(r["accuracy"], 3) for r in m["by_pairs"]})
        rows.append(row)
    return rows


def _versus(w: int, a: float, g: dict, n: int, steps: int) -> tuple[str, float | None]:
    """One width's clause at N = n (RWKV-4's accuracy a, the GPT's entry g) and the GPT's lead b - a."""
    b = cell(g, n) if g else None
    if b is None:
        return f"at width {w}, RWKV-4 {a:.3f}", None
    _, length, _, nbytes = at_trained(g)
    cache = f"its cache: {nbytes:,} bytes at {length} tokens"
    if b - a >= 0.1:
        return (f"at width {w}, after the same {steps:,} steps, RWKV-4 answers {a:.3f} of the held-out queries "
                f"right, the GPT {b:.3f} ({cache})"), b - a
    if max(a, b) < 2 / n:
        return (f"at width {w}, neither learned the lookup: RWKV-4 {a:.3f}, the GPT {b:.3f} ({cache}), "
                "so this width does not show it"), None
    if a - b >= 0.1:
        return (f"at width {w}, after the same {steps:,} steps, the other way round: RWKV-4 {a:.3f}, "
                f"the GPT {b:.3f} ({cache})"), b - a
    return f"at width {w}, inconclusive (within 0.1): RWKV-4 {a:.3f}, the GPT {b:.3f} ({cache})", b - a


def trend(ms: list[dict], ns: list[int]) -> str:
    """Accuracy against N in a sentence per kind and width (RWKV-4's fixed state, the GPT's growing cache),
    each at its trained N; "" for one N."""
    if len(ns) < 2:
        return ""
    out = []
    for kind, what in (("rwkv4", "RWKV-4's fixed state"), ("gpt", "the GPT's cache")):
        for w in sorted({nominal(m["name"]) for m in ms if m["kind"] == kind}):
            own = sorted((m for m in ms if m["kind"] == kind and nominal(m["name"]) == w
                          and m["train"]["pairs"] in ns), key=lambda m: m["train"]["pairs"])
            pts = [(m["train"]["pairs"], cell(m, m["train"]["pairs"]), m["state_bytes"]) for m in own]
            pts = [(n, a, b) for n, a, b in pts if a is not None]
            if len(pts) < 2:
                continue
            size = (f"{pts[0][2]:,} bytes" if pts[0][2] == pts[-1][2] else
                    f"{pts[0][2]:,} → {pts[-1][2]:,} bytes, growing with the text")
            out.append(f"{what} at width {w} ({size}) answers " + ", ".join(f"{a:.3f}" for _, a, _ in pts)
                       + " at N = " + ", ".join(str(n) for n, _, _ in pts))
    return ("Against N: " + "; ".join(out) + ".") if out else ""


def summary(results: dict | None, pairs: int | None = None) -> str:
    """Issue 28's honest summary, every figure read from the results: RWKV-4 trains in parallel (its
    schedules agree), runs with a constant state (its bytes at every length), and pays in recall or
    not (its accuracy beside the GPT's, at each trained N and width; `pairs`: that N alone),
    whatever the numbers say: a gap under 0.1 is called inconclusive. Paragraphs, "\n\n" apart."""
    if not results or not results.get("models"):
        return ("The memory lab's runs are not measured yet (docs/memory/results.json is missing), so this "
                "project cannot yet say what RWKV-4's fixed state costs in recall.")
    ms = results["models"]
    rw = [m for m in ms if m["kind"] == "rwkv4"]
    if not rw:
        return "The memory lab's results hold no RWKV-4 model yet, so there is nothing to summarise."
    diff = max(m["schedules"]["max_diff"] for m in rw)
    lengths = sorted({r["length"] for m in rw for r in m["by_length"] if r.get("state_bytes")})
    fixed = ", ".join(f"{b:,} bytes at width {w}" for w, b in sorted({nominal(m["name"]): m["state_bytes"]
                                                                      for m in rw}.items()))
    parts = [f"**Trains in parallel like a transformer:** RWKV-4's tiny models here were trained with all "
             f"tokens of a layer at once, and reading token by token gives the same outputs (largest difference "
             f"{diff:.1e} over its schedules).", f"**Runs with a constant state like an RNN:** {fixed}, the same "
             f"after {' or '.join(map(str, lengths))} tokens."]
    ns = [pairs] if pairs is not None else sorted({m["train"]["pairs"] for m in rw})
    by_n, gaps = [], []
    for n in ns:
        gp = {nominal(m["name"]): m for m in ms if m["kind"] == "gpt" and m["train"]["pairs"] == n}
        recall = []
        for m in sorted((m for m in rw if m["train"]["pairs"] == n), key=lambda m: nominal(m["name"])):
            a = cell(m, n)
            if a is not None:
                clause, gap = _versus(nominal(m["name"]), a, gp.get(nominal(m["name"])), n, m["train"]["steps"])
                recall.append(clause)
                gaps += [] if gap is None else [gap]
        if recall:
            by_n.append(f"with {n} key-value pairs to recall, " + "; ".join(recall))
    if by_n:
        lead = ("**Pays for that state in recall:**" if gaps and max(gaps) >= 0.1 and min(gaps) > -0.1 else
                "**In these runs it does not pay for that state in recall:**" if gaps and max(gaps) <= -0.1 else
                "**Whether it pays for that state in recall, these runs do not settle:**")
        chance = (f"scores {1 / ns[0]:.2f}" if len(ns) == 1 else
                  "scores 1/N: " + ", ".join(f"{1 / n:.2f} at N = {n}" for n in ns))
        detail = (". And ".join(by_n) + " (a model that knows which values a sequence holds, but not which key "
                  f"each belongs to, {chance}).")
        against = trend(ms, ns)
        parts += [f"{lead} {against}", f"In detail: {detail}"] if against else [f"{lead} {detail}"]
    return "\n\n".join(parts)


def markdown_tables(results: dict) -> str:
    """docs/memory-lab.md's tables, written from the results (tests/test_memory_docs.py reads them back)."""
    rows = table_rows(results)
    ns = sorted({int(k[2:]) for r in rows for k in r if k.startswith("N=")})
    out = ["| kind | nominal width | own width | trained N | parameters | steps | minutes | s/step | state bytes | "
           + " | ".join(f"N = {n}" for n in ns) + " |", "|---|" + "---|" * (8 + len(ns))]
    for r in rows:
        out.append(f"| {r['model']} | {r['nominal width']} | {r['width']} | {r['trained N']} | {r['parameters']:,} | "
                   f"{r['steps']:,} | {r['minutes']} | {r['s/step']} | {r['state bytes']:,} | "
                   + " | ".join("—" if f"N={n}" not in r else f"{r[f'N={n}']:.3f}" for n in ns) + " |")
    out += ["", "| kind | nominal width | trained N | 1 × the trained length | 2 × | 4 × |", "|" + "---|" * 6]
    for m in results["models"]:
        cells = [f"— ({x['length']} tokens)" if x["accuracy"] is None else
                 f"{x['accuracy']:.3f} ({x['length']} tokens, {x['state_bytes']:,} B)" for x in m["by_length"]]
        out.append(f"| {TITLES.get(m['kind'], m['kind'])} | {nominal(m['name'])} | {m['train']['pairs']} | "
                   + " | ".join(cells) + " |")
    return "\n".join(out)


def first_step_at(entry: dict, level: float = 0.5) -> int | None:
    """The first validation step at which a model's held-out accuracy (at its trained N) reached
    `level`: where it left the 1/N plateau; None if it never did within its budget."""
    return next((step for step, _, acc in entry["train"]["curve"] if acc >= level), None)


def _clock(stamp: str | None) -> str:
    return stamp[11:16] if stamp else "?"


def results_section(results: dict) -> str:
    """docs/memory-lab.md's "## Results", every figure and every verdict from the results
    (scripts/memory_report.py writes it; tests/test_memory_docs.py compares)."""
    ms, ts = results["models"], [m["train"] for m in results["models"]]
    steps = sorted({t["steps"] for t in ts})
    cpus = sorted({t["cpu"] for t in ts})
    starts, stops = sorted(t["started"] for t in ts if t.get("started")), sorted(t["stopped"] for t in ts
                                                                                   if t.get("stopped"))
    when = (f" between {_clock(starts[0])} and {_clock(stops[-1])} UTC on {starts[0][:10]}" if starts and stops
            else "")
    out = ["## Results", "",
           f"`scripts/memory_runs.sh` trained the {len(ms)} models one at a time (`nice`, one thread) on the "
           f"**{' / '.join(cpus)}**{when}, each for {' / '.join(f'{s:,}' for s in steps)} steps at its own N (the "
           f"recipe per N above). Then `{results['command']}` measured the published files ({results['seconds']} s "
           f"for the {len(ms)}, {results['sequences']} held-out sequences a cell). Minutes and s/step are each "
           "model's own training time on the shared CPU; who shared it, from each log:", ""]
    out += [f"- {label(m['name'], results)}, N = {m['train']['pairs']}: {m['train']['conditions']}." for m in ms]
    out += ["", "Accuracy against N (each model at its trained length and layout; N above the trained N does not "
            "fit its length) and the bytes of state after the trained length:", "", markdown_tables(results), "",
            "(Second table: accuracy at the trained N against 1, 2 and 4 times the trained length, the pairs first "
            "and the queries last, with the state's bytes; — where the GPT cannot read that far.)", "",
            "The recall–memory trade-off, a point per model (the page's chart): accuracy at the N it was trained "
            "at, the state it carries there, and the first validation step (every 250) at which its held-out "
            "accuracy reached 0.5 — where it left the 1/N plateau:", "",
            "| trained N | kind | nominal width | state bytes | accuracy | reached 0.5 at step |", "|" + "---|" * 6]
    for m in sorted(ms, key=lambda m: (m["train"]["pairs"], memory.KINDS.index(m["kind"]) if m["kind"] in
                                        memory.KINDS else 9, nominal(m["name"]))):
        n, _, acc, nbytes = at_trained(m)
        step = first_step_at(m)
        out.append(f"| {n} | {TITLES.get(m['kind'], m['kind'])} | {nominal(m['name'])} | {nbytes:,} | "
                   f"{'—' if acc is None else f'{acc:.3f}'} | {'never' if step is None else f'{step:,}'} |")
    out += ["", "**What the runs show** (worded from the numbers above by `app.memory_core.summary`, so it stays true "
            "after a rerun):", "", summary(results), "", cannot_show(results)]
    return "\n".join(out)


# Zoology's Figure 2 (Arora et al., 2023), as its configuration file sets it up: HazyResearch/zoology,
# zoology/experiments/paper_configs/iclr24_zoology_figure2/configs.py (N = 4, 8, 16 at lengths 64, 128, 256).
ZOOLOGY_FIGURE2 = dict(widths=(64, 128, 256, 512), n_layers=2, rates=4, rate_range=("1e-4", "1e-2"),
                       train_sequences=100_000, epochs=64, vocab=8_192)


def cannot_show(results: dict) -> str:
    """What one seed and this budget cannot settle, beside what Zoology's figure did (ZOOLOGY_FIGURE2)."""
    ms, z = results["models"], ZOOLOGY_FIGURE2
    params = sorted(m["params"] for m in ms)
    seen = sorted({m["train"]["steps"] * m["train"]["batch"] for m in ms})
    rates = sorted({m["train"]["lr"] for m in ms})
    return (f"**What they cannot show.** Each cell is one run, one seed, one rate ({', '.join(f'{r:g}' for r in rates)}"
            f"), {params[0]:,}–{params[-1]:,} parameters, {' / '.join(f'{s:,}' for s in seen)} training sequences. "
            f"Zoology's Figure 2 (its configuration: `zoology/experiments/paper_configs/iclr24_zoology_figure2/"
            f"configs.py` in HazyResearch/zoology) trains each point {z['epochs']} epochs over "
            f"{z['train_sequences']:,} sequences, {z['n_layers']} layers at widths "
            f"{', '.join(map(str, z['widths']))}, and keeps the best of {z['rates']} learning rates "
            f"({z['rate_range'][0]} to {z['rate_range'][1]}). A model here that has not left the plateau may yet "
            "learn the lookup with more steps or another rate: a low cell bounds what this budget bought, not what "
            "the state can hold.")
