"""The Explorer without Streamlit: one user's generation session (tokens, recorded intermediates,
carried state, cached logits) and the analyses its figures show. The page keeps an
ExplorerSession in st.session_state; tests and scripts/bench_explorer.py drive the same code.

Every forward pass goes through ExplorerSession.forward, which counts them (`forward_calls`), or, for a
prompt, through read_prompt (one run per model and prompt, shared by every session that reads it;
counted as one): re-sampling from the cached logits must leave that count alone.
"""
from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import plotly.graph_objects as go
import torch

from app.explorer_prompts import TRACE_POINTS, read_prompt
from lab import analysis, reference
from rwkv_core import RWKV, LayerState, Recorder, State, init_state, make_generator, ops, sample
from rwkv_core.model import head
from rwkv_core.protocol import Model
from rwkv_core.sampling import Sample, SamplingSettings
from rwkv_core.state import no_history
from visuals import attention, embeddings, memory, probabilities, states
from visuals import tokens as token_visuals
from visuals.theme import printable

MAX_PROMPT_CHARS = 2000  # a paragraph or two: the page is for looking inside, not for long texts
MAX_TOKENS = 256         # prompt + generated; bounds the memory a session keeps per user


class PromptError(ValueError):
    """The prompt cannot be used; the message says why, for the page to show."""


def encode_prompt(model: Model, text: str) -> list[int]:
    """Text → token ids, with the limits checked. A model without a tokenizer takes ids
    written as numbers ("12, 7 300")."""
    if not text or not text.strip(" "):
        raise PromptError("The prompt is empty: type a few words to start.")
    if len(text) > MAX_PROMPT_CHARS:
        raise PromptError(f"The prompt is {len(text):,} characters; the limit is {MAX_PROMPT_CHARS:,}. "
                          "Shorten it.")
    if model.tokenizer is None:
        try:
            ids = [int(p) for p in text.replace(",", " ").split()]
        except ValueError:
            raise PromptError("This model came without a tokenizer: write token ids as numbers, "
                              "e.g. `12, 7, 300`.") from None
    else:
        try:
            ids = model.tokenizer.encode(text)
        except Exception as e:  # tokenizers raises its own exception types (e.g. lone surrogates)
            raise PromptError(f"The tokenizer cannot read this text ({type(e).__name__}).") from None
    if not ids:
        raise PromptError("The prompt gave no tokens: type some text.")
    if len(ids) > MAX_TOKENS:
        raise PromptError(f"The prompt is {len(ids)} tokens; the limit is {MAX_TOKENS} (prompt + generated).")
    try:
        model.check_tokens(ids)
    except ValueError as e:                   # the model's words ("token id 9 is outside ..."), as a sentence
        said = str(e)
        raise PromptError(said[:1].upper() + said[1:] + ("" if said.endswith(".") else ".")) from None
    return ids


def token_label(model: Model, token_id: int) -> str:
    """A token's display text (␣ for spaces, <F0> for a partial character), or #id without a tokenizer."""
    return model.tokenizer.display(token_id) if model.tokenizer is not None else f"#{token_id}"


def decode(model: Model, ids: list[int]) -> str:
    """Token ids as text to show: control characters escaped, newlines marked ↵ (and kept), so
    a text that starts or ends with a newline shows it."""
    if model.tokenizer is None:
        return " ".join(f"#{i}" for i in ids)
    return printable(model.tokenizer.decode(ids)).replace("\n", "↵\n").rstrip("\n")


