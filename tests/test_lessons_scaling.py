"""Lesson 2 (scaling an RNN): its views render on the real embedded model and the real rivals
trained here, its figures are built from the data they are given, and every claim its text makes
is checked against what the engine computes: the critical paths of the lesson's table against the
plans (Plan.product_steps) and the kinds' dependencies (refusal), the red-line step's count
against the red-line RNN's own run, the chunk steps against rwkv_core.schedule, and the chunk
costs the text describes against the committed measurements. No test times anything: the
measured numbers are shown, never asserted."""
from __future__ import annotations

import itertools
import math

import pytest
import torch
from app_helpers import embedded, no_exception, started_app
from factory import SMALL, random_state_dict

import lab
import rwkv_core
from app import scheduling_core as sc
from app.lessons import content as ls
from app.lessons import core as lc
from app.lessons import scaling_core as S
from lab.kinds import KINDS
from rwkv_core.schedule import MODES, expected_steps, plan
from visuals import lessons_scaling as vls
from visuals.theme import HIGHLIGHT, caption

LESSON = next(l for l in ls.load_lessons() if l.id == "scaling-an-rnn")
STEPS = {s.id: s for s in LESSON.steps}
TITLES = {KINDS[k].title: k for k in S.STORY}
COLUMNS = {"one cell at a time": "rnn", "cascade": "cascade", "layer by layer (GPT mode)": "parallel"}


@pytest.fixture(scope="module")
def models():
    rivals = {k: lab.load_model(str(p)) for k, p in sc.shipped_rivals().items() if k in S.STORY}
    return {**rivals, "rwkv4": embedded()}


@pytest.fixture(scope="module")
def default_run(models):
    m = models["rwkv4"]
    ids = lc.example_ids(m)
    return S.two_parts(models, m.tokenizer.decode(ids), ids)


# --- the two parts, on the real models ------------------------------------------------------------

def test_the_rivals_of_the_story_are_shipped():
    assert set(sc.shipped_rivals()) >= {"redline", "lstm"}


def check_run(tp: S.TwoParts, n_tokens: int) -> None:
    assert tp.n_tokens == n_tokens
    assert [(r.kind, r.mode) for r in tp.rows] == list(itertools.product(S.STORY, MODES))
    for r in tp.rows:
        why = KINDS[r.kind].deps.refusal(r.mode, r.n_layer)
        assert (r.refusal is None) == (why is None) == (r.formula is not None)
        if why:                                               # refused with the engine's own reason
            assert r.refusal == why and "red line" in why and r.product_steps is r.ms is None
            continue
        p = plan(r.mode, n_layer=r.n_layer, n_tokens=n_tokens, chunk=S.STORY_CHUNK, deps=KINDS[r.kind].deps)
        assert r.product_steps == p.product_steps == S.formula_value(r.formula, r.n_layer, n_tokens)
        assert r.ms > 0 and r.max_diff < sc.SAME_TOLERANCE     # the same logits in every order


def test_two_parts_on_the_default_prompt(default_run, models):
    check_run(default_run, len(lc.example_ids(models["rwkv4"])))
    L, T = models["redline"].config.n_layer, default_run.n_tokens
    assert default_run.row("redline", "rnn").product_steps == L * T
    assert default_run.row("lstm", "parallel").product_steps == L * T      # no GPT mode for an LSTM
    assert default_run.row("rwkv4", "parallel").product_steps == models["rwkv4"].config.n_layer
    assert default_run.row("lstm", "cascade").product_steps == default_run.row("rwkv4", "cascade").product_steps
    # RWKV-4's cascade is also timed as the picture draws it: concurrent workers where the device allows
    assert default_run.workers == S.race_workers(models["rwkv4"])
    assert (default_run.concurrent_ms is not None) == (default_run.workers > 1)
    if torch.get_num_threads() > 1:
        assert default_run.workers > 1 and default_run.concurrent_ms > 0


def test_two_parts_follows_the_students_prompt(models):
    m = models["rwkv4"]
    ids = lc.lesson_prompt(m, "Now is the winter of our discontent made glorious summer by this sun of York")
    tp = S.two_parts(models, m.tokenizer.decode(ids), ids)
    check_run(tp, len(ids))
    assert tp.n_tokens != len(lc.example_ids(m))                  # other numbers than the default's
    long = list(range(100, 100 + S.MAX_TOKENS + 9))
    assert S.story_tokens(long) == S.MAX_TOKENS
    with pytest.raises(ValueError, match="empty"):
        S.story_tokens([])


