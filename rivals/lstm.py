"""The maths of the two rivals: a stacked LSTM, and the same LSTM with the "red line".

One LSTM layer, for token t, with PyTorch's gate order (i, f, g, o) and tensor names:
    gates = W_ih x[t] + b_ih + W_hh h[t-1] + b_hh          (4C,) = i | f | g | o
    c[t]  = σ(f) * c[t-1] + σ(i) * tanh(g)                 the cell: forget some, write some
    h[t]  = σ(o) * tanh(c[t])                               the output, and the next token's input

Layers are stacked with residual connections, as deep LSTMs are (GNMT, Wu et al. 2016):
    x_{l+1} = x_l + h_l        x_0 = the embedding, the head reads x_L
A plain 6-layer stack (x_{l+1} = h_l) did not train at PyTorch's default initialisation: the
signal faded through the depth (at init the spread of h over time fell from 0.13 in layer 0 to
0.001 in layer 4) and after 200 steps the loss still sat at the unigram level, 6.1 nats/token.
The residual changes no dependency: layer l at token t still needs layer l-1 at token t and
its own state.

The red-line RNN (the article's classic RNN) adds one term to layer 0's gates:
    gates₀ += R h_top[t-1]                                  R = red_line.weight (4C, C)
so the top layer's output h at token t is an input of layer 0 at token t+1.

Why an LSTM cannot train like a transformer: W_ih x can be computed for every token at once (one
wide matrix product), but W_hh h[t-1] sits inside σ and tanh, so token t's gates wait for token
t-1's h. A layer over T tokens is T sequential matrix products. RWKV's recurrence is linear with a
fixed decay, which is what lets its layers take all tokens at once.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from rwkv_core.schedule import Dependencies

# --- weights, named after the checkpoint keys -------------------------------------------------

# what a cell reads (rwkv_core.schedule.Dependencies): no kind of this module takes a cell's tokens at
# once (W_h·h[t−1] sits inside the gates' nonlinearity); the red-line RNN also feeds its top layer back
DEPS = {"lstm": Dependencies("lstm", wide=False), "redline": Dependencies("redline", red_line=True, wide=False)}


@dataclass(frozen=True)
class LayerWeights:           # lstm.layers.{i}.*
    weight_ih: torch.Tensor   # (4C, C) input → gates
    weight_hh: torch.Tensor   # (4C, C) previous h → gates: the sequential part
    bias_ih: torch.Tensor     # (4C,)
    bias_hh: torch.Tensor     # (4C,)


@dataclass(frozen=True)
class Weights:
    emb: torch.Tensor                 # lstm.emb.weight (V, C)
    layers: tuple[LayerWeights, ...]  # lstm.layers.{i}
    head: torch.Tensor                # lstm.head.weight (V, C), untied from emb
    red_line: torch.Tensor | None     # red_line.weight (4C, C): the top h of token t-1 → layer 0's gates

    @classmethod
    def from_state_dict(cls, sd: dict[str, torch.Tensor]) -> "Weights":
        n = 1 + max(int(k.split(".")[2]) for k in sd if k.startswith("lstm.layers."))
        layers = tuple(LayerWeights(*(sd[f"lstm.layers.{i}.{f}"] for f in LAYER_FIELDS)) for i in range(n))
        return cls(sd["lstm.emb.weight"], layers, sd["lstm.head.weight"], sd.get("red_line.weight"))

    def state_dict(self) -> dict[str, torch.Tensor]:
        sd = {"lstm.emb.weight": self.emb, "lstm.head.weight": self.head}
        for i, lw in enumerate(self.layers):
            sd.update({f"lstm.layers.{i}.{f}": getattr(lw, f) for f in LAYER_FIELDS})
        if self.red_line is not None:
            sd["red_line.weight"] = self.red_line
        return sd


LAYER_FIELDS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


@dataclass(frozen=True)
class Config:
    kind: str         # "lstm" or "redline"
    n_layer: int      # LSTM layers
    n_embd: int       # width C of h, c and the embedding
    vocab_size: int   # rows of the embedding and the head

    @classmethod
    def from_state_dict(cls, sd: dict[str, torch.Tensor]) -> "Config":
        layers = {int(k.split(".")[2]) for k in sd if k.startswith("lstm.layers.")}
        V, C = sd["lstm.emb.weight"].shape
        return cls("redline" if "red_line.weight" in sd else "lstm", max(layers) + 1, int(C), int(V))

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        C, V = self.n_embd, self.vocab_size
        shapes = {"lstm.emb.weight": (V, C), "lstm.head.weight": (V, C)}
        for i in range(self.n_layer):
            shapes.update({f"lstm.layers.{i}.weight_ih": (4 * C, C), f"lstm.layers.{i}.weight_hh": (4 * C, C),
                           f"lstm.layers.{i}.bias_ih": (4 * C,), f"lstm.layers.{i}.bias_hh": (4 * C,)})
        if self.kind == "redline":
            shapes["red_line.weight"] = (4 * C, C)
        return shapes

    @property
    def n_params(self) -> int:
        return sum(int(torch.Size(s).numel()) for s in self.expected_shapes().values())

    def state_bytes(self, bytes_per_value: int = 4) -> int:
        """h and c per layer, whatever the sequence length."""
        return 2 * self.n_layer * self.n_embd * bytes_per_value


# --- state ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LayerState:
    h: torch.Tensor  # (..., C) the layer's last output
    c: torch.Tensor  # (..., C) the layer's cell (its memory)

    def clone(self) -> "LayerState":
        return LayerState(self.h.clone(), self.c.clone())


@dataclass(frozen=True)
class State:
    """Per layer (h, c). For the red-line RNN the top layer's h is also the red line's value:
    what layer 0 reads at the next token."""
    layers: tuple[LayerState, ...]

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i: int) -> LayerState:
        return self.layers[i]

    def clone(self) -> "State":
        return State(tuple(layer.clone() for layer in self.layers))

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for layer in self.layers for t in (layer.h, layer.c))


def init_state(n_layer: int, n_embd: int, *, batch: tuple[int, ...] = (), device="cpu",
               dtype=torch.float32) -> State:
    """Before any token: h = c = 0 (and so the red line carries 0 into the first token)."""
    def zeros():
        return torch.zeros(*batch, n_embd, device=device, dtype=dtype)
    return State(tuple(LayerState(zeros(), zeros()) for _ in range(n_layer)))


# --- the maths --------------------------------------------------------------------------------

def input_products(x: torch.Tensor, w: LayerWeights) -> torch.Tensor:
    """W_ih x + both biases for every token at once: x (..., T, C) → (..., T, 4C). Wide: one product."""
    return F.linear(x, w.weight_ih, w.bias_ih + w.bias_hh)      # (..., T, 4C)


def recurrent_step(xw: torch.Tensor, state: LayerState, w: LayerWeights):
    """One token, given its input products xw (..., 4C): add W_hh h[t-1], then the gates.
    Returns (h, new state)."""
    gates = xw + F.linear(state.h, w.weight_hh)                 # (..., 4C)
    i, f, g, o = gates.chunk(4, dim=-1)                         # (..., C) each, PyTorch's order
    c = torch.sigmoid(f) * state.c + torch.sigmoid(i) * torch.tanh(g)   # (..., C)
    h = torch.sigmoid(o) * torch.tanh(c)                        # (..., C)
    return h, LayerState(h, c)


def lstm_step(x: torch.Tensor, state: LayerState, w: LayerWeights):
    """One token through one layer: x (..., C) → (h (..., C), new state)."""
    return recurrent_step(input_products(x, w), state, w)


def lstm_layer(x: torch.Tensor, state: LayerState, w: LayerWeights):
    """One layer over a cell's tokens x (..., T, C) → (h (..., T, C), new state).

    The input products are wide (all T tokens in one product); the recurrence is not: each
    token's gates need the previous token's h inside a nonlinearity, so this loop is T sequential
    matrix products, whatever the hardware. That is the LSTM's limit, and the teaching point."""
    xw = input_products(x, w)                                   # (..., T, 4C) all tokens at once
    hs = []
    for xw_t in xw.unbind(-2):                                  # the sequential part, token by token
        h, state = recurrent_step(xw_t, state, w)               # (..., C)
        hs.append(h)
    return torch.stack(hs, dim=-2), state                       # (..., T, C)


def red_line_products(h_top: torch.Tensor, red_line: torch.Tensor) -> torch.Tensor:
    """The red line: the top layer's output at token t-1 (..., C) → layer 0's extra gates (..., 4C)."""
    return F.linear(h_top, red_line)                            # (..., 4C)


def head(weights: Weights, x: torch.Tensor) -> torch.Tensor:
    """The residual stream after the top layer (..., T, C) → logits (..., T, V)."""
    return F.linear(x, weights.head)                            # (..., T, V)
