"""The Why page's quality headline is computed from the curves, so it stays true whoever wins."""
from __future__ import annotations

from app import compare_core as cc


def curve(kind: str, bpc_at_end: float) -> cc.Curve:
    return cc.Curve(kind, [(0, 0.0, 5.0), (1_000_000, 100.0, bpc_at_end)], bpc_at_end, "test", "1", "test")


def test_the_headline_names_whoever_is_best_at_equal_tokens():
    curves = {"rwkv4": curve("rwkv4", 2.1), "gpt": curve("gpt", 1.9), "lstm": curve("lstm", 2.0),
              "redline": curve("redline", 2.3)}
    line = cc.verdict(curves, cc.equal_points(curves))
    assert line.startswith("At the same 1.00M training tokens, the GPT scores best")
    assert "0.100 ahead of the stacked LSTM" in line and line.endswith("RWKV-4 is third of 4 (2.100).")


def test_the_headline_when_rwkv_wins_on_the_shipped_logs():
    curves = cc.read_curves()
    eq = cc.equal_points(curves)
    best = min(curves, key=lambda k: eq.at_tokens[k])
    line = cc.verdict(curves, eq)
    assert cc.title(best) in line.split(" scores best")[0]
    assert f"{eq.at_tokens[best]:.3f} bits/char" in line
