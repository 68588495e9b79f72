"""A small reader of the LaTeX the lessons' displayed equations use: tokens (Tok, tokenize) and a
recursive-descent Parser giving nested tuples, which tests/lesson_equations.py evaluates. The
notation it reads (names, sub- and superscripts, \\cdot, \\odot, sums, fractions, functions) is
described in lesson_equations.py's docstring.
"""
from __future__ import annotations

import re
from dataclasses import dataclass


class EquationError(ValueError):
    """An equation that cannot be read or evaluated (a problem of its own, not a mismatch)."""


# --- reading LaTeX --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Tok:
    kind: str        # "cmd", "letter", "num", "sym"
    text: str
    start: int
    end: int


SKIP = {r"\,", r"\;", r"\!", r"\:", r"\ ", r"\left", r"\right", r"\big", r"\Big", r"\bigg", r"\Bigg",
        r"\bigl", r"\bigr", r"\Bigl", r"\Bigr", r"\displaystyle", r"\limits", r"\middle"}
TOKEN = re.compile(r"\\[A-Za-z]+|\\.|[0-9]+(?:\.[0-9]+)?|[A-Za-z]|\S")


def tokenize(text: str) -> list[Tok]:
    out = []
    for m in TOKEN.finditer(text):
        s = m.group()
        if s in SKIP:
            continue
        kind = "cmd" if s.startswith("\\") else "num" if s[0].isdigit() else "letter" if s.isalpha() else "sym"
        out.append(Tok(kind, {"−": "-", "≤": r"\le"}.get(s, s), m.start(), m.end()))
    return out


WORD_CMDS = {r"\mathrm", r"\text", r"\texttt", r"\operatorname", r"\mathit", r"\textrm", r"\mathbf"}
GREEK = {r"\mu", r"\sigma", r"\alpha", r"\beta", r"\gamma", r"\delta", r"\epsilon", r"\lambda", r"\theta",
         r"\tau", r"\phi", r"\omega", r"\rho", r"\eta", r"\pi"}
FUNC_CMDS = {r"\max": "max", r"\min": "min", r"\exp": "exp", r"\log": "log", r"\ln": "log", r"\sigma": "sigma",
             r"\tanh": "tanh"}
LE = {r"\le", r"\leq", "<"}


def group_text(toks: list[Tok]) -> str:
    """The plain text of a few tokens, for combined names: `{\\text{head}}` → head, `{(0)}` → (0)."""
    return "".join(t.text.replace("\\_", "_") for t in toks
                   if t.text not in ("{", "}") and t.text not in WORD_CMDS and t.kind != "cmd" or t.text in ("\\_",))


# AST nodes are tuples: ("num", v) ("name", n) ("index", n, sub) ("call", f, args) ("bin", op, a, b)
# ("neg", a) ("pow", a, b) ("exp", a) ("sum", var, lo, hi, body) ("ceil", a) ("mean", a) ("item", a, b)
# ("add", [(sign, node, (start, end))...]) ("mul", [(op, node, (start, end))...])

