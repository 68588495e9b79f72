"""Every displayed equation ($$ … $$) of every lesson step, evaluated (tests/lesson_equations.py):
its sides agree on random inputs with the formulas the engine is tested against
(lab/reference.py), and every equation with a sign flipped or a term or factor dropped
or an exponent or a side negated (each mutation made in memory on the step's own text) is
rejected."""
from __future__ import annotations

import pytest
import torch
from lesson_equations import Parser, displayed, equations, evaluate, make_known, problems, tokenize, world

from app.lessons import content as ls

SEEDS = (0, 1, 2)


def all_displays() -> list[tuple[str, str]]:
    return [(s.path, d) for lesson in ls.load_lessons() for s in lesson.steps for d in displayed(s.text)]


DISPLAYS = all_displays()


@pytest.fixture(scope="module")
def worlds():
    return [world(seed) for seed in SEEDS]


def test_the_lessons_display_equations():
    """The check has work to do: the steps that state the model's maths display it."""
    assert len(DISPLAYS) >= 12
    paths = {p for p, _ in DISPLAYS}
    for step in ("wkv-sum", "wkv-recurrent", "wkv-stable", "token-shift", "channel-mix"):
        assert any(ls.slug_id(p.split("/")[-1]).startswith(step.split("-")[0]) for p in paths), step


@pytest.mark.parametrize("path, display", DISPLAYS, ids=[f"{p}#{i}" for i, (p, _) in enumerate(DISPLAYS)])
def test_displayed_equation_holds(worlds, path, display):
    for w in worlds:
        assert problems(display, w) == [], path


# --- mutations --------------------------------------------------------------------------------------

def sign_changes(display: str, w: dict) -> list[str]:
    """The display with one + made - or one - made +, for each sign in it; with a minus put before
    each exponent (e^{x} → e^{-x}); and with each right-hand side negated (unless it is 0, where
    -0 = 0 says the same)."""
    out = []
    toks = tokenize(display)
    for t in toks:
        if t.text in ("+", "-"):
            out.append(display[: t.start] + {"+": "-", "-": "+"}[t.text] + display[t.end:])
    for before, t in zip(toks, toks[1:]):
        if before.text == "^" and t.text == "{":
            out.append(display[: t.end] + "-" + display[t.end:])
    known = make_known(w)
    for eq in equations(display):
        for side in eq.sides[1:]:
            if torch.as_tensor(evaluate(Parser(list(side), known).parse_all(), w)).abs().max() > 0:
                out.append(display[: side[0].start] + "-" + display[side[0].start:])
    return out


def nodes(node):
    yield node
    if node[0] in ("add", "mul"):
        for _, n, _ in node[1]:
            yield from nodes(n)
    elif node[0] in ("call",):
        for a in node[2]:
            yield from nodes(a)
    else:
        for part in node[1:]:
            if isinstance(part, tuple) and part and isinstance(part[0], str):
                yield from nodes(part)


def drops(display: str, w: dict) -> list[str]:
    """The display with one term of a sum, or one factor of a product, cut out of the text (with
    its + / - or its operator)."""
    out = []
    known = make_known(dict(w))
    for eq in equations(display):
        for side in eq.sides:
            for node in nodes(Parser(list(side), known).parse_all()):
                if node[0] not in ("add", "mul") or len(node[1]) < 2:
                    continue
                spans = [s for _, _, s in node[1]]
                for k, (start, end) in enumerate(spans):
                    if k == 0:
                        cut = (start, spans[1][0]) if node[0] == "mul" else (start, end)
                    else:
                        cut = (spans[k - 1][1], end)
                    out.append(display[: cut[0]] + " " + display[cut[1]:])
    return out


def mutants(display: str, w: dict) -> list[str]:
    return sorted({m for m in sign_changes(display, w) + drops(display, w) if m.strip() != display.strip()})


@pytest.mark.parametrize("path, display", DISPLAYS, ids=[f"{p}#{i}" for i, (p, _) in enumerate(DISPLAYS)])
def test_every_sign_flip_and_dropped_term_is_rejected(worlds, path, display):
    found = mutants(display, worlds[0])
    assert found, f"{path}: no mutation to try in {display!r}"
    survivors = [m for m in found if not problems(m, worlds[0])]
    assert survivors == [], f"{path}: mutations the check accepts: {survivors}"


