"""Every figure builder on the real embedded model's data: the figure shows the numbers it was
given (not only that it builds), escapes text, and carries a caption."""
import numpy as np
import pytest
import torch
from app_helpers import embedded, stepped_session

from app import explorer_core as ec
from rwkv_core.sampling import SamplingSettings, sample
from visuals import attention, embeddings, memory, probabilities, states, theme, tokens
from visuals.theme import HIGHLIGHT, caption, safe


@pytest.fixture(scope="module")
def session():
    return stepped_session(n_steps=4)


def arr(v):
    return np.asarray(v, dtype=float)


def test_token_strip_shows_every_token_with_id(session):
    labels = session.labels()
    fig = tokens.token_strip(labels, session.tokens, session.n_prompt)
    tr = fig.data[0]
    assert [c[1] for c in tr.customdata] == session.tokens
    for text, label, tid in zip(tr.text, labels, session.tokens):
        assert text.startswith(safe(label)) and text.endswith(f"<sub>{tid}</sub>")
    chips = [v for row in fig.data[1].z for v in row][:len(session.tokens)]      # the chips, row by row
    assert chips == [0] * session.n_prompt + [1] * (len(session.tokens) - session.n_prompt)
    assert fig.data[1].type == "heatmap" and caption(fig)


def test_text_in_figures_is_escaped():
    fig = tokens.token_strip(["<br><b>x</b>", "a&b", "\x00"], [1, 2, 3], 3)
    texts = list(fig.data[0].text)
    assert "<b>" not in texts[0] and "&lt;br&gt;" in texts[0]
    assert texts[1].startswith("a&amp;b") and texts[2].startswith("\\x00")


def test_next_token_bars_show_the_sampled_distribution(session):
    smp = sample(session.logits, SamplingSettings(temperature=0.7, top_k=5), torch.Generator().manual_seed(1))
    labels = {i: ec.token_label(embedded(), i) for i in range(embedded().config.vocab_size)}
    fig = probabilities.next_token_bars(smp.probs, smp.raw_probs, labels, smp.token, smp.entropy_bits, k=8)
    bars, raw = fig.data
    top = torch.topk(smp.raw_probs, 8).indices.tolist()
    if smp.token not in top:
        top = top[:-1] + [smp.token]
    assert arr(bars.x) == pytest.approx([float(smp.probs[i]) for i in top])
    assert arr(raw.x) == pytest.approx([float(smp.raw_probs[i]) for i in top])
    assert (arr(bars.x)[5:] == 0).all()          # top-k 5: the rest are filtered out
    colours = list(bars.marker.color)
    assert colours[top.index(smp.token)] == HIGHLIGHT and colours.count(HIGHLIGHT) == 1
    assert f"{smp.entropy_bits:.2f} bits" in fig.layout.title.text
    assert caption(fig)


def test_compare_bars_two_distributions(session):
    r = ec.surgery(session, 1, "zero", n_continue=1)
    labels = {i: str(i) for i in range(embedded().config.vocab_size)}
    fig = probabilities.compare_bars(labels, r.probs_before, r.probs_after, ("a", "b"), k=5)
    a, b = fig.data
    ids = [int(t.split("(")[-1].rstrip(")")) for t in a.y]
    assert arr(a.x) == pytest.approx([float(r.probs_before[i]) for i in ids])
    assert arr(b.x) == pytest.approx([float(r.probs_after[i]) for i in ids])
    assert set(torch.topk(r.probs_before, 5).indices.tolist()) <= set(ids)


@pytest.mark.parametrize("dims", [2, 3])
def test_embedding_projection_places_prompt_tokens(session, dims):
    fig = ec.fig_embeddings(session, dims)
    bg, hl = fig.data
    _, coords = ec.embedding_pca(embedded())
    ids = list(dict.fromkeys(session.tokens[:session.n_prompt]))       # the prompt's: the same on every Step
    assert list(hl.customdata) == ids
    assert arr(hl.x) == pytest.approx(coords[ids, 0].numpy())
    assert arr(hl.y) == pytest.approx(coords[ids, 1].numpy())
    if dims == 3:
        assert arr(hl.z) == pytest.approx(coords[ids, 2].numpy())
    assert len(bg.x) == embedded().config.vocab_size
    assert "PC1" in (fig.layout.scene.xaxis.title.text if dims == 3 else fig.layout.xaxis.title.text)


def test_embedding_projection_is_the_same_figure_on_every_step():
    s = stepped_session(n_steps=1)
    before = ec.fig_embeddings(s).to_json()
    s.step(max(set(range(embedded().config.vocab_size)) - set(s.tokens)))       # a token not in the text yet
    assert ec.fig_embeddings(s).to_json() == before


def test_embedding_projection_thins_a_large_vocabulary():
    coords = torch.randn(50277, 2)
    fig = embeddings.embedding_projection(coords, torch.tensor([0.5, 0.2]), [3], {3: "x"})
    assert len(fig.data[0].x) <= embeddings.MAX_BACKGROUND


