"""The lessons as data: they read, cover the issue's topics in order, name only real figures,
recorder points, formulas and engine functions, state the equations the engine runs, and the
navigation helpers move through them correctly. Also the lesson figures' data."""
import re

import pytest

from app.lessons import content as ls
from app.lessons import views
from rwkv_core.trace import point_names
from visuals import lessons as vl
from visuals.theme import caption


@pytest.fixture(scope="module")
def lessons():
    return ls.load_lessons()


def figures(lesson) -> list[str]:
    return [s.figure for s in lesson.steps]


def test_three_lessons_in_the_articles_order(lessons):
    assert [l.number for l in lessons] == [1, 2, 3]
    assert [l.title for l in lessons] == ["How a text model works", "Scaling an RNN to transformer scale",
                                          "Replacing QKV and LSTM with RWKV"]
    for lesson in lessons:
        assert lesson.summary and lesson.intro
        assert all(s.title and (s.text or s.quiz) for s in lesson.steps)


def in_order(seq, wanted):
    """The wanted items appear in seq in this order (other items may sit between)."""
    it = iter(seq)
    return all(w in it for w in wanted)


def test_each_lesson_covers_its_topics_in_order(lessons):
    one, two, three = lessons
    assert in_order(figures(one), ["black_box", "tokens", "embedding", "layers", "probabilities", "sampling",
                                   "generation_loop", "qkv_vs_state"])
    assert in_order(figures(two), ["red_line_live", "wave", "race", "chunk_sizes", "chunk_cost", "gpt_mode",
                                   "two_parts", "kind_grids", "generation_chain"])
    assert in_order(figures(three), ["token_shift", "rkv", "wkv_sum", "wkv_recurrent", "wkv_stable", "time_mix_out",
                                     "channel_mix", "block", "state"])


def test_a_few_quizzes_per_lesson(lessons):
    """Quizzes that teach: every option has its own explanation, and each lesson has a quiz
    about a live number of its example (a `live:` quiz; tests/test_lessons_quiz.py checks them)."""
    for lesson in lessons:
        quizzes = [s.quiz for s in lesson.steps if s.figure == "quiz"]
        assert len(quizzes) >= 2, lesson.title
        assert any(q.live for q in quizzes), f"{lesson.title}: no quiz asks about a live number"
        for q in quizzes:
            assert len(set(q.options)) == len(q.options) >= 3
            assert 0 <= q.answer < len(q.options)
            assert len(q.explain) == len(q.options) and len(set(q.explain)) == len(q.explain)
            assert all(len(e.split()) >= 8 for e in q.explain), q.explain      # a reason, not "wrong"
            assert q.check(q.answer) is True
            assert all(q.check(i) is False for i in range(len(q.options)) if i != q.answer)
            assert q.check(None) is None


def test_quiz_on_the_block_says_directly_reads(lessons):
    """Issue 15, fix 10: channel-mix's token shift reads one token back; older tokens reach it
    only through the residual stream, so the question is which part DIRECTLY reads further back."""
    q = next(s.quiz for s in lessons[2].steps if s.id == "quiz-block")
    assert "directly reads" in q.question
    assert q.options[q.answer].startswith("Time-mix")
    channel_mix = q.explain[q.options.index("Channel-mix")]
    assert "previous token" in channel_mix and "residual stream" in channel_mix


def test_every_name_in_the_front_matter_is_real(lessons):
    assert ls.problems(lessons, point_names(6)) == []
    for lesson in lessons:
        for step in lesson.steps:
            assert step.figure in views.VIEWS


def test_every_view_has_a_description_and_a_renderer():
    """One registry: a figure name a step may use is a view with both, so none lacks the other."""
    assert views.VIEWS and all(v.description and callable(v.render) for v in views.VIEWS.values())
    assert ls.view_names() == set(views.VIEWS)