class ExplorerSession:
    """One user's walk through a text: tokens, the recorded intermediates of every token
    (trace: name → (T, C)), the state after the last token, and the logits it predicts with."""

    def __init__(self, model: RWKV, model_key: str):
        self.model, self.model_key = model, model_key
        self.tokens: list[int] = []
        self.n_prompt = 0
        self.prompt_text = ""   # the text the prompt was read from (the page flags a box that differs)
        self.trace: dict[str, torch.Tensor] = {}
        self.state: State = model.init_state()
        self.logits: torch.Tensor | None = None  # (V,) for the next token; replaced only by a forward pass
        self.forward_calls = 0

    # --- running the model ------------------------------------------------------------------

    def forward(self, ids, state=None, *, recorder=None, mode="rnn", all_logits=True):
        """The one door to the model, counted."""
        self.forward_calls += 1
        return self.model.forward(ids, state, recorder=recorder, mode=mode, all_logits=all_logits)

    def start(self, ids: list[int], text: str = "") -> None:
        """Read a prompt (its ids, and the text they came from) in one parallel pass, recording
        every token's intermediates. Of the (T, V) logits only the last row is kept.

        A prompt this model has read before (the default prompt, which every new student opens on)
        is not run again: its trace, state and logits are shared, read-only (read_prompt). The
        session never writes into them: a step or an undo makes new tensors, state_at clones."""
        self.forward_calls += 1                 # one model run for this prompt, shared or not
        self.trace, self.state, self.logits = read_prompt(self.model, tuple(ids))
        self.tokens, self.n_prompt, self.prompt_text = list(ids), len(ids), text

    def step(self, token: int) -> None:
        """Feed one token through the carried state (the RNN way), recording it."""
        if len(self.tokens) >= MAX_TOKENS:
            raise PromptError(f"The session has reached {MAX_TOKENS} tokens: reset or undo to go on.")
        rec = Recorder(TRACE_POINTS)
        logits, self.state = self.forward([token], self.state, recorder=rec)    # (1, V)
        self.trace = {n: torch.cat([v, rec[n]]) for n, v in self.trace.items()}
        self.tokens.append(int(token))
        self.logits = logits[-1].clone()

    def undo(self) -> bool:
        """Take back the last generated token (the prompt stays). No forward pass: the state and
        logits before it are rebuilt from what was recorded."""
        if len(self.tokens) <= self.n_prompt:
            return False
        self.tokens.pop()
        self.trace = {n: v[:-1] for n, v in self.trace.items()}
        self.state = self.state_at(len(self.tokens) - 1)
        top = self.trace[f"blocks.{self.model.config.n_layer - 1}.resid"][-1]     # (C,)
        self.logits = head(self.model.weights, top[None])[0].clone()             # (V,)
        return True

    def reset(self) -> None:
        """Back to the prompt alone (no forward pass)."""
        while self.undo():
            pass

    # --- sampling (never runs the model) ------------------------------------------------------

    def next_sample(self, settings: SamplingSettings, seed: int) -> Sample:
        """The token a step would add: drawn from the cached logits with a generator seeded by
        (seed, position), so the same settings always give the same choice here."""
        return sample(self.logits, settings, make_generator(seed * 100_003 + len(self.tokens)))

    # --- the state, rebuilt from the trace ------------------------------------------------------

    def layer_input(self, layer: int) -> torch.Tensor:
        return self.trace["embed"] if layer == 0 else self.trace[f"blocks.{layer - 1}.resid"]  # (T, C)

    def layer_fields(self, layer: int) -> dict[str, torch.Tensor]:
        """The state of one layer after each token, {field: (T, C)}: aa, bb, pp as recorded;
        x_att is ln1 of the layer's input and x_ffn ln2 of the mid residual (what token shift keeps)."""
        bw = self.model.weights.blocks[layer]
        p = f"blocks.{layer}."
        return {
            "x_att": ops.layer_norm(self.layer_input(layer), bw.ln1.weight, bw.ln1.bias),
            "aa": self.trace[p + "att.aa"], "bb": self.trace[p + "att.bb"], "pp": self.trace[p + "att.pp"],
            "x_ffn": ops.layer_norm(self.trace[p + "resid_mid"], bw.ln2.weight, bw.ln2.bias),
        }

    def state_at(self, t: int) -> State:
        """The state after token t (t = -1: before any token)."""
        if t < 0:
            return self.model.init_state()
        return State(tuple(LayerState(**{f: v[t].clone() for f, v in self.layer_fields(i).items()})
                           for i in range(self.model.config.n_layer)))

    def labels(self) -> list[str]:
        return [token_label(self.model, i) for i in self.tokens]


