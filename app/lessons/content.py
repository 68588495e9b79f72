"""Lessons as data: reading lessons/ into Lesson and Step objects, checking them, and moving
through them. No Streamlit here: the page (app/app_pages/lessons.py) and the tests use this.

Layout of lessons/:
    index.md                          front matter `lessons: [folder, ...]` (the order), body: intro
    01-how-a-text-model-works/
        lesson.md                     front matter: title, summary; body: what the lesson is about
        01-black-box.md               one step: front matter + markdown body
        ...

Front matter of a step (between two `---` lines; `key: value`, lists as `[a, b]` or `- item` lines):
    title     the step's title
    figure    which view the page shows (a name in app/lessons/registry.py VIEWS), or `quiz`
    focus     recorder point names the step looks at; `{layer}` stands for the chosen layer
    formulas  functions of lab/reference.py whose equations the text states (tested)
    source    dotted names of model functions (rwkv_core.*, rivals.*, or app.lessons.core.generate, the
              loop the lesson runs) whose real source the step shows
    id        optional: the step's stable id in links (default: the file name without its NN- prefix
              and .md). Give a renamed or split step its old id here, so that links keep working.
    quiz steps: question, options (a `- item` list), answer (1-based), explain (a `- item` list, one
              explanation per option in the same order: why that option is right or wrong, shown
              when the student picks it); optional `live`: a name in app/lessons/quiz.py LIVE whose
              values (from the student's own example) fill `{name}` fields of the question, the
              options and the explanations

Deep links name a lesson and a step by id (?lesson=replacing-qkv-with-rwkv&step=wkv-recurrent), so
that inserting or renumbering step files moves no link. A lesson's id is its folder name without
the NN- prefix. Links by position (?lesson=3&step=4, the form before ids) are read through the
frozen order in data: index.md's `legacy_lessons` and each lesson.md's `legacy_steps` (step ids in
the order the files had when links were positions); they land where they landed then.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

from .step import KINDS, LessonError, Prediction, Quiz, Step, resolve_source, source_of  # noqa: F401  (ls.*)

LESSONS_DIR = Path(__file__).resolve().parents[2] / "lessons"
# where the code a step quotes may live: the engine, the rival models, the lessons' generation loop
SOURCE_PACKAGES = ("rwkv_core.", "rivals.", "app.lessons.core.")


def view_names() -> set[str]:
    """The figure names a step may use: the views' registry (app/lessons/registry.py VIEWS, filled
    by the view modules that app/lessons/views.py gathers). Imported when a step is read, not at the
    top: the views need Streamlit, and this module itself does not. No circle: the views import
    Step from app/lessons/step.py, not from here."""
    from .views import VIEWS
    return set(VIEWS)


@dataclass(frozen=True)
class Lesson:
    number: int                    # 1-based, as in the deep link ?lesson=N
    slug: str
    title: str
    summary: str
    intro: str
    steps: tuple[Step, ...] = field(default_factory=tuple)
    id: str = ""                   # stable in links: the folder name without NN-
    legacy_steps: tuple[str, ...] = ()   # step ids in the frozen order of position links (?step=N)

    def step_index(self, step_id: str) -> int | None:
        """The 0-based index of the step with this id, None when there is none."""
        return next((i for i, s in enumerate(self.steps) if s.id == step_id), None)


# --- front matter -------------------------------------------------------------------------------

def _scalar(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def parse_front_matter(text: str, where: str = "") -> tuple[dict, str]:
    """Split `---\\nkey: value\\n---\\nbody` into (dict, body). Values are strings; `[a, b]` and
    following `- item` lines are lists. Deliberately small: no nesting, no types."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise LessonError(f"{where}: must start with a '---' line (front matter)")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise LessonError(f"{where}: the front matter has no closing '---'") from None
    meta: dict = {}
    last = None
    for n, line in enumerate(lines[1:end], start=2):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.lstrip().startswith("- "):
            if last is None or not isinstance(meta[last], list):
                raise LessonError(f"{where}:{n}: a '- item' line must follow a 'key:' line with no value")
            meta[last].append(_scalar(line.lstrip()[2:]))
            continue
        key, sep, value = line.partition(":")
        if not sep or not key.strip().isidentifier():
            raise LessonError(f"{where}:{n}: expected 'key: value', got {line!r}")
        key, value = key.strip(), value.strip()
        if key in meta:
            raise LessonError(f"{where}:{n}: '{key}' is given twice")
        if value.startswith("[") and value.endswith("]"):
            meta[key] = [_scalar(v) for v in value[1:-1].split(",") if v.strip()]
        else:
            meta[key] = _scalar(value) if value else []
        last = key
    return meta, "\n".join(lines[end + 1:]).strip()