def test_the_shown_source_is_the_engines():
    from rwkv_core import ops
    src = ls.source_of("rwkv_core.ops.wkv_step")
    assert src.startswith("def wkv_step(") and "torch.maximum(pp, ww)" in src
    assert ls.source_of("rwkv_core.model.RWKV.forward").lstrip().startswith("def forward(")
    assert ls.resolve_source("rwkv_core.ops.wkv_step") is ops.wkv_step
    with pytest.raises(ls.LessonError):
        ls.resolve_source("nothing_here.at_all")


def test_problems_catches_bad_names(tmp_path):
    bad = ls.Step("x", "text", "rkv", focus=("blocks.{layer}.att.q",), formulas=("softmax_attention",),
                  source=("os.path.join",), path="t/01.md")
    lesson = ls.Lesson(1, "t", "T", "", "", (bad,))
    found = ls.problems((lesson,), point_names(2))
    assert len(found) == 3 and "att.q" in found[0] and "softmax_attention" in found[1] and "os.path" in found[2]


def text_of(lessons, figure):
    return next(s.text for l in lessons for s in l.steps if s.figure == figure)


def test_lesson_equations_are_the_code_ones(lessons):
    """The equations as the engine runs them (signs and names of the code), and the notes where
    the paper writes them differently."""
    wkv = text_of(lessons, "wkv_sum")
    assert r"e^{(t-1-i)\,w + k_i}" in wkv and r"e^{u + k_t}" in wkv
    assert r"w = -e^{\texttt{time\_decay}}" in wkv and "w = -\\exp(\\texttt{time\\_decay})" in wkv
    assert "e^{-(t-1-i)w + k_i}" in wkv and r"w \ge 0" in wkv              # the paper's form, named as such
    rec = text_of(lessons, "wkv_recurrent")
    assert "a_t = e^{w} a_{t-1} + e^{k_t} v_t" in rec and "e^{-w}" in rec
    stable = text_of(lessons, "wkv_stable")
    for piece in ("q = \\max(pp,\\; u + k_t)", "q' = \\max(pp + w,\\; k_t)", "pp' = q'", "88.7"):
        assert piece in stable
    shift = text_of(lessons, "token_shift")
    assert r"\mu_k \odot x_t + (1 - \mu_k) \odot x_{t-1}" in shift and "time_mix_k" in shift
    cm = text_of(lessons, "channel_mix")
    assert r"\max\!\big(" in cm and r"\big)^2" in cm and r"r'_t \odot (W'_v \cdot k'_t)" in cm
    assert r"W_o \cdot (r_t \odot \mathrm{wkv}_t)" in text_of(lessons, "time_mix_out")


def test_no_html_in_lesson_text(lessons):
    for lesson in lessons:
        for step in lesson.steps:
            assert not re.search(r"<\s*(script|style|iframe|div|span|img)", step.text, re.I), step.path


# --- the front-matter parser ----------------------------------------------------------------------

def test_front_matter_parser():
    meta, body = ls.parse_front_matter("---\ntitle: \"A: b\"\nfocus: [embed, 'ln_out']\noptions:\n  - one, two\n"
                                       "  - \"3\"\nanswer: 2\n---\nBody *text*\n", "t.md")
    assert meta == {"title": "A: b", "focus": ["embed", "ln_out"], "options": ["one, two", "3"], "answer": "2"}
    assert body == "Body *text*"


