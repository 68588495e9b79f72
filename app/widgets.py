"""Streamlit pieces the pages share."""
from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from visuals.theme import caption


def show(fig: go.Figure, key: str) -> None:
    """A figure built in visuals/ with its one-line caption (what to look for) under it."""
    st.plotly_chart(fig, theme=None, key=key)
    st.caption(caption(fig))