# --- analyses -----------------------------------------------------------------------------------

_PCA_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def embedding_pca(model: RWKV) -> tuple[analysis.PCA, torch.Tensor]:
    """PCA of the embedding matrix and every token's 3 coordinates, computed once per model."""
    if model not in _PCA_CACHE:
        p = analysis.pca(model.weights.emb, k=3)
        _PCA_CACHE[model] = (p, p.project(model.weights.emb))        # (V, 3)
    return _PCA_CACHE[model]


_UNIT_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def neighbours(model: RWKV, ids: list[int], k: int = 5) -> dict[int, list[tuple[int, float]]]:
    """Nearest tokens by cosine similarity of embeddings; the unit rows are kept per model."""
    if model not in _UNIT_CACHE:
        _UNIT_CACHE[model] = analysis.unit_rows(model.weights.emb)      # (V, C)
    return analysis.nearest_neighbours(_UNIT_CACHE[model], ids, k, normalized=True)


def residual_stages(s: ExplorerSession, t: int = -1) -> tuple[torch.Tensor, list[str]]:
    """Token t's residual stream after each stage, (L+1, C), and the stages' names."""
    L = s.model.config.n_layer
    xs = [s.trace["embed"][t]] + [s.trace[f"blocks.{i}.resid"][t] for i in range(L)]
    return torch.stack(xs), ["embed"] + [f"block {i}" for i in range(L)]


def logit_lens(s: ExplorerSession, xs: torch.Tensor) -> list[str]:
    """What the head would predict from each stage's residual (L+1, C): its top token."""
    top = head(s.model.weights, xs).argmax(-1)                         # (L+1,)
    return [token_label(s.model, int(i)) for i in top]


def implicit_attention(s: ExplorerSession, channel: int | None = None) -> tuple[torch.Tensor, float]:
    """For the last token, each layer's weights over tokens 0..t, (L, T): for one channel, or the
    mean over channels; and the largest |WKV rebuilt from the weights - WKV recorded|."""
    t = len(s.tokens) - 1
    rows, worst = [], 0.0
    for i, bw in enumerate(s.model.weights.blocks):
        p = f"blocks.{i}.att."
        wts = analysis.implicit_attention(s.trace[p + "k"], bw.att.time_decay, bw.att.time_first, t)  # (T, C)
        rebuilt = analysis.wkv_from_attention(wts, s.trace[p + "v"])                                # (C,)
        worst = max(worst, float((rebuilt - s.trace[p + "wkv"][t].double()).abs().max()))
        rows.append(wts.mean(1) if channel is None else wts[:, channel])
    return torch.stack(rows), worst


@dataclass(frozen=True)
class Equivalence:
    per_layer: dict[str, list[float]]  # 'residual output', 'state': max |rnn - parallel| per layer
    logits: float


def rnn_vs_parallel(s: ExplorerSession) -> Equivalence:
    """Run all tokens once as an RNN and once in parallel; compare every layer."""
    runs = []
    for mode in ("rnn", "parallel"):
        rec = Recorder("blocks.*.resid")
        logits, state = s.forward(s.tokens, None, recorder=rec, mode=mode)
        runs.append((logits, state, rec))
    (la, sa, ra), (lb, sb, rb) = runs
    L = s.model.config.n_layer
    resid = [float((ra[f"blocks.{i}.resid"] - rb[f"blocks.{i}.resid"]).abs().max()) for i in range(L)]
    state = [max(v for k, v in State((sa[i],)).max_abs_diff(State((sb[i],))).items()) for i in range(L)]
    return Equivalence({"residual output": resid, "state": state}, float((la - lb).abs().max()))


