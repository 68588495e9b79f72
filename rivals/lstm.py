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

import math
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


# --- initialisation (PyTorch's LSTM default: uniform ±1/√C) ----------------------------------

def init_weights(config: Config, generator: torch.Generator) -> dict[str, torch.Tensor]:
    k = 1 / math.sqrt(config.n_embd)
    sd = {}
    for key, shape in config.expected_shapes().items():
        if key == "lstm.emb.weight":
            sd[key] = torch.randn(shape, generator=generator)           # (V, C) like nn.Embedding
        else:
            sd[key] = torch.empty(shape).uniform_(-k, k, generator=generator)
    return sd


# --- the training forward passes (batched; B sequences of T tokens) ---------------------------

def lstm_forward(w: Weights, ids: torch.Tensor, state: State | None = None):
    """ids (B, T) → (logits (B, T, V), state): each layer through torch's fused LSTM with our
    weights, plus its input (the residual)."""
    x = w.emb[ids]                                                      # (B, T, C)
    state = state or init_state(len(w.layers), x.shape[-1], batch=ids.shape[:1], dtype=x.dtype)
    layers = []
    for lw, st in zip(w.layers, state.layers):
        flat = [lw.weight_ih, lw.weight_hh, lw.bias_ih, lw.bias_hh]
        h, h_n, c_n = torch.lstm(x, (st.h[None], st.c[None]), flat, True, 1, 0.0, True, False, True)  # (B, T, C)
        layers.append(LayerState(h_n[0], c_n[0]))                  # (B, C) each
        x = x + h                                                       # (B, T, C)
    return head(w, x), State(tuple(layers))                        # (B, T, V)


def redline_forward(w: Weights, ids: torch.Tensor, deferred: "DeferredGrads | None" = None,
                    state: State | None = None):
    """ids (B, T) → (logits (B, T, V), state) for the red-line RNN: token by token, layer by layer.

    deferred=None: plain autograd (the reference). With a DeferredGrads, the per-token products
    multiply by detached weights, and the weights' gradients are taken after backward in one wide
    product over all tokens (deferred.apply()): the same gradients, without 2·L·T thin products
    and as many additions of a full (4C, C) gradient matrix."""
    B, T = ids.shape
    x = w.emb[ids]                                                      # (B, T, C)
    C, L = x.shape[-1], len(w.layers)
    w0 = w.layers[0]
    xw0 = input_products(x, w0)                                    # (B, T, 4C) the only wide product
    # per layer, one product per token: [input, h[t-1]] @ [W_ih, W_hh]^T; layer 0's input is the red line
    recur = [torch.cat([w0.weight_hh, w.red_line], dim=1)] + \
            [torch.cat([lw.weight_ih, lw.weight_hh], dim=1) for lw in w.layers[1:]]   # (4C, 2C) each
    bias = [None] + [lw.bias_ih + lw.bias_hh for lw in w.layers[1:]]                  # (4C,)
    if deferred is not None:
        recur, bias = deferred.detach(w, recur, bias)
    state = state or init_state(L, C, batch=(B,), dtype=x.dtype)
    h = [st.h for st in state.layers]                                   # (B, C) each
    c = [st.c for st in state.layers]
    tops = []
    for x_t, xw0_t in zip(x.unbind(1), xw0.unbind(1)):   # unbind, not xw0[:, t]: one gradient buffer, not one per token
        for l in range(L):
            z = torch.cat([h[0], h[-1]] if l == 0 else [x_t, h[l]], dim=-1)       # (B, 2C)
            gates = torch.addmm(xw0_t if l == 0 else bias[l], z, recur[l].t())      # (B, 4C)
            if deferred is not None:
                deferred.record(l, z, gates)
            i, f, g, o = gates.chunk(4, dim=-1)
            c[l] = torch.sigmoid(f) * c[l] + torch.sigmoid(i) * torch.tanh(g)      # (B, C)
            h[l] = torch.sigmoid(o) * torch.tanh(c[l])                              # (B, C)
            x_t = x_t + h[l]                                                        # (B, C) the residual
        tops.append(x_t)
    new = State(tuple(LayerState(hl, cl) for hl, cl in zip(h, c)))
    return head(w, torch.stack(tops, dim=1)), new                  # (B, T, V)


class DeferredGrads:
    """The red-line loop's weight gradients, summed over tokens in one product per layer:
    dL/dW = Σ_t g_tᵀ z_t = Gᵀ Z, with G the gates' gradients (caught by a hook in backward) and
    Z the products' inputs, both stacked over tokens."""

    def __init__(self):
        self.z: dict[int, list[torch.Tensor]] = {}
        self.g: dict[int, list[torch.Tensor]] = {}

    def detach(self, w: Weights, recur, bias):
        self.w = w
        return [r.detach() for r in recur], [b if b is None else b.detach() for b in bias]

    def record(self, l: int, z: torch.Tensor, gates: torch.Tensor) -> None:
        self.z.setdefault(l, []).append(z.detach())
        self.g.setdefault(l, [])
        gates.register_hook(self.g[l].append)       # backward visits the tokens last to first

    def apply(self) -> None:
        """After loss.backward(): add each layer's weight gradients to the parameters' .grad."""
        C = self.w.emb.shape[1]
        for l, zs in self.z.items():
            Z = torch.cat(zs)                                            # (T·B, 2C)
            G = torch.cat(self.g[l][::-1])                               # (T·B, 4C)
            dW = G.t() @ Z                                               # (4C, 2C) one wide product
            lw = self.w.layers[l]
            if l == 0:
                _add_grad(lw.weight_hh, dW[:, :C])
                _add_grad(self.w.red_line, dW[:, C:])
            else:
                _add_grad(lw.weight_ih, dW[:, :C])
                _add_grad(lw.weight_hh, dW[:, C:])
                db = G.sum(0)                                            # (4C,)
                _add_grad(lw.bias_ih, db)
                _add_grad(lw.bias_hh, db)
        self.z, self.g = {}, {}


def _add_grad(p: torch.Tensor, g: torch.Tensor) -> None:
    p.grad = g.clone() if p.grad is None else p.grad + g


FORWARD = {"lstm": lstm_forward, "redline": redline_forward}


class TrainingForward:
    """The training forward of a kind as a model for lab.evaluate: one sequence, the state
    carried. Validation during training runs it (the model code in its fastest allowed schedule
    gives the same numbers, tests/test_rivals.py, but the red-line RNN's rnn order through the
    cell-by-cell engine took about 7 minutes over the held-out plays on this machine)."""

    def __init__(self, kind: str, weights: Weights, tokenizer):
        self.forward_batch, self.weights, self.tokenizer = FORWARD[kind], weights, tokenizer

    def forward(self, tokens, state: State | None = None, *, mode: str = "", all_logits: bool = True):
        with torch.no_grad():
            logits, state = self.forward_batch(self.weights, torch.as_tensor(tokens)[None], state=state)
        return (logits[0] if all_logits else logits[0, -1]), state      # (T, V) or (V,)