class Parser:
    def __init__(self, toks: list[Tok], known):
        self.toks, self.i, self.known = toks, 0, known

    # helpers
    def peek(self, k: int = 0) -> Tok | None:
        return self.toks[self.i + k] if self.i + k < len(self.toks) else None

    def take(self, text: str | None = None) -> Tok:
        t = self.peek()
        if t is None or (text is not None and t.text != text):
            raise EquationError(f"expected {text!r}, found {t.text if t else 'the end'!r}")
        self.i += 1
        return t

    def at(self, *texts: str) -> bool:
        t = self.peek()
        return t is not None and t.text in texts

    def group_tokens(self) -> list[Tok]:
        """A `{...}` group's tokens, or one token."""
        if not self.at("{"):
            return [self.take()]
        depth, start = 0, self.i
        while True:
            t = self.take()
            depth += {"{": 1, "}": -1}.get(t.text, 0)
            if depth == 0:
                return self.toks[start + 1: self.i - 1]

    def sub(self, toks: list[Tok]):
        p = Parser(toks, self.known)
        node = p.expr()
        if p.peek() is not None:
            raise EquationError(f"unexpected {p.peek().text!r}")
        return node

    # grammar
    def parse_all(self):
        """The whole token list as one expression."""
        node = self.expr()
        if self.peek() is not None:
            raise EquationError(f"unexpected {self.peek().text!r}")
        return node

    def expr(self):
        terms, sign = [], "+"
        if self.at("+", "-"):
            sign = self.take().text
        while True:
            start = self.peek().start if self.peek() else 0
            node = self.term()
            end = self.toks[self.i - 1].end
            terms.append((sign, node, (start, end)))
            if not self.at("+", "-"):
                break
            sign = self.take().text
        return ("add", terms) if len(terms) > 1 or terms[0][0] == "-" else terms[0][1]

    def starts_factor(self) -> bool:
        t = self.peek()
        if t is None:
            return False
        if t.kind in ("letter", "num") or t.text in ("(", "{"):
            return True
        return t.kind == "cmd" and t.text not in (r"\cdot", r"\odot", r"\times", r"\qquad", r"\quad", r"\leftarrow",
                                                   r"\rceil", r"\rfloor", r"\le", r"\leq")

    def term(self):
        start = self.peek().start if self.peek() else 0
        factors = [("*", self.factor(), (start, self.toks[self.i - 1].end))]
        while True:
            if self.at(r"\cdot", r"\odot", r"\times", "/"):
                op = self.take().text
            elif self.starts_factor():
                op = "*"
            else:
                break
            start = self.peek().start
            factors.append((op, self.factor(), (start, self.toks[self.i - 1].end)))
        return ("mul", factors) if len(factors) > 1 else factors[0][1]

    def factor(self):
        node = self.primary()
        while self.at("^"):
            self.take()
            node = ("pow", node, self.sub(self.group_tokens()))
        return node

    def primary(self):
        t = self.peek()
        if t is None:
            raise EquationError("the equation ends where a term should start")
        if t.kind == "num":
            self.take()
            return ("num", float(t.text))
        if t.text in ("(", "{"):
            close = {"(": ")", "{": "}"}[t.text]
            self.take()
            node = self.expr()
            self.take(close)
            return node
        if t.text == r"\frac" or t.text in (r"\tfrac", r"\dfrac"):
            self.take()
            num = self.sub(self.group_tokens())
            return ("bin", "/", num, self.sub(self.group_tokens()))
        if t.text == r"\sqrt":
            self.take()
            return ("call", "sqrt", [self.sub(self.group_tokens())])
        if t.text == r"\lceil":
            self.take()
            node = self.expr()
            self.take(r"\rceil")
            return ("ceil", node)
        if t.text == r"\bar" or t.text == r"\overline":
            self.take()
            return ("mean", self.sub(self.group_tokens()))
        if t.text == r"\sum":
            return self.summation()
        if t.text in FUNC_CMDS:
            self.take()
            return self.decorated(FUNC_CMDS[t.text])
        if t.text in WORD_CMDS:
            self.take()
            return self.decorated(group_text(self.group_tokens()).strip())
        if t.text in GREEK:
            self.take()
            return self.decorated(t.text[1:])
        if t.kind == "letter":
            return self.letters()
        raise EquationError(f"cannot read {t.text!r}")

    def letters(self):
        """The longest run of adjacent letters that the world knows as a name, else one letter."""
        run = [self.peek()]
        while (n := self.peek(len(run))) is not None and n.kind == "letter" and n.start == run[-1].end:
            run.append(n)
        for size in range(len(run), 0, -1):
            name = "".join(t.text for t in run[:size])
            if size == 1 or self.known(name) or self.known(name + "'"):
                self.i += size
                return self.decorated(name)
        raise AssertionError("unreachable")

    def decorated(self, name: str):
        """A name with its primes, sub- and superscripts, then a call or an index if one follows."""
        while self.at("'"):
            self.take()
            name += "'"
        sub = sup = None
        for _ in range(2):
            if self.at("_") and sub is None:
                self.take()
                sub = self.group_tokens()
            elif self.at("^") and sup is None:
                self.take()
                sup = self.group_tokens()
        node, sub_used, sup_used = None, False, False
        for s, p in ((sub, sup), (None, sup), (sub, None), (None, None)):
            full = name + (f"^{group_text(p)}" if p else "") + (f"_{group_text(s)}" if s else "")
            if (s is None or s is sub) and (p is None or p is sup) and self.known(full):
                node, sub_used, sup_used = ("name", full), s is not None, p is not None
                break
        if node is None:
            if name == "e" and sup is not None:
                return ("exp", self.sub(sup)) if sub is None else self._fail(name)
            node = ("name", name)
        if sub is not None and not sub_used:
            node = ("index", node, self.sub(sub))
        if self.at("(") and self.known_callable(node):
            self.take()
            args = [self.expr()]
            while self.at(","):
                self.take()
                args.append(self.expr())
            self.take(")")
            node = ("call", node[1], args)
        elif self.at("["):
            self.take()
            inner = self.expr()
            self.take("]")
            node = ("item", node, inner)
        if sup is not None and not sup_used:
            node = ("pow", node, self.sub(sup))
        return node

    def _fail(self, name):
        raise EquationError(f"cannot read {name} with both a sub- and a superscript")

    def known_callable(self, node) -> bool:
        return node[0] == "name" and self.known(node[1], callable_only=True)

    def summation(self):
        self.take(r"\sum")
        lo = hi = var = None
        for _ in range(2):
            if self.at("_"):
                self.take()
                toks = self.group_tokens()
                var = toks[0].text
                rest = toks[1:]
                if rest and rest[0].text == "=":
                    lo = self.sub(rest[1:])
                elif rest and rest[0].text in LE:
                    bound = self.sub(rest[1:])
                    hi = bound if rest[0].text != "<" else ("add", [("+", bound, (0, 0)), ("-", ("num", 1.0), (0, 0))])
            elif self.at("^"):
                self.take()
                hi = self.sub(self.group_tokens())
        if var is None:
            raise EquationError("a sum without its index")
        return ("sum", var, lo or ("num", 0.0), hi, self.term())