def edit_layer(ls: LayerState, op: str, factor: float = 1.0, donor: LayerState | None = None) -> LayerState:
    """State surgery on one layer. zero: as if it had seen nothing; scale: the weight of the
    remembered past in the WKV average times `factor` (aa and bb together, done as pp + ln factor);
    copy: the donor's layer state."""
    if op == "zero":
        return init_state(1, ls.aa.shape[-1], device=ls.aa.device, dtype=ls.aa.dtype).layers[0]
    if op == "scale":
        if factor < 0:
            raise ValueError("the scale factor must be ≥ 0")
        if factor == 0:  # ln 0 = -inf: the past weighs nothing, as in an empty state
            return LayerState(ls.x_att.clone(), torch.zeros_like(ls.aa), torch.zeros_like(ls.bb),
                              torch.full_like(ls.pp, no_history(ls.pp.dtype)), ls.x_ffn.clone())
        return LayerState(ls.x_att.clone(), ls.aa.clone(), ls.bb.clone(), ls.pp + math.log(factor),
                          ls.x_ffn.clone())
    if op == "copy":
        if donor is None:
            raise ValueError("copy needs a donor state")
        return donor.clone()
    raise ValueError(f"unknown operation {op!r}: zero, scale or copy")


@dataclass(frozen=True)
class SurgeryResult:
    probs_before: torch.Tensor   # (V,) next-token probabilities with the state as it was
    probs_after: torch.Tensor    # (V,) with the edited layer
    text_before: list[int]       # greedy continuation, original state
    text_after: list[int]        # greedy continuation, edited state
    check: float                 # |original rerun - cached logits|: the rerun reproduces the session


def surgery(s: ExplorerSession, layer: int, op: str, factor: float = 1.0, donor_ids: list[int] | None = None,
            n_continue: int = 12) -> SurgeryResult:
    """Edit `layer` of the state the last token reads, run the last token again from the
    original and the edited state, and continue both greedily."""
    base = s.state_at(len(s.tokens) - 2)
    donor = None
    if op == "copy":
        _, donor_state = s.forward(donor_ids, None, all_logits=False)
        donor = donor_state[layer]
    edited = base.replace_layer(layer, edit_layer(base[layer], op, factor, donor))
    out = []
    for st in (base, edited):
        logits, st = s.forward([s.tokens[-1]], st, all_logits=False)          # (V,)
        first = logits
        ids = []
        for _ in range(n_continue):
            ids.append(int(torch.argmax(logits)))
            logits, st = s.forward([ids[-1]], st, all_logits=False)
        out.append((first, ids))
    (la, ta), (lb, tb) = out
    return SurgeryResult(torch.softmax(la.double(), -1), torch.softmax(lb.double(), -1), ta, tb,
                         float((la - s.logits).abs().max()))


def continue_both(s: ExplorerSession, n: int, settings: SamplingSettings, seed: int) -> tuple[list[int], list[int]]:
    """n tokens on from the current state, greedily and sampled (seeded), without changing the session."""
    out = []
    for st_settings in (SamplingSettings(temperature=0), settings):
        g, st, logits, ids = make_generator(seed), s.state, s.logits, []
        for _ in range(n):
            ids.append(sample(logits, st_settings, g).token)
            logits, st = s.forward([ids[-1]], st, all_logits=False)
        out.append(ids)
    return out[0], out[1]


def kv_curves(config, current: int) -> tuple[list[int], dict[str, list[int]]]:
    """Lengths from 1 to well past `current`, and KV-cache bytes of two transformers."""
    top = max(16384, 2 ** math.ceil(math.log2(max(current, 1) * 4)))  # past the 10,000 the caption names
    lengths = sorted({1, current, *[2 ** i for i in range(int(math.log2(top)) + 1)]})
    shape = {"n_layer": config.n_layer, "n_embd": config.n_embd}
    curves = {f"transformer of this shape ({config.n_layer} x {config.n_embd}), KV cache":
              [analysis.kv_cache_bytes(**shape, n_tokens=n) for n in lengths],
              "GPT-2 small (12 x 768), KV cache": [analysis.kv_cache_bytes(**analysis.GPT2_SMALL, n_tokens=n)
                                                   for n in lengths]}
    return lengths, curves


