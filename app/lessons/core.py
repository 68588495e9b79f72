"""The lessons' live numbers, without Streamlit: one recorded run of a fixed example prompt, and
for each step everything it shows, computed with the lessons' own formulas (lab/reference.py)
next to the engine's recorded values (rwkv_core.Recorder). Each step's numbers come back as one
frozen dataclass (WkvSum, ChannelMix, ...) that the views (app/lessons/views.py) only lay out; the
page shows formula and engine side by side, the tests check that they agree.

By default every student gets the same numbers: the prompt, the token, the layer and the
sampling seed are fixed defaults (EXAMPLE_PROMPT, SEED, DEFAULT_LAYER), and the embedded model is
read from the repository, so nothing needs a network. A student may type their own prompt
(lesson_prompt checks it); classroom mode keeps the default.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import torch

from app.explorer_core import PromptError, encode_prompt
from app.explorer_core import token_label as label  # how a token is named on screen, one home
from lab import analysis
from lab import reference as fm
from rwkv_core import RWKV, Recorder, State, make_generator, sample
from rwkv_core.protocol import Model
from rwkv_core.sampling import SamplingSettings, probabilities
from visuals.theme import printable

from . import results as res  # the dataclasses the steps' numbers come back in

EXAMPLE_PROMPT = "ROMEO:\nBut soft, what light through yonder window"
SEED = 2023                 # the sampling seed every student shares
DEFAULT_LAYER = 2           # a middle layer of the 6-layer embedded model
N_CHANNELS = 6              # channels shown in the per-channel tables
OVERFLOW_UP = 100.0  # added to every k: e^(k + 100) overflows float32 (largest finite e^88.7); wkv does not change
N_NEIGHBOURS = 8            # nearest tokens listed beside an embedding
N_LABELLED = 12             # tokens labelled in a probability bar chart (all it shows)
MIN_PROMPT_TOKENS = 2       # token shift and the WKV sum need a previous token to show anything
MAX_PROMPT_TOKENS = 64      # the lessons' tables list every token of the example
MAX_PROMPT_CHARS = 400


@dataclass(frozen=True)
class Example:
    """One recorded run: tokens, their labels, every recorder point (name → (T, C)), the
    logits of every position (T, V) and the state after the last token."""
    model: RWKV                    # the lessons read its weights: an RWKV-4
    ids: tuple[int, ...]
    labels: tuple[str, ...]
    rec: dict
    logits: torch.Tensor
    state: State

    @property
    def n_tokens(self) -> int:
        return len(self.ids)

    def block(self, layer: int):
        return self.model.weights.blocks[layer]


def prompt_text(ex: "Example") -> str:
    """The example's text as the model reads it (control characters made visible)."""
    if ex.model.tokenizer is None:
        return " ".join(f"#{i}" for i in ex.ids)
    return printable(ex.model.tokenizer.decode(list(ex.ids)))


def example_ids(model: Model, prompt: str = EXAMPLE_PROMPT) -> list[int]:
    """The prompt's tokens; a model without a tokenizer gets a fixed list of ids instead."""
    if model.tokenizer is None:
        return [(7 + 37 * i) % model.config.vocab_size for i in range(12)]
    return model.tokenizer.encode(prompt)


