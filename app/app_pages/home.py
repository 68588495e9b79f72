"""Home: what the app is and where to start."""
from pathlib import Path

import streamlit as st

from app import style
from app.resources import current_model

# Where to start: (page file, short link label, icon, what the page holds). The link's label stays a few
# words, so that it is never cut (a page link is one line, cut with "…" where it does not fit: a phone is
# 390 px wide); what the page holds is written under it as ordinary text, which wraps.
DESTINATIONS = [
    ("explorer.py", "Explorer", ":material/search:",
     "Type a prompt and step through generation one token at a time: the probabilities of the next token, "
     "the embeddings, the state of every layer, its memory, and the WKV read as attention."),
    ("scheduling_lab.py", "Scheduling Lab", ":material/grid_on:",
     "The same model run as an RNN, in parallel, or as a cascade of chunks, and what each schedule costs."),
    ("lessons.py", "Lessons", ":material/school:",
     "Three lessons, step by step: how a text model works, scaling an RNN, and how RWKV replaces QKV "
     "attention and the LSTM. A classroom mode makes them readable on a projector."),
    ("why_rwkv.py", "Why RWKV, measured", ":material/leaderboard:",
     "RWKV-4 beside a stacked LSTM, the article's red-line RNN and a GPT, all trained here on the same plays."),
]

model = current_model()
c = model.config

st.title("RWKV-4, inside out")
st.markdown(
    "This app opens up a small **RWKV-4** language model while it writes. RWKV is a recurrent "
    "network: it reads one token at a time and carries a **fixed-size state** from token to token, "
    "yet it can also be run over a whole text at once, like a transformer. Every number you see "
    "comes from the model running here, recorded at named points inside it.")
# classroom mode hides the sidebar, where the model picker is: say how to reach it there
WHERE = ("Turn classroom mode off to change it in the sidebar." if style.classroom()
         else "Change it in the sidebar.")
st.info(f"Loaded now: {c.n_layer} layers × {c.n_embd} channels, vocabulary {c.vocab_size:,}, "
        f"{c.n_params / 1e6:.1f} M parameters. {WHERE}")

st.subheader("Where to start")
here = Path(__file__).resolve().parent
for page, label, icon, text in DESTINATIONS:
    if (here / page).exists():
        st.page_link(f"app_pages/{page}", label=label, icon=icon)
        st.markdown(text)

st.subheader("Words used here")
st.markdown(
    "- **token**: a piece of text the model reads (a word, part of a word, a space).\n"
    "- **logits / probabilities**: the model's scores for every possible next token.\n"
    "- **state**: what each layer carries to the next token: `x_att`, `aa`, `bb`, `pp`, `x_ffn`.\n"
    "- **WKV**: RWKV's weighted average of past values; it plays the part attention plays in a transformer.")
