"""What the "Why RWKV, measured" page and the Explorer share: the trained models, loaded once per
server (st.cache_resource, read-only), and the GPT's attention drawn beside RWKV's implicit
attention for the Explorer's tokens. An ordinary module, imported once by streamlit_app.py."""
from __future__ import annotations

import streamlit as st

from app import compare_core as cc
from app import looks_core as lc
from app.resources import load_path, rival_model
from app.widgets import show
from rwkv_core.checkpoint import DEFAULT_MODEL
from visuals import compare as vc

GPT_MISSING = ("The GPT trained here is not in the models folder yet "
               "(`python -m lab.train --kind gpt` writes models/gpt-shakespeare.*).")


def trained_models() -> dict:
    """Every model trained here that is in the models folder, {kind: model}, in cc.order(). RWKV is
    the embedded model (the picker's cached copy); the rivals come from the Lab's cache."""
    out = {}
    for kind, path in cc.shipped().items():
        if path == DEFAULT_MODEL:
            out[kind] = load_path("", path.stat().st_mtime_ns)
        else:
            out[kind] = rival_model(str(path), path.stat().st_mtime_ns)
    return out


def trained_gpt():
    path = cc.shipped().get("gpt")
    return None if path is None else rival_model(str(path), path.stat().st_mtime_ns)


def head_choice(gpt_model, key: str) -> int | None:
    heads = ["mean over heads"] + list(range(gpt_model.config.n_head))
    choice = st.selectbox("GPT head", heads, key=key)
    return None if choice == "mean over heads" else int(choice)


def same_tokenizer(a, b) -> bool:
    """Whether two tokenizers give the same ids (the models trained here share one): the same size
    and the same text for a spread of ids."""
    if a is None or b is None or a.vocab_size != b.vocab_size:
        return False
    return all(a.decode([i]) == b.decode([i]) for i in range(0, a.vocab_size, 17))


def gpt_beside_wkv(model, tokens: list[int], key: str = "ex_qkv") -> None:
    """For the Explorer's "WKV as attention": the GPT's real attention weights for the same text's
    last token, per layer (one head or the mean), to read beside RWKV's implicit attention above.
    With another tokenizer the text is read again in the GPT's own."""
    st.subheader("The same text through the GPT trained here: QKV attention")
    gpt_model = trained_gpt()
    if gpt_model is None:
        st.info(GPT_MISSING)
        return
    if not same_tokenizer(model.tokenizer, gpt_model.tokenizer):
        if model.tokenizer is None:
            st.info("This model has no tokenizer: there is no text to give the GPT.")
            return
        tokens = gpt_model.tokenizer.encode(model.tokenizer.decode(tokens))
        st.caption("The loaded model has another tokenizer: the text is read again in the GPT's.")
    tokens = tokens[-gpt_model.config.n_ctx:]
    if not tokens:
        return
    head = head_choice(gpt_model, key + "_head")
    weights = lc.pick_head(lc.gpt_attention(gpt_model, tokens), head)          # (L, T, T)
    which = "mean over heads" if head is None else f"head {head}"
    labels = [gpt_model.tokenizer.display(t) for t in tokens]
    show(vc.last_token_figure(lc.last_row(weights), labels, f"What the GPT's last token attends to ({which})",
                              "softmax(q·Kᵀ/√d) of the last token over every earlier one, per layer: the GPT keeps "
                              "every key and value (its cache grows) and picks by content. RWKV, above, keeps a "
                              "fixed-size state whose weights fall off with distance."), key)
    st.caption("Both models on any text, layer by layer and head by head: the **Why RWKV, measured** page.")
