"""The words of the model cards that no log holds: what each model is, its architecture, its
initialisation, how training runs it, its limits. lab.card puts them together with the numbers
(every number and every machine fact comes from the log, the evaluation or the file).
"""
from __future__ import annotations

RWKV_PARAMS = 6_178_304   # the embedded RWKV-4's parameters, the size every rival was matched to
PLAYS = {"tempest_gut": "The Tempest", "timon_of_athens_gut": "Timon of Athens"}


def play(name: str) -> str:
    """A held-out text's name on the card ("tempest_gut" -> "The Tempest")."""
    return PLAYS.get(name, name.replace("_gut", "").replace("_", " ").title())


INTRO = {
    "rwkv4-shakespeare": (
        "The embedded default model of this project: a real RWKV-v4, trained from scratch on this project's own code "
        "(`lab.train`, the engine's layer-parallel schedule with autograd), so the app works offline the minute it "
        "is installed."),
    "rwkv4-shiftonly-shakespeare": (
        "The article's cliffhanger, \"because we removed a fundamental core of LSTM, the model will perform poorly\", "
        "measured: the embedded model (`rwkv4-shakespeare`) trained again with one part taken out. Time-mix keeps its "
        "token shift, receptance, value and output, but **no WKV**: its output is W_o (σ(r) ⊙ v). Each block has "
        "two token shifts (time-mix's and channel-mix's), each one token back, so L blocks reach 2L tokens back: the "
        "model predicts from the last 2L + 1 tokens and nothing further back "
        "(`lab/ablation.py`; tested in `tests/test_ablation.py` and `tests/test_recall.py`)."),
    "lstm-shakespeare": (
        "A standard stacked LSTM: no red line, so its (layer, token) cells can run as a cascade; but inside a layer, "
        "token t's gates need W_hh·h[t−1] inside a nonlinearity, so a layer's T tokens are T sequential matrix "
        "products (best critical path L + T − 1 products). Trained here on the same text (its recipe, from its log, below), to run, "
        "time and compare beside it in the Scheduling Lab. Model code: `rivals/lstm.py`."),
    "redline-shakespeare": (
        "The article's red-line RNN (its own variant: a standard stacked LSTM has no such link): the same LSTM "
        "layers, plus the red line: the top layer's output at token t is "
        "added into layer 0's gates at token t+1 (`red_line.weight`, zero input for the first token). Every cell "
        "waits for the one before it: only the rnn order, L·T sequential steps, in training too. Trained here on the "
        "same text (its recipe, from its log, below). Model code: `rivals/lstm.py`."),
    "gpt-shakespeare": (
        "QKV against WKV, measured: a transformer of RWKV's size, trained here on the same text (its recipe, from its log, below). Its "
        "state is the KV cache: every layer keeps the key and value of every token read, so the state grows with "
        "the text and each new token attends over all of it. Every schedule is valid: a layer at token t reads the "
        "layer below at tokens ≤ t and its own cache, never a layer above (no red line). Model code: `rivals/gpt.py`, "
        "`rivals/gpt_model.py`."),
}


def architecture(kind: str, variant: str, c) -> str:
    if kind == "rwkv4":
        text = (f"RWKV-4: {c.n_layer} layers, width {c.n_embd}, channel-mix width {c.n_ffn}, vocabulary "
                f"{c.vocab_size}; the recurrent state is {c.state_bytes():,} bytes (fp32) at any length.")
        if variant == "shift":
            text += (" Without WKV, each layer's key matrix, `time_decay` and `time_first` are unused: the file is "
                     "an ordinary RWKV-4 checkpoint whose keys are zero and every u (`time_first`) is 10⁴, so the "
                     "engine's stable WKV gives the current token all the weight and wkv_t = v_t exactly; every "
                     "schedule gives the training forward's logits (tests).")
        return text
    if kind in ("lstm", "redline"):
        return (f"Embedding (vocabulary {c.vocab_size}, width {c.n_embd}) → {c.n_layer} LSTM layers of width "
                f"{c.n_embd} (PyTorch's gate order i, f, g, o and tensor layout), each adding its input to its output "
                "(residual connections: a plain 6-layer stack at PyTorch's default initialisation stayed at the "
                "unigram loss, see `rivals/lstm.py`) → an untied head"
                + ("; plus the red line, a (4C, C) matrix from the top layer to layer 0" if kind == "redline" else "")
                + f". The recurrent state is {c.state_bytes():,} bytes (fp32, h and c per layer) at any length.")
    return (f"GPT-2's layout, our own code, proved equal to Hugging Face's `GPT2LMHeadModel` by `tests/test_gpt.py`: "
            f"token embedding (vocabulary {c.vocab_size}, width {c.n_embd}) plus learned positions for {c.n_ctx} "
            f"tokens → {c.n_layer} pre-LayerNorm blocks (causal attention with {c.n_head} heads of {c.head_size}, "
            f"then an MLP {c.n_embd} → {c.n_ffn} → {c.n_embd} with GELU) → a final LayerNorm → "
            f"{'a head tied to the embedding' if c.tied else 'an untied head'}. No dropout. The KV cache grows by "
            f"{c.cache_bytes(1):,} bytes per token (fp32; {c.cache_bytes(c.n_ctx) / 1e6:.1f} MB at {c.n_ctx} "
            f"tokens); past {c.n_ctx} tokens the model refuses with a ValueError (its position table ends there).")