def test_a_model_without_tokenizer_gives_the_rivals_the_same_ids(models):
    tiny = rwkv_core.from_state_dict(random_state_dict(SMALL))          # 3 layers, no tokenizer
    ids = lc.example_ids(tiny)
    tp = S.two_parts({**models, "rwkv4": tiny}, None, ids)
    check_run(tp, len(ids))
    assert tp.row("rwkv4", "parallel").product_steps == SMALL.n_layer


# --- the lesson's table of critical paths -------------------------------------------------------------

def lesson_table(text: str) -> dict[tuple[str, str], str]:
    """The markdown table of 'lstm-vs-rwkv': (kind, mode) → the cell's text."""
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in text.splitlines()
            if line.strip().startswith("|")]
    head, body = rows[0], [r for r in rows[2:]]
    return {(TITLES[r[0]], COLUMNS[h]): cell for r in body for h, cell in zip(head[1:], r[1:])}


def table_problems(text: str, shapes=((6, 17), (12, 32), (3, 5), (24, 512), (1, 1))) -> list[str]:
    """Every cell that disagrees with the plans of that kind: a formula whose value is not the
    plan's critical path, 'refused' for a plan the kind can run, or the other way round."""
    out = []
    cells = lesson_table(text)
    if set(cells) != set(itertools.product(S.STORY, MODES)):
        out.append(f"the table covers {sorted(cells)}")
    for (kind, mode), cell in cells.items():
        for L, T in shapes:
            why = KINDS[kind].deps.refusal(mode, L) if L > 1 else KINDS[kind].deps.refusal(mode, 2)
            if cell == "refused":
                if why is None:
                    out.append(f"{kind} {mode}: says refused, but the plan runs")
                continue
            if why is not None or cell not in S.FORMULAS:
                out.append(f"{kind} {mode}: {cell!r} for a refused plan or an unknown formula")
                continue
            p = plan(mode, n_layer=L, n_tokens=T, chunk=1, deps=KINDS[kind].deps)
            if p.product_steps != S.formula_value(cell, L, T):
                out.append(f"{kind} {mode} at L={L}, T={T}: {cell} = {S.formula_value(cell, L, T)}, "
                           f"the plan's critical path is {p.product_steps}")
    return out


def test_the_lessons_table_is_the_plans():
    text = STEPS["lstm-vs-rwkv"].text
    assert table_problems(text) == []
    assert {k: v for k, v in lesson_table(text).items()} == {k: v or "refused" for k, v in S.PRODUCT_STEPS.items()}


@pytest.mark.parametrize("old, new", [("| L |", "| L·T |"), ("| L·T | L + T − 1 | L·T |", "| L·T | L + T − 1 | L |"),
                                      ("| L·T | refused | refused |", "| L·T | L + T − 1 | refused |")])
def test_a_wrong_cell_in_the_table_is_caught(old, new):
    text = STEPS["lstm-vs-rwkv"].text
    assert old in text
    assert table_problems(text.replace(old, new, 1))


def test_the_steps_name_the_formulas_they_rely_on():
    assert r"L \cdot T" in STEPS["the-red-line"].text and "L + T - 1" in STEPS["remove-the-red-line"].text
    assert "W_{hh} h_{t-1}" in STEPS["lstm-vs-rwkv"].text and "W_{hh} h_{t-1}" in STEPS["where-the-picture-simplifies"].text
    for kind in ("rwkv4", "lstm", "redline"):                     # the reasons the grids' captions give
        assert KINDS[kind].why


# --- chunk sizes --------------------------------------------------------------------------------------

@pytest.mark.parametrize("L, T", [(6, 512), (12, 512), (6, 100)])
def test_chunk_facts_are_the_schedules(L, T):
    prev = None
    for c in sc.CHUNKS:
        f = S.chunk_facts(L, 4 * 256, T, c)
        assert f.steps == {m: expected_steps(m, L, T, c) for m in MODES}
        assert f.n_chunks == math.ceil(T / c) and f.cell_bytes == min(c, T) * 1024 * 4
        if prev:                      # the text: a wider chunk, fewer steps, more memory, fewer layers busy
            assert f.steps["cascade"] <= prev.steps["cascade"] and f.cell_bytes >= prev.cell_bytes
            assert f.busy_layers <= prev.busy_layers + 1e-12
            # "each doubling halves the wave, until at chunk = T only L steps are left"
            assert f.steps["cascade"] - (L - 1) == math.ceil((prev.steps["cascade"] - (L - 1)) / 2)
        prev = f
    whole = S.chunk_facts(L, 1024, T, T)
    assert whole.steps["cascade"] == whole.steps["parallel"] == L and whole.busy_layers == 1


