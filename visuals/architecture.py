"""The article's pictures as plotly figures: the generic language model, the article's stacked RNN
with its red line (its own variant: a standard stacked RNN has no top-to-bottom link), the same grid with the red line removed, and the inside of an RWKV block.
Boxes are layout shapes, arrows are annotations; every picture is plain data in, Figure out."""
from __future__ import annotations

from typing import Sequence

import plotly.graph_objects as go

from .theme import MUTED, PALETTE, RED_LINE, safe, style

BOX = "#F4F6FA"
LAYER_FILL = PALETTE["sky"]
DIAGRAM_WIDTH = 680     # px (app/style.py: the same): the narrowest a diagram is drawn at, where its labels fit (a phone
                        # scrolls it sideways: at 390 px the equal-aspect boxes shrink under 12 px words)


def _diagram(fig: go.Figure, width: int = DIAGRAM_WIDTH) -> go.Figure:
    """Mark a finished picture as a diagram no narrower than `width` px (app/widgets.show reads it)."""
    meta = fig.layout.meta if isinstance(fig.layout.meta, dict) else {}
    fig.layout.meta = {**meta, "min_width": width}
    return fig


def _canvas(x_range, y_range) -> go.Figure:
    fig = go.Figure()
    fig.update_xaxes(visible=False, range=list(x_range))
    fig.update_yaxes(visible=False, range=list(y_range), scaleanchor="x", scaleratio=1)
    return fig


def _box(fig: go.Figure, x: float, y: float, w: float, h: float, text: str, fill: str = BOX,
         size: int = 14, line: str = "#333") -> None:
    """A labelled box centred on (x, y). `text` may carry <br>; pass model text through safe()."""
    fig.add_shape(type="rect", x0=x - w / 2, x1=x + w / 2, y0=y - h / 2, y1=y + h / 2,
                  fillcolor=fill, line=dict(color=line, width=1.5), layer="below")
    fig.add_annotation(x=x, y=y, text=text, showarrow=False, font=dict(size=size))


def _arrow(fig: go.Figure, x0, y0, x1, y1, colour: str = "#333", width: float = 1.8, dash: bool = False,
           name: str = "") -> None:
    if dash:  # plotly arrows cannot be dashed: a dashed line and a head at its end
        fig.add_shape(type="line", x0=x0, y0=y0, x1=x1, y1=y1, line=dict(color=colour, width=width, dash="dash"))
    fig.add_annotation(x=x1, y=y1, ax=x0, ay=y0, xref="x", yref="y", axref="x", ayref="y", text="",
                       showarrow=True, arrowhead=2, arrowwidth=width, arrowcolor=colour, name=name,
                       opacity=1 if not dash else 0.6, standoff=2)


def generic_model(tokens: Sequence[str] = ("To", "␣be", ",", "␣or"), n_layer: int = 3,
                  next_token: str = "␣not") -> go.Figure:
    """Tokens → embeddings → L layers → probabilities → pick one: what any language model does."""
    n = len(tokens)
    fig = _canvas((-1.2, n * 1.6 + 3.4), (-0.8, n_layer + 4.2))
    for i, tok in enumerate(tokens):
        x = i * 1.6
        _box(fig, x, 0, 1.3, 0.7, safe(tok), fill="#FFFFFF")
        _box(fig, x, 1.2, 1.3, 0.6, "emb", fill=PALETTE["yellow"])
        _arrow(fig, x, 0.35, x, 0.9)
        for l in range(n_layer):
            _box(fig, x, 2.3 + l, 1.3, 0.6, f"layer {l}", fill=LAYER_FILL)
            _arrow(fig, x, 1.5 + l if l else 1.5, x, 2.0 + l)
    x = (n - 1) * 1.6
    top = 2.3 + n_layer
    # boxes wide enough for their words in classroom mode's larger type too (and a #43085 id)
    _box(fig, x, top + 0.6, 2.1, 0.6, "probabilities", fill=PALETTE["orange"], size=12)
    _arrow(fig, x, top - 0.7, x, top + 0.3)
    _box(fig, x + 3.0, top + 0.6, 2.4, 0.6, f"pick: {safe(next_token)}", fill="#FFFFFF", line=PALETTE["vermillion"])
    _arrow(fig, x + 1.05, top + 0.6, x + 1.8, top + 0.6)
    fig.add_annotation(x=-1.0, y=0, text="tokens", showarrow=False, xanchor="right", font=dict(color=MUTED))
    return _diagram(style(fig, title="A language model, in general", height=500,
                 caption="Text becomes tokens, tokens become vectors, layers transform them, and the last "
                         "layer's output becomes a probability for every possible next token."))


