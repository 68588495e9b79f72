"""The look shared by every figure: a colour-blind-safe palette, large type for a projector,
axis titles with units, and a one-line caption per figure saying what to look for.

Builders call `style(fig, ...)` last. The caption travels inside the figure (layout.meta) so the
app can print it under the chart and tests can check it: `caption(fig)`.
"""
from __future__ import annotations

import html
import math
import re
import unicodedata

import numpy as np
import plotly.graph_objects as go

# Okabe & Ito (2008): eight colours told apart with every common colour-vision deficiency.
PALETTE = {
    "blue": "#0072B2", "orange": "#E69F00", "green": "#009E73", "vermillion": "#D55E00",
    "sky": "#56B4E9", "purple": "#CC79A7", "yellow": "#F0E442", "black": "#000000",
}
SEQUENCE = [PALETTE[c] for c in ("blue", "orange", "green", "vermillion", "sky", "purple", "black", "yellow")]
MUTED = "#A8A8A8"        # the background of a plot: what is not highlighted
HIGHLIGHT = PALETTE["vermillion"]  # the one thing to look at (chosen token, current token)
SEQUENTIAL = "Cividis"   # perceptually uniform and readable with any colour vision
DIVERGING = "RdBu_r"     # signed values around zero: blue negative, red positive
RED_LINE = "#D62728"     # the classic RNN's link from the top layer of token t to layer 0 of token t+1

# a small white template: plotly's own "plotly_white" costs ~10 ms per figure to apply
TEMPLATE = go.layout.Template(layout=dict(
    paper_bgcolor="white", plot_bgcolor="white", colorway=SEQUENCE,
    xaxis=dict(gridcolor="#E5E5E5", zerolinecolor="#BDBDBD", linecolor="#BDBDBD", automargin=True),
    yaxis=dict(gridcolor="#E5E5E5", zerolinecolor="#BDBDBD", linecolor="#BDBDBD", automargin=True),
    hoverlabel=dict(font=dict(size=15))))

FONT_SIZE = 16           # readable from the back of a room
HEIGHT = 420             # px, the default figure height
MIN_TEXT = 12            # px, the smallest label on a bar


def kind_colour(key: str) -> str:
    """A colour key of the registry of model kinds (lab.kinds: Kind.colour, Shipped.colour) as hex:
    a PALETTE colour, or "red" for the red line's own red (RED_LINE)."""
    if key == "red":
        return RED_LINE
    if key not in PALETTE:
        raise ValueError(f"colour {key!r} is not a palette colour (one of {', '.join(PALETTE)}, or red)")
    return PALETTE[key]


def model_colour(name: str, i: int = 0) -> str:
    """A model's series colour, from its name on screen: its kind's or its shipped model's colour in
    the registry when the name is one's title ("RWKV-4", "RWKV-4 without WKV"), else the i-th of
    SEQUENCE. So a kind keeps one colour on every page, whatever else a figure shows."""
    from lab.kinds import KINDS, SHIPPED  # here, not above: the registry imports the model code
    keys = {s.title: s.colour for s in SHIPPED.values()} | {k.title: k.colour for k in KINDS.values()}
    return kind_colour(keys[name]) if name in keys else SEQUENCE[i % len(SEQUENCE)]


def safe(text: str) -> str:
    """Plotly reads a little HTML in labels (<b>, <br>): escape model and user text so a token
    such as '<br>' shows as written, never as markup. Control characters become visible."""
    return html.escape(printable(text), quote=False)


def printable(text: str) -> str:
    """Control characters (other than the ␣ ↵ ⇥ the tokenizer already shows) as \\xNN."""
    return "".join(ch if ch.isprintable() or ch in "\n\t" else f"\\x{ord(ch):02x}" if ord(ch) < 256
                   else f"\\u{ord(ch):04x}" for ch in text)