def lesson_prompt(model: Model, text: str) -> list[int]:
    """A student's prompt → its token ids, or PromptError with a message that says what to change.
    Beyond the Explorer's checks (empty, too long, unreadable): between MIN_PROMPT_TOKENS and
    MAX_PROMPT_TOKENS tokens, and no control characters other than newline and tab (they would
    show as nothing on the page)."""
    if len(text) > MAX_PROMPT_CHARS:
        raise PromptError(f"The prompt is {len(text):,} characters; a lesson's tables list every token, "
                          f"so the limit is {MAX_PROMPT_CHARS}. Shorten it.")
    odd = sorted({f"U+{ord(c):04X}" for c in text if unicodedata.category(c) in ("Cc", "Cs", "Co", "Cn")
                  and c not in "\n\t"})
    if odd:
        raise PromptError(f"The prompt contains characters that cannot be shown ({', '.join(odd[:5])}); "
                          "remove them.")
    ids = encode_prompt(model, text)
    if len(ids) < MIN_PROMPT_TOKENS:
        raise PromptError(f"The prompt is {len(ids)} token; a lesson needs at least {MIN_PROMPT_TOKENS} "
                          "(token shift reads the previous one). Type a few more characters.")
    if len(ids) > MAX_PROMPT_TOKENS:
        raise PromptError(f"The prompt is {len(ids)} tokens; a lesson's tables list every token, so the "
                          f"limit is {MAX_PROMPT_TOKENS}. Shorten it.")
    return ids


def run_example(model: RWKV, prompt: str = EXAMPLE_PROMPT) -> Example:
    """Run the prompt once in parallel, recording every point."""
    ids = example_ids(model, prompt)
    rec = Recorder()
    logits, state = model.forward(ids, mode="parallel", recorder=rec)   # (T, V)
    return Example(model, tuple(ids), tuple(label(model, i) for i in ids), rec.as_dict(), logits, state)


# --- shared pieces --------------------------------------------------------------------------------

def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max())


def block_input(ex: Example, layer: int) -> torch.Tensor:
    """The residual stream entering block `layer`: (T, C)."""
    return ex.rec["embed"] if layer == 0 else ex.rec[f"blocks.{layer - 1}.resid"]


def shifted(x: torch.Tensor) -> torch.Tensor:
    """x_{t-1} for every t: zeros before the first token (the empty state). (T, C)"""
    return torch.cat([torch.zeros_like(x[:1]), x[:-1]])


def ln1(ex: Example, layer: int) -> torch.Tensor:
    b = ex.block(layer).ln1
    return fm.layer_norm(block_input(ex, layer), b.weight, b.bias)       # (T, C)


def ln2(ex: Example, layer: int) -> torch.Tensor:
    b = ex.block(layer).ln2
    return fm.layer_norm(ex.rec[f"blocks.{layer}.resid_mid"], b.weight, b.bias)  # (T, C)


def pick_channels(ex: Example, layer: int, t: int, n: int = N_CHANNELS) -> list[int]:
    """The n channels with the largest |k| at this token, in channel order: where the token
    writes most strongly into the WKV memory."""
    k = ex.rec[f"blocks.{layer}.att.k"][t]
    return sorted(int(c) for c in torch.topk(k.abs(), min(n, len(k))).indices)


def memory_channel(ex: Example, layer: int, t: int) -> int:
    """The channel whose WKV at this token leans most on the past (the smallest share for the
    token itself): the most interesting one to draw as a weighted average."""
    att = ex.block(layer).att
    share = fm.wkv_weights(fm.decay(att.time_decay), att.time_first, ex.rec[f"blocks.{layer}.att.k"][: t + 1])
    return int(torch.argmin(share[t]))


def _col(x: torch.Tensor, channels: list[int]) -> list[float]:
    return [float(x[c]) for c in channels]


def most_likely(ex: Example, t: int) -> int:
    """The model's top guess after position t."""
    return int(ex.logits[t].argmax())


def top_labels(ex: Example, *dists: torch.Tensor, k: int = N_LABELLED) -> dict[int, str]:
    """Display text for the k most likely tokens of each distribution (all a bar chart shows)."""
    ids = {int(i) for p in dists for i in torch.topk(p, min(k, len(p))).indices}
    return {i: label(ex.model, i) for i in ids}


# --- lesson 1 ---------------------------------------------------------------------------------------

def next_token(ex: Example, t: int, settings: SamplingSettings, seed: int = SEED):
    """The sampled next token after position t (a seeded draw from the cached logits)."""
    return sample(ex.logits[t], settings, make_generator(seed))


