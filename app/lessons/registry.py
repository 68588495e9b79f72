"""VIEWS: the one registry of what a lesson step can show, by the name a step's `figure:` front
matter writes, each with its one-line description and its renderer. The view modules register
into it with @view (app/lessons/views.py, views_scaling.py, views_cliffhanger.py); importing
app/lessons/views.py imports them all, so that its VIEWS is complete. Below the view modules, so
that none of them imports another to register.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .layout import Context


@dataclass(frozen=True)
class View:
    description: str                       # one line: what the step shows
    render: Callable[[Context], None]


VIEWS: dict[str, View] = {}                # figure name (as lesson files write it) → its view


def view(name: str, description: str):
    """Register the decorated renderer as the view `name` (a name registered twice is a mistake)."""
    def register(render: Callable[[Context], None]) -> Callable[[Context], None]:
        if name in VIEWS:
            raise ValueError(f"the lesson view {name!r} is registered twice")
        VIEWS[name] = View(description, render)
        return render
    return register
