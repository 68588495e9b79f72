"""No lesson step is a wall of text: a content step's prose is at most MAX_WORDS words (LaTeX,
code and tables' rules not counted), so a dense step is split rather than shown whole."""
import re

import pytest

from app.lessons import content as ls

MAX_WORDS = 200

MATH = re.compile(r"\$\$.*?\$\$|\$[^$\n]+\$", re.S)
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)
WORD = re.compile(r"[^\W_]+(?:['’.-][^\W_]+)*")      # 'don't', 'e.g', 'well-known' are one word each


def prose_words(markdown: str) -> int:
    """Words a student reads: markdown without its math ($…$, $$…$$) and code (`…`, ```…```)."""
    text = CODE.sub(" ", MATH.sub(" ", markdown))
    return len(WORD.findall(text))


def content_steps():
    return [s for lesson in ls.load_lessons() for s in lesson.steps if s.figure != "quiz"]


def test_prose_words_counts_only_prose():
    assert prose_words("One two, three.") == 3
    assert prose_words("The sum $\\sum_{i<t} e^{w}$ and $$a_t = e^{w} a_{t-1} + e^{k_t} v_t$$ end") == 4
    assert prose_words("Call `model.forward(ids)` then\n```python\nx = 1 + 2\n```\ndone") == 3
    assert prose_words("| a | b |\n|---|---|\n| one | two |") == 4
    assert prose_words("well-known don't e.g. 3.14") == 4


@pytest.mark.parametrize("step", content_steps(), ids=lambda s: s.path)
def test_no_content_step_is_over_the_limit(step):
    n = prose_words(step.text)
    assert n <= MAX_WORDS, f"{step.path}: {n} words of prose (limit {MAX_WORDS}): split the step"