def style(fig: go.Figure, *, title: str, caption: str, x_title: str | None = None,
          y_title: str | None = None, height: int = HEIGHT) -> go.Figure:
    """Apply the shared look. `caption` is one line on what to look for."""
    lay = fig.layout
    seen = {"annotations": [a.to_plotly_json() for a in lay.annotations], "showlegend": lay.showlegend,
            "legend": {"y": lay.legend.y} if lay.legend.y is not None else {}}
    fig.update_layout(**_base_layout(title, caption, height, fig.data, seen))
    if x_title is not None:
        fig.update_xaxes(title_text=x_title)
    if y_title is not None:
        fig.update_yaxes(title_text=y_title)
    return fig


def figure(data, *, title: str, caption: str, x_title: str | None = None, y_title: str | None = None,
           height: int = HEIGHT, validate: bool = True, **layout) -> go.Figure:
    """A figure with the shared look, built in one go: traces and the whole layout pass through
    plotly's checks once (style() on a finished figure costs ~10 ms more per figure).
    `layout`: any other layout keys (xaxis=dict(...), shapes=[...], ...). validate=False skips
    plotly's checks of the layout (half the time of a small figure): for the figures a Step
    rebuilds, whose builders' tests check them with the checks on (tests/test_visuals_figures.py)."""
    for axis, text in (("xaxis", x_title), ("yaxis", y_title)):
        if text is not None:
            layout[axis] = {**layout.get(axis, {}), "title": {"text": text}}
    base = _base_layout(title, caption, height, data, layout)
    if "margin" in layout:   # a builder's own margins, with at least the room the title and legend need
        margin = {**base["margin"], **layout.pop("margin")}
        layout["margin"] = {**margin, "t": max(margin.get("t", 0), base["margin"]["t"])}
    return go.Figure(data=data, layout={**base, **layout}, _validate=validate)


# --- titles and legends that fit -------------------------------------------------------------------
# A plotly title never wraps and, centred, a long one is cut at both ends on a narrow screen. Titles
# here start at the left edge, and the top margin holds the title's lines and then the legend's rows,
# so a legend never sits on a title. The figure keeps its title as written; `display_spec` wraps it
# at TITLE_CHARS characters (a half-width column at 1280 px) when the app shows it.

TITLE_CHARS = 60
LEGEND_WIDTH = 520       # px a legend row is assumed to have (a half-width column); fewer means more rows
_TAG = re.compile(r"<[^>]*>")
_ENTITY = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);")


def visible_text(html_text: str) -> str:
    """What a plotly label shows, as plain text: line breaks as spaces, tags dropped, entities read."""
    return html.unescape(_TAG.sub("", re.sub(r"<br\s*/?>", " ", html_text or "", flags=re.I))).strip()


def text_width(label: str, font: float = FONT_SIZE) -> float:
    """px a plotly label (a little HTML) takes in `font` px type, estimated generously: 0.62 em a
    character, a full em for a wide one (CJK, most emoji). For margins set ahead of time, so that
    plotly's automargin, which draws a chart twice when it must widen one, has nothing to do."""
    text = visible_text(label)
    return font * sum(1.0 if unicodedata.east_asian_width(ch) in "WF" else 0.62 for ch in text)


def _visible_len(word: str) -> int:
    return len(_ENTITY.sub("x", _TAG.sub("", word)))


_OPEN_CLOSE = re.compile(r"<(/?)(\w+)([^>]*)>")