def embedding_view(ex: Example, t: int) -> res.Embedding:
    w, token = ex.model.weights, ex.ids[t]
    raw = w.emb[token]                                                           # (C,)
    normed = fm.embedding(w.emb, token, w.ln0.weight, w.ln0.bias)                # (C,)
    near = analysis.nearest_neighbours(w.emb, [token], k=N_NEIGHBOURS)[token]
    return res.Embedding(raw, normed, ex.rec["embed"][t], [(label(ex.model, j), float(s)) for j, s in near],
                         {"embed": max_diff(normed, ex.rec["embed"][t])})


def layer_lens(ex: Example, t: int) -> res.LayerLens:
    """The residual stream at token t after the embedding and after each block: its size, and
    the token the head would pick if the model stopped there (the 'logit lens')."""
    w = ex.model.weights
    names = ["embed"] + [f"blocks.{i}.resid" for i in range(ex.model.config.n_layer)]
    xs = torch.stack([ex.rec[n][t] for n in names])                              # (L+1, C)
    lg = fm.logits(w.head, xs, w.ln_out.weight, w.ln_out.bias)                   # (L+1, V)
    top = lg.argmax(-1).tolist()
    return res.LayerLens(names, torch.linalg.vector_norm(xs, dim=-1).tolist(), [label(ex.model, i) for i in top],
                         [float(torch.softmax(r.double(), -1).max()) for r in lg], max_diff(lg[-1], ex.logits[t]))


def next_token_view(ex: Example, t: int) -> res.NextToken:
    logits = ex.logits[t]
    p = fm.softmax_with_temperature(logits, 1.0)                                 # (V,)
    nz = p[p > 0]
    return res.NextToken(p, top_labels(ex, p), int(p.argmax()), float(-(nz * torch.log2(nz)).sum()),
                         {"softmax": max_diff(p, probabilities(logits, SamplingSettings()))})


def sampling_view(ex: Example, t: int, settings: SamplingSettings) -> res.Sampled:
    """The shared seed's draw with these settings, and the lesson's filters (softmax at the
    temperature, top-k, top-p, renormalise) against the engine's filtered probabilities."""
    smp = next_token(ex, t, settings, SEED)
    labels = {**top_labels(ex, smp.probs, smp.raw_probs), smp.token: label(ex.model, smp.token)}
    diffs = {}
    if settings.temperature > 0:
        p = fm.softmax_with_temperature(ex.logits[t], settings.temperature)
        mine = fm.renormalise(fm.top_p_filter(fm.top_k_filter(p, settings.top_k), settings.top_p))
        diffs["filtered probabilities"] = max_diff(mine, smp.probs)
    return res.Sampled(smp, labels, diffs)


def generate(model: Model, prompt_ids: list[int], n_new: int, settings: SamplingSettings, seed: int) -> list[int]:
    """The generation loop: read the prompt once, then pick a token, feed it back, repeat.
    Only the state travels from one step to the next."""
    g = make_generator(seed)
    logits, state = model.forward(prompt_ids, all_logits=False)        # (V,) scores for the next token
    out = []
    for _ in range(n_new):
        token = sample(logits, settings, g).token                       # probabilities → one token
        out.append(token)
        logits, state = model.forward([token], state, all_logits=False)  # the new token, the old state
    return out


def kv_vs_state(model: Model, n_tokens: int) -> dict:
    """Numbers a transformer of the same shape would keep for n_tokens (a key and a value per
    layer per token) against RWKV's state (5 vectors per layer, whatever the length)."""
    c = model.config
    return {"kv_numbers": 2 * c.n_layer * c.n_embd * n_tokens, "state_numbers": 5 * c.n_layer * c.n_embd}


# --- lesson 3: time-mix -----------------------------------------------------------------------------

