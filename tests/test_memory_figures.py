"""The memory lab's figures (visuals/memory.py): each draws its data, one trace per model, in the
kind's colour, with text from models or users escaped."""
from __future__ import annotations

import torch

from visuals import memory as vm
from visuals.theme import caption

SERIES = [("RWKV-4, width 64", "rwkv4", 64, [(4, 1.0), (8, 0.5), (16, 0.26)]),
          ("GPT, width 64", "gpt", 64, [(4, 1.0), (8, 1.0), (16, 0.99)]),
          ("stacked LSTM, width 128", "lstm", 128, [(4, 0.2)])]


def test_recall_by_n_draws_a_line_per_kind_and_width_and_the_1_over_n_line():
    fig = vm.recall_by_n_figure(SERIES)
    assert [t.name for t in fig.data] == [s[0] for s in SERIES] + ["1/N (knows the values, not which key)"]
    assert list(fig.data[1].x) == [4, 8, 16] and list(fig.data[1].y) == [1.0, 1.0, 0.99]
    assert list(fig.data[2].x) == [4] and list(fig.data[-1].y) == [0.25, 0.125, 0.0625]   # one trained N: a point
    assert fig.data[0].line.color != fig.data[1].line.color and fig.data[2].line.dash == "dash"
    assert list(fig.layout.xaxis.tickvals) == [4, 8, 16] and "trained at its N" in fig.layout.title.text
    assert "3N" in caption(fig)


def test_recall_by_length_leaves_a_gap_where_a_model_cannot_read():
    fig = vm.recall_by_length_figure([("GPT, width 64", "gpt", 64, [(16, 0.99), (32, None), (64, None)]),
                                      ("RWKV-4, width 64", "rwkv4", 64, [(16, 0.3), (32, 0.28), (64, 0.2)])], 4)
    assert list(fig.data[0].y) == [0.99, None, None] and fig.data[0].connectgaps is False
    assert "N = 4" in fig.layout.title.text


def test_recall_vs_state_puts_each_model_at_its_bytes():
    pts = [("RWKV-4, width 64", "rwkv4", 64, 2560, 0.26, 4), ("RWKV-4, width 64", "rwkv4", 64, 2560, 0.1, 16),
           ("GPT <i>, width 64", "gpt", 64, 49152, 0.99, 16)]
    fig = vm.recall_vs_state_figure(pts)
    models = [t for t in fig.data if t.showlegend is False]
    legend = [t.name for t in fig.data if t.showlegend]
    assert [t.name for t in models] == ["RWKV-4, width 64", "GPT &lt;i&gt;, width 64"]
    assert legend == ["RWKV-4", "GPT &lt;i&gt;", "N = 4", "N = 16"]                     # kinds, then the markers of N
    assert list(models[0].x) == [2560, 2560] and list(models[0].y) == [0.26, 0.1] and list(models[1].x) == [49152]
    assert list(models[0].marker.symbol) == ["circle", "square"] and list(models[1].marker.symbol) == ["square"]
    assert list(models[1].customdata) == ["GPT &lt;i&gt;, width 64, N = 16"] and "(4, 16;" in caption(fig)
    assert fig.layout.xaxis.type == "log" and "solid line: width 64" in caption(fig)
    wide = vm.recall_vs_state_figure(pts + [("RWKV-4, width 128", "rwkv4", 128, 5120, 0.9, 4)])
    wm = [t for t in wide.data if t.showlegend is False]
    assert list(wm[0].marker.symbol) == ["circle-open", "square-open"]                 # the narrow width: open
    assert list(wm[2].marker.symbol) == ["circle"] and "filled, dash line: width 128" in caption(wide)


def test_probe_over_n_and_the_wkv_heatmap():
    fig = vm.probe_over_n_figure([("RWKV-4 <b>", "rwkv4", 64, [(1, 1.0, 0.9), (2, 0.5, 0.4)])], 7)
    assert fig.data[0].name == "RWKV-4 &lt;b&gt;" and list(fig.data[0].y) == [0.9, 0.4] and "seed 7" in fig.layout.title.text
    heat = vm.wkv_pair_figure(["layer 0", "layer 1"], [torch.tensor([0.1, 0.5]), torch.tensor([0.0, 0.2])], 3e-7)
    assert heat.data[0].z.shape == (2, 2) and "3.0e-07" in heat.layout.title.text
