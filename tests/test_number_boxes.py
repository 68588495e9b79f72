"""Every number box of the app says what it did with what was typed (app.widgets.number_box), driven
through the real pages (AppTest): 1e9, 3.5, a 23-digit number and -1 typed into each box, the value
used shown in the box, one note under it that is replaced by the next and cleared by a good value."""
import math
from types import SimpleNamespace

import pytest
from app_helpers import chart, embedded, no_exception, started_app

from app import explorer_core as ec
from app import scheduling_core as sc
from app.widgets import whole_number

TYPED = (1e9, 3.5, 12345678901234567890123, -1)


def default_tokens() -> int:
    return len(embedded().tokenizer.encode(sc.DEFAULT_PROMPT))


# (page, key, what its note calls it, smallest, largest, a good value)
BOXES = [
    ("explorer.py", "ex_n", "Tokens to run", 1, 64, 5),
    ("explorer.py", "ex_top_k", "Top-k", 0, embedded().config.vocab_size, 7),
    ("explorer.py", "ex_seed", "Seed", 0, 2 ** 31 - 1, 42),
    ("scheduling_lab.py", "sl_tokens", "Tokens (T)", 1, 512, default_tokens()),   # back to the grid the next two use
    ("scheduling_lab.py", "sl_focus_layer", "Cell: layer", 0, 5, 2),
    ("scheduling_lab.py", "sl_focus_token", "Cell: token", 0, default_tokens() - 1, 2),
    ("why_rwkv.py", "wr_gen_new", "New tokens each", 1, 32, 4),
    ("why_rwkv.py", "wr_seed", "Seed", 0, 2 ** 31 - 1, 42),
    ("why_rwkv.py", "wr_n_new", "New tokens", 1, 200, 30),
]


def expected(typed: float, low: int, high: int) -> tuple[int, str | None]:
    """What the box must use and the words its note must hold, written out here (not computed by the app)."""
    if typed > high:
        return high, f"{typed:,.6g} is above {high:,}, the largest; {high:,} is used."
    if typed < low:
        return low, f"{typed:,.6g} is below {low:,}, the smallest; {low:,} is used."
    if typed != int(typed):
        return math.floor(typed), f"{typed:g} is not a whole number; {math.floor(typed):,} is used."
    return int(typed), None


def notes(at, what: str) -> list[str]:
    return [w.value for w in at.warning if w.value.startswith(what + " = ")]


@pytest.fixture(scope="module")
def pages():
    return {}


@pytest.mark.parametrize("page, key, what, low, high, good", BOXES, ids=[b[1] for b in BOXES])
def test_each_bad_number_is_used_as_said(pages, page, key, what, low, high, good):
    if page not in pages:                       # one app per page, its boxes typed into one after another
        pages[page] = started_app(f"app_pages/{page}")
    at = pages[page]
    for typed in TYPED:
        at.number_input(key=key).set_value(typed).run()
        no_exception(at)
        used, words = expected(typed, low, high)
        assert at.number_input(key=key).value == used, (typed, used)     # the box shows the value used
        said = notes(at, what)
        if words is None:
            assert not said, said
        else:
            assert said == [f"{what} = {words}"], said                   # one note, this one: replaced
    at.number_input(key=key).set_value(good).run()
    assert at.number_input(key=key).value == good and not notes(at, what)  # a good value clears it


def test_what_a_button_uses_is_what_the_box_shows():
    at = started_app("app_pages/explorer.py")
    n = len(at.session_state["explorer"].tokens)
    at.number_input(key="ex_n").set_value(3.5).run()
    assert at.button(key="ex_run").label == "Run 3"
    at.button(key="ex_run").click().run()
    no_exception(at)
    assert len(at.session_state["explorer"].tokens) == n + 3


def test_whole_number_wording():
    assert whole_number(7.0, 1, 10, "T") == (7, None)
    assert whole_number(2.5, 0, 1, "Cell: layer") == (1, "Cell: layer = 2.5 is not a whole number and is above 1, "
                                                         "the largest; 1 is used.")
    assert whole_number(float("inf"), 1, 10, "T") == (10, "T = inf is above 10, the largest; 10 is used.")
    assert whole_number(None, 1, 10, "T") == (1, "T: the box was empty; 1 is used.")
    assert whole_number("abc", 1, 10, "T")[0] == 1
    assert whole_number(float("nan"), 1, 10, "T") == (1, "T: not a number; 1 is used.")


# --- the messages around them: "1 token", and a model's refusal as a sentence ---------------------

def test_one_token_is_not_called_1_tokens():
    at = started_app("app_pages/explorer.py")
    at.text_area(key="ex_prompt").set_value("A")
    at.button(key="ex_read").click().run()
    no_exception(at)
    assert chart(at, "1 token (1 from the prompt, 0 generated)")


def test_a_refused_token_id_is_a_sentence_before_the_text_below_is_unchanged():
    def check_tokens(ids):
        raise ValueError("token id 9 is outside the vocabulary (ids 0 to 7, vocabulary size 8)")

    model = SimpleNamespace(tokenizer=None, check_tokens=check_tokens)
    with pytest.raises(ec.PromptError) as e:
        ec.encode_prompt(model, "1 9")
    assert str(e.value) == "Token id 9 is outside the vocabulary (ids 0 to 7, vocabulary size 8)."


def test_a_links_bad_number_is_moved_into_range_and_said():
    at = started_app("app_pages/explorer.py", query={"ex_top_k": "-5", "ex_seed": "3.5"})
    no_exception(at)
    assert at.number_input(key="ex_top_k").value == 0 and at.number_input(key="ex_seed").value == 3
    assert notes(at, "Top-k") == ["Top-k = -5 is below 0, the smallest; 0 is used."]
    assert notes(at, "Seed") == ["Seed = 3.5 is not a whole number; 3 is used."]
