"""The lesson page in the real app (AppTest): every step renders with its title and the model's
numbers, deep links (by id, and old ones by position) open the step they name, next / previous /
contents move and write the URL, quizzes explain the option picked, the student's prompt drives
the numbers (a bad one is refused with a message), and classroom mode fixes the model, the
example and the type size."""
from pathlib import Path

import pytest
from app_helpers import embedded, no_exception, started_app
from streamlit.testing.v1 import AppTest

from app import formats
from app.lessons import content as ls
from app.lessons import core as lc
from app.lessons.quiz import LIVE

ROOT = Path(__file__).resolve().parent.parent
OTHER_PROMPT = "To be, or not to be, that is the question"
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


def ids(pos) -> dict:
    """The URL of the step at pos: its lesson's and its own id."""
    return ls.link(LESSONS, pos)


def key(pos) -> str:
    """The widget-key prefix of the step at pos."""
    q = ids(pos)
    return f"s_{q['lesson']}_{q['step']}"


def filled(quiz, ex=None):
    """The quiz as the page shows it for the default example (layer 2, last token)."""
    if not quiz.live:
        return quiz
    ex = ex or lc.run_example(embedded())
    return quiz.filled(LIVE[quiz.live](ex, lc.DEFAULT_LAYER, ex.n_tokens - 1))


@pytest.mark.parametrize("pos", ls.flat_positions(LESSONS), ids=lambda p: f"{p[0]}.{p[1]}")
def test_every_step_renders(pos):
    at = open_lessons(ids(pos))
    step = LESSONS[pos[0] - 1].steps[pos[1] - 1]
    assert shown_title(at) == step.title
    assert position(at) == pos
    assert not at.error, [e.value for e in at.error]                 # no formula disagrees with the engine
    if step.formulas:
        assert any(s.value.startswith("Formula = engine") for s in at.success)
    if step.figure == "quiz":
        assert at.radio(key=f"{key(pos)}_quiz").options == list(filled(step.quiz).options)
    if step.source:
        assert [c for c in at.code if "def " in c.value or "class " in c.value]


@pytest.mark.parametrize("query", [{"lesson": "3", "step": "4"},                   # an old link, by position
                                   {"lesson": "replacing-qkv-with-rwkv", "step": "wkv-recurrent"}])
def test_deep_link_opens_the_recurrent_form(query):
    at = open_lessons(query)
    assert shown_title(at) == "The recurrent form"
    assert url(at) == {"lesson": "replacing-qkv-with-rwkv", "step": "wkv-recurrent"}       # ids from now on
    n = LESSONS[2].step_index("wkv-recurrent") + 1
    assert at.get("progress")[0].proto.text.startswith(f"Lesson 3 of 3 · step {n} of")
    assert not at.warning
    # the table's numbers are the model's: the last row's engine wkv is the recorded value
    ex = lc.run_example(embedded())
    c = lc.memory_channel(ex, lc.DEFAULT_LAYER, ex.n_tokens - 1)
    df = at.dataframe[0].value
    recorded = float(ex.rec[f"blocks.{lc.DEFAULT_LAYER}.att.wkv"][ex.n_tokens - 1, c])
    # shown at the column's one precision (app/formats.py): equal to the recorded value to its last digit
    for col in ("wkv (engine)", "wkv (formula)"):
        cell = df[col].iloc[-1]
        assert float(cell) == pytest.approx(recorded, abs=0.51 * 10 ** -len(cell.partition(".")[2])), (col, cell)


@pytest.mark.parametrize("query, expected, says", [
    ({"lesson": "9", "step": "1"}, (3, 1), "There is no lesson 9; showing lesson 3, the last."),
    ({"lesson": "2", "step": "0"}, (2, 1), "There is no step 0 in this lesson; showing step 1, the first."),
    ({"lesson": "x", "step": "y"}, (1, 1), "There is no lesson 'x'"), ({}, (1, 1), ""), ({"step": "3"}, (1, 3), ""),
    ({"lesson": "scaling-an-rnn", "step": "no-such-step"}, (2, 1), "Lesson 2 has no step 'no-such-step'"),
])
def test_bad_or_missing_deep_links_land_on_a_real_step(query, expected, says):
    at = open_lessons(query)
    assert position(at) == expected
    assert url(at) == ids(expected)
    assert (says in at.warning[0].value) if says else not at.warning