@pytest.mark.parametrize("text, message", [
    ("title: x\n", "must start with"),
    ("---\ntitle: x\n", "no closing"),
    ("---\njust words\n---\n", "expected 'key: value'"),
    ("---\ntitle: a\ntitle: b\n---\n", "given twice"),
    ("---\n- stray\n---\n", "must follow"),
])
def test_front_matter_errors_name_the_file(text, message):
    with pytest.raises(ls.LessonError, match=message) as e:
        ls.parse_front_matter(text, "lesson/x.md")
    assert "lesson/x.md" in str(e.value)


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_read_step_rejects_unknown_figures_and_bad_quizzes(tmp_path):
    write(tmp_path / "a" / "01-x.md", "---\ntitle: X\nfigure: hologram\n---\nhi\n")
    with pytest.raises(ls.LessonError, match="unknown figure 'hologram'"):
        ls.read_step(tmp_path / "a" / "01-x.md")
    write(tmp_path / "a" / "02-q.md", "---\ntitle: Q\nfigure: quiz\nquestion: ?\noptions: [a, b]\nanswer: 3\n"
                                      "explain: e\n---\n")
    with pytest.raises(ls.LessonError, match="answer 3 is not one of the 2"):
        ls.read_step(tmp_path / "a" / "02-q.md")
    write(tmp_path / "a" / "03-q.md", "---\ntitle: Q\nfigure: quiz\noptions: [a, b]\nanswer: 1\n---\n")
    with pytest.raises(ls.LessonError, match="needs 'question'"):
        ls.read_step(tmp_path / "a" / "03-q.md")
    # one explanation per option, none empty
    write(tmp_path / "a" / "04-q.md", "---\ntitle: Q\nfigure: quiz\nquestion: ?\noptions: [a, b, c]\nanswer: 1\n"
                                      "explain:\n  - why a\n  - why b\n---\n")
    with pytest.raises(ls.LessonError, match="one explanation per option.*3 options, 2 explanations"):
        ls.read_step(tmp_path / "a" / "04-q.md")
    write(tmp_path / "a" / "05-q.md", "---\ntitle: Q\nfigure: quiz\nquestion: ?\noptions: [a, b]\nanswer: 1\n"
                                      "explain: [why a, why b]\nlive: made_up\n---\n")
    with pytest.raises(ls.LessonError, match="live 'made_up' is not in"):
        ls.read_step(tmp_path / "a" / "05-q.md")
    write(tmp_path / "a" / "06-q.md", "---\ntitle: Q\nfigure: quiz\nquestion: ?\noptions: [a, b]\nanswer: 2\n"
                                      "explain: [why a, why b]\n---\n")
    q = ls.read_step(tmp_path / "a" / "06-q.md").quiz
    assert q.explain == ("why a", "why b") and q.answer == 1 and q.check(1) and not q.check(0)


def test_load_lessons_from_a_folder(tmp_path):
    write(tmp_path / "index.md", "---\nlessons: [b, a]\n---\nIntro\n")
    for name in ("a", "b"):
        write(tmp_path / name / "lesson.md", f"---\ntitle: Lesson {name}\nsummary: s\n---\nabout {name}\n")
        write(tmp_path / name / "02-second.md", "---\ntitle: Second\nfigure: tokens\n---\ntwo\n")
        write(tmp_path / name / "01-first.md",
              "---\ntitle: First\nfigure: rkv\nfocus: [\"blocks.{layer}.att.k\"]\n---\none\n")
    loaded = ls.load_lessons(tmp_path)
    assert [l.title for l in loaded] == ["Lesson b", "Lesson a"] and [l.number for l in loaded] == [1, 2]
    assert [s.title for s in loaded[0].steps] == ["First", "Second"]          # by file name
    assert loaded[0].steps[0].focus_names(3) == ["blocks.3.att.k"]
    assert ls.index_intro(tmp_path) == "Intro"
    write(tmp_path / "c" / "lesson.md", "---\ntitle: C\n---\n")
    with pytest.raises(ls.LessonError, match="no step files"):
        ls.read_lesson(tmp_path / "c", 3)


# --- moving through the lessons ---------------------------------------------------------------------