# --- figures, as the page shows them ------------------------------------------------------------

def fig_tokens(s: ExplorerSession, per_row: int = token_visuals.PER_ROW) -> go.Figure:
    return token_visuals.token_strip(s.labels(), s.tokens, s.n_prompt, per_row=per_row)


def fig_next_token(s: ExplorerSession, settings: SamplingSettings, seed: int, k: int = 12,
                   title: str = "Next token") -> tuple[go.Figure, Sample]:
    smp = s.next_sample(settings, seed)
    return fig_sample(s.model, smp, k, title), smp


def fig_sample(model: Model, smp: Sample, k: int = 12, title: str = "Next token") -> go.Figure:
    """The bars of a drawn sample (ExplorerSession.next_sample)."""
    ids = probabilities.top_tokens(smp.probs, k) + probabilities.top_tokens(smp.raw_probs, k) + [smp.token]
    labels = {i: token_label(model, i) for i in ids}
    return probabilities.next_token_bars(smp.probs, smp.raw_probs, labels, smp.token, smp.entropy_bits,
                                         k=k, title=title)


def fig_embeddings(s: ExplorerSession, dims: int = 2) -> go.Figure:
    """The vocabulary's map with the prompt's tokens marked: the same figure on every Step (the text's
    newest token is the residual path's), so a Step does not redraw the whole vocabulary."""
    p, coords = embedding_pca(s.model)
    prompt = s.tokens[:s.n_prompt]
    labels = {i: token_label(s.model, i) for i in prompt}
    return embeddings.embedding_projection(coords[:, :dims], p.explained[:dims], prompt, labels)


def fig_residual_path(s: ExplorerSession) -> go.Figure:
    xs, names = residual_stages(s)
    path_pca = analysis.pca(xs, k=2)
    return embeddings.residual_path(path_pca.project(xs), torch.linalg.vector_norm(xs, dim=-1), names,
                                    logit_lens(s, xs))


def fig_state_heatmaps(s: ExplorerSession, layer: int, last: int | None = None) -> go.Figure:
    """The state after each of the last `last` tokens (all when None): every token shown adds
    5 × C float32 numbers to what a Step sends the browser."""
    fields, labels = s.layer_fields(layer), s.labels()
    first = 0 if last is None else max(0, len(labels) - last)
    return states.state_heatmaps({k: v[first:] for k, v in fields.items()}, labels[first:], layer, first)


def fig_state_norms(s: ExplorerSession) -> go.Figure:
    norms = torch.stack([analysis.state_norms(s.layer_fields(i)) for i in range(s.model.config.n_layer)])
    return states.state_norm_lines(norms, s.labels())


def fig_state_vs_kv(s: ExplorerSession) -> go.Figure:
    lengths, curves = kv_curves(s.model.config, len(s.tokens))
    return states.state_vs_kv_cache(lengths, s.state.nbytes(), curves, len(s.tokens))


def fig_half_lives(model: RWKV) -> go.Figure:
    blocks = model.weights.blocks
    return memory.half_life_figure([reference.half_life(b.att.time_decay.double()) for b in blocks],
                                   [b.att.time_first.detach().double() for b in blocks])


def fig_implicit_attention(s: ExplorerSession, channel: int | None = None) -> go.Figure:
    weights, diff = implicit_attention(s, channel)
    return attention.implicit_attention_figure(weights, s.labels(), "mean over channels" if channel is None
                                               else f"channel {channel}", diff)


def all_figures(s: ExplorerSession, settings: SamplingSettings, seed: int, layer: int = 0) -> dict[str, go.Figure]:
    """Every figure a step changes (the benchmark times this)."""
    return {"tokens": fig_tokens(s), "next": fig_next_token(s, settings, seed)[0],
            "embeddings": fig_embeddings(s), "residual": fig_residual_path(s),
            "state": fig_state_heatmaps(s, layer), "norms": fig_state_norms(s), "kv": fig_state_vs_kv(s),
            "memory": fig_half_lives(s.model), "attention": fig_implicit_attention(s)}
