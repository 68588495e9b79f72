"""Checking the lessons' displayed equations ($$ … $$) by evaluating them.

Each displayed block is split into equations (at top-level `\\qquad` / `\\quad`), each equation into
sides (at top-level `=`; `x \\leftarrow …` is an assignment; `expr \\ \\text{steps}` states a count).
Every side is parsed by a small LaTeX reader for the notation the lessons use and evaluated in
float64 in one WORLD: random inputs (a few channels, a few tokens) and every quantity the lessons
name, computed with lab/reference.py (the formulas the engine is tested against) or, for a
transformer's attention and the schedule's step count, with torch and rwkv_core.schedule. All
sides of an equation must give the same numbers. A sign flipped or a term dropped gives other
numbers, so the check fails (tests/test_lessons_equations.py mutates every equation to prove it). The LaTeX is read by
tests/latex_reader.py; this module splits a display into equations, evaluates them, and builds the world.

Names: a letter run is read as the longest name the world knows (`pp`, `aa`), `\\mathrm{wkv}` and
`\\text{out}` as names, primes belong to the name (`k'`), and a sub- or superscript is part of the
name when the world knows the combined name (`\\mu_k`, `W'_v`, `x^{k}`, `W_{\\text{head}}`,
`\\mathrm{LN}_0`); otherwise a subscript is a token index (`k_i`, `a_{t-1}`) and a superscript a
power (`e^{…}` is the exponential). `\\cdot` is a matrix product (or a dot product of two vectors),
`\\odot` and juxtaposition are element-wise.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
from latex_reader import WORD_CMDS, EquationError, Parser, Tok, group_text, tokenize  # noqa: F401  (Parser, tokenize: read here by the tests)

from lab import reference as fm
from rwkv_core.schedule import expected_steps

# --- evaluating -----------------------------------------------------------------------------------

class Seq:
    """A quantity per token, read with a subscript (k_t). `before` is the value before the first
    token (a_{-1} = 0) where the lessons give one; `plain` is what the bare name means when it means
    something else (q_t is a transformer's query, q alone the stable form's maximum)."""

    def __init__(self, values: torch.Tensor, before: torch.Tensor | None = None, plain=None):
        self.values, self.before, self.plain = values, before, plain

    def at(self, i: int):
        if i == -1 and self.before is not None:
            return self.before
        if not 0 <= i < len(self.values):
            raise IndexError(f"token {i} of {len(self.values)}")
        return self.values[i]


def _index(v) -> int:
    f = float(v)
    if f != int(f):
        raise EquationError(f"index {f} is not a whole number")
    return int(f)


def evaluate(node, env: dict):
    kind = node[0]
    if kind == "num":
        return node[1]
    if kind == "name":
        if node[1] not in env:
            raise EquationError(f"unknown name {node[1]!r}")
        v = env[node[1]]
        if isinstance(v, Seq):
            return v.values if v.plain is None else v.plain
        return v
    if kind == "index":
        if node[1][0] == "name" and node[1][1] not in env:
            raise EquationError(f"unknown name {node[1][1]!r}")
        base = env.get(node[1][1]) if node[1][0] == "name" else None
        i = _index(evaluate(node[2], env))
        if isinstance(base, Seq):
            return base.at(i)
        if isinstance(base, torch.Tensor):
            if not 0 <= i < base.shape[0]:
                raise IndexError(f"{node[1][1]}_{i} of {base.shape[0]}")
            return base[i]
        raise EquationError(f"{node[1][1] if node[1][0] == 'name' else node[1]!r} cannot be indexed")
    if kind == "item":
        return evaluate(node[1], env)[_index(evaluate(node[2], env))]
    if kind == "add":
        total = 0.0
        for sign, n, _ in node[1]:
            v = evaluate(n, env)
            total = total + v if sign == "+" else total - v
        return total
    if kind == "mul":
        out = evaluate(node[1][0][1], env)
        for op, n, _ in node[1][1:]:
            out = binary(op, out, evaluate(n, env))
        return out
    if kind == "bin":
        return binary(node[1], evaluate(node[2], env), evaluate(node[3], env))
    if kind == "pow":
        return evaluate(node[1], env) ** evaluate(node[2], env)
    if kind == "exp":
        v = evaluate(node[1], env)
        return torch.exp(v) if isinstance(v, torch.Tensor) else math.exp(v)
    if kind == "ceil":
        return math.ceil(evaluate(node[1], env))
    if kind == "mean":
        v = evaluate(node[1], env)
        return v.mean(-1, keepdim=True)
    if kind == "call":
        f = env.get(node[1]) if isinstance(node[1], str) else None
        if not callable(f):
            raise EquationError(f"{node[1]!r} is not a function")
        return f(*[evaluate(a, env) for a in node[2]])
    if kind == "sum":
        _, var, lo, hi, body = node
        i, total = _index(evaluate(lo, env)), 0.0
        last = None if hi is None else _index(evaluate(hi, env))
        inner = dict(env)
        while last is None or i <= last:
            inner[var] = i
            try:
                total = total + evaluate(body, inner)
            except IndexError:
                if last is None:        # an open sum runs over every token its body can index
                    break
                raise
            i += 1
            if i > 100_000:
                raise EquationError("a sum that does not end")
        return total
    raise EquationError(f"cannot evaluate {kind}")


def binary(op: str, a, b):
    if op == "/":
        return a / b
    if op == r"\cdot" and isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        if a.dim() == 2:
            return b @ a.T if b.dim() == 2 else a @ b
        if a.dim() == 1 and b.dim() == 1:
            return a @ b
    return a * b


# --- splitting a display into equations -----------------------------------------------------------

def split_top(toks: list[Tok], seps: set[str]) -> list[tuple[list[Tok], Tok | None]]:
    """Tokens split at separators outside every bracket: [(part, separator before it)]."""
    parts, cur, depth, before = [], [], 0, None
    for t in toks:
        if t.text in ("{", "(", "[", r"\lceil"):
            depth += 1
        elif t.text in ("}", ")", "]", r"\rceil"):
            depth -= 1
        if depth == 0 and t.text in seps:
            parts.append((cur, before))
            cur, before = [], t
            continue
        cur.append(t)
    parts.append((cur, before))
    return parts


@dataclass(frozen=True)
class Equation:
    text: str                    # the whole displayed block
    sides: tuple                 # token lists
    kind: str                    # "=", "<-", "count"
    unit: str = ""               # for "count": the name the expression states (steps)


def equations(display: str) -> list[Equation]:
    toks = tokenize(display)
    out = []
    for part, _ in split_top(toks, {r"\qquad", r"\quad"}):
        while part and part[-1].text in (",", ".", ";"):
            part = part[:-1]
        if not part:
            continue
        if any(t.text == r"\leftarrow" for t in part):
            sides = [p for p, _ in split_top(part, {r"\leftarrow"})]
            out.append(Equation(display, tuple(sides), "<-"))
        elif any(t.text == "=" for t in part):
            out.append(Equation(display, tuple(p for p, _ in split_top(part, {"="})), "="))
        else:
            # `expr \ \text{steps.}`: the expression states a count of the named quantity
            cmds = [i for i, t in enumerate(part) if t.text in WORD_CMDS]
            if cmds and cmds[-1] > 0:
                unit = group_text(part[cmds[-1] + 1:]).strip(" .,")
                out.append(Equation(display, (part[:cmds[-1]],), "count", unit))
            else:
                raise EquationError("a displayed equation with no '=', no '\\leftarrow' and no stated quantity")
    return out


def problems(display: str, world: dict, rtol: float = 1e-9) -> list[str]:
    """Everything wrong with one displayed block: unreadable, unknown, or sides that disagree."""
    env = dict(world)
    known = make_known(env)
    out = []
    try:
        eqs = equations(display)
    except (EquationError, StopIteration) as e:
        return [f"{display!r}: {e}"]
    for eq in eqs:
        try:
            nodes = [Parser(list(s), known).parse_all() for s in eq.sides]
            if eq.kind == "=":
                values = [evaluate(n, env) for n in nodes]
                for v in values[1:]:
                    if not same(values[0], v, rtol):
                        out.append(f"{display!r}: the sides differ ({describe(values[0])} vs {describe(v)})")
                        break
            elif eq.kind == "count":
                v = evaluate(nodes[0], env)
                if eq.unit not in env:
                    out.append(f"{display!r}: unknown quantity {eq.unit!r}")
                elif not same(v, env[eq.unit], rtol):
                    out.append(f"{display!r}: gives {describe(v)}, {eq.unit} is {describe(env[eq.unit])}")
            else:
                name = nodes[0]
                if name[0] != "name" or f"{name[1]}<-" not in env:
                    out.append(f"{display!r}: cannot check an assignment to {name!r}")
                    continue
                v = evaluate(nodes[1], env)
                step = env.setdefault(f"_{name[1]}<-count", 0)
                expected = env[f"{name[1]}<-"][step]
                env[f"_{name[1]}<-count"] = step + 1
                if not same(v, expected, rtol):
                    out.append(f"{display!r}: assignment {step + 1} gives {describe(v)}, not {describe(expected)}")
                env[name[1]] = v
        except (EquationError, IndexError, RuntimeError, TypeError, ZeroDivisionError, StopIteration) as e:
            out.append(f"{display!r}: {type(e).__name__}: {e}")
    return out


def make_known(env: dict):
    def known(name: str, callable_only: bool = False) -> bool:
        return name in env and (not callable_only or callable(env[name]))
    return known


def same(a, b, rtol: float) -> bool:
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    if a.shape != b.shape and a.numel() != 1 and b.numel() != 1:
        return False
    if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
        return False
    return bool(torch.allclose(a, b, rtol=rtol, atol=1e-12))


def describe(v) -> str:
    t = torch.as_tensor(v, dtype=torch.float64)
    return f"{float(t):.6g}" if t.numel() == 1 else f"shape {tuple(t.shape)}, first {float(t.flatten()[0]):.6g}"


DISPLAY = re.compile(r"\$\$(.*?)\$\$", re.S)


def displayed(text: str) -> list[str]:
    """The displayed ($$ … $$) equations of a step's markdown."""
    return [d.strip() for d in DISPLAY.findall(text)]