def _grid(fig: go.Figure, n_layer: int, n_tokens: int) -> None:
    for t in range(n_tokens):
        for l in range(n_layer):
            _box(fig, t * 2, l * 1.4, 1.2, 0.8, f"L{l} · t{t}", fill=LAYER_FILL, size=12)
            if l:
                _arrow(fig, t * 2, l * 1.4 - 1.0, t * 2, l * 1.4 - 0.4)
            if t:
                _arrow(fig, t * 2 - 1.4, l * 1.4, t * 2 - 0.6, l * 1.4)


def classic_rnn(n_layer: int = 3, n_tokens: int = 4) -> go.Figure:
    """The article's red-line RNN: the top of token t feeds the bottom of token t+1 (the red line),
    so the cells form one chain and run one at a time. A standard stacked RNN (PyTorch's nn.LSTM)
    has no such link; the name is kept for the callers."""
    fig = _canvas((-1.2, n_tokens * 2), (-1.0, n_layer * 1.4 + 0.2))
    _grid(fig, n_layer, n_tokens)
    for t in range(n_tokens - 1):
        _arrow(fig, t * 2 + 0.4, (n_layer - 1) * 1.4 + 0.4, t * 2 + 1.6, -0.4, colour=RED_LINE, width=3,
               name="red line")
    fig.add_annotation(x=n_tokens - 1, y=-0.85, showarrow=False, font=dict(color=RED_LINE),
                       text="the red line: token t+1 starts only after token t has left the top layer")
    return _diagram(style(fig, title="The article's red-line RNN", height=440,
                 caption=f"Follow the arrows: all {n_layer * n_tokens} cells lie on one chain, so they run "
                         "one after another. A standard stacked RNN has no red line."))


def remove_red_line(n_layer: int = 3, n_tokens: int = 4) -> go.Figure:
    """The same grid without the red line: a cell needs only the one below and the one to its
    left, so every cell on a diagonal can run at the same time (the cascade)."""
    fig = _canvas((-1.2, n_tokens * 2), (-1.0, n_layer * 1.4 + 0.2))
    _grid(fig, n_layer, n_tokens)
    for t in range(n_tokens - 1):
        _arrow(fig, t * 2 + 0.4, (n_layer - 1) * 1.4 + 0.4, t * 2 + 1.6, -0.4, colour=MUTED, width=1.5,
               dash=True, name="removed")
    for s in range(n_layer + n_tokens - 1):
        cells = [(s - l, l) for l in range(n_layer) if 0 <= s - l < n_tokens]
        fig.add_trace(go.Scatter(x=[t * 2 for t, _ in cells], y=[l * 1.4 for _, l in cells], mode="lines",
                                 line=dict(color=PALETTE["orange"], width=10), opacity=0.35,
                                 name=f"wave {s + 1}", showlegend=False, hoverinfo="skip"))
    fig.add_annotation(x=n_tokens - 1, y=-0.85, showarrow=False,
                       text=f"without it: {n_layer + n_tokens - 1} diagonal waves instead of "
                            f"{n_layer * n_tokens} steps")
    return _diagram(style(fig, title="Remove the red line", height=440,
                 caption="Each orange diagonal is one step: its cells depend only on cells of earlier diagonals."))