def test_residual_path_follows_the_recorded_stream(session):
    fig = ec.fig_residual_path(session)
    tr = fig.data[0]
    xs, names = ec.residual_stages(session)
    assert list(tr.text) == names and len(names) == embedded().config.n_layer + 1
    # the path's steps have the lengths of the recorded residual differences (PCA keeps the
    # 2-D part; the distances in the plane never exceed the true ones)
    pts = np.stack([arr(tr.x), arr(tr.y)], 1)
    plane = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    true = torch.linalg.vector_norm(torch.diff(xs.double(), dim=0), dim=1).numpy()
    assert (plane <= true + 1e-6).all() and plane.sum() > 0.3 * true.sum()
    assert "would predict" in tr.hovertext[-1]


def test_state_heatmaps_are_the_state_after_each_token(session):
    layer = 3
    fig = ec.fig_state_heatmaps(session, layer)
    fields = session.layer_fields(layer)
    assert [t.name for t in fig.data] == list(fields)
    for tr, (name, v) in zip(fig.data, fields.items()):
        z = arr(tr.z)
        expect = v.T.float().numpy()
        if name == "pp":
            expect = np.maximum(expect, -60)
        assert z.shape == (embedded().config.n_embd, len(session.tokens))
        assert z == pytest.approx(expect, abs=1e-6)
    # the last column is the carried state itself
    assert arr(fig.data[1].z)[:, -1] == pytest.approx(session.state[layer].aa.numpy(), abs=1e-6)
    # the last tokens only: the same columns, the true positions on the axis
    last = ec.fig_state_heatmaps(session, layer, last=3)
    for tr, full in zip(last.data, fig.data):
        assert arr(tr.z) == pytest.approx(arr(full.z)[:, -3:], abs=0)
    n = len(session.tokens)
    assert list(last.data[0].x) == list(fig.data[0].x)[-3:] and last.data[0].x[0].startswith(f"{n - 3}:")
    assert len(ec.fig_state_heatmaps(session, layer, last=10 * n).data[0].x) == n


def test_state_norm_lines_one_per_layer(session):
    fig = ec.fig_state_norms(session)
    assert len(fig.data) == embedded().config.n_layer
    from lab.analysis import state_norms
    assert arr(fig.data[4].y) == pytest.approx(state_norms(session.layer_fields(4)).numpy())


def test_state_vs_kv_cache_flat_against_growing(session):
    fig = ec.fig_state_vs_kv(session)
    rwkv, mine, gpt2 = fig.data
    mib = 1024 ** 2
    assert set(arr(rwkv.y)) == {session.state.nbytes() / mib}
    assert session.state.nbytes() == embedded().config.state_bytes()
    x = arr(gpt2.x)
    assert arr(gpt2.y) == pytest.approx(2 * 12 * 768 * x * 4 / mib)
    assert len(session.tokens) in x
    assert arr(mine.y)[-1] > arr(rwkv.y)[-1]      # at long lengths the cache outgrows the state


def test_half_life_boxes_hold_every_channel():
    model = embedded()
    fig = ec.fig_half_lives(model)
    L = model.config.n_layer
    assert len(fig.data) == 2 * L
    from lab.reference import half_life
    for i, b in enumerate(model.weights.blocks):
        assert arr(fig.data[2 * i].x) == pytest.approx(half_life(b.att.time_decay.double()).numpy())
        assert arr(fig.data[2 * i + 1].x) == pytest.approx(b.att.time_first.double().numpy())
    assert fig.layout.xaxis.type == "log"


def test_implicit_attention_figure(session):
    fig = ec.fig_implicit_attention(session, channel=7)
    weights, diff = ec.implicit_attention(session, channel=7)
    assert arr(fig.data[0].z) == pytest.approx(weights.numpy())
    assert weights.shape == (embedded().config.n_layer, len(session.tokens))
    assert diff < 1e-4 and f"{diff:.1e}" in fig.layout.title.text
    mean = ec.fig_implicit_attention(session)
    assert arr(mean.data[0].z).sum(1) == pytest.approx(np.ones(embedded().config.n_layer))


def test_equivalence_figure(session):
    eq = ec.rnn_vs_parallel(session)
    fig = attention.equivalence_figure(eq.per_layer, eq.logits)
    assert list(fig.data[0].x) == [f"layer {i}" for i in range(embedded().config.n_layer)]
    assert arr(fig.data[0].y) == pytest.approx([max(d, 1e-12) for d in eq.per_layer["residual output"]])
    assert max(eq.per_layer["state"]) < 1e-3 and eq.logits < 1e-3


def test_memory_module_builds_from_plain_tensors():
    fig = memory.half_life_figure([torch.tensor([1.0, 10.0])], [torch.tensor([0.5, -0.5])])
    assert arr(fig.data[0].x) == pytest.approx([1.0, 10.0]) and caption(fig)


