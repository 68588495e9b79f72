"""Lesson 2's timed runs are the runs the pictures draw: step 'watch-it-run' reads the student's
own tokens (not a fixed 16), is measured once per prompt, and times the cascade with concurrent
workers wherever the device allows more than one (the caption says how many), beside the same plan
with one worker (what the chunk alone buys); the LSTM-vs-RWKV step times RWKV-4's concurrent
cascade too; the dependency grids put each plan's critical path in matrix products first. No test
asserts a time: only which runs were made, with how many workers, and that they agree."""
from __future__ import annotations

import pytest
import torch
from app_helpers import embedded, no_exception, started_app

from app import scheduling_core as sc
from app.lessons import content as ls
from app.lessons import core as lc
from app.lessons import scaling_core as S
from app.lessons import views_scaling as V

LESSON = next(l for l in ls.load_lessons() if l.id == "scaling-an-rnn")
MINE = "Now is the winter of our discontent made glorious summer by this sun of York"


@pytest.fixture
def threads():
    """Restores torch's intra-op threads after a test that changes them."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def cascades(runs):
    return [r for r in runs if r.plan.mode == "cascade"]


def test_the_race_reads_the_students_tokens_and_agrees():
    m = embedded()
    ids = lc.lesson_prompt(m, MINE)
    runs = S.race(m, ids)
    assert len(ids) != 16 and all(r.plan.n_tokens == len(ids) for r in runs)
    assert [r.plan.mode for r in runs][0] == "rnn" and runs[-1].plan.mode == "parallel"
    assert all(r.max_diff < sc.SAME_TOLERANCE for r in runs)          # the same logits in every order
    for r in runs:                                                      # the replay's clock is the run's own
        assert len(r.clock_steps) == r.plan.n_steps and min(r.clock_steps) >= 0
        assert sum(r.clock_steps) <= r.timings.total_seconds + 1e-9


def test_the_timed_cascade_is_concurrent_when_the_device_allows():
    m = embedded()
    runs = S.race(m, lc.example_ids(m))
    workers = S.race_workers(m)
    if torch.get_num_threads() > 1 or m.device.type == "cuda":
        assert workers > 1
    assert [r.workers for r in cascades(runs)] == ([1, workers] if workers > 1 else [1])
    caption = S.race_caption(runs)
    assert (f"with {workers} workers" in caption) == (workers > 1)
    assert "With 1 worker the same plan took" in caption or "allows one worker" in caption


def test_one_thread_gives_one_worker_and_the_caption_says_so(threads):
    m = embedded()
    torch.set_num_threads(1)
    assert S.race_workers(m) == 1
    runs = S.race(m, lc.example_ids(m)[:6])
    assert [r.workers for r in cascades(runs)] == [1]
    assert "allows one worker" in S.race_caption(runs)
    torch.set_num_threads(2)
    assert S.race_workers(m) == min(2, m.config.n_layer)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_on_a_gpu_every_layer_gets_its_own_stream():
    m = embedded().to("cuda")
    assert S.race_workers(m) == m.config.n_layer
    runs = S.race(m, lc.example_ids(m))
    assert cascades(runs)[-1].workers == m.config.n_layer and all(r.max_diff < sc.SAME_TOLERANCE for r in runs)


def test_the_race_step_shows_the_workers_and_is_measured_once_per_prompt():
    at = started_app("app_pages/lessons.py", {"lesson": LESSON.id, "step": "watch-it-run"})
    no_exception(at)
    workers = S.race_workers(embedded())
    df = at.dataframe[0].value
    assert sorted(df["workers"].astype(int).tolist())[-1] == workers
    captions = [c.value for c in at.caption]
    if workers > 1:
        assert any(f"ran with {workers} workers" in c for c in captions)
    first = at.session_state["lsn_race"]
    at.run()
    assert at.session_state["lsn_race"] is first or at.session_state["lsn_race"][1] == first[1]
    at.text_area(key="lsn_prompt_box").input(MINE).run()
    no_exception(at)
    T = len(embedded().tokenizer.encode(MINE))
    assert at.session_state["lsn_race"][0][1] == tuple(embedded().tokenizer.encode(MINE)) and T != 16


def test_the_wave_step_counts_the_students_tokens():
    at = started_app("app_pages/lessons.py", {"lesson": LESSON.id, "step": "remove-the-red-line"})
    no_exception(at)
    m = embedded()
    L, T = m.config.n_layer, len(lc.example_ids(m))
    values = {x.label: x.value for x in at.metric}
    assert values[f"red-line RNN order, {L} layers × your {T} tokens"] == f"{L * T} steps"
    assert values["cascade (one token per cell)"] == f"{L + T - 1} steps"


def test_the_lstm_grid_puts_the_critical_path_in_products_first():
    """The Lab's example (L = 4, T = 24, chunk 8): layer by layer is 96 products in turn, 4 layer calls."""
    plans, _ = sc.kind_panels("lstm", 4, 24, 8)
    line = V.critical_path_line(plans)
    parallel = next(p for p in plans if p.mode == "parallel")
    assert parallel.product_steps == 96
    assert "parallel **96** (4 layer calls)" in line


def test_the_lstm_vs_rwkv_step_times_the_concurrent_cascade_and_the_grids_name_the_path():
    workers = S.race_workers(embedded())
    at = started_app("app_pages/lessons.py", {"lesson": LESSON.id, "step": "lstm-vs-rwkv"})
    no_exception(at)
    concurrent = [i.value for i in at.info if "running a wave's cells at the same time" in i.value]
    assert len(concurrent) == (1 if workers > 1 else 0)
    if concurrent:
        assert f"{workers} workers" in concurrent[0]
    at = started_app("app_pages/lessons.py", {"lesson": LESSON.id, "step": "where-the-picture-simplifies"})
    no_exception(at)
    paths = [c.value for c in at.caption if c.value.startswith("Critical path in matrix products")]
    assert len(paths) == len(S.STORY)