def wrap_title(text: str, width: int = TITLE_CHARS) -> str:
    """Break a plotly title (a little HTML) into lines of at most `width` visible characters, at
    spaces; existing <br> are kept. Tags and entities are never split, and a tag open across a
    break (<sup>…</sup>) is closed at the end of the line and opened again on the next."""
    lines = []
    for part in re.split(r"<br\s*/?>", text or "", flags=re.I):
        line, n, open_tags, reopen = [], 0, [], ""
        small = re.match(r"\s*<su[bp]>", part) is not None     # a subtitle line: plotly draws it at 70 %
        limit = int(width / 0.7) if small else width
        for word in re.split(r" (?![^<]*>)", part):      # spaces outside tags
            w = _visible_len(word)
            if line and n + 1 + w > limit:
                lines.append(" ".join(line) + "".join(f"</{name}>" for name, _ in reversed(open_tags)))
                line, n, reopen = [], 0, "".join(f"<{name}{attrs}>" for name, attrs in open_tags)
            line.append(reopen + word if not line else word)
            n += w + (1 if n else 0)
            for close, name, attrs in _OPEN_CLOSE.findall(word):
                if name.lower() == "br":
                    continue
                if not close:
                    open_tags.append((name, attrs))
                elif open_tags and open_tags[-1][0] == name:
                    open_tags.pop()
        lines.append(" ".join(line))
    return "<br>".join(lines)


