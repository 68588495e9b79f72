"""Memory lab: what a fixed-size state can and cannot remember, measured on tiny models trained
here (issue 28): associative recall (lab.mqar), RWKV-4 beside a GPT and a stacked LSTM of the same
parameter count, the committed charts from docs/memory/results.json, and a live probe.

The numbers come from app/memory_core.py (no Streamlit there), the rendering from
app/lessons/views_memory.py (shared with lesson 3's last step), the figures from visuals/memory.py.
"""
import streamlit as st

from app import memory_core as mc
from app.lessons import views_memory as vmem

results = mc.read_results()
st.title("Memory lab")
st.markdown(
    "RWKV-4 carries a **fixed-size state** from token to token; a GPT keeps every token's keys and values. "
    "What does the fixed state cost? The field's standard test is **associative recall** (Zoology, Arora et "
    "al., 2023): the model reads N key-value pairs, then the keys again, and must say each key's value. "
    "Tiny models of each kind were trained here on it, one per number of pairs N, with the same recipe, "
    "steps and data (docs/memory-lab.md), and measured on held-out sequences.")
st.subheader("What the runs show")
st.markdown(mc.summary(results))

st.header("Recall, measured")
vmem.charts(results, "mem")

st.header("Probe the models yourself")
st.markdown("The models trained at your N read the pairs and the queries below, token by token, and answer "
            "each query with their most likely next token. Raise N to see where each kind stops keeping up.")
vmem.probe(results, "mem")