# --- reading ------------------------------------------------------------------------------------

def _as_tuple(meta: dict, key: str) -> tuple[str, ...]:
    value = meta.get(key, [])
    return tuple(value) if isinstance(value, list) else (value,)


ID = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")      # what a link may carry: lower-case words and hyphens


def slug_id(name: str) -> str:
    """'05-wkv-stable.md' → 'wkv-stable'; '03-replacing-qkv-with-rwkv' → 'replacing-qkv-with-rwkv'."""
    return re.sub(r"^[0-9]+-", "", name.removesuffix(".md"))


def _quiz(meta: dict, where: str) -> Quiz:
    for key in ("question", "options", "answer", "explain"):
        if not meta.get(key):
            raise LessonError(f"{where}: a quiz step needs '{key}'")
    options, explain = _as_tuple(meta, "options"), _as_tuple(meta, "explain")
    try:
        answer = int(meta["answer"])
    except ValueError:
        raise LessonError(f"{where}: answer must be the number of the right option (1-based)") from None
    if not 1 <= answer <= len(options) or len(options) < 2:
        raise LessonError(f"{where}: answer {answer} is not one of the {len(options)} options")
    if len(explain) != len(options) or not all(e.strip() for e in explain):
        raise LessonError(f"{where}: 'explain' needs one explanation per option, in the options' order "
                          f"({len(options)} options, {len(explain)} explanations)")
    live = meta.get("live", "")
    if live:
        from .quiz import LIVE  # the live values need torch, not Streamlit
        if live not in LIVE:
            raise LessonError(f"{where}: live {live!r} is not in app/lessons/quiz.py LIVE; known: "
                              f"{', '.join(sorted(LIVE))}")
    return Quiz(meta["question"], options, answer - 1, explain, live)


def _prediction(meta: dict, where: str) -> Prediction | None:
    if not meta.get("predict"):
        if extra := sorted(k for k in meta if k.startswith("predict_")):
            raise LessonError(f"{where}: {extra[0]} without 'predict'")
        return None
    for key in ("predict_kind", "predict_question", "predict_explain"):
        if not meta.get(key):
            raise LessonError(f"{where}: a prediction needs '{key}'")
    kind, options, explain = meta["predict_kind"], _as_tuple(meta, "predict_options"), _as_tuple(meta, "predict_explain")
    if kind not in KINDS:
        raise LessonError(f"{where}: predict_kind {kind!r} is not one of {', '.join(KINDS)}")
    if kind == "choice" and (len(options) < 2 or len(explain) != len(options)):
        raise LessonError(f"{where}: a choice prediction needs 2 or more predict_options and one predict_explain "
                          f"per option ({len(options)} options, {len(explain)} explanations)")
    if kind != "choice" and (options or len(explain) != 1):
        raise LessonError(f"{where}: a {kind} prediction has no predict_options and one predict_explain text")
    from .quiz import PREDICT  # the computed answers need torch, not Streamlit
    if meta["predict"] not in PREDICT:
        raise LessonError(f"{where}: predict {meta['predict']!r} is not in app/lessons/quiz.py PREDICT; known: "
                          f"{', '.join(sorted(PREDICT))}")
    return Prediction(meta["predict_question"], kind, meta["predict"], options, explain)