def test_next_previous_and_contents():
    last_of_one = len(LESSONS[0].steps)
    at = open_lessons(ids((1, last_of_one)))
    button(at, "Next →").click().run()
    no_exception(at)
    assert position(at) == (2, 1) and shown_title(at) == LESSONS[1].steps[0].title
    assert url(at) == ids((2, 1))
    button(at, "← Previous").click().run()
    assert position(at) == (1, last_of_one)
    at.button(key="toc_replacing-qkv-with-rwkv_wkv-stable").click().run()
    no_exception(at)
    n = LESSONS[2].step_index("wkv-stable") + 1
    assert position(at) == (3, n) and shown_title(at) == LESSONS[2].steps[n - 1].title
    assert url(at) == {"lesson": "replacing-qkv-with-rwkv", "step": "wkv-stable"}


def test_ends_disable_the_buttons():
    at = open_lessons({"lesson": "1", "step": "1"})
    assert button(at, "← Previous").disabled and not button(at, "Next →").disabled
    # st.progress keeps int(100 * value): 1/36 of the way shows as 2, not round()'s 3
    assert at.get("progress")[0].proto.value == int(100 * ls.progress(LESSONS, (1, 1)))
    last = ls.flat_positions(LESSONS)[-1]
    at = open_lessons(ids(last))
    assert button(at, "Next →").disabled
    assert at.get("progress")[0].proto.value == 100


@pytest.mark.parametrize("pos", [p for p in ls.flat_positions(LESSONS) if LESSONS[p[0] - 1].steps[p[1] - 1].quiz],
                         ids=lambda p: ".".join(ids(p).values()))
def test_quiz_explains_the_option_picked(pos):
    """Each option, picked, shows its own explanation: why it is wrong, or why it is right."""
    quiz = filled(LESSONS[pos[0] - 1].steps[pos[1] - 1].quiz)
    at = open_lessons(ids(pos))
    radio = at.radio(key=f"{key(pos)}_quiz")
    assert radio.value is None and not at.success and not at.error
    for i in [i for i in range(len(quiz.options)) if i != quiz.answer]:
        at.radio(key=f"{key(pos)}_quiz").set_value(i).run()
        assert at.error[0].value == "Not quite. " + quiz.explain[i] and not at.success
    at.radio(key=f"{key(pos)}_quiz").set_value(quiz.answer).run()
    assert not at.error and at.success[0].value == "Right. " + quiz.explain[quiz.answer]


def test_a_live_quiz_follows_the_students_prompt():
    """The lesson-3 quiz asks about a number of the WKV step: after another prompt, the number and
    the explanation are that prompt's."""
    pos = (3, LESSONS[2].step_index("quiz-decay") + 1)
    quiz = LESSONS[2].steps[pos[1] - 1].quiz
    at = open_lessons(ids(pos))
    before = at.radio(key=f"{key(pos)}_quiz").label
    at.text_area(key="lsn_prompt_box").set_value(OTHER_PROMPT).run()
    no_exception(at)
    after = at.radio(key=f"{key(pos)}_quiz").label
    ex = lc.run_example(embedded(), OTHER_PROMPT)
    assert before != after and after == filled(quiz, ex).question


def test_classroom_mode_from_the_link():
    at = open_lessons({"lesson": "3", "step": "1", "classroom": "1"})
    assert at.toggle(key="lsn_classroom").value is True
    assert url(at) == {**ids((3, 1)), "classroom": "1"}
    assert not [t for t in at.text_area if t.key == "lsn_prompt_box"]            # the classroom prompt
    assert at.session_state["lsn_example"][0] == "classroom:embedded"     # always the embedded model
    css = [h for h in at.get("html") if "stSidebar" in h.proto.body]   # the classroom CSS (the phone CSS is always there)
    assert css and "stSidebar" in css[0].proto.body and "font-size" in css[0].proto.body
    assert not [s for s in at.selectbox if s.label in ("Layer", "Token")]          # the example is fixed
    assert at.table and not at.dataframe                                   # HTML tables: the large type applies
    # the same numbers as the fixed example computes, for every student
    ex = lc.run_example(embedded())
    t = ex.n_tokens - 1
    view = lc.token_shift_view(ex, lc.DEFAULT_LAYER, t, lc.pick_channels(ex, lc.DEFAULT_LAYER, t))
    shown = at.table[0].value
    assert list(shown["xk (engine)"]) == formats.table({"xk (engine)": view.table["xk (engine)"]})["xk (engine)"]


def test_classroom_toggle_off_and_on():
    at = open_lessons(ids((1, 2)))
    # the phone layout's CSS is always there (app/style.py); the classroom CSS is the one that hides the sidebar
    def classroom_css(at):
        return [h for h in at.get("html") if "stSidebar" in h.proto.body]
    assert at.toggle(key="lsn_classroom").value is False and not classroom_css(at)
    at.toggle(key="lsn_classroom").set_value(True).run()
    no_exception(at)
    assert classroom_css(at) and url(at)["classroom"] == "1" and position(at) == (1, 2)
    at.toggle(key="lsn_classroom").set_value(False).run()
    assert not classroom_css(at) and "classroom" not in url(at)


