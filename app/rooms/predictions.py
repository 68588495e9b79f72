"""A step's prediction on a room's example: the question filled, its computed answer, how an answer
is shown, and the class's tally. No Streamlit (the page and the console draw what these return).

The computed answer comes from app/lessons/quiz.py PREDICT, which calls the function the step's
figure draws from; tests/test_rooms_predictions.py recomputes each one independently."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from app.lessons import core as lc
from app.lessons.content import Lesson
from app.lessons.quiz import PREDICT
from app.lessons.step import Computed, Prediction, Step


@dataclass(frozen=True)
class Question:
    qid: str                       # "lesson-id/step-id": the key of its answers in the store
    prediction: Prediction         # filled from the example
    computed: Computed

    @property
    def low(self) -> int:
        return self.computed.low

    @property
    def high(self) -> int:
        return self.computed.high

    def label(self, value: int) -> str:
        """An answer as the screen shows it: the option's text, the number, or the token."""
        if self.prediction.kind == "choice":
            return self.prediction.options[value]
        if self.prediction.kind == "token":
            return f"{self.computed.labels[value]!r} (token {value})"
        return str(value)

    def explanation(self, value: int) -> str:
        """The explanation of one answer (choice: that option's; otherwise the one text)."""
        p = self.prediction
        return p.explain[value] if p.kind == "choice" else p.explain[0]

    def tally(self, answers: list[int]) -> tuple[list[str], list[int], int]:
        """(labels, counts, index of the computed answer) for the chart. Choice and token questions
        list every possible answer; a number question the answers given and the computed one, in order."""
        counts = Counter(answers)
        if self.prediction.kind == "number":
            values = sorted({*counts, self.computed.answer})
        else:
            values = list(range(self.low, self.high + 1))
        return [self.label(v) for v in values], [counts.get(v, 0) for v in values], values.index(self.computed.answer)


def qid(lesson: Lesson, step: Step) -> str:
    return f"{lesson.id}/{step.id}"


def question(lesson: Lesson, step: Step, ex: lc.Example, layer: int, t: int) -> Question | None:
    """The step's prediction on this example, None for a step without one."""
    p = step.prediction
    if p is None:
        return None
    computed = PREDICT[p.live](ex, layer, t)
    return Question(qid(lesson, step), p.filled(computed.fields), computed)


def questions(lessons: tuple[Lesson, ...]) -> list[tuple[Lesson, Step]]:
    """Every step with a prediction, in lesson order (the CSV's columns)."""
    return [(lesson, step) for lesson in lessons for step in lesson.steps if step.prediction]