def token_shift_view(ex: Example, layer: int, t: int, channels: list[int]) -> res.Checked:
    att = ex.block(layer).att
    x = ln1(ex, layer)                                                          # (T, C)
    prev = shifted(x)
    out = {"channel": channels, "x_t": _col(x[t], channels), "x_t-1": _col(prev[t], channels)}
    diffs = {}
    for name, mu in (("k", att.time_mix_k), ("v", att.time_mix_v), ("r", att.time_mix_r)):
        mixed = fm.token_shift(x[t], prev[t], mu)
        out[f"mu_{name}"] = _col(mu, channels)
        out[f"x{name} (formula)"] = _col(mixed, channels)
        out[f"x{name} (engine)"] = _col(ex.rec[f"blocks.{layer}.att.x{name}"][t], channels)
        diffs[f"x{name}"] = max_diff(mixed, ex.rec[f"blocks.{layer}.att.x{name}"][t])
    return res.Checked(out, diffs)


def rkv_view(ex: Example, layer: int, t: int, channels: list[int]) -> res.Checked:
    att, p = ex.block(layer).att, f"blocks.{layer}.att."
    r = fm.receptance(att.receptance, ex.rec[p + "xr"][t])
    k = fm.key(att.key, ex.rec[p + "xk"][t])
    v = fm.value(att.value, ex.rec[p + "xv"][t])
    table = {"channel": channels}
    for name, val in (("r", r), ("k", k), ("v", v)):
        table[f"{name} (formula)"] = _col(val, channels)
        table[f"{name} (engine)"] = _col(ex.rec[p + name][t], channels)
    return res.Checked(table, {n: max_diff(val, ex.rec[p + n][t]) for n, val in (("r", r), ("k", k), ("v", v))})


def wkv_sum_view(ex: Example, layer: int, t: int, channel: int) -> res.WkvSum:
    """The WKV of token t as a weighted average over tokens 0..t, in one channel, and the
    naive sum for all channels against the engine."""
    att, p = ex.block(layer).att, f"blocks.{layer}.att."
    w, u = fm.decay(att.time_decay), att.time_first
    k, v = ex.rec[p + "k"][: t + 1], ex.rec[p + "v"][: t + 1]                  # (t+1, C)
    shares = fm.wkv_weights(w, u, k)[:, channel]                               # (t+1,)
    naive = fm.wkv_naive(w, u, k, v)[t]                                        # (C,)
    return res.WkvSum(list(ex.labels[: t + 1]), shares.tolist(), fm.wkv_exponents(w, u, k)[:, channel].tolist(),
                      k[:, channel].tolist(), v[:, channel].tolist(), float(w[channel]), float(u[channel]),
                      float(fm.half_life(att.time_decay)[channel]), float(naive[channel]),
                      float(ex.rec[p + "wkv"][t, channel]), float((shares * v[:, channel].double()).sum()),
                      {"wkv (all channels)": max_diff(naive, ex.rec[p + "wkv"][t])})


def wkv_recurrent_view(ex: Example, layer: int, t: int, channel: int) -> res.Checked:
    att, p = ex.block(layer).att, f"blocks.{layer}.att."
    w, u = fm.decay(att.time_decay), att.time_first
    k, v = ex.rec[p + "k"][: t + 1], ex.rec[p + "v"][: t + 1]
    wkv, a, b = fm.wkv_recurrent(w, u, k, v)                                   # (t+1, C) each
    # the engine keeps a and b scaled: a = aa e^{pp}, b = bb e^{pp}
    scale = torch.exp(ex.rec[p + "pp"][: t + 1].double())
    a_eng, b_eng = ex.rec[p + "aa"][: t + 1] * scale, ex.rec[p + "bb"][: t + 1] * scale
    table = {"token": list(ex.labels[: t + 1]), "k": k[:, channel].tolist(), "v": v[:, channel].tolist(),
             "a (formula)": a[:, channel].tolist(), "aa·e^pp (engine)": a_eng[:, channel].tolist(),
             "b (formula)": b[:, channel].tolist(), "bb·e^pp (engine)": b_eng[:, channel].tolist(),
             "wkv (formula)": wkv[:, channel].tolist(), "wkv (engine)": ex.rec[p + "wkv"][: t + 1, channel].tolist()}
    # a and b are true sums (as large as e^k): their rounding is measured relative to b
    return res.Checked(table, {"wkv": max_diff(wkv, ex.rec[p + "wkv"][: t + 1]),
                               "a (relative to b)": float(((a.double() - a_eng).abs() / b_eng).max()),
                               "b (relative)": float(((b.double() - b_eng).abs() / b_eng).max())})