def test_the_example_layer_changes_the_numbers():
    at = open_lessons({"lesson": "replacing-qkv-with-rwkv", "step": "rkv"})
    before = at.dataframe[0].value
    at.selectbox(key="lsn_layer").set_value(4).run()
    no_exception(at)
    after = at.dataframe[0].value
    ex = lc.run_example(embedded())
    t = ex.n_tokens - 1
    view = lc.rkv_view(ex, 4, t, lc.pick_channels(ex, 4, t))
    assert list(after["k (engine)"]) == formats.table({"k (engine)": view.table["k (engine)"]})["k (engine)"]
    assert list(before["k (engine)"]) != list(after["k (engine)"])


def test_sampling_is_the_same_for_everyone():
    """Two separate sessions with the same settings draw the same token (the shared seed)."""
    pos = next(p for p in ls.flat_positions(LESSONS) if LESSONS[p[0] - 1].steps[p[1] - 1].figure == "sampling")
    picks = []
    for _ in range(2):
        at = open_lessons({"lesson": str(pos[0]), "step": str(pos[1])})
        at.slider(key=f"{key(pos)}_temp").set_value(1.5).run()
        picks.append([t.value for t in at.text if t.value.startswith("Seed")][0])
    assert picks[0] == picks[1] and f"Seed {lc.SEED}" in picks[0]


def test_another_model_in_the_sidebar(small_pth):
    """A smaller model without a tokenizer: the chosen layer that it lacks is forgotten, the
    numbers are that model's, and classroom mode still shows the embedded one."""
    at = open_lessons({"lesson": "replacing-qkv-with-rwkv", "step": "rkv"})
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


# --- the student's own prompt ----------------------------------------------------------------------

def rkv_table_for(prompt: str, layer: int = lc.DEFAULT_LAYER) -> dict:
    ex = lc.run_example(embedded(), prompt)
    t = ex.n_tokens - 1
    return lc.rkv_view(ex, layer, t, lc.pick_channels(ex, layer, t)).table


def test_the_students_prompt_drives_the_numbers():
    at = open_lessons({"lesson": "replacing-qkv-with-rwkv", "step": "rkv"})
    assert at.text_area(key="lsn_prompt_box").value == lc.EXAMPLE_PROMPT          # the classroom default
    before = at.dataframe[0].value
    at.text_area(key="lsn_prompt_box").set_value(OTHER_PROMPT).run()
    no_exception(at)
    after = at.dataframe[0].value
    mine = rkv_table_for(OTHER_PROMPT)
    assert list(after["k (engine)"]) == formats.table({"k (engine)": mine["k (engine)"]})["k (engine)"]
    assert list(before["k (engine)"]) != list(after["k (engine)"])
    ex = at.session_state["lsn_example"][1]
    token = next(s for s in at.selectbox if s.label == "Token")
    assert token.value == ex.n_tokens - 1 and len(token.options) == ex.n_tokens   # its tokens, at its last
    assert not at.error
    # back to the classroom prompt with one click
    at.button(key="lsn_prompt_reset").click().run()
    assert at.text_area(key="lsn_prompt_box").value == lc.EXAMPLE_PROMPT
    assert at.session_state["lsn_example"][2] == lc.EXAMPLE_PROMPT


@pytest.mark.parametrize("bad, says", [
    ("", "The prompt is empty"), ("   ", "The prompt is empty"),
    ("x" * 5000, "5,000 characters"), ("the " * 90, "tokens; a lesson's tables list every token"),
    ("a", "at least 2"), ("ab\x00cd\x07", "U+0000, U+0007"),
])
def test_a_bad_prompt_is_refused_and_the_previous_one_kept(bad, says):
    at = open_lessons({"lesson": "replacing-qkv-with-rwkv", "step": "rkv"})
    at.text_area(key="lsn_prompt_box").set_value(OTHER_PROMPT).run()
    good = at.dataframe[0].value
    at.text_area(key="lsn_prompt_box").set_value(bad).run()
    no_exception(at)
    assert says in at.error[0].value and "still for the previous prompt" in at.error[0].value
    assert at.session_state["lsn_example"][2] == OTHER_PROMPT                     # nothing lost
    assert list(at.dataframe[0].value["k (engine)"]) == list(good["k (engine)"])


def test_the_cliffhanger_step_shows_the_worry_answered_from_the_race_logs():
    """Lesson 2's last measured step: the red-line sentence is the view's, from the race's logs."""
    from app.lessons import views_cliffhanger as vcl
    from lab import race
    at = open_lessons({"lesson": "scaling-an-rnn", "step": "cliffhanger-measured"})
    said = vcl.red_line_sentence(race.race_logs())
    assert said and said in [m.value for m in at.markdown]
    assert not at.error