def test_positions_and_neighbours(lessons):
    flat = ls.flat_positions(lessons)
    assert flat[0] == (1, 1) and flat[-1] == (3, len(lessons[2].steps))
    assert len(flat) == sum(len(l.steps) for l in lessons)
    end_of_one = (1, len(lessons[0].steps))
    assert ls.neighbour(lessons, end_of_one, 1) == (2, 1)
    assert ls.neighbour(lessons, (2, 1), -1) == end_of_one
    assert ls.neighbour(lessons, (1, 1), -1) == (1, 1) and ls.neighbour(lessons, flat[-1], 1) == flat[-1]
    assert ls.progress(lessons, flat[-1]) == 1.0
    assert ls.progress(lessons, (1, 1)) == pytest.approx(1 / len(flat))


@pytest.mark.parametrize("lesson, step, expected", [
    ("3", "4", (3, 4)), (3, 4, (3, 4)), ("9", "2", (3, 2)), ("0", "0", (1, 1)), ("two", "x", (1, 1)),
    ("2", "99", None), (None, None, (1, 1)), (" 2 ", "3", (2, 3)),
])
def test_clamp_position(lessons, lesson, step, expected):
    expected = expected or (2, len(lessons[1].steps))
    assert ls.clamp_position(lessons, lesson, step) == expected


# --- lesson figures ---------------------------------------------------------------------------------

def test_generation_steps_follow_the_dependencies():
    L, n_prompt, n_new = 3, 4, 3
    steps = vl.generation_steps(L, n_prompt, n_new)
    for l in range(L):
        for t in range(n_prompt + n_new):
            if l:
                assert steps[l][t] > steps[l - 1][t]                      # below
            if t:
                assert steps[l][t] > steps[l][t - 1]                      # left (the state)
            if t >= n_prompt:
                assert steps[0][t] > steps[L - 1][t - 1]                  # sampled from the previous top
    assert [steps[l][t] for l in range(L) for t in range(n_prompt) if l + t == 2] == [2, 2, 2]  # a wave
    # writing: each new token costs L more steps
    assert steps[L - 1][-1] - steps[L - 1][n_prompt - 1] == n_new * L


def test_lesson_figures_show_their_data_and_escape_text():
    fig = vl.wkv_shares(["<b>", "a"], [0.25, 0.75], channel=3, layer=1, w=-0.5, u=0.1, wkv=0.2)
    assert list(fig.data[0].y) == [0.25, 0.75] and "&lt;b&gt;" in fig.data[0].x[0] and caption(fig)
    fig = vl.exponent_bars(["a", "b"], [100.5, 10.0], 100.0)
    assert list(fig.data[0].marker.color)[0] != list(fig.data[0].marker.color)[1]
    fig = vl.generation_chain(3, ["x", "y", "z", "new"], 3)
    assert len(fig.layout.annotations) == 1 and "3 prompt tokens" in fig.layout.title.text
    fig = vl.state_fields({"x_att": [1.0, 2.0], "aa": [0.1, 0.2], "bb": [1.0, 1.0], "pp": [0.0, 1.0],
                           "x_ffn": [3.0, 4.0]}, layer=2, token="<i>")
    assert list(fig.data[0].y) == ["x_att", "aa", "bb", "x_ffn"] and "&lt;i&gt;" in fig.layout.title.text
    big = vl.presenter(vl.vector_bars([1.0, 2.0], title="t", caption="c"))
    assert big.layout.font.size > 16 and big.layout.height > 340


def test_the_lessons_are_read_once_per_version_of_the_files(tmp_path):
    """Every page run (every student's, every second in a room) asks for the lessons: they are read
    once and shared, and read again when a file changes."""
    import shutil
    root = tmp_path / "lessons"
    shutil.copytree(ls.LESSONS_DIR, root)
    first = ls.load_lessons(root)
    assert ls.load_lessons(root) is first                               # shared, not read again
    step = sorted((root / "01-how-a-text-model-works").glob("0*.md"))[0]
    step.write_text(step.read_text(encoding="utf-8").replace("title:", "title: Changed", 1), encoding="utf-8")
    again = ls.load_lessons(root)
    assert again is not first and again[0].steps[0].title.startswith("Changed")