def read_step(path: Path) -> Step:
    where = f"{path.parent.name}/{path.name}"
    meta, body = parse_front_matter(path.read_text(encoding="utf-8"), where)
    for key in ("title", "figure"):
        if not meta.get(key) or not isinstance(meta[key], str):
            raise LessonError(f"{where}: '{key}' is required")
    if meta["figure"] not in (known := view_names()):
        raise LessonError(f"{where}: unknown figure {meta['figure']!r}; known: {', '.join(sorted(known))}")
    step_id = meta.get("id") or slug_id(path.name)
    if not isinstance(step_id, str) or not ID.fullmatch(step_id):
        raise LessonError(f"{where}: id {step_id!r} must be lower-case words joined by '-'")
    quiz = _quiz(meta, where) if meta["figure"] == "quiz" else None
    return Step(meta["title"], body, meta["figure"], _as_tuple(meta, "focus"), _as_tuple(meta, "formulas"),
                _as_tuple(meta, "source"), quiz, where, step_id, _prediction(meta, where))


def read_lesson(folder: Path, number: int) -> Lesson:
    head = folder / "lesson.md"
    if not head.is_file():
        raise LessonError(f"{folder.name}: lesson.md is missing")
    meta, intro = parse_front_matter(head.read_text(encoding="utf-8"), f"{folder.name}/lesson.md")
    steps = tuple(read_step(p) for p in sorted(folder.glob("[0-9]*.md")))
    if not steps:
        raise LessonError(f"{folder.name}: no step files (NN-slug.md)")
    ids = [s.id for s in steps]
    if twice := sorted({i for i in ids if ids.count(i) > 1}):
        raise LessonError(f"{folder.name}: step id {twice[0]!r} is used by two steps; give one an `id:`")
    legacy = _as_tuple(meta, "legacy_steps")
    if missing := [i for i in legacy if i not in ids]:
        raise LessonError(f"{folder.name}/lesson.md: legacy_steps names {missing[0]!r}, which no step has: "
                          "give the step that replaced it `id: " + missing[0] + "` so old links still land")
    return Lesson(number, folder.name, meta.get("title") or folder.name, meta.get("summary", ""), intro, steps,
                  slug_id(folder.name), legacy)