# --- the world ------------------------------------------------------------------------------------

def world(seed: int = 0, C: int = 6, T: int = 6, V: int = 9, F: int = 12) -> dict:
    """Random inputs and every quantity the lessons' equations name, in float64."""
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape, scale=1.0):
        return torch.randn(*shape, generator=g, dtype=torch.float64) * scale

    t = 3                                      # the token the equations are read at (it has a past and a future)
    env: dict = {"t": t, "i": 2, "d": C, "L": 6, "T": 16, "chunk": 3}
    env["steps"] = expected_steps("cascade", env["L"], env["T"], env["chunk"])
    fns = {"sigma": torch.sigmoid, "exp": torch.exp, "log": torch.log, "tanh": torch.tanh,
           "sqrt": lambda a: torch.sqrt(torch.as_tensor(a, dtype=torch.float64)),
           "max": lambda a, b: torch.maximum(torch.as_tensor(a, dtype=torch.float64),
                                             torch.as_tensor(b, dtype=torch.float64)),
           "min": lambda a, b: torch.minimum(torch.as_tensor(a, dtype=torch.float64),
                                             torch.as_tensor(b, dtype=torch.float64)),
           "var": lambda x: ((x - x.mean(-1, keepdim=True)) ** 2).mean(-1, keepdim=True)}
    env.update(fns)

    # lesson 1: embedding, layer norm, logits, softmax, attention
    norms = {n: (1 + rnd(C, scale=0.3), rnd(C, scale=0.3)) for n in ("", "0", "out", "1", "2")}
    for n, (gw, gb) in norms.items():
        env["LN" + (f"_{n}" if n else "")] = (lambda gw, gb: lambda x: fm.layer_norm(x, gw, gb))(gw, gb)
    env["g"], env["b"] = norms[""]
    env["emb"], env["id"] = rnd(V, C), 4
    env["x^(0)"] = fm.embedding(env["emb"], env["id"], *norms["0"])
    env["W_head"], env["x^(L)"] = rnd(V, C), rnd(C)
    env["z"] = fm.logits(env["W_head"], env["x^(L)"], *norms["out"])
    env["p"] = Seq(fm.softmax_with_temperature(env["z"], 1.0))
    env["q"] = rnd(T, C)
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    # lesson 3: time-mix
    x = rnd(T, C)
    env["x"] = Seq(x)
    prev = torch.cat([torch.zeros_like(x[:1]), x[:-1]])
    for n in ("k", "v", "r"):
        env[f"mu_{n}"] = torch.rand(C, generator=g, dtype=torch.float64) * 1.4 - 0.2
        env[f"x^{n}"] = Seq(fm.token_shift(x, prev, env[f"mu_{n}"]))
        env[f"x_{n}"] = env[f"x^{n}"]
        env[f"W_{n}"] = rnd(C, C, scale=0.5)
    env["W_o"] = rnd(C, C, scale=0.5)
    r = fm.receptance(env["W_r"], env["x^r"].values)
    kk = fm.key(env["W_k"], env["x^k"].values)
    v = fm.value(env["W_v"], env["x^v"].values)
    env["time_decay"] = rnd(C, scale=0.8)
    w, u = fm.decay(env["time_decay"]), rnd(C, scale=0.8)
    env.update(r=Seq(r), k=Seq(kk), v=Seq(v), w=w, u=u)
    # a transformer's attention, written with torch's softmax: q_t · k_i with the same k and v as WKV's
    scores = (env["q"] @ kk.T) / math.sqrt(C)
    att = torch.softmax(scores.masked_fill(~causal, float("-inf")), -1)
    env["attention"] = Seq(att @ v)
    wkv, a, b = fm.wkv_recurrent(w, u, kk, v)
    env["wkv"] = Seq(fm.wkv_naive(w, u, kk, v))
    zero = torch.zeros(C, dtype=torch.float64)
    # b_t is the recurrent form's denominator; b alone the layer norm's bias (g ⊙ … + b)
    env["a"], env["b"] = Seq(a, zero), Seq(b, zero, plain=norms[""][1])
    _, AA, BB, PP = fm.wkv_stable(w, u, kk, v)
    aa, bb, pp = AA[t - 1], BB[t - 1], PP[t - 1]          # the state before token t
    env.update(aa=aa, bb=bb, pp=pp)
    env["q"] = Seq(env["q"], plain=torch.maximum(pp, u + kk[t]))    # q_t: attention's; q: the stable form's
    _, (aa2, bb2, pp2) = fm.wkv_stable_step(w, u, kk[t], v[t], aa, bb, pp)
    env.update({"aa'": aa2, "bb'": bb2, "pp'": pp2, "q'": torch.maximum(pp + w, kk[t])})
    env["out"] = Seq(fm.time_mix_output(env["W_o"], r, env["wkv"].values))
    # channel-mix
    x2 = rnd(T, C)
    prev2 = torch.cat([torch.zeros_like(x2[:1]), x2[:-1]])
    env["x'"] = Seq(x2)
    env["mu'_k"] = torch.rand(C, generator=g, dtype=torch.float64)
    env["mu'_r"] = torch.rand(C, generator=g, dtype=torch.float64)
    env["W'_k"], env["W'_r"], env["W'_v"] = rnd(F, C), rnd(C, C, scale=0.5), rnd(C, F, scale=0.5)
    cm = fm.channel_mix(x2, prev2, env["mu'_k"], env["mu'_r"], env["W'_k"], env["W'_r"], env["W'_v"])
    env.update({"k'": Seq(cm["k"]), "r'": Seq(cm["r"]), "out'": Seq(cm["out"])})

    # the block: x ← x + TimeMix(LN_1(x)), x ← x + ChannelMix(LN_2(x)), on a residual stream x
    def time_mix(y):
        yp = torch.cat([torch.zeros_like(y[:1]), y[:-1]])
        rr = fm.receptance(env["W_r"], fm.token_shift(y, yp, env["mu_r"]))
        k_ = fm.key(env["W_k"], fm.token_shift(y, yp, env["mu_k"]))
        v_ = fm.value(env["W_v"], fm.token_shift(y, yp, env["mu_v"]))
        return fm.time_mix_output(env["W_o"], rr, fm.wkv_naive(w, u, k_, v_))

    def channel_mix(y):
        yp = torch.cat([torch.zeros_like(y[:1]), y[:-1]])
        return fm.channel_mix(y, yp, env["mu'_k"], env["mu'_r"], env["W'_k"], env["W'_r"], env["W'_v"])["out"]

    env["TimeMix"], env["ChannelMix"] = time_mix, channel_mix
    mid = fm.residual(x, time_mix(env["LN_1"](x)))
    env["x<-"] = [mid, fm.residual(mid, channel_mix(env["LN_2"](mid)))]
    # both branches of each max occur in some channel, so dropping either side changes a number
    assert (pp > u + kk[t]).any() and (pp < u + kk[t]).any(), "choose another seed"
    assert (pp + w > kk[t]).any() and (pp + w < kk[t]).any(), "choose another seed"
    return env
