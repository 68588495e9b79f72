"""The embedding matrix seen from above (PCA), and one token's path through the residual stream."""
from __future__ import annotations

import plotly.graph_objects as go
import torch

from .theme import HIGHLIGHT, MUTED, PALETTE, figure, safe

MAX_BACKGROUND = 6000  # points drawn for the whole vocabulary; a 50k vocabulary is thinned evenly
LOOK_FOR = "Tokens used alike get nearby vectors: look for the prompt's tokens sitting among relatives."


def embedding_projection(coords: torch.Tensor, explained: torch.Tensor, highlight: list[int],
                         labels: dict[int, str]) -> go.Figure:
    """coords (V, 2 or 3): every token's embedding projected on the top principal components;
    the ids in `highlight` (the prompt's tokens) are drawn large, labelled, in the highlight colour."""
    coords = coords.detach().double()
    V, dims = coords.shape
    stride = max(1, -(-V // MAX_BACKGROUND))
    bg = torch.arange(0, V, stride)
    hl = list(dict.fromkeys(highlight))
    axis = [f"PC{i + 1} ({float(explained[i]):.0%} of variance)" for i in range(dims)]
    text = [safe(labels.get(i, str(i))) for i in hl]

    def pts(idx):
        return {k: coords[idx, i].numpy() for i, k in enumerate("xyz"[:dims])}

    back, front = (go.Scatter3d, go.Scatter3d) if dims == 3 else (go.Scattergl, go.Scatter)
    data = [
        back(**pts(bg), mode="markers", name=f"vocabulary ({len(bg)} of {V})",
             marker=dict(size=3, color=MUTED, opacity=0.5), hoverinfo="skip"),
        front(**pts(hl), mode="markers+text", name="prompt tokens", text=text, textposition="top center",
              marker=dict(size=9, color=HIGHLIGHT), customdata=hl,
              hovertemplate="%{text} (id %{customdata})<extra></extra>"),
    ]
    if dims == 3:
        return figure(data, title="Embedding matrix, 3 principal components", caption=LOOK_FOR, height=560,
                      scene=dict(xaxis_title=axis[0], yaxis_title=axis[1], zaxis_title=axis[2]))
    return figure(data, title="Embedding matrix, 2 principal components", caption=LOOK_FOR,
                  x_title=axis[0], y_title=axis[1], height=520)


def residual_path(coords: torch.Tensor, norms: torch.Tensor, stage_names: list[str],
                  predictions: list[str]) -> go.Figure:
    """One token's residual stream after each stage (embed, block 0, ..., block L-1): coords
    (S, 2) on the path's own two principal components, norms (S,), and what the head would
    predict from each stage ('logit lens')."""
    coords = coords.detach().double()
    hover = [f"{n}<br>|x| = {float(m):.1f}<br>would predict: {safe(p)}"
             for n, m, p in zip(stage_names, norms, predictions)]
    path = go.Scatter(x=coords[:, 0].numpy(), y=coords[:, 1].numpy(), mode="lines+markers+text",
                      text=stage_names, textposition="top center", hovertext=hover, hoverinfo="text",
                      cliponaxis=False,          # a label above the top point stays whole
                      marker=dict(size=12, color=list(range(len(stage_names))), colorscale="Cividis",
                                  line=dict(color=PALETTE["black"], width=1)),
                      line=dict(color=PALETTE["blue"]), name="residual stream")
    return figure([path], title="The current token's residual stream, layer by layer",
                  caption="Each block adds to the same vector: long steps are layers that change it most "
                          "(hover for its size and what the head would predict from there).",
                  x_title="direction 1 of the path (PCA)", y_title="direction 2 of the path (PCA)", validate=False)