def wkv_stable_view(ex: Example, layer: int, t: int, channel: int) -> res.WkvStable:
    """The stable form from the empty state against the engine, and the overflow demo: adding
    the same constant to every k leaves wkv unchanged (it cancels in the ratio), so the stable
    form still gives the engine's value while the naive form in float32 breaks."""
    att, p = ex.block(layer).att, f"blocks.{layer}.att."
    w, u = fm.decay(att.time_decay), att.time_first
    k, v = ex.rec[p + "k"][: t + 1], ex.rec[p + "v"][: t + 1]
    wkv, aa, bb, pp = fm.wkv_stable(w, u, k, v)
    engine = ex.rec[p + "wkv"][t]
    rows, exponents = [], {}
    # down: far enough that even the largest exponent underflows to 0 in float32 (below e^-104)
    down = -float(round(float(fm.wkv_exponents(w, u, k).max()) + 110))
    for shift in (0.0, OVERFLOW_UP, down):
        ks = (k + shift).float()
        naive = fm.wkv_naive(w.float(), u.float(), ks, v.float())[t]
        stable = fm.wkv_stable(w.float(), u.float(), ks, v.float())[0][t]
        exponents[shift] = fm.wkv_exponents(w, u, ks)                             # (t+1, C)
        top = float(exponents[shift].max())
        rows.append({"shift added to every k": shift, "largest exponent": top,
                     "e^(largest exponent), float32": float(torch.exp(torch.tensor(top, dtype=torch.float32))),
                     "naive wkv": float(naive[channel]), "stable wkv": float(stable[channel]),
                     "engine wkv": float(engine[channel]),
                     "channels where naive is not finite": int((~torch.isfinite(naive)).sum()),
                     "stable vs engine, max |diff|": max_diff(stable, engine)})
    table = {"token": list(ex.labels[: t + 1])}
    for name, mine in (("aa", aa), ("bb", bb), ("pp", pp)):
        table[f"{name} (formula)"] = mine[:, channel].tolist()
        table[f"{name} (engine)"] = ex.rec[p + name][: t + 1, channel].tolist()
    return res.WkvStable(table, rows, exponents[OVERFLOW_UP][:, channel].tolist(),
                         {"wkv": max_diff(wkv[t], engine), "aa": max_diff(aa, ex.rec[p + "aa"][: t + 1]),
                          "bb": max_diff(bb, ex.rec[p + "bb"][: t + 1]), "pp": max_diff(pp, ex.rec[p + "pp"][: t + 1])})


def time_mix_out_view(ex: Example, layer: int, t: int, channels: list[int]) -> res.Checked:
    att, p = ex.block(layer).att, f"blocks.{layer}.att."
    out = fm.time_mix_output(att.output, ex.rec[p + "r"][t], ex.rec[p + "wkv"][t])
    mid = fm.residual(block_input(ex, layer)[t], out)
    return res.Checked({"channel": channels, "r": _col(ex.rec[p + "r"][t], channels),
                        "wkv": _col(ex.rec[p + "wkv"][t], channels), "out (formula)": _col(out, channels),
                        "out (engine)": _col(ex.rec[p + "out"][t], channels), "x + out (formula)": _col(mid, channels),
                        "resid_mid (engine)": _col(ex.rec[f"blocks.{layer}.resid_mid"][t], channels)},
                       {"out": max_diff(out, ex.rec[p + "out"][t]),
                        "resid_mid": max_diff(mid, ex.rec[f"blocks.{layer}.resid_mid"][t])})


