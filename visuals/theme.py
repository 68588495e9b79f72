"""The look shared by every figure: a colour-blind-safe palette, large type for a projector,
axis titles with units, and a one-line caption per figure saying what to look for.

Builders call `style(fig, ...)` last. The caption travels inside the figure (layout.meta) so the
app can print it under the chart and tests can check it: `caption(fig)`.
"""
from __future__ import annotations

import html

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
    fig.update_layout(
        title=dict(text=title, font=dict(size=FONT_SIZE + 4)),
        font=dict(size=FONT_SIZE, family="Inter, Helvetica, Arial, sans-serif"),
        template=TEMPLATE, height=height,
        margin=dict(l=70, r=30, t=70, b=60), meta={"caption": caption},
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
    )
    if x_title is not None:
        fig.update_xaxes(title_text=x_title)
    if y_title is not None:
        fig.update_yaxes(title_text=y_title)
    return fig


def figure(data, *, title: str, caption: str, x_title: str | None = None, y_title: str | None = None,
           height: int = HEIGHT, **layout) -> go.Figure:
    """A figure with the shared look, built in one go: traces and the whole layout pass through
    plotly's checks once (style() on a finished figure costs ~10 ms more per figure).
    `layout`: any other layout keys (xaxis=dict(...), shapes=[...], ...)."""
    for axis, text in (("xaxis", x_title), ("yaxis", y_title)):
        if text is not None:
            layout[axis] = {**layout.get(axis, {}), "title": {"text": text}}
    base = dict(title=dict(text=title, font=dict(size=FONT_SIZE + 4)),
                font=dict(size=FONT_SIZE, family="Inter, Helvetica, Arial, sans-serif"),
                template=TEMPLATE, height=height, margin=dict(l=70, r=30, t=70, b=60), meta={"caption": caption},
                legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0))
    return go.Figure(data=data, layout={**base, **layout})


def caption(fig: go.Figure) -> str:
    """The one-line 'what to look for' of a figure built here."""
    meta = fig.layout.meta
    return meta.get("caption", "") if isinstance(meta, dict) else ""
