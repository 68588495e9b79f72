"""Streamlit pieces the pages share."""
from __future__ import annotations

import contextlib
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

import plotly.graph_objects as go
import streamlit as st

from app import formats, style
from visuals.theme import (
    LEGEND_WIDTH,
    PHONE_LEGEND_WIDTH,
    PHONE_TITLE_CHARS,
    TITLE_CHARS,
    alt_text,
    caption,
    display_spec,
)


class _Ready(go.Figure):
    """A figure already turned into plain data and made ready to show (visuals.theme.display_spec).
    st.plotly_chart reads a figure through `to_dict()`; this one hands over its data as it is,
    instead of a second copy of a figure that may be large (the Lab's animated grid: ~0.7 s). It is
    never a plotly figure itself (go.Figure.__init__ is not run: an empty figure with its template
    cost ~1 ms per chart); it only passes st.plotly_chart's check for one."""

    def __init__(self, spec: dict):           # no super().__init__(), see above
        object.__setattr__(self, "_spec", spec)

    def to_dict(self) -> dict:
        return self._spec

    def to_plotly_json(self) -> dict:
        return self._spec


# Figures made ready once per process: (the caller's key of everything a figure depends on, classroom,
# phone) → (spec, alt text, caption). A class opening the Explorer on one prompt shares its charts, and a
# chart whose inputs a Step leaves alone (the vocabulary's map) is not built again.
READY_CACHE = 256
_READY: OrderedDict = OrderedDict()
_READY_LOCK = threading.Lock()


def _ready(fig: go.Figure, classroom: bool, phone: bool) -> tuple[dict, str, str]:
    spec = display_spec(fig.to_dict(), classroom=classroom, title_chars=PHONE_TITLE_CHARS if phone else TITLE_CHARS,
                        legend_width=PHONE_LEGEND_WIDTH if phone else LEGEND_WIDTH)
    if phone and min_width(spec):        # a diagram (drawn no narrower than its words need: app/style.py)
        layout = spec["layout"]          # its axes are hidden: the side margins hold nothing
        layout["margin"] = {**layout.get("margin", {}), "l": 20, "r": 20}
    return spec, alt_text(fig), caption(fig)


def min_width(spec: dict) -> int | None:
    """The narrowest a figure may be drawn (px), where it says (visuals.architecture's diagrams)."""
    meta = spec.get("layout", {}).get("meta")
    return meta.get("min_width") if isinstance(meta, dict) else None


def show(fig: go.Figure | Callable[[], go.Figure], key: str, *, classroom: bool | None = None,
         cache: Hashable | None = None) -> None:
    """A figure built in visuals/ with its one-line caption (what to look for) under it.

    The title is wrapped to fit; in classroom mode (the site-wide switch, or `classroom`) the
    figure is shown in larger type. Both work on a copy (`fig.to_dict()`, which st.plotly_chart
    would make anyway): the built figure, which may be cached, is not changed. Screen readers get
    the chart's alt text: its title, axes and what its traces hold (visuals.theme.alt_text).

    With `cache`, a hashable key of everything the figure depends on (the model's key, the tokens,
    the settings), `fig` may be the function that builds it: the figure is built and made ready once
    per process and key (READY_CACHE keys, the least recently shown dropped first), and shared,
    read-only, by every session that shows it."""
    if classroom is None:
        classroom = style.classroom()
    phone = style.phone()
    if cache is None:
        spec, alt, words = _ready(fig() if callable(fig) else fig, classroom, phone)
    else:
        k = (cache, classroom, phone)
        with _READY_LOCK:
            hit = _READY.get(k)
            if hit is not None:
                _READY.move_to_end(k)
        if hit is None:
            hit = _ready(fig() if callable(fig) else fig, classroom, phone)
            with _READY_LOCK:
                _READY[k] = hit
                while len(_READY) > READY_CACHE:
                    _READY.popitem(last=False)
        spec, alt, words = hit
    # a diagram: in a box that scrolls sideways where the screen is narrower (app/style.py)
    with st.container(key=f"{style.WIDE}{key}") if min_width(spec) else contextlib.nullcontext():
        st.plotly_chart(_Ready(spec), theme=None, key=key, alt=alt)
    st.caption(words)


def chips_per_row(classroom: bool | None = None) -> int:
    """Token chips per row for this screen: four on a phone, ten in classroom mode's larger type,
    else twelve (visuals/tokens.py), so that a chip holds its text (up to 8 characters) and its id."""
    from visuals.tokens import CLASSROOM_ROW, PER_ROW, PHONE_ROW
    if style.phone():
        return PHONE_ROW
    return CLASSROOM_ROW if (style.classroom() if classroom is None else classroom) else PER_ROW


