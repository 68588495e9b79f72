"""The lesson page in the real app (AppTest): every step renders with its title and the model's
numbers, deep links open the step they name, next / previous / contents move and write the URL,
quizzes answer at once, and classroom mode fixes the model, the example and the type size."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.lessons import content as ls, core as lc
from app_helpers import embedded, no_exception, started_app

ROOT = Path(__file__).resolve().parent.parent
PAGE = "app_pages/lessons.py"
LESSONS = ls.load_lessons()


def open_lessons(query: dict | None = None) -> AppTest:
    return started_app(PAGE, query or {})


def shown_title(at) -> str:
    return at.header[0].value


def position(at) -> tuple[int, int]:
    return at.session_state["lsn_pos"]


def url(at) -> dict:
    return {k: at.query_params[k] for k in at.query_params}


def button(at, label: str):
    return next(b for b in at.button if b.label == label)


@pytest.mark.parametrize("pos", ls.flat_positions(LESSONS), ids=lambda p: f"{p[0]}.{p[1]}")
def test_every_step_renders(pos):
    at = open_lessons({"lesson": str(pos[0]), "step": str(pos[1])})
    step = LESSONS[pos[0] - 1].steps[pos[1] - 1]
    assert shown_title(at) == step.title
    assert position(at) == pos
    assert not at.error, [e.value for e in at.error]                 # no formula disagrees with the engine
    if step.formulas:
        assert any(s.value.startswith("Formula = engine") for s in at.success)
    if step.figure == "quiz":
        assert at.radio(key=f"s{pos[0]}_{pos[1]}_quiz").options == list(step.quiz.options)
    if step.source:
        assert [c for c in at.code if "def " in c.value or "class " in c.value]


def test_deep_link_opens_lesson_3_step_4():
    at = open_lessons({"lesson": "3", "step": "4"})
    assert shown_title(at) == "The recurrent form"
    assert url(at) == {"lesson": "3", "step": "4"}
    assert at.get("progress")[0].proto.text.startswith("Lesson 3 of 3 · step 4 of")
    # the table's numbers are the model's: the last row's engine wkv is the recorded value
    ex = lc.run_example(embedded())
    c = lc.memory_channel(ex, lc.DEFAULT_LAYER, ex.n_tokens - 1)
    df = at.dataframe[0].value
    recorded = float(ex.rec[f"blocks.{lc.DEFAULT_LAYER}.att.wkv"][ex.n_tokens - 1, c])
    assert float(df["wkv (engine)"].iloc[-1]) == pytest.approx(recorded, rel=1e-5)
    assert float(df["wkv (formula)"].iloc[-1]) == pytest.approx(recorded, rel=1e-4)


@pytest.mark.parametrize("query, expected", [
    ({"lesson": "9", "step": "1"}, (3, 1)), ({"lesson": "2", "step": "0"}, (2, 1)),
    ({"lesson": "x", "step": "y"}, (1, 1)), ({}, (1, 1)), ({"step": "3"}, (1, 3)),
])
def test_bad_or_missing_deep_links_land_on_a_real_step(query, expected):
    at = open_lessons(query)
    assert position(at) == expected
    assert url(at) == {"lesson": str(expected[0]), "step": str(expected[1])}


def test_next_previous_and_contents():
    last_of_one = len(LESSONS[0].steps)
    at = open_lessons({"lesson": "1", "step": str(last_of_one)})
    button(at, "Next →").click().run()
    no_exception(at)
    assert position(at) == (2, 1) and shown_title(at) == LESSONS[1].steps[0].title
    assert url(at) == {"lesson": "2", "step": "1"}
    button(at, "← Previous").click().run()
    assert position(at) == (1, last_of_one)
    at.button(key="toc_3_5").click().run()
    no_exception(at)
    assert position(at) == (3, 5) and shown_title(at) == LESSONS[2].steps[4].title
    assert url(at) == {"lesson": "3", "step": "5"}


def test_ends_disable_the_buttons():
    at = open_lessons({"lesson": "1", "step": "1"})
    assert button(at, "← Previous").disabled and not button(at, "Next →").disabled
    assert at.get("progress")[0].proto.value == round(100 / len(ls.flat_positions(LESSONS)))
    last = ls.flat_positions(LESSONS)[-1]
    at = open_lessons({"lesson": str(last[0]), "step": str(last[1])})
    assert button(at, "Next →").disabled
    assert at.get("progress")[0].proto.value == 100


def test_quiz_gives_instant_feedback():
    pos = next(p for p in ls.flat_positions(LESSONS) if LESSONS[p[0] - 1].steps[p[1] - 1].figure == "quiz")
    quiz = LESSONS[pos[0] - 1].steps[pos[1] - 1].quiz
    at = open_lessons({"lesson": str(pos[0]), "step": str(pos[1])})
    radio = at.radio(key=f"s{pos[0]}_{pos[1]}_quiz")
    assert radio.value is None and not at.success and not at.error
    wrong = next(o for i, o in enumerate(quiz.options) if i != quiz.answer)
    radio.set_value(wrong).run()
    assert at.error and "Not quite" in at.error[0].value and not at.success
    at.radio(key=f"s{pos[0]}_{pos[1]}_quiz").set_value(quiz.options[quiz.answer]).run()
    assert not at.error and at.success[0].value == "Right. " + quiz.explain


def test_classroom_mode_from_the_link():
    at = open_lessons({"lesson": "3", "step": "1", "classroom": "1"})
    assert at.toggle(key="lsn_classroom").value is True
    assert url(at) == {"lesson": "3", "step": "1", "classroom": "1"}
    assert at.session_state["lsn_example"][0] == "classroom:embedded"     # always the embedded model
    css = [h for h in at.get("html")]
    assert css and "stSidebar" in css[0].proto.body and "font-size" in css[0].proto.body
    assert not [s for s in at.selectbox if s.key in ("lsn_layer", "lsn_token")]   # the example is fixed
    assert at.table and not at.dataframe                                   # HTML tables: the large type applies
    # the same numbers as the fixed example computes, for every student
    ex = lc.run_example(embedded())
    t = ex.n_tokens - 1
    view = lc.token_shift_view(ex, lc.DEFAULT_LAYER, t, lc.pick_channels(ex, lc.DEFAULT_LAYER, t))
    shown = at.table[0].value
    assert [float(v) for v in shown["xk (engine)"]] == pytest.approx(view.table["xk (engine)"], rel=1e-5)


def test_classroom_toggle_off_and_on():
    at = open_lessons({"lesson": "1", "step": "2"})
    assert at.toggle(key="lsn_classroom").value is False and not at.get("html")
    at.toggle(key="lsn_classroom").set_value(True).run()
    no_exception(at)
    assert at.get("html") and url(at)["classroom"] == "1" and position(at) == (1, 2)
    at.toggle(key="lsn_classroom").set_value(False).run()
    assert not at.get("html") and "classroom" not in url(at)


def test_the_example_layer_changes_the_numbers():
    at = open_lessons({"lesson": "3", "step": "2"})
    before = at.dataframe[0].value
    at.selectbox(key="lsn_layer").set_value(4).run()
    no_exception(at)
    after = at.dataframe[0].value
    ex = lc.run_example(embedded())
    t = ex.n_tokens - 1
    view = lc.rkv_view(ex, 4, t, lc.pick_channels(ex, 4, t))
    assert [float(v) for v in after["k (engine)"]] == pytest.approx(view.table["k (engine)"], rel=1e-5)
    assert list(before["k (engine)"]) != list(after["k (engine)"])


def test_sampling_is_the_same_for_everyone():
    """Two separate sessions with the same settings draw the same token (the shared seed)."""
    pos = next(p for p in ls.flat_positions(LESSONS) if LESSONS[p[0] - 1].steps[p[1] - 1].figure == "sampling")
    picks = []
    for _ in range(2):
        at = open_lessons({"lesson": str(pos[0]), "step": str(pos[1])})
        at.slider(key=f"s{pos[0]}_{pos[1]}_temp").set_value(1.5).run()
        picks.append([t.value for t in at.text if t.value.startswith("Seed")][0])
    assert picks[0] == picks[1] and f"Seed {lc.SEED}" in picks[0]


def test_another_model_in_the_sidebar(small_pth):
    """A smaller model without a tokenizer: the chosen layer that it lacks is forgotten, the
    numbers are that model's, and classroom mode still shows the embedded one."""
    at = open_lessons({"lesson": "3", "step": "2"})
    at.selectbox(key="lsn_layer").set_value(5).run()
    at.sidebar.radio(key="picker_source").set_value("path").run()
    at.sidebar.text_input(key="picker_path").set_value(str(small_pth))
    at.sidebar.button(key="picker_load_path").click().run()
    no_exception(at)
    assert at.selectbox(key="lsn_layer").value == min(lc.DEFAULT_LAYER, 2)     # 3 layers: 5 is gone
    assert at.session_state["lsn_example"][1].labels[0].startswith("#")       # ids, no tokenizer
    assert any(s.value.startswith("Formula = engine") for s in at.success)
    at.toggle(key="lsn_classroom").set_value(True).run()
    no_exception(at)
    assert at.session_state["lsn_example"][0] == "classroom:embedded"
    assert at.session_state["lsn_example"][1].model.config.n_layer == 6
