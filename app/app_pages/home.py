"""Home: what the app is and where to start."""
from pathlib import Path

import streamlit as st

from app.resources import current_model

model = current_model()
c = model.config

st.title("RWKV-4, inside out")
st.markdown(
    "This app opens up a small **RWKV-4** language model while it writes. RWKV is a recurrent "
    "network: it reads one token at a time and carries a **fixed-size state** from token to token, "
    "yet it can also be run over a whole text at once, like a transformer. Every number you see "
    "comes from the model running here, recorded at named points inside it.")
st.info(f"Loaded now: {c.n_layer} layers x {c.n_embd} channels, vocabulary {c.vocab_size:,}, "
        f"{c.n_params / 1e6:.1f} M parameters. Change it in the sidebar.")

st.subheader("Where to start")
st.page_link("app_pages/explorer.py", label="Explorer: type a prompt, step through generation one token "
             "at a time, and look at probabilities, embeddings, the state of every layer, memory and the "
             "WKV read as attention.", icon=":material/search:")
if (Path(__file__).resolve().parent / "scheduling_lab.py").exists():
    st.page_link("app_pages/scheduling_lab.py", label="Scheduling Lab: the same model run as an RNN, "
                 "in parallel, or as a cascade of chunks, and what each schedule costs.",
                 icon=":material/grid_on:")

st.subheader("Words used here")
st.markdown(
    "- **token**: a piece of text the model reads (a word, part of a word, a space).\n"
    "- **logits / probabilities**: the model's scores for every possible next token.\n"
    "- **state**: what each layer carries to the next token: `x_att`, `aa`, `bb`, `pp`, `x_ffn`.\n"
    "- **WKV**: RWKV's weighted average of past values; it plays the part attention plays in a transformer.")