def _legend_rows(data, layout: dict, font: float, width: float = LEGEND_WIDTH) -> int:
    """How many rows the horizontal legend needs, estimated from the traces' names, in `width` px."""
    legend = layout.get("legend") or {}
    if layout.get("showlegend") is False or (isinstance(legend, dict) and legend.get("y", 1.02) < 1):
        return 0     # no legend, or one placed inside the plot
    traces = [t if isinstance(t, dict) else t.to_plotly_json() for t in (data or [])]
    shown = [t.get("name") or "" for t in traces
             if t.get("showlegend") is True or (t.get("showlegend") is None and len(traces) > 1 and t.get("name")
                                                and t.get("type") not in ("heatmap", "surface", "contour"))]
    if not shown:
        return 0
    items = [len(visible_text(str(n))) * font * 0.6 + 45 for n in shown]
    if sum(items) <= width:
        return 1
    # more than one row: plotly gives every entry the widest entry's width, in columns
    return math.ceil(len(items) / max(1, int(width // max(items))))


def _labels_above(layout: dict, font: float) -> float:
    """px of the annotations that sit on top of the plot area (make_subplots' panel titles, which
    may have several lines): the tallest of them."""
    tallest = 0.0
    for a in layout.get("annotations") or ():
        a = a if isinstance(a, dict) else a.to_plotly_json()
        if str(a.get("yref", "")).endswith("paper") and (a.get("y") or 0) >= 1 and a.get("yanchor") == "bottom":
            size = ((a.get("font") or {}).get("size") or font)
            tallest = max(tallest, (str(a.get("text") or "").count("<br>") + 1) * size * 1.3 + 4)
    return tallest


def top_margin(title: str, rows: int, font: float, *, labels_above: float = 0) -> int:
    """px above the plot: the title's lines, then the legend's rows or the panels' own titles
    (`labels_above` px); never less than the 70 px every figure had before titles were wrapped."""
    lines = (title or "").count("<br>") + 1 if title else 0
    return max(70, int(12 + lines * (font + 4) * 1.3 + max(rows * font * 1.7, labels_above) + 8))


def _base_layout(title: str, caption: str, height: int, data, layout: dict) -> dict:
    rows = _legend_rows(data, layout, FONT_SIZE)
    top = top_margin(title, rows, FONT_SIZE, labels_above=_labels_above(layout, FONT_SIZE))
    return dict(
        title=dict(text=title, font=dict(size=FONT_SIZE + 4), x=0, xref="container", xanchor="left",
                   y=1, yref="container", yanchor="top", pad=dict(l=12, t=10)),
        font=dict(size=FONT_SIZE, family="Inter, Helvetica, Arial, sans-serif"),
        template=TEMPLATE, height=height + top - 70,
        margin=dict(l=70, r=30, t=top, b=60), meta={"caption": caption},
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0, xanchor="left"),
        # labels on thin bars: plotly shrinks them to the bar's thickness; never below this
        uniformtext=dict(minsize=MIN_TEXT, mode="show"))


def caption(fig: go.Figure) -> str:
    """The one-line 'what to look for' of a figure built here."""
    meta = fig.layout.meta
    return meta.get("caption", "") if isinstance(meta, dict) else ""


# --- classroom mode: the same figure in larger type -----------------------------------------------

CLASSROOM_SCALE = 1.45   # chart type grows with the page's text (1.7 rem against 17 px)
SCREEN_HEIGHT = 640      # px: the most a chart takes in classroom mode, so that a 1280 × 720 projector
                         # shows it whole (title to play buttons) under the page's 64 px header
PHONE_TITLE_CHARS = 44   # a phone's chart titles (13 px, app/style.py) wrap here: ~340 px
PHONE_LEGEND_WIDTH = 300  # px a phone's legend row has: more rows, so the top margin holds them


def _scale_fonts(node, scale: float) -> None:
    """Every font size found under `node` (a figure as plain dicts and lists), times `scale`."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key.endswith("font") and isinstance(value, dict) and isinstance(value.get("size"), (int, float)):
                value["size"] = round(value["size"] * scale, 1)
            if isinstance(value, dict) or _lists_of_dicts(value):
                _scale_fonts(value, scale)
    elif _lists_of_dicts(node):                # numbers (x, y, z) hold no fonts: not walked
        for item in node:
            _scale_fonts(item, scale)


def _lists_of_dicts(node) -> bool:
    return isinstance(node, (list, tuple)) and bool(node) and isinstance(node[0], (dict, list, tuple))


def display_spec(spec: dict, *, classroom: bool = False, scale: float = CLASSROOM_SCALE,
                 title_chars: int = TITLE_CHARS, legend_width: float = LEGEND_WIDTH) -> dict:
    """A figure as plain data (`fig.to_dict()`), made ready to show; changed in place and returned.
    Its title is wrapped to fit (`title_chars`, fewer in larger type; PHONE_TITLE_CHARS on a phone) with
    the top margin and height grown to hold the extra lines and the legend's rows (`legend_width` px
    each). In classroom mode every font is `scale` times larger, and the margins and height grow with
    it, up to SCREEN_HEIGHT: a chart on a projector fits one screen. Pure: plain data in, plain data
    out (app/widgets.py shows it)."""
    layout = spec.setdefault("layout", {})
    meta = layout.get("meta") if isinstance(layout.get("meta"), dict) else {}
    if classroom and not meta.get("classroom"):
        layout.setdefault("font", {}).setdefault("size", FONT_SIZE)
        if isinstance(layout.get("title"), dict):
            layout["title"].setdefault("font", {}).setdefault("size", FONT_SIZE + 4)
        _scale_fonts(spec, scale)
        if isinstance(layout.get("uniformtext"), dict) and layout["uniformtext"].get("minsize"):
            layout["uniformtext"]["minsize"] = round(layout["uniformtext"]["minsize"] * scale, 1)
        margin = layout.setdefault("margin", {})
        plot = (layout.get("height") or HEIGHT) - margin.get("t", 100) - margin.get("b", 80)   # px of plot area
        for side, default in (("l", 80), ("r", 80), ("t", 100), ("b", 80)):
            margin[side] = int(margin.get(side, default) * scale)
        layout["height"] = int(max(plot, 100) * 1.25) + margin["t"] + margin["b"]
        layout["meta"] = {**meta, "classroom": True}
    title = layout.get("title")
    if isinstance(title, dict) and title.get("text"):
        font = (layout.get("font") or {}).get("size", FONT_SIZE)
        width = int(title_chars * FONT_SIZE / font)
        title["text"] = wrap_title(title["text"], width)      # its own line breaks (a subtitle) kept
        # plotly lifts a title of several lines anchored at the top by ~0.7 em (measured in Chromium
        # for 2 and 3 lines): put it back inside the figure, and count that in the margin
        lift = 0.75 * title.get("font", {}).get("size", font + 4) if "<br>" in title["text"] else 0
        if lift and title.get("yref") == "container" and title.get("yanchor") == "top":
            title["pad"] = {**(title.get("pad") or {}), "t": int(10 + lift)}
        margin = layout.setdefault("margin", {})
        need = int(lift) + top_margin(title["text"], _legend_rows(spec.get("data"), layout, font, legend_width), font,
                                      labels_above=_labels_above(layout, font))
        if need > margin.get("t", 100):
            layout["height"] = (layout.get("height") or HEIGHT) + need - margin.get("t", 100)
            margin["t"] = need
    if classroom and (layout.get("height") or HEIGHT) > SCREEN_HEIGHT:
        layout["height"] = SCREEN_HEIGHT
    return spec


def presenter(fig: go.Figure, scale: float = CLASSROOM_SCALE) -> go.Figure:
    """Classroom mode: a copy of `fig` with every font `scale` times larger, its title wrapped for
    the larger letters, and the margins and height grown to hold them. The original is not touched
    (figures may be cached and shared); a figure already enlarged comes back with the same sizes."""
    return go.Figure(display_spec(fig.to_dict(), classroom=True, scale=scale), _validate=False)


# --- probabilities on an axis ---------------------------------------------------------------------

def percent_format(top: float) -> str:
    """A d3 tick format for probabilities up to `top`, with enough decimals that the ticks differ:
    ".0%" when the largest is tens of percent, ".3%" for a flat distribution over 50k tokens
    (whose largest probability may be 0.01%), never "0%" on every tick."""
    if not top > 0:
        return ".0%"
    decimals = max(0, math.ceil(-math.log10(top * 100)) + 1)
    return f".{min(decimals, 6)}%"


def percent(p: float) -> str:
    """A probability as a label: 1 decimal in percent, or 2 significant digits below 0.1%
    (0.0052%), so a small probability never reads 0.0%."""
    if p >= 0.001 or p <= 0:
        return f"{p:.1%}"
    return f"{p * 100:.2g}%"


# --- alt text: what a figure shows, in words ---------------------------------------------------------

_KINDS = {"bar": "bars", "scatter": "points", "heatmap": "heatmap", "box": "box plot", "scatter3d": "3D points",
          "scattergl": "points", "histogram": "histogram"}


def _values_range(values) -> str:
    try:
        a = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        return ""
    a = a[np.isfinite(a)]
    if a.size == 0:
        return ""
    return f"{a.min():.3g} to {a.max():.3g}"


def _trace_summary(t: dict) -> str:
    kind = t.get("type") or "scatter"
    name = visible_text(str(t.get("name") or ""))
    if kind == "heatmap" and t.get("z") is not None:
        z = np.asarray(t["z"], dtype=float) if len(t["z"]) else np.zeros((0, 0))
        shape = "×".join(str(n) for n in z.shape)
        return f"heatmap {name} {shape}, values {_values_range(z)}".replace("  ", " ")
    axis = "x" if t.get("orientation") == "h" else "y"
    values = t.get(axis)
    if values is None or isinstance(values, str):
        return ""
    n = len(values)
    what = _KINDS.get(kind, kind)
    rng = _values_range(values)
    what = what[:-1] if n == 1 and what.endswith("s") else what
    return f"{n} {what}" + (f" “{name}”" if name else "") + (f", {axis} {rng}" if rng else "")


def alt_text(fig: go.Figure, *, limit: int = 400) -> str:
    """A plain-text description of a figure for screen readers: its title, its axes, and what its
    first traces hold (how many points, the range of their values). Built from the figure alone."""
    lay = fig.layout
    parts = [visible_text(lay.title.text or "") or "Chart"]
    axes = [visible_text(a.title.text) for a in (lay.xaxis, lay.yaxis) if a.title and a.title.text]
    if axes:
        parts.append("Axes: " + " and ".join(axes))
    traces = [tr.to_plotly_json() for tr in fig.data[:4]]
    summaries = [s for s in map(_trace_summary, traces) if s]
    if summaries:
        more = f" and {len(fig.data) - 4} more traces" if len(fig.data) > 4 else ""
        parts.append("Shows " + "; ".join(summaries) + more)
    text = ". ".join(parts) + "."
    return text if len(text) <= limit else text[: limit - 1] + "…"