INIT = {
    "rwkv4": ("after BlinkDL's RWKV-LM: decay and token-shift vectors set by depth, a tiny embedding with LayerNorm "
              "after it, zero output projections, orthogonal matrices (`lab.train_kinds.init_weights`)"),
    "lstm": "PyTorch's LSTM default (uniform ±1/√C) for every matrix and bias, a unit-normal embedding",
    "gpt": ("GPT-2's: normal 0.02, the two projections into the residual stream 0.02/√(2L), zero biases, "
            "LayerNorms at identity"),
}
INIT["redline"] = INIT["lstm"]

PATH = {
    ("rwkv4", ""): "the engine's `rwkv_core.model.forward_batch` (the layer-parallel schedule, autograd through it)",
    ("rwkv4", "shift"): ("`lab.ablation.forward_batch` (RWKV-4's layers with time-mix reduced to W_o (σ(r) ⊙ v)); the "
                         "tensors it does not use are kept as set, not trained"),
    ("lstm", ""): ("torch's fused LSTM (`torch.lstm`) with our weights (`rivals.lstm.lstm_forward`), proved equal to "
                   "our own code by `tests/test_rivals.py`"),
    ("redline", ""): ("a tight per-token loop (`rivals.lstm.redline_forward`): layer 0's input products for all "
                      "tokens at once, then token by token through the layers, the weights' gradients taken after "
                      "backward in one wide product over all tokens (`DeferredGrads`); the fused LSTM cannot be "
                      "used, as layer 0 needs the top layer's previous output"),
    ("gpt", ""): ("`rivals.gpt.forward_batch` (every layer over all tokens, torch's fused attention), proved equal to "
                  "every schedule of the model by `tests/test_gpt.py`"),
}

LOSS = {"ce+l2wrap": "cross-entropy plus RWKV-LM's L2Wrap (a tiny pull of the largest logit towards 0)",
        "ce": "cross-entropy"}


def tokenizer_text(own: bool, vocab: int, chars_per_token: float, ctx: int) -> str:
    if not own:
        return f"The embedded model's own {vocab:,}-token byte-level BPE (`models/rwkv4-shakespeare.tokenizer.json`)."
    return (f"A byte-level BPE of {vocab:,} tokens trained with Hugging Face `tokenizers` on the training plays only: "
            "the same kind of tokenizer as the real RWKV-4-Pile models' 20B tokenizer, so what a student learns "
            "about tokens in the app (words and word pieces, a leading space, bytes of rare characters) carries over "
            f"to the real models. Each token carries about {chars_per_token:.1f} characters, so a window of {ctx} "
            f"tokens spans about {ctx * chars_per_token:,.0f} characters of text for the same compute. Small, as the "
            "embedding and head grow with the vocabulary.")


def held_out_text(evaluation: str, stem: str, n_ctx: int | None) -> str:
    if evaluation == "windows":
        return (f"How the held-out plays are read: the GPT cannot read past {n_ctx} tokens, so each play is read in "
                f"windows of {n_ctx} tokens moved by {n_ctx // 2}, each token scored once: after the first window "
                f"every prediction sees {n_ctx // 2} to {n_ctx - 1} tokens before it (`lab.gpt_eval`, the same totals "
                "of tokens and characters as `lab.evaluate`); RWKV and the LSTMs read each play whole with the state "
                f"carried. `python -m lab.evaluate --model models/{stem}.safetensors` gives these numbers.")
    return ("Bits per character = total cross-entropy of the tokens (nats) / number of characters / ln 2, over each "
            "held-out play read whole, the state carried from start to end: "
            f"`python -m lab.evaluate --model models/{stem}.safetensors` gives these numbers.")


LIMITS = {
    "rwkv4": ("A small model trained briefly: it has learned the shape of a play (speaker names, verse lines, stage "
              "directions) and common words, not sense. It is here to make the visualizer's numbers real."),
    "lstm": ("A small model trained briefly, like the RWKV model beside it; it is here so that the Scheduling Lab runs "
             "and times a real, trained rival in every schedule its dependencies allow."),
    "gpt": ("A small model trained briefly, like the RWKV model beside it. The recipe is RWKV's, not tuned for a "
            "transformer (no dropout, RWKV's peak learning rate)."),
}
LIMITS["redline"] = LIMITS["lstm"]
