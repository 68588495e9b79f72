"""app/formats.py: one precision per quantity, with units, and counts that agree with their noun."""
from __future__ import annotations

import numpy as np
import pytest

from app import formats as F


@pytest.mark.parametrize("n,text", [(0, "0 tokens"), (1, "1 token"), (2, "2 tokens"), (1024, "1,024 tokens")])
def test_count(n, text):
    assert F.count(n, "token") == text
    assert F.count(1, "child", "children") == "1 child" and F.count(3, "child", "children") == "3 children"


@pytest.mark.parametrize("p,text", [(0.123, "12.3%"), (0.001, "0.1%"), (0.0004, "0.04%"), (3.1e-5, "0.0031%"),
                                    (2e-5, "0.002%"), (4e-7, "<0.0001%"), (0.0, "0%"), (1.0, "100.0%")])
def test_a_probability_is_never_a_bare_zero(p, text):
    assert F.probability(p) == text


def test_a_50k_vocabulary_s_probabilities_differ():
    """A flat distribution over 50,277 tokens: every probability is about 0.002%, none reads 0.0%."""
    p = np.full(50_277, 1 / 50_277)
    assert F.probability(p[0]) == "0.002%"
    assert all(F.probability(x) != "0.0%" for x in (1e-4, 5e-5, 1.99e-5, 1e-6))


@pytest.mark.parametrize("n,text", [(512, "512 B"), (1024, "1.00 KiB"), (12_800, "12.5 KiB"), (3_355_443, "3.20 MiB"),
                                    (1.5 * 2 ** 30, "1.50 GiB")])
def test_sizes_carry_their_unit(n, text):
    assert F.nbytes(n) == text


def test_durations_and_differences():
    assert F.ms(0.0123) == "12.3 ms" and F.ms(0.5) == "500 ms" and F.ms(18.04) == "18.0 s"
    assert F.difference(3.14e-7) == "3.1e-07"


def test_a_column_has_one_precision():
    """The issue's raw floats: 0.000186429 and 6.51948e-05 beside ordinary numbers."""
    assert F.table({"k": [0.43, 1.5, -2.25]})["k"] == ["0.43", "1.50", "-2.25"]
    assert F.table({"x": [12.5, 3.0, 100.25]})["x"] == ["12.5", "3.0", "100.2"]
    assert F.table({"x": [0.000186429, 6.51948e-05]})["x"] == ["1.86e-04", "6.52e-05"]   # too small for decimals
    assert F.table({"x": [0.43, 6.51948e-05]})["x"] == ["4.30e-01", "6.52e-05"]          # spans 4 orders
    assert F.table({"n": [3, 1234, None]})["n"] == ["3", "1,234", ""]
    assert F.table({"exponent": [-1e9, 2.5]})["exponent"] == ["-1.00e+09", "2.50e+00"]


def test_probabilities_and_shares_in_percent():
    t = F.table([{"token": "a", "share": 0.5, "most likely token's probability": 0.9},
                 {"token": "b", "share": 3e-5, "most likely token's probability": 2e-5}])
    assert t == {"token": ["a", "b"], "share": ["50.0%", "0.003%"],
                 "most likely token's probability": ["90.0%", "0.002%"]}
    assert F.table({"share": [1.5, 0.2]})["share"] == ["1.50", "0.20"]   # not a share after all: not percent


def test_text_and_odd_values():
    t = F.table({"a": ["x", True, None], "b": [float("inf"), 1.0, float("nan")], "c": [np.float32(0.25), np.int64(4), 1]})
    assert t["a"] == ["x", "yes", ""]
    assert t["b"] == ["inf", "1.00", "nan"]
    assert t["c"] == ["0.25", "4.00", "1.00"]


def test_ids_are_names_not_amounts():
    assert F.table({"id": [50256, 7], "tokens kept": [50256, 7]}) == {"id": ["50256", "7"],
                                                                       "tokens kept": ["50,256", "7"]}
