"""The lessons feature: the article "how RWKV works" as step-through lessons on the real model.

  lessons/*.md               the content, as data: a folder per lesson, a markdown file per step
  app/lessons/step.py        a step as data (Step, Quiz) and the real source it quotes
  app/lessons/content.py     reads and checks it (Lesson, and Step from step.py), moves through it; no Streamlit
  app/lessons/core.py        each step's live numbers: the lessons' formulas (lab/reference.py)
                             beside the engine's recorded values; no Streamlit
  app/lessons/results.py     what core hands the views: one frozen dataclass per kind of step
  app/lessons/registry.py    VIEWS: the registry of what a step can show, description and renderer (@view)
  app/lessons/views.py       lessons 1 and 3's views; imports views_scaling.py and views_cliffhanger.py,
                             so that importing it fills VIEWS
  app/lessons/layout.py      the pieces every view and the page share (tables, agreement, classroom)
  app/app_pages/lessons.py   the page: position and URL, navigation, the step
  visuals/lessons.py         the lessons' own figures (plain data in, plotly out)

A new kind of step: a function in core returning a result type, an @view renderer, then name it
in a step's `figure:`.
"""