# --- lesson 3: channel-mix, block, state ------------------------------------------------------------

def channel_mix_view(ex: Example, layer: int, t: int, channels: list[int]) -> res.ChannelMix:
    ffn, p = ex.block(layer).ffn, f"blocks.{layer}.ffn."
    x = ln2(ex, layer)
    cm = fm.channel_mix(x[t], shifted(x)[t], ffn.time_mix_k, ffn.time_mix_r, ffn.key, ffn.receptance, ffn.value)
    pre = fm.token_shift(x[t], shifted(x)[t], ffn.time_mix_k) @ ffn.key.T          # (F,) before the ReLU
    return res.ChannelMix(pre, cm["k"], float((cm["k"] == 0).double().mean()),
                          {"channel": channels, "r (formula)": _col(cm["r"], channels),
                           "r (engine)": _col(ex.rec[p + "r"][t], channels),
                           "out (formula)": _col(cm["out"], channels),
                           "out (engine)": _col(ex.rec[p + "out"][t], channels)},
                          {n: max_diff(cm[n], ex.rec[p + n][t]) for n in ("k", "r", "out")})


def block_view(ex: Example, layer: int, t: int) -> res.BlockSums:
    """The block's two residual additions, checked on every channel of this token."""
    x_in = block_input(ex, layer)[t]
    mid = fm.residual(x_in, ex.rec[f"blocks.{layer}.att.out"][t])
    out = fm.residual(mid, ex.rec[f"blocks.{layer}.ffn.out"][t])
    return res.BlockSums({"x (block input)": float(x_in.norm()),
                          "time-mix out": float(ex.rec[f"blocks.{layer}.att.out"][t].norm()),
                          "x after time-mix": float(mid.norm()),
                          "channel-mix out": float(ex.rec[f"blocks.{layer}.ffn.out"][t].norm()),
                          "x after the block": float(out.norm())},
                         {"resid_mid": max_diff(mid, ex.rec[f"blocks.{layer}.resid_mid"][t]),
                          "resid": max_diff(out, ex.rec[f"blocks.{layer}.resid"][t])})


def state_view(ex: Example, layer: int, t: int) -> res.StateAfter:
    """The layer's state after token t, rebuilt from the formulas: x_att and x_ffn are this
    token's layer-norm outputs, ln1(x) and ln2(x) (the next token's token shift reads them), aa bb pp the
    stable WKV state. After the last token it must equal the engine's returned State."""
    att, p = ex.block(layer).att, f"blocks.{layer}.att."
    _, aa, bb, pp = fm.wkv_stable(fm.decay(att.time_decay), att.time_first,
                                  ex.rec[p + "k"][: t + 1], ex.rec[p + "v"][: t + 1])
    fields = {"x_att": ln1(ex, layer)[t], "aa": aa[t], "bb": bb[t], "pp": pp[t], "x_ffn": ln2(ex, layer)[t]}
    diffs = {}
    if t == ex.n_tokens - 1:
        engine = ex.state.layers[layer]
        diffs = {n: max_diff(v, getattr(engine, n)) for n, v in fields.items()}
    return res.StateAfter(fields, 5 * ex.model.config.n_embd, diffs)


def continue_from_state(ex: Example, token: int) -> float:
    """Feed one more token with the state the prompt left, and re-read prompt + token from
    scratch: the largest difference of the two logits (rounding only: the state is everything)."""
    from_state, _ = ex.model.forward([token], ex.state, all_logits=False)             # (V,)
    again, _ = ex.model.forward(list(ex.ids) + [token], mode="parallel", all_logits=False)
    return max_diff(from_state, again)


def parallel_vs_rnn(ex: Example) -> float:
    """The example's logits (run in parallel) against the same prompt one token at a time."""
    rnn_logits, _ = ex.model.forward(list(ex.ids), mode="rnn")
    return max_diff(ex.logits, rnn_logits)
