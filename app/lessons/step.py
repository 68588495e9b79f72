"""A lesson step as data (Step, and its Quiz), and the real source a step quotes: what the reader
(app/lessons/content.py) builds and what the views' Context (app/lessons/layout.py) carries. Apart
from the reader, because the reader checks a step's figure against the views' registry, which is
built on layout: both import this module, neither imports the other's importer.
"""
from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass


class LessonError(ValueError):
    """A lesson file is malformed; the message names the file and the problem."""


@dataclass(frozen=True)
class Quiz:
    question: str
    options: tuple[str, ...]
    answer: int                    # 0-based index into options
    explain: tuple[str, ...]       # one per option: why it is right or wrong
    live: str = ""                 # a name in app/lessons/quiz.py LIVE: fills {fields} from the example

    def check(self, choice: int | None) -> bool | None:
        """True / False for the chosen option's index, None when nothing is chosen yet."""
        return None if choice is None else choice == self.answer

    def filled(self, values: dict[str, str]) -> "Quiz":
        """The quiz with its {fields} filled from the live values (the same quiz without `live`)."""
        def fill(text: str) -> str:
            return text.format_map(values) if self.live else text
        return Quiz(fill(self.question), tuple(fill(o) for o in self.options), self.answer,
                    tuple(fill(e) for e in self.explain), self.live)


KINDS = ("choice", "number", "token")     # what a prediction's answer is: an option, a whole number, a token


@dataclass(frozen=True)
class Prediction:
    """A question asked before the step's figure is shown, on a number the engine computes for the
    room's prompt (app/lessons/quiz.py PREDICT[live] computes the answer with the function the
    figure uses). Every answer is a whole number: an option's index (choice), the number itself
    (number), or a token's position in the prompt (token)."""
    question: str
    kind: str                      # one of KINDS
    live: str                      # a name in app/lessons/quiz.py PREDICT
    options: tuple[str, ...] = ()  # choice: the options, with {fields}
    explain: tuple[str, ...] = ()  # choice: one per option; number and token: one text

    def filled(self, values: dict[str, str]) -> "Prediction":
        def fill(text: str) -> str:
            return text.format_map(values)
        return Prediction(fill(self.question), self.kind, self.live, tuple(fill(o) for o in self.options),
                          tuple(fill(e) for e in self.explain))


@dataclass(frozen=True)
class Computed:
    """A prediction's answer for one example, and what an answer may be: a whole number in
    [low, high]; `labels` name the values of a token question (the prompt's tokens)."""
    answer: int
    low: int
    high: int
    fields: dict                   # {name: text} for the question's {fields}
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Step:
    title: str
    text: str                      # markdown
    figure: str
    focus: tuple[str, ...] = ()
    formulas: tuple[str, ...] = ()
    source: tuple[str, ...] = ()
    quiz: Quiz | None = None
    path: str = ""
    id: str = ""                   # stable in links: the file name without NN-, or front matter `id:`
    prediction: Prediction | None = None

    def focus_names(self, layer: int) -> list[str]:
        return [f.replace("{layer}", str(layer)) for f in self.focus]


def resolve_source(dotted: str):
    """'rwkv_core.ops.wkv_step' or 'rwkv_core.model.RWKV.forward' → the object."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for name in parts[i:]:
            obj = getattr(obj, name)
        return obj
    raise LessonError(f"cannot import {dotted!r}")


def source_of(dotted: str) -> str:
    """The real source of a function the lesson shows (inspect.getsource)."""
    return inspect.getsource(resolve_source(dotted))