def table(data, *, classroom: bool | None = None, html: bool = False, **kwargs) -> None:
    """A table of plain values ({column: values}, rows [{column: value}] or a DataFrame), every column
    as text at its quantity's one precision (app/formats.py), the same in both modes.

    st.dataframe draws on a canvas that classroom mode's large type cannot reach (CSS zoom puts its
    cells off their columns), so in classroom mode this is an HTML st.table, which the CSS scales
    and wraps. st.table reads Markdown in cells: text is escaped (app.resources.md_escape), so a
    token such as `**x**` shows as typed. `html`: the HTML table in either mode, for a table of a few
    rows that changes on every Step (the Explorer's sampled token): far cheaper for a browser to draw
    again than st.dataframe's canvas. `kwargs` go to st.dataframe (key, column_config, ...)."""
    if classroom is None:
        classroom = style.classroom()
    if hasattr(data, "to_dict"):                       # a DataFrame
        data = data.to_dict(orient="list")
    if isinstance(data, list):
        data = {k: [row.get(k) for row in data] for k in (data[0] if data else {})}
    text = {k: [isinstance(v, str) for v in vals] for k, vals in data.items()}   # the cells that were text
    data = formats.table(data)                         # each column at its quantity's precision, in both modes
    if not (classroom or html):
        st.dataframe(data, hide_index=True, **kwargs)
        return
    from app.resources import md_escape
    # text (a token) is escaped; a number formatted here is digits and signs only
    shown = {md_escape(k): [md_escape(v) if was else v for v, was in zip(vals, text[k])] for k, vals in data.items()}
    st.table(shown, hide_index=True)


# --- number boxes --------------------------------------------------------------------------------
# Every number box of the app is `number_box`: a float box with no min/max of its own, so whatever is
# typed reaches Python (an integer box reads "1e9" as 1 and "3.5" as 3; a box with bounds or a number
# past 2**53 turns red and silently keeps the old value) and is then made whole and put in range here,
# with a note under the box that says what was used. One note per box: the next change replaces it,
# and a value used as typed clears it.
NOTES = "number_box_notes"          # session state: {box key: (what was done, the value it explains)}


def shown(x: float) -> str:
    """A typed number as the note quotes it: 9,999, 2.5, 1e+09, 1.23457e+22."""
    return f"{x:,.6g}"


def whole_number(value, low: int, high: int, what: str) -> tuple[int, str | None]:
    """A typed number made a whole number inside [low, high] (the fraction dropped, then the range's
    nearest end), and the sentence that says what was used (None when the number is used as typed)."""
    if value is None:
        return low, f"{what}: the box was empty; {low:,} is used."
    try:
        x = float(value)
    except (TypeError, ValueError):
        return low, f"{what}: {value!r} is not a number; {low:,} is used."
    if math.isnan(x):
        return low, f"{what}: not a number; {low:,} is used."
    faults = [] if x.is_integer() or math.isinf(x) else ["is not a whole number"]
    if x < low:
        n, faults = low, faults + [f"is below {low:,}, the smallest"]
    elif x > high:
        n, faults = high, faults + [f"is above {high:,}, the largest"]
    else:
        n = math.floor(x)
    if not faults:
        return int(x), None
    return n, f"{what} = {shown(x)} {' and '.join(faults)}; {n:,} is used."


def _note(key: str, message: str | None, used: int) -> None:
    notes = st.session_state.setdefault(NOTES, {})
    if message:
        notes[key] = (message, used)
    else:
        notes.pop(key, None)


def _checked(key: str, low: int, high: int, what: str) -> None:
    """on_change of a box: what was typed made whole and in range, and the box's note replaced."""
    n, message = whole_number(st.session_state.get(key), low, high, what)
    st.session_state[key] = float(n)
    _note(key, message, n)


def number_box(label: str, key: str, low: int, high: int, *, default: int | None = None, container=st,
               notes=st, what: str | None = None, **kw) -> int:
    """A whole-number box from `low` to `high` that takes anything typed and says what it did with it.

    `default` is the first value (else `low`); the note goes to `notes` (by default under the row the box
    is in), quoting the box as `what` (else its label). Other keywords go to st.number_input (help,
    disabled, label_visibility, persist_state, bind). Returns the value used, always the value shown."""
    what = what or label
    ss = st.session_state
    if key not in ss:
        ss[key] = float(low if default is None else default)
    n, message = whole_number(ss[key], low, high, what)
    if message:                     # kept from before, now outside the range (the grid shrank): moved and said
        ss[key] = float(n)
        _note(key, message, n)
    value = container.number_input(label, step=1.0, format="%.0f", key=key, on_change=_checked,
                                   args=(key, low, high, what), **kw)
    used, late = whole_number(value, low, high, what)
    if late:                        # a box bound to the address, seeded by a link (?ex_top_k=-5): the box
        _note(key, late, used)      # would show -5 while 0 is used, so once more, with the value moved
        st.rerun()
    message, explains = ss.get(NOTES, {}).get(key, (None, None))
    if message and explains == used:
        notes.warning(message)
    return used