def rwkv_block() -> go.Figure:
    """Inside one RWKV-4 block: time-mix (token shift, R K V, WKV with its state aa bb pp) and
    channel-mix (token shift, R K, squared ReLU), each added to the residual stream."""
    fig = _canvas((-4.6, 5.6), (-0.6, 11.4))
    spine = [(0, 0, "x from the layer below"), (0, 1.2, "LayerNorm ln1"), (0, 5.6, "+"),
             (0, 6.6, "LayerNorm ln2"), (0, 10.0, "+"), (0, 11.0, "x to the layer above")]
    for x, y, text in spine:     # box widths in chart units (about 55 px each at this height): room for the words
        _box(fig, x, y, 3.4 if text != "+" else 0.6, 0.6, text, fill="#FFFFFF" if text != "+" else PALETTE["yellow"],
             size=13)
    _arrow(fig, 0, 0.3, 0, 0.9)
    # time-mix
    _box(fig, 0, 2.3, 3.4, 0.6, "token shift: mix x<sub>t</sub>, x<sub>t−1</sub>", fill=BOX, size=13)
    for x, name in ((-1.6, "R = σ(W<sub>r</sub>·)"), (0, "K = W<sub>k</sub>·"), (1.6, "V = W<sub>v</sub>·")):
        _box(fig, x, 3.3, 1.5, 0.6, name, fill=LAYER_FILL, size=12)
        _arrow(fig, 0, 2.6, x, 3.0)
    _box(fig, 0.6, 4.3, 3.0, 0.6, "WKV: decay w, bonus u", fill=PALETTE["orange"], size=12)
    _box(fig, 3.6, 4.3, 1.8, 0.8, "state<br>aa, bb, pp", fill="#FFFFFF", line=PALETTE["vermillion"], size=12)
    _arrow(fig, 2.7, 4.45, 2.1, 4.45, colour=PALETTE["vermillion"])
    _arrow(fig, 2.1, 4.15, 2.7, 4.15, colour=PALETTE["vermillion"])
    _box(fig, -1.4, 4.9, 2.0, 0.5, "W<sub>o</sub>(R · WKV)", fill=BOX, size=12)
    for x in (0, 1.6):
        _arrow(fig, x, 3.6, 0.8 if x else 0.4, 4.0)
    _arrow(fig, -1.6, 3.6, -1.6, 4.65)
    _arrow(fig, 0.4, 4.6, -0.4, 4.9)
    _arrow(fig, -1.0, 5.15, -0.3, 5.5)
    _arrow(fig, 0, 1.5, 0, 2.0)
    # residual
    fig.add_shape(type="line", x0=-1.7, y0=0, x1=-3.6, y1=0, line=dict(color="#333", width=1.5))
    fig.add_shape(type="line", x0=-3.6, y0=0, x1=-3.6, y1=5.6, line=dict(color="#333", width=1.5))
    _arrow(fig, -3.6, 5.6, -0.3, 5.6)
    # channel-mix
    _arrow(fig, 0, 5.9, 0, 6.3)
    _box(fig, 0, 7.5, 3.4, 0.6, "token shift: mix x<sub>t</sub>, x<sub>t−1</sub>", fill=BOX, size=13)
    _arrow(fig, 0, 6.9, 0, 7.2)
    _box(fig, -1.2, 8.5, 1.6, 0.6, "R = σ(W<sub>r</sub>·)", fill=LAYER_FILL, size=12)
    _box(fig, 1.2, 8.5, 2.2, 0.6, "K = relu(W<sub>k</sub>·)²", fill=LAYER_FILL, size=12)
    _box(fig, 0.4, 9.3, 2.2, 0.5, "R · W<sub>v</sub>K", fill=BOX, size=12)
    _box(fig, 3.6, 7.5, 1.8, 0.6, "state x_ffn", fill="#FFFFFF", line=PALETTE["vermillion"], size=12)
    _box(fig, 3.6, 2.3, 1.8, 0.6, "state x_att", fill="#FFFFFF", line=PALETTE["vermillion"], size=12)
    _arrow(fig, 2.7, 2.3, 1.6, 2.3, colour=PALETTE["vermillion"])
    _arrow(fig, 2.7, 7.5, 1.6, 7.5, colour=PALETTE["vermillion"])
    for x in (-1.2, 1.2):
        _arrow(fig, 0, 7.8, x, 8.2)
    _arrow(fig, 1.2, 8.8, 0.8, 9.05)
    _arrow(fig, -1.2, 8.8, -0.2, 9.05)
    _arrow(fig, 0.4, 9.55, 0.1, 9.7)
    fig.add_shape(type="line", x0=0, y0=6.05, x1=-3.2, y1=6.05, line=dict(color="#333", width=1.5))
    fig.add_shape(type="line", x0=-3.2, y0=6.05, x1=-3.2, y1=10.0, line=dict(color="#333", width=1.5))
    _arrow(fig, -3.2, 10.0, -0.3, 10.0)
    _arrow(fig, 0, 10.3, 0, 10.7)
    fig.add_annotation(x=-4.4, y=3.4, text="time-mix", textangle=-90, showarrow=False, font=dict(size=16))
    fig.add_annotation(x=-4.4, y=8.4, text="channel-mix", textangle=-90, showarrow=False, font=dict(size=16))
    return _diagram(style(fig, title="Inside an RWKV-4 block", height=720,
                 caption="The boxes outlined in vermilion (orange-red) are what the block carries to the next token: the whole memory is these "
                         "five vectors per layer, the same size for any length of text."))
