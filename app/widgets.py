"""Streamlit pieces the pages share."""
from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from app import style
from visuals.theme import alt_text, caption, display_spec


class _Ready(go.Figure):
    """A figure already turned into plain data and made ready to show (visuals.theme.display_spec).
    st.plotly_chart reads a figure through `to_dict()`; this one hands over its data as it is,
    instead of a second copy of a figure that may be large (the Lab's animated grid: ~0.7 s)."""

    def __init__(self, spec: dict):
        super().__init__()
        self._spec = spec

    def to_dict(self) -> dict:
        return self._spec

    def to_plotly_json(self) -> dict:
        return self._spec


def show(fig: go.Figure, key: str, *, classroom: bool | None = None) -> None:
    """A figure built in visuals/ with its one-line caption (what to look for) under it.

    The title is wrapped to fit; in classroom mode (the site-wide switch, or `classroom`) the
    figure is shown in larger type. Both work on a copy (`fig.to_dict()`, which st.plotly_chart
    would make anyway): the built figure, which may be cached, is not changed. Screen readers get
    the chart's alt text: its title, axes and what its traces hold (visuals.theme.alt_text)."""
    if classroom is None:
        classroom = style.classroom()
    spec = display_spec(fig.to_dict(), classroom=classroom)
    st.plotly_chart(_Ready(spec), theme=None, key=key, alt=alt_text(fig))
    st.caption(caption(fig))


def table(data, *, classroom: bool | None = None, **kwargs) -> None:
    """A table of plain values ({column: values}, rows [{column: value}] or a DataFrame).

    st.dataframe draws on a canvas that classroom mode's large type cannot reach (CSS zoom puts its
    cells off their columns), so in classroom mode this is an HTML st.table, which the CSS scales
    and wraps. st.table reads Markdown in cells: text is escaped (app.resources.md_escape), so a
    token such as `**x**` shows as typed. `kwargs` go to st.dataframe (key, column_config, ...)."""
    if classroom is None:
        classroom = style.classroom()
    if not classroom:
        st.dataframe(data, hide_index=True, **kwargs)
        return
    from app.resources import md_escape
    if hasattr(data, "to_dict"):                       # a DataFrame
        data = data.to_dict(orient="list")
    if isinstance(data, list):
        data = {k: [row.get(k) for row in data] for k in (data[0] if data else {})}
    shown = {md_escape(k): [md_escape(v) if isinstance(v, str) else v for v in vals] for k, vals in data.items()}
    st.table(shown, hide_index=True)