def test_every_explorer_figure_has_a_caption(session):
    figs = ec.all_figures(session, SamplingSettings(), seed=0)
    assert all(caption(f) for f in figs.values())
    assert all(f.layout.title.text for f in figs.values())


def test_visuals_do_not_import_streamlit():
    import pathlib
    for f in pathlib.Path(states.__file__).parent.glob("*.py"):
        assert "import streamlit" not in f.read_text(), f


# --- lesson 3: the stable state animated, the blocked WKV ---------------------------------------------

@pytest.fixture(scope="module")
def lesson_example():
    from app.lessons import core as lc
    return lc.run_example(embedded())


def test_stable_state_frames_animate_the_engines_aa_bb_pp(lesson_example):
    from app.lessons import core as lc
    from visuals import lessons as vl
    ex, layer = lesson_example, lc.DEFAULT_LAYER
    c = lc.memory_channel(ex, layer, ex.n_tokens - 1)
    aa, bb, pp = (ex.rec[f"blocks.{layer}.att.{n}"][:, c].tolist() for n in ("aa", "bb", "pp"))
    labels = list(ex.labels)
    fig = vl.stable_state_frames(labels + ["<br>"], aa + [aa[-1]], bb + [bb[-1]], pp + [pp[-1]], c)
    n = len(labels) + 1
    assert len(fig.frames) == n and len(fig.layout.sliders[0].steps) == n
    for t in (0, n // 2, n - 1):                                 # frame t: the state after tokens 0..t
        frame = fig.frames[t]
        assert [d.name for d in frame.data] == ["aa", "bb", "pp (right axis)"]
        assert arr(frame.data[0].y) == pytest.approx((aa + [aa[-1]])[: t + 1])
        assert arr(frame.data[2].y) == pytest.approx((pp + [pp[-1]])[: t + 1])
        assert len(frame.data[1].x) == t + 1
    assert fig.frames[-1].data[0].x[-1].endswith("&lt;br&gt;")    # model text escaped
    assert arr(fig.data[1].y) == pytest.approx(bb + [bb[-1]])   # shown before play: every token
    assert caption(fig) and fig.layout.updatemenus[0].buttons[0].method == "animate"


def test_blocked_wkv_shows_both_forms_and_shades_blocks(lesson_example):
    from app.lessons import claims as cl
    from app.lessons import core as lc
    from visuals import lessons as vl
    ex, layer = lesson_example, lc.DEFAULT_LAYER
    c = lc.memory_channel(ex, layer, ex.n_tokens - 1)
    v = cl.wkv_blocked_view(ex, layer, c, 4)
    fig = vl.blocked_wkv(v.table["token"], v.table["wkv (recurrence)"], v.table["wkv (blocked)"], v.table["block"],
                         channel=c, block=v.block)
    assert arr(fig.data[0].y) == pytest.approx(v.table["wkv (recurrence)"])
    assert arr(fig.data[1].y) == pytest.approx(v.table["wkv (blocked)"])
    assert len(fig.layout.shapes) == (v.n_blocks + 1) // 2               # every other block shaded
    assert fig.layout.shapes[0].x0 == -0.5 and fig.layout.shapes[0].x1 == v.block - 0.5
    assert caption(fig) and f"blocks of {v.block}" in fig.layout.title.text


def test_next_token_bars_set_the_margin_their_labels_need():
    """The left margin holds the widest label and the axis title, set ahead (plotly's automargin,
    which redraws a chart to widen it, then has nothing to do); a wide character counts a full em."""
    probs = torch.softmax(torch.arange(6.0), -1)
    labels = {0: "a", 1: "a_much_longer_token", 2: "漢字漢字", 3: "b", 4: "c", 5: "d"}
    fig = probabilities.next_token_bars(probs, probs, labels, 5, 1.0, k=6)
    widest = max(theme.text_width(t) for t in fig.data[0].y)
    assert fig.layout.margin.l >= widest + theme.FONT_SIZE * 2
    assert theme.text_width("漢字") > theme.text_width("ab")
    assert theme.text_width("&lt;b&gt;") == theme.text_width("xyz") and theme.text_width("<b>x</b>") == theme.text_width("x")


def test_the_figures_a_step_rebuilds_pass_plotlys_checks(session):
    """The chips, the next-token bars and the residual path are built without plotly's checks of
    the layout (theme.figure(validate=False): half their time on a Step): here with the checks on."""
    import plotly.graph_objects as go
    smp = session.next_sample(SamplingSettings(), 0)
    for fig in (ec.fig_tokens(session), ec.fig_sample(session.model, smp), ec.fig_residual_path(session)):
        spec = fig.to_dict()
        checked = go.Figure(spec).to_dict()                    # raises on anything plotly would refuse
        assert checked["layout"].keys() == spec["layout"].keys() and len(checked["data"]) == len(spec["data"])
        assert fig.to_json()
