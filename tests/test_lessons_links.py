"""Deep links by ids: every step has a stable id, links carry ids, inserting a step file moves no
link, and old links by position land on the step they landed on before ids (the order frozen in
lessons/index.md `legacy_lessons` and each lesson.md `legacy_steps`, from the files at commit
475efd7, when links were positions)."""
import re
import shutil
from pathlib import Path

import pytest

from app.lessons import content as ls

# The step files as they were when links named positions (git show 475efd7:lessons/...), written
# out here as well as in the data, so that an edit of the data's frozen order fails too.
AT_POSITIONS = {
    1: ["black-box", "tokens", "embeddings", "layers", "probabilities", "sampling", "quiz-sampling",
        "generation-loop", "transformer-vs-rnn", "quiz-state"],
    2: ["the-red-line", "remove-the-red-line", "watch-it-run", "chunking", "gpt-mode", "quiz-steps", "generating",
        "quiz-generation"],
    3: ["token-shift", "rkv", "wkv-sum", "wkv-recurrent", "wkv-stable", "quiz-decay", "time-mix-output",
        "channel-mix", "whole-block", "state", "quiz-stable", "quiz-block"],
}
LESSON_IDS = ["how-a-text-model-works", "scaling-an-rnn", "replacing-qkv-with-rwkv"]


@pytest.fixture(scope="module")
def lessons():
    return ls.load_lessons()


def step_at(lessons, pos):
    return lessons[pos[0] - 1].steps[pos[1] - 1]


def test_every_step_has_a_unique_stable_id(lessons):
    assert [l.id for l in lessons] == LESSON_IDS
    for lesson in lessons:
        ids = [s.id for s in lesson.steps]
        assert len(set(ids)) == len(ids) and all(ls.ID.fullmatch(i) for i in ids)
        for step in lesson.steps:            # the file name without NN-, unless front matter says `id:`
            name = Path(step.path).name
            assert step.id == ls.slug_id(name) or f"id: {step.id}" in (ls.LESSONS_DIR / lesson.slug / name).read_text()


def test_links_carry_ids_and_lead_back(lessons):
    for pos in ls.flat_positions(lessons):
        q = ls.link(lessons, pos)
        assert q == {"lesson": lessons[pos[0] - 1].id, "step": step_at(lessons, pos).id}
        assert not any(c.isdigit() for c in q["lesson"][:1] + q["step"][:1])   # never a position
        assert ls.find_position(lessons, q["lesson"], q["step"]) == (pos, "")


def test_the_frozen_order_is_the_one_links_had(lessons):
    assert list(ls.legacy_lessons()) == LESSON_IDS
    for lesson in lessons:
        assert list(lesson.legacy_steps) == AT_POSITIONS[lesson.number]


def legacy_cases():
    """Every old link (?lesson=N&step=M) with the step it landed on: in range, and the clamped
    ones (out of range, 0, text) as the old page clamped them."""
    for n, ids in AT_POSITIONS.items():
        for m, step_id in enumerate(ids, start=1):
            yield str(n), str(m), LESSON_IDS[n - 1], step_id
        yield str(n), str(len(ids) + 5), LESSON_IDS[n - 1], ids[-1]
        yield str(n), "0", LESSON_IDS[n - 1], ids[0]
    yield "9", "2", LESSON_IDS[2], AT_POSITIONS[3][1]
    yield "0", "3", LESSON_IDS[0], AT_POSITIONS[1][2]


@pytest.mark.parametrize("lesson, step, lesson_id, step_id", list(legacy_cases()))
def test_old_position_links_land_where_they_landed(lessons, lesson, step, lesson_id, step_id):
    pos, note = ls.find_position(lessons, lesson, step, ls.legacy_lessons())
    assert (lessons[pos[0] - 1].id, step_at(lessons, pos).id) == (lesson_id, step_id)
    n, m = int(lesson), int(step)
    clamped = not 1 <= n <= len(AT_POSITIONS) or not 1 <= m <= len(AT_POSITIONS[min(max(n, 1), len(AT_POSITIONS))])
    assert ("There is no" in note) if clamped else note == "", note       # clamped, and said so


@pytest.mark.parametrize("lesson, step, says", [
    ("1", "99", "There is no step 99 in this lesson; showing step {frozen_last}{end}."),
    ("replacing-qkv-with-rwkv", "99", "There is no step 99 in this lesson; showing step {frozen_last}{end}."),
    ("9", "1", "There is no lesson 9; showing lesson {lessons}, the last."),
    ("1", "0", "There is no step 0 in this lesson; showing step 1, the first."),
])
def test_a_number_beyond_the_ends_says_which_step_is_shown(lessons, lesson, step, says):
    """A step number lands where it landed when links were numbers (the lesson's frozen
    legacy_steps, clamped to them): past the end, on the frozen order's last step, which is the
    lesson's last only if no step was added after it (lesson 3 has its step 15 since)."""
    pos, note = ls.find_position(lessons, lesson, step, ls.legacy_lessons())
    chosen = lessons[pos[0] - 1]
    frozen_last = chosen.step_index(chosen.legacy_steps[-1]) + 1 if chosen.legacy_steps else len(chosen.steps)
    end = ", the last" if frozen_last == len(chosen.steps) else ""
    assert note == says.format(frozen_last=frozen_last, end=end, lessons=len(lessons))
    assert pos[1] == frozen_last or step == "1" or step == "0"


