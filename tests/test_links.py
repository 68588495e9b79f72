"""Links that keep a student's place, through the real app (AppTest): the Lab's settings come back
on every visit (Streamlit forgets a page's widgets when another page runs), from a link, from the
settings last shown, after the Explorer's prompt changed; and the address is written in one change."""
from app_helpers import embedded, no_exception, started_app

from app import scheduling_core as sc
from app.lessons import content as ls
from rwkv_core.checkpoint import DEFAULT_MODEL

LAB, EXPLORER = "app_pages/scheduling_lab.py", "app_pages/explorer.py"
LINK = {"kind": "gpt", "L": "4", "T": "20", "chunk": "8"}


def lab_settings(at) -> dict[str, str]:
    return {"kind": at.radio(key="sl_kind").value, "L": str(at.slider(key="sl_layers").value),
            "T": str(int(at.number_input(key="sl_tokens").value)), "chunk": str(at.select_slider(key="sl_chunk").value)}


def visit(at, page: str) -> None:
    """A click on a page in the navigation: the browser drops the query parameters of the page left."""
    at.query_params.clear()
    at.switch_page(page)
    at.run()
    no_exception(at)


def address(at) -> dict[str, str]:
    return {k: at.query_params[k] for k in LINK}


def test_the_labs_link_comes_back_after_another_page():
    at = started_app(LAB, query=LINK)
    assert lab_settings(at) == LINK and address(at) == LINK
    visit(at, EXPLORER)
    visit(at, LAB)
    assert lab_settings(at) == LINK and address(at) == LINK
    assert not at.warning


def test_settings_changed_on_the_page_come_back_too():
    at = started_app(LAB)
    at.slider(key="sl_layers").set_value(3).run()
    at.select_slider(key="sl_chunk").set_value(16).run()
    visit(at, "app_pages/home.py")
    visit(at, LAB)
    assert lab_settings(at)["L"] == "3" and lab_settings(at)["chunk"] == "16"
    assert address(at)["L"] == "3" and address(at)["chunk"] == "16"


def new_prompt(at, text: str) -> None:
    """The Explorer's prompt changed: the Lab's grid starts from the new prompt's length."""
    visit(at, EXPLORER)
    at.text_area(key="ex_prompt").set_value(text)
    at.button(key="ex_read").click().run()
    no_exception(at)


def test_a_new_explorer_prompt_keeps_the_settings_the_student_chose():
    at = started_app(LAB, query=LINK)
    new_prompt(at, "To be, or not to be")
    visit(at, LAB)
    assert lab_settings(at) == LINK and address(at) == LINK


def test_a_grid_left_at_its_default_size_follows_a_new_prompt():
    at = started_app(LAB)
    at.select_slider(key="sl_chunk").set_value(8).run()
    text = "To be, or not to be"
    new_prompt(at, text)
    visit(at, LAB)
    T = len(embedded().tokenizer.encode(text))
    assert T != default_tokens()
    assert lab_settings(at) == {"kind": "rwkv4", "L": "6", "T": str(T), "chunk": "8"}


def test_a_new_link_wins_over_the_kept_settings_and_bad_values_are_told():
    at = started_app(LAB, query=LINK)
    visit(at, EXPLORER)
    at.query_params.update({"kind": "lstm", "L": "2", "T": "9999", "chunk": "1"})
    at.switch_page(LAB)
    at.run()
    no_exception(at)
    assert lab_settings(at) == {"kind": "lstm", "L": "2", "T": "20", "chunk": "1"}
    assert "T='9999' is not a whole number from 1 to 512" in " ".join(w.value for w in at.warning)
    assert address(at)["T"] == "20"


def default_tokens() -> int:
    return len(embedded().tokenizer.encode(sc.DEFAULT_PROMPT))


def test_a_lesson_link_to_a_missing_step_says_which_step_is_shown():
    at = started_app("app_pages/lessons.py", query={"lesson": "1", "step": "99"})
    last = len(ls.load_lessons()[0].steps)
    assert f"There is no step 99 in this lesson; showing step {last}, the last." in [w.value for w in at.warning]
    assert at.query_params["step"] == ls.load_lessons()[0].steps[-1].id     # the address names the step shown


def load_by_path(at, path: str) -> None:
    at.sidebar.radio(key="picker_source").set_value("path").run()
    at.sidebar.text_input(key="picker_path").set_value(path)
    at.sidebar.button(key="picker_load_path").click().run()
    no_exception(at)


def infos(at) -> str:
    return " ".join(i.value for i in at.info)


def test_a_model_change_keeps_the_students_prompt_and_says_what_changed():
    at = started_app(EXPLORER)
    at.text_area(key="ex_prompt").set_value("The quick brown fox")
    at.button(key="ex_read").click().run()
    at.button(key="ex_step").click().run()
    at.button(key="ex_step").click().run()
    load_by_path(at, str(DEFAULT_MODEL))                  # the same weights, loaded again another way
    assert at.text_area(key="ex_prompt").value == "The quick brown fox"
    s = at.session_state["explorer"]
    assert s.prompt_text == "The quick brown fox" and len(s.tokens) == s.n_prompt
    said = infos(at)
    assert "Your prompt is kept" in said and "The 2 generated tokens were the previous model's" in said, said


def test_a_model_that_cannot_read_the_prompt_starts_from_its_default_and_says_why(small_pth):
    at = started_app(EXPLORER)
    load_by_path(at, str(small_pth))                      # no tokenizer: it reads ids only
    assert at.text_area(key="ex_prompt").value == "0, 1, 2"
    said = infos(at)
    assert "cannot read your prompt" in said and "token ids as numbers" in said and "“0, 1, 2”" in said, said


def test_the_explorers_generated_tokens_are_in_its_address_and_a_link_restores_them():
    at = started_app(EXPLORER)
    at.button(key="ex_step").click().run()
    at.button(key="ex_step").click().run()
    s = at.session_state["explorer"]
    gen = ",".join(map(str, s.tokens[s.n_prompt:]))
    assert at.query_params["gen"] == gen
    again = started_app(EXPLORER, query={"ex_prompt": s.prompt_text, "gen": gen})    # a reload, or the link shared
    assert again.session_state["explorer"].tokens == s.tokens and not again.warning
    again.button(key="ex_reset").click().run()
    assert "gen" not in again.query_params


def test_a_links_bad_generated_token_is_said_and_those_before_it_kept():
    at = started_app(EXPLORER, query={"gen": "5,7,99999999,3"})
    s = at.session_state["explorer"]
    assert s.tokens[s.n_prompt:] == [5, 7]
    said = " ".join(w.value for w in at.warning).replace("\\", "")       # the markdown escapes taken off
    assert "generated token 3 of 4 ('99999999') cannot be used" in said and "the 2 before it are restored" in said
    assert at.query_params["gen"] == "5,7"