def test_chunk_cost_on_the_real_model():
    m = embedded()
    rec = S.chunk_cost(m, (1, 4, 32), min_tokens=32)
    pts = S.per_token_ms(rec)
    assert [c for c, _ in pts] == [1, 4, 32]
    assert [r["n_tokens"] for r in rec["rows"]] == [32, 32, 32] and rec["shape"]["n_layer"] == m.config.n_layer
    assert all(ms > 0 for _, ms in pts) and rec["device"].startswith("CPU")
    assert S.chunk_tokens(512) == 512 and S.chunk_tokens(1) == S.MIN_TOKENS and S.chunk_tokens(48, 64) == 96


def test_cost_summary_reads_the_points():
    pts = [(1, 10.0), (4, 5.0), (32, 1.0), (64, 0.8), (512, 0.5)]
    s = S.cost_summary(pts)
    assert (s["first"], s["best_chunk"], s["then"], s["speedup"]) == (10.0, 512, 2.0, 20.0)


def test_the_committed_chunk_costs_say_what_the_text_says():
    records, problems = S.committed_chunk_costs()
    assert problems == []
    shapes = {(r["shape"]["n_layer"], r["shape"]["n_embd"]) for r in records}
    assert shapes == {(6, 256), (12, 768)}                             # the embedded model and the 169M shape
    assert next(r for r in records if r["shape"]["n_layer"] == 12)["shape"]["vocab_size"] == 50277
    for rec in records:
        assert rec["device"].startswith("CPU:")                        # the page names the CPU
        pts = S.per_token_ms(rec)
        assert [c for c, _ in pts] == list(S.CHUNK_SIZES)
        s = S.cost_summary(pts)
        # "from 1 to 32 tokens per chunk the time per token falls many times over, from 32 to 512 far less"
        assert s["first"] >= 4 and s["first"] >= 2 * s["then"], (S.record_label(rec), s)
    assert "ChatRWKV" in STEPS["chunks-in-practice"].title and "CHUNK_LEN = 256" in STEPS["chunks-in-practice"].text
    assert "12 layers × 768" in STEPS["chunks-in-practice"].text


def test_a_broken_committed_record_is_named(tmp_path):
    (tmp_path / "cpu_x.json").write_text('{"device": "CPU: x", "shape": {"n_layer": 0}, "rows": []}')
    (tmp_path / "cpu_y.json").write_text("not json")
    records, problems = S.committed_chunk_costs(tmp_path)
    assert records == [] and len(problems) == 2 and "n_layer" in problems[0]


# --- figures ------------------------------------------------------------------------------------------

def test_kind_schedules_figure(default_run):
    rows = [{"title": r.title, "mode": r.mode, "product_steps": r.product_steps, "ms": r.ms} for r in default_run.rows]
    fig = vls.kind_schedules(rows, device="CPU: test", n_tokens=default_run.n_tokens)
    left = {t.name: t for t in fig.data if t.xaxis == "x"}
    # per kind the schedules it ran, and (the red-line RNN only) a hatched bar per refused schedule
    assert set(left) == {"red-line RNN", "red-line RNN: refused", "stacked LSTM", "RWKV-4"}
    assert list(left["red-line RNN"].x) == ["rnn"]
    assert list(left["red-line RNN"].text) == [str(default_run.row("redline", "rnn").product_steps)]
    assert list(left["red-line RNN: refused"].x) == ["cascade", "parallel"]
    assert set(left["red-line RNN: refused"].text) == {"refused"}
    assert left["red-line RNN: refused"].offsetgroup == left["red-line RNN"].offsetgroup   # in the kind's own slot
    assert list(left["RWKV-4"].y) == [default_run.row("rwkv4", m).product_steps for m in MODES]
    right = {t.name: t for t in fig.data if t.xaxis == "x2"}
    assert list(right["stacked LSTM"].y) == [default_run.row("lstm", m).ms for m in MODES]
    assert "CPU: test" in fig.layout.annotations[1].text and caption(fig)