@pytest.mark.parametrize("lesson, step, expected, says", [
    ("replacing-qkv-with-rwkv", "no-such-step", (3, 1), "has no step 'no-such-step'"),
    ("no-such-lesson", "wkv-sum", (1, 1), "no lesson 'no-such-lesson'"),
    ("scaling-an-rnn", None, (2, 1), ""), (None, None, (1, 1), ""), ("", "", (1, 1), ""),
    ("<script>" * 30, "x", (1, 1), "no lesson"),
])
def test_unknown_ids_land_on_a_first_step_and_say_so(lessons, lesson, step, expected, says):
    pos, note = ls.find_position(lessons, lesson, step, ls.legacy_lessons())
    assert pos == expected and says in note
    assert len(note) < 200                                     # the bad text is cut, not echoed whole


def renumbered_copy(tmp_path: Path) -> Path:
    """A copy of lessons/ with a new step inserted at the front of every lesson and every old
    file's NN- prefix moved up by one, as inserting a step does."""
    root = tmp_path / "lessons"
    shutil.copytree(ls.LESSONS_DIR, root)
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for f in sorted(folder.glob("[0-9]*.md"), reverse=True):
            n, rest = re.match(r"([0-9]+)-(.*)", f.name).groups()
            f.rename(folder / f"{int(n) + 1:02d}-{rest}")
        (folder / "01-a-new-first-step.md").write_text("---\ntitle: A new first step\nfigure: tokens\n---\nNew.\n")
    # and one split: a step renamed to a new file name keeps its old id with `id:`
    three = root / "03-replacing-qkv-with-rwkv"
    old = next(three.glob("*-wkv-stable.md"))
    text = old.read_text()
    old.unlink()
    # (a name that sorts where the old one did: the test is about ids, not about the order)
    (three / old.name.replace("wkv-stable", "wkv-stable-split")).write_text(
        text.replace("---\n", "---\nid: wkv-stable\n", 1))
    return root


def test_inserting_steps_moves_no_link(lessons, tmp_path):
    root = renumbered_copy(tmp_path)
    moved = ls.load_lessons(root)
    assert [len(l.steps) for l in moved] == [len(l.steps) + 1 for l in lessons]
    # every id link lands on the same step (same title and text) as before the insertion
    for pos in ls.flat_positions(lessons):
        q = ls.link(lessons, pos)
        new_pos, note = ls.find_position(moved, q["lesson"], q["step"])
        assert note == "" and new_pos == (pos[0], pos[1] + 1)        # one step further down, same step
        before, after = step_at(lessons, pos), step_at(moved, new_pos)
        assert (after.id, after.title, after.text) == (before.id, before.title, before.text)
    # every old position link still lands on its step, though every position moved
    for lesson, step, lesson_id, step_id in legacy_cases():
        pos, _ = ls.find_position(moved, lesson, step, ls.legacy_lessons(root))
        assert (moved[pos[0] - 1].id, step_at(moved, pos).id) == (lesson_id, step_id)


def test_a_rename_without_its_old_id_is_refused(tmp_path):
    """Renaming a step file without `id:` would break the old links to it: reading says which."""
    root = tmp_path / "lessons"
    shutil.copytree(ls.LESSONS_DIR, root)
    f = next((root / "03-replacing-qkv-with-rwkv").glob("*-wkv-stable.md"))
    f.rename(f.with_name("05-the-max-trick.md"))
    with pytest.raises(ls.LessonError, match="legacy_steps names 'wkv-stable'.*id: wkv-stable"):
        ls.load_lessons(root)
    dup = root / "03-replacing-qkv-with-rwkv" / "99-rkv.md"
    dup.write_text("---\ntitle: Again\nfigure: tokens\nid: the-max-trick\n---\nx\n")
    with pytest.raises(ls.LessonError, match="step id 'the-max-trick' is used by two steps"):
        ls.read_lesson(root / "03-replacing-qkv-with-rwkv", 3)


def test_an_id_must_be_link_safe(tmp_path):
    f = tmp_path / "a" / "01-x.md"
    f.parent.mkdir()
    f.write_text("---\ntitle: X\nfigure: tokens\nid: Not Safe&step=1\n---\nx\n")
    with pytest.raises(ls.LessonError, match="lower-case words"):
        ls.read_step(f)