def load_lessons(root: Path = LESSONS_DIR) -> tuple[Lesson, ...]:
    """All lessons in the order of index.md, read once per version of the files: a page run (every
    student's, every second in a room) costs a few stat() calls, and an edited file is read again.
    The lessons are frozen dataclasses, so every session may share them."""
    stamp = tuple(sorted((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in Path(root).rglob("*.md")))
    return _load_lessons(Path(root), stamp)


@functools.lru_cache(maxsize=4)
def _load_lessons(root: Path, stamp: tuple) -> tuple[Lesson, ...]:
    meta, _ = parse_front_matter((root / "index.md").read_text(encoding="utf-8"), "index.md")
    folders = _as_tuple(meta, "lessons")
    if not folders:
        raise LessonError("index.md: 'lessons' lists no lesson folders")
    return tuple(read_lesson(root / f, n) for n, f in enumerate(folders, start=1))


def legacy_lessons(root: Path = LESSONS_DIR) -> tuple[str, ...]:
    """Lesson ids in the frozen order of position links (?lesson=N): index.md's `legacy_lessons`."""
    return _as_tuple(parse_front_matter((root / "index.md").read_text(encoding="utf-8"), "index.md")[0],
                     "legacy_lessons")


def index_intro(root: Path = LESSONS_DIR) -> str:
    return parse_front_matter((root / "index.md").read_text(encoding="utf-8"), "index.md")[1]


# --- checks beyond the format ---------------------------------------------------------------------

def problems(lessons: tuple[Lesson, ...], point_names: list[str]) -> list[str]:
    """Everything wrong with the content that reading alone does not catch: focus names that no
    recorder point has, formulas that lab/reference.py lacks, sources that do not resolve."""
    from lab import reference as formulas
    out = []
    for lesson in lessons:
        for step in lesson.steps:
            for name in step.focus_names(0):
                if name not in point_names:
                    out.append(f"{step.path}: focus {name!r} is not a recorder point")
            for f in step.formulas:
                if not callable(getattr(formulas, f, None)):
                    out.append(f"{step.path}: formula {f!r} is not in lab/reference.py")
            for s in step.source:
                if not s.startswith(SOURCE_PACKAGES):
                    out.append(f"{step.path}: source {s!r} must be a model's function "
                               f"({', '.join(p.rstrip('.') for p in SOURCE_PACKAGES)})")
                    continue
                try:
                    source_of(s)
                except (LessonError, AttributeError, TypeError, OSError) as e:
                    out.append(f"{step.path}: source {s!r} cannot be shown ({e})")
    return out


# --- moving through the lessons -----------------------------------------------------------------

def _number(value: object) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _out_of_range(what: str, n: int, count: int, where: str, shown: int, total: int) -> str:
    """What a link's number beyond the ends gets: the position shown instead, said ('' in range)."""
    if 1 <= n <= count:
        return ""
    end = ", the first" if shown == 1 else ", the last" if shown == total else ""
    return f"There is no {what} {n}{where}; showing {what} {shown}{end}."


def clamp_position(lessons: tuple[Lesson, ...], lesson: object, step: object) -> tuple[int, int]:
    """A (lesson, step) pair, 1-based, from two positions as a URL may carry them: numbers out
    of range are clamped, text that is not a number gives the first."""
    def num(v, hi):
        n = _number(v)
        return 1 if n is None else min(max(n, 1), hi)
    ln = num(lesson, len(lessons))
    return ln, num(step, len(lessons[ln - 1].steps))


def find_position(lessons: tuple[Lesson, ...], lesson: object, step: object,
                  legacy: tuple[str, ...] = ()) -> tuple[tuple[int, int], str]:
    """The (lesson, step) position a link names, and a note for the student when the link names
    nothing that exists ('' when it does). A lesson is named by id or, in old links, by number
    (read through `legacy`, the frozen lesson order); a step by id or, in old links, by number
    (read through the lesson's frozen `legacy_steps`, clamped to it as old links were clamped)."""
    note = ""
    by_id = {l.id: l for l in lessons}
    if (n := _number(lesson)) is not None:
        frozen = legacy or tuple(l.id for l in lessons)
        chosen = by_id.get(frozen[min(max(n, 1), len(frozen)) - 1], lessons[0])
        note = _out_of_range("lesson", n, len(frozen), "", chosen.number, len(lessons))
    elif lesson in (None, ""):
        chosen = lessons[0]
    else:
        chosen = by_id.get(str(lesson).strip())
        if chosen is None:
            chosen, note = lessons[0], f"There is no lesson {str(lesson)[:40]!r}: here is the first lesson."
    if (n := _number(step)) is not None:
        if chosen.legacy_steps:
            index = chosen.step_index(chosen.legacy_steps[min(max(n, 1), len(chosen.legacy_steps)) - 1])
        else:
            index = min(max(n, 1), len(chosen.steps)) - 1
        said = _out_of_range("step", n, len(chosen.legacy_steps or chosen.steps), " in this lesson", index + 1,
                             len(chosen.steps))
        note = " ".join(x for x in (note, said) if x)
    elif step in (None, ""):
        index = 0
    else:
        index = chosen.step_index(str(step).strip())
        if index is None:
            index = 0
            note = (note + " " if note else "") + (f"Lesson {chosen.number} has no step {str(step)[:40]!r}: "
                                                   "here is its first step.")
    return (chosen.number, index + 1), note


def link(lessons: tuple[Lesson, ...], pos: tuple[int, int]) -> dict[str, str]:
    """The query parameters of a deep link to pos: ids, which do not move when steps are inserted."""
    lesson = lessons[pos[0] - 1]
    return {"lesson": lesson.id, "step": lesson.steps[pos[1] - 1].id}


def flat_positions(lessons: tuple[Lesson, ...]) -> list[tuple[int, int]]:
    return [(lesson.number, i) for lesson in lessons for i in range(1, len(lesson.steps) + 1)]


def neighbour(lessons: tuple[Lesson, ...], pos: tuple[int, int], delta: int) -> tuple[int, int]:
    """The step `delta` places before or after pos, across lesson boundaries, stopping at the ends."""
    flat = flat_positions(lessons)
    i = min(max(flat.index(pos) + delta, 0), len(flat) - 1)
    return flat[i]


def progress(lessons: tuple[Lesson, ...], pos: tuple[int, int]) -> float:
    """How far through all the lessons pos is, 0 < p <= 1 (the last step gives 1)."""
    flat = flat_positions(lessons)
    return (flat.index(pos) + 1) / len(flat)
