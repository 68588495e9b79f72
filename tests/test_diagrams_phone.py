"""The article's pictures on a phone: each diagram says the narrowest width its labels fit at
(visuals.architecture.DIAGRAM_WIDTH), app/widgets shows it in a box that the CSS (app/style.py) draws
no narrower than that, scrolling sideways on a narrower screen (tests/browser/test_fit_browser.py
checks two lesson steps with diagrams there), with narrow side margins on a phone; an ordinary chart
keeps the screen's width."""
import pytest

from app import widgets
from visuals import architecture
from visuals.theme import figure

DIAGRAMS = {"generic": architecture.generic_model, "rnn": architecture.classic_rnn,
            "cascade": architecture.remove_red_line, "block": architecture.rwkv_block}


@pytest.mark.parametrize("name", DIAGRAMS)
def test_a_diagram_is_drawn_at_its_width_on_a_phone_only(name):
    fig = DIAGRAMS[name]()
    assert widgets.min_width(fig.to_dict()) == architecture.DIAGRAM_WIDTH
    phone, _, _ = widgets._ready(fig, classroom=False, phone=True)
    assert phone["layout"]["margin"]["l"] == phone["layout"]["margin"]["r"] == 20
    assert widgets.min_width(phone) == architecture.DIAGRAM_WIDTH
    for classroom in (False, True):
        desktop, _, _ = widgets._ready(fig, classroom=classroom, phone=False)
        assert desktop["layout"]["margin"]["l"] > 20
    assert fig.layout.margin.l != 20                   # the built (perhaps cached) figure is not changed


def test_the_css_draws_a_diagram_box_no_narrower_than_the_diagram():
    from app import style
    assert f'[class*="st-key-{style.WIDE}"] [data-testid="stElementContainer"] {{ min-width: ' \
           f'{architecture.DIAGRAM_WIDTH}px; }}' in style.PHONE_CSS


def test_an_ordinary_chart_keeps_the_screens_width_on_a_phone():
    fig = figure([], title="t", caption="c")
    assert widgets.min_width(fig.to_dict()) is None
    assert widgets.min_width(widgets._ready(fig, classroom=False, phone=True)[0]) is None