def test_chunk_cost_figure():
    fig = vls.chunk_cost({"a <b>": [(1, 5.0), (32, 1.0)], "c": [(32, 2.0), (1, 9.0)]})
    assert [t.name for t in fig.data] == ["a &lt;b&gt;", "c"]           # labels escaped
    assert list(fig.data[1].x) == [1, 32] and list(fig.data[1].y) == [9.0, 2.0]   # sorted by chunk
    assert fig.layout.xaxis.type == fig.layout.yaxis.type == "log"
    assert (fig.layout.shapes[0].x0, fig.layout.shapes[0].x1) == S.WIDE
    assert fig.layout.shapes[1].x0 == 256 and "ChatRWKV" in fig.layout.annotations[1].text
    lo, hi = fig.layout.xaxis.range                                          # log10 of the chunks, with room
    assert lo < 0 < math.log10(512) < hi and list(fig.layout.xaxis.tickvals) == [1, 32, 512]


def test_cascade_steps_figure():
    steps = {c: expected_steps("cascade", 6, 512, c) for c in sc.CHUNKS}
    fig = vls.cascade_steps(6, 512, steps, 32)
    bar = fig.data[0]
    assert list(bar.y) == [steps[c] for c in sc.CHUNKS]
    assert [col == HIGHLIGHT for col in bar.marker.color] == [c == 32 for c in sc.CHUNKS]
    assert [set(t.y) for t in fig.data[1:]] == [{6 * 512}, {6}]          # one cell at a time, layer by layer
    assert fig.layout.yaxis.range[0] < math.log10(6) and fig.layout.yaxis.range[1] > math.log10(6 * 512)


# --- the views in the real app ------------------------------------------------------------------------

def open_step(step_id: str):
    return started_app("app_pages/lessons.py", {"lesson": LESSON.id, "step": step_id})


def test_red_line_step_shows_the_red_line_rnns_own_count(models):
    at = open_step("the-red-line")
    no_exception(at)
    L, T = models["redline"].config.n_layer, len(lc.example_ids(models["rwkv4"]))
    values = {m.label: m.value for m in at.metric}
    assert values[f"red-line RNN ({L} layers) on your {T} tokens"] == f"{L * T} steps = L·T"
    infos = [i.value for i in at.info]
    assert len(infos) == 2 and all("red line" in i for i in infos)


def test_two_parts_step_table_is_the_run(models):
    at = open_step("lstm-vs-rwkv")
    no_exception(at)
    assert [s.value for s in at.success if "same logits in every order" in s.value]
    df = at.dataframe[0].value
    T = len(lc.example_ids(models["rwkv4"]))
    for (_, row), (kind, mode) in zip(df.iterrows(), itertools.product(S.STORY, MODES)):
        f = S.PRODUCT_STEPS[(kind, mode)]
        L = models[kind].config.n_layer
        want = "refused" if f is None else f"{S.formula_value(f, L, T)} = {f}"
        assert (row["model"], row["schedule"], row["critical path (matrix-product steps)"]) == (KINDS[kind].title, mode, want)


@pytest.mark.parametrize("step_id", ["where-the-picture-simplifies", "chunking", "chunks-in-practice"])
def test_the_other_scaling_steps_render(step_id):
    at = open_step(step_id)
    no_exception(at)
    assert not at.error and not at.warning
    if step_id == "chunks-in-practice":
        lines = [m.value for m in at.markdown if "× less" in m.value]
        assert len(lines) == 1 + len(S.committed_chunk_costs()[0])     # live, and each committed record
        assert at.dataframe[0].value["chunk"].tolist() == [str(c) for c in S.CHUNK_SIZES]
    if step_id == "chunking":
        assert at.metric[0].value == f"{expected_steps('cascade', embedded().config.n_layer, 512, 32)} steps"


@pytest.mark.parametrize("step_id", ["the-red-line", "lstm-vs-rwkv", "chunks-in-practice"])
def test_the_live_steps_in_classroom_mode(step_id):
    at = started_app("app_pages/lessons.py", {"lesson": LESSON.id, "step": step_id, "classroom": "1"})
    no_exception(at)
    assert not at.error
    if step_id != "the-red-line":
        assert at.table and not at.dataframe                    # plain tables, scaled by the large-type CSS


def test_the_students_prompt_changes_the_measured_steps(models):
    at = open_step("lstm-vs-rwkv")
    mine = "Now is the winter of our discontent made glorious summer by this sun of York"
    at.text_area(key="lsn_prompt_box").input(mine).run()
    no_exception(at)
    T = len(models["rwkv4"].tokenizer.encode(mine))
    assert T != len(lc.example_ids(models["rwkv4"]))
    df = at.dataframe[0].value
    lstm = df[(df["model"] == "stacked LSTM") & (df["schedule"] == "cascade")].iloc[0]
    L = models["lstm"].config.n_layer
    assert lstm["critical path (matrix-product steps)"] == f"{L + T - 1} = L + T − 1"