def test_mutation_counts(worlds, capsys):
    """How many mutations were tried and how they were rejected (printed for the report)."""
    total = mismatch = 0
    for _, display in DISPLAYS:
        for m in mutants(display, worlds[0]):
            found = problems(m, worlds[0])
            total += 1
            mismatch += any("differ" in p or "gives" in p for p in found)
    with capsys.disabled():
        print(f"\n{len(DISPLAYS)} displayed blocks, {total} mutations, {mismatch} rejected because the numbers "
              f"differ, {total - mismatch} because the text no longer reads or indexes out of range")
    assert total >= 100 and mismatch >= 0.7 * total


# --- the checker itself -----------------------------------------------------------------------------

@pytest.mark.parametrize("display, says", [
    (r"w = e^{\texttt{time\_decay}}", "differ"),                     # the paper's sign, not the code's
    (r"a_t = e^{w} a_{t-1} + e^{k_t}", "differ"),                    # v_t dropped
    (r"\mathrm{wkv}_t = \frac{a_{t-1} + e^{u+k_t}\, v_t}{b_{t} + e^{u+k_t}}", "differ"),   # b_t for b_{t-1}
    (r"x^{k}_t = \mu_k \odot x_t + (1 - \mu_k) \odot x_{t+1}", "differ"),
    (r"r_t = \sigma(W_r \cdot x^k_t)", "differ"),                    # the wrong mix
    (r"y_t = W_r \cdot x^r_t", "unknown name 'y'"),
    (r"L + \lceil T / \text{chunk} \rceil \ \text{steps}", "gives"),
    (r"x \leftarrow x + \mathrm{ChannelMix}(\mathrm{LN}_1(x))", "assignment 1"),
    (r"\frac{1}{2}", "no '='"),
])
def test_the_checker_rejects_wrong_equations(worlds, display, says):
    found = problems(display, worlds[0])
    assert found and says in " ".join(found), found


def test_the_checker_accepts_equivalent_forms(worlds):
    """It checks values, not spelling: an equation rewritten another true way still passes."""
    for display in (r"w = -\exp(\texttt{time\_decay})", r"x^{k}_t = x_{t-1} + \mu_k \odot (x_t - x_{t-1})",
                    r"b_t = b_{t-1} e^{w} + e^{k_t}", r"p_i = \frac{1}{\sum_j e^{z_j - z_i}}"):
        assert problems(display, worlds[0]) == [], display


# --- the other direction: a mutated formula makes the displayed equations disagree -----------------

FORMULA_MUTANTS = {
    "token_shift": lambda x, x_prev, mu: mu * x - (1 - mu) * x_prev,
    "layer_norm": lambda x, w, b, eps=1e-5: (x + x.mean(-1, keepdim=True)) / torch.sqrt(
        ((x - x.mean(-1, keepdim=True)) ** 2).mean(-1, keepdim=True) + eps) * w + b,
    "receptance": lambda W, xr: torch.sigmoid(-(xr @ W.T)),
    "wkv_naive": lambda w, u, k, v: fm_original["wkv_naive"](-w, u, k, v),
    "wkv_recurrent": lambda w, u, k, v: fm_original["wkv_recurrent"](-w, u, k, v),       # e^{-w} a_{t-1}
    "wkv_stable_step": lambda w, u, k, v, aa, bb, pp: fm_original["wkv_stable_step"](w, u, k, v, aa, bb, pp + 1),
    "time_mix_output": lambda W, r, wkv: (r + wkv) @ W.T,
    "channel_mix": lambda x, xp, mk, mr, Wk, Wr, Wv: {**fm_original["channel_mix"](x, xp, mk, mr, Wk, Wr, Wv),
                                                     "k": torch.relu(fm_original["token_shift"](x, xp, mk) @ Wk.T)},
    "softmax_with_temperature": lambda z, temp: torch.softmax(z.double() * temp * 2, -1),
}
fm_original: dict = {}


@pytest.mark.parametrize("name", sorted(FORMULA_MUTANTS))
def test_a_mutated_formula_makes_an_equation_disagree(monkeypatch, name):
    """The world is computed with lab/reference.py; with one of its formulas changed (a sign,
    a term), some displayed equation no longer holds: text and formulas are tied both ways."""
    from lab import reference as fm
    fm_original.update({n: getattr(fm, n) for n in ("wkv_naive", "wkv_recurrent", "wkv_stable_step",
                                                    "channel_mix", "token_shift")})
    monkeypatch.setattr(fm, name, FORMULA_MUTANTS[name])
    mutated = world(0)
    assert any(problems(display, mutated) for _, display in DISPLAYS), name
