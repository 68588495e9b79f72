"""Numbers as the app shows them: one precision per quantity, with its unit, everywhere.

Every table of the app (the lessons', the Explorer's, the Lab's) and every count in a sentence goes
through here, so that a probability always reads the same way (12.3%, or 0.0031% when it is small,
never 0.0%), a size always has its unit (KiB, MiB), and "1 token" is never "1 tokens". No Streamlit
here: plain values in, text out (tests/test_app_formats.py).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

SIGNIFICANT = 3          # digits of a column's largest value that a table shows
MAX_DECIMALS = 4         # fixed decimals beyond this read as noise: the column goes to scientific form
SPAN = 1e3               # a column whose values span more than this (largest / smallest non-zero): scientific


# --- one value ------------------------------------------------------------------------------------

def count(n: int, noun: str, plural: str | None = None) -> str:
    """'1 token', '2 tokens', '1,024 tokens' (`plural` for an irregular noun)."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def probability(p: float) -> str:
    """A probability in percent: one decimal from 0.1% up (12.3%, 0.4%), two significant digits below
    (0.0031%, so that a 50k vocabulary's small probabilities are not all 0.0%), "<0.0001%" under 1e-6,
    and exactly 0% for zero (a token cut by top-k or top-p)."""
    p = float(p)
    if not math.isfinite(p):
        return str(p)
    if p <= 0:
        return "0%"
    if p >= 0.001:
        return f"{p:.1%}"
    if p < 1e-6:
        return "<0.0001%"
    return f"{p * 100:.2g}%"


def nbytes(n: float) -> str:
    """A size with its binary unit: 512 B, 12.5 KiB, 3.2 MiB, 1.4 GiB (three significant digits)."""
    n = float(n)
    for unit, size in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if abs(n) >= size:
            return f"{_sig(n / size)} {unit}"
    return f"{n:,.0f} B"


def ms(seconds: float) -> str:
    """A duration measured in seconds, shown in milliseconds (3 significant digits) or seconds above 10 s."""
    seconds = float(seconds)
    if abs(seconds) >= 10:
        return f"{seconds:,.1f} s"
    return f"{_sig(seconds * 1e3)} ms"


def difference(x: float) -> str:
    """A rounding difference between two computations: always scientific, 2 digits (3.1e-07)."""
    return f"{float(x):.1e}"


def _sig(x: float, digits: int = SIGNIFICANT) -> str:
    """x to `digits` significant digits in fixed notation, thousands separated: 12.5, 0.0312, 1,234."""
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    return f"{x:,.{decimals}f}"


# --- a column: one quantity, one precision ---------------------------------------------------------

PERCENT_WORDS = ("probability", "share", " p ", "p at", "p after", "weight (")


def is_percent(name: str) -> bool:
    """Whether a column's name says it holds probabilities or shares (shown in percent)."""
    low = f" {name.lower()} "
    return any(w in low for w in PERCENT_WORDS)


def is_label(name: str) -> bool:
    """Whether a column of whole numbers holds names (token ids, seeds, layer and channel numbers), written
    without thousands separators."""
    low = name.lower().strip()
    return low in ("id", "seed", "layer", "channel", "token id") or low.endswith((" id", " ids"))


def column_format(values: Sequence, name: str = ""):
    """The one formatter for a whole column of numbers (its quantity, named by `name`):
    whole numbers with thousands separators; probabilities and shares in percent (`probability`);
    other reals with the same fixed number of decimals all down the column (three significant digits
    of its largest value, at least one decimal below 1,000: 0.186 / 12.5 / 1,234), or in scientific
    form when that would need more than four decimals or the column spans more than three orders of
    magnitude (6.52e-05 beside 0.43)."""
    nums = [float(v) for v in values if _is_number(v)]
    if nums and all(_is_whole(v) for v in values if _is_number(v)):
        sep = "" if is_label(name) else ","           # a token id or a seed is a name, not an amount
        return lambda v: f"{int(v):{sep}}" if _is_number(v) else _text(v)
    if is_percent(name) and all(0 <= x <= 1 for x in nums):
        return lambda v: probability(v) if _is_number(v) else _text(v)
    finite = [abs(x) for x in nums if math.isfinite(x) and x != 0]
    if not finite:
        return lambda v: f"{float(v):g}" if _is_number(v) else _text(v)
    top, low = max(finite), min(finite)
    decimals = max(1 if top < 1000 else 0, SIGNIFICANT - 1 - math.floor(math.log10(top)))   # a real keeps a decimal
    if decimals > MAX_DECIMALS or top / low > SPAN or top >= 1e7:
        return lambda v: f"{float(v):.2e}" if _is_number(v) and math.isfinite(float(v)) else _text(v)
    return lambda v: f"{float(v):,.{decimals}f}" if _is_number(v) and math.isfinite(float(v)) else _text(v)


def table(data: dict | list[dict]) -> dict[str, list]:
    """A table ({column: values} or rows [{column: value}]) with every column formatted as text by
    `column_format`; text cells stay as they are. The shape the app's tables take."""
    if isinstance(data, list):
        data = {k: [r.get(k) for r in data] for k in (data[0] if data else {})}
    return {k: [column_format(list(vals), k)(v) for v in vals] for k, vals in data.items()}


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _is_whole(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if _is_number(v):                      # inf, nan
        return f"{float(v):g}"
    return str(v)
