"""The Explorer page driven through the real app (AppTest) with the real embedded model."""
import base64

import numpy as np
import pytest
from app_helpers import chart, charts, no_exception, started_app

from app import explorer_core as ec
from app import explorer_sections
from app.resources import md_escape

SECTIONS = explorer_sections.labels()      # the registry's labels, in the page's order


def values(v):
    """A plotly JSON array: a plain list, or numpy's {"dtype", "bdata"} form."""
    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"])).tolist()
    return list(v)


@pytest.fixture
def at():
    return started_app("app_pages/explorer.py")


def test_widgets_are_there(at):
    assert at.text_area(key="ex_prompt").value == "To be, or not to be"
    for key in ("ex_read", "ex_step", "ex_run", "ex_undo", "ex_reset"):
        assert at.button(key=key)
    for key in ("ex_temperature", "ex_top_p"):
        assert at.slider(key=key)
    assert at.number_input(key="ex_top_k") and at.number_input(key="ex_seed")
    assert at.radio(key="ex_section").options == SECTIONS
    assert chart(at, "Next token") and chart(at, "7 tokens")
    assert at.sidebar.radio(key="picker_source")


def test_step_changes_tokens_and_probabilities(at):
    s = at.session_state["explorer"]
    tokens, bars = list(s.tokens), values(chart(at, "Next token")["data"][0]["x"])
    at.button(key="ex_step").click().run()
    no_exception(at)
    s = at.session_state["explorer"]
    assert len(s.tokens) == len(tokens) + 1 and s.tokens[:-1] == tokens
    assert chart(at, f"{len(tokens) + 1} tokens")
    assert values(chart(at, "Next token")["data"][0]["x"]) != bars
    at.number_input(key="ex_n").set_value(3)
    at.button(key="ex_run").click().run()
    assert len(at.session_state["explorer"].tokens) == len(tokens) + 4
    at.button(key="ex_undo").click().run()
    assert len(at.session_state["explorer"].tokens) == len(tokens) + 3
    at.button(key="ex_reset").click().run()
    assert at.session_state["explorer"].tokens == tokens
    no_exception(at)


def test_sampling_controls_resample_without_running_the_model(at):
    s = at.session_state["explorer"]
    calls, logits = s.forward_calls, s.logits
    before = chart(at, "Next token")
    at.slider(key="ex_temperature").set_value(1.8).run()
    hot = chart(at, "Next token")
    at.number_input(key="ex_top_k").set_value(3).run()
    top3 = chart(at, "Next token")
    at.slider(key="ex_top_p").set_value(0.5).run()
    at.number_input(key="ex_seed").set_value(42).run()
    no_exception(at)
    s = at.session_state["explorer"]
    assert s.forward_calls == calls and s.logits is logits          # no forward pass, same cached logits
    assert values(hot["data"][0]["x"]) != values(before["data"][0]["x"])
    assert hot["layout"]["title"]["text"] != before["layout"]["title"]["text"]   # the entropy changed
    assert sum(1 for p in values(top3["data"][0]["x"]) if p > 0) == 3
    # the same tokens with the model's own (T = 1) probabilities; the last bar may be the chosen one
    assert values(top3["data"][1]["x"])[:-1] == values(hot["data"][1]["x"])[:-1]


def test_greedy_pick_is_the_argmax(at):
    at.slider(key="ex_temperature").set_value(0.0).run()
    s = at.session_state["explorer"]
    greedy_id = int(s.logits.argmax())
    greedy = ec.token_label(s.model, greedy_id)
    # an HTML table (cheaper to redraw on every Step than a dataframe's canvas): text cells escaped
    picks = next(d.value for d in at.table if "p at T = 1, unfiltered" in d.value.columns)
    assert list(picks["token"]) == [md_escape(greedy)] * 2 and list(picks["id"]) == [str(greedy_id)] * 2
    assert list(picks[md_escape("p after temperature, top-k, top-p")]) == ["100.0%", "100.0%"]   # greedy: one token
    assert picks["p at T = 1, unfiltered"][0] == f"{float(s.logits.softmax(-1)[greedy_id]):.1%}"
    at.button(key="ex_step").click().run()
    assert at.session_state["explorer"].tokens[-1] == greedy_id


def test_greedy_and_sampled_side_by_side(at):
    at.slider(key="ex_temperature").set_value(1.5).run()
    at.slider(key="ex_both_n").set_value(6).run()
    at.button(key="ex_both").click().run()
    no_exception(at)
    s = at.session_state["explorer"]
    _, greedy, sampled = at.session_state["ex_both_result"]
    assert len(greedy) == len(sampled) == 6
    shown = [t.value for t in at.code]
    assert ec.decode(s.model, greedy) in shown and ec.decode(s.model, sampled) in shown


@pytest.mark.parametrize("text, message", [("", "empty"), ("x" * (ec.MAX_PROMPT_CHARS + 5), "limit"),
                                           ("but soft " * 150, "tokens")])
def test_bad_prompts_give_messages(at, text, message):
    tokens = list(at.session_state["explorer"].tokens)
    at.text_area(key="ex_prompt").set_value(text)
    at.button(key="ex_read").click().run()
    no_exception(at)
    assert any(message in e.value for e in at.error)
    assert at.session_state["explorer"].tokens == tokens            # the old session stays


@pytest.mark.parametrize("text", ["Hello 😀 <b>bold</b> <script>alert(1)</script>", "ctrl\x00\x07\x1b[2J",
                                  "ﷺ e\u0301 \u202ereversed"])
def test_odd_prompts_are_read_and_shown_as_text(at, text):
    at.text_area(key="ex_prompt").set_value(text)
    at.button(key="ex_read").click().run()
    no_exception(at)
    s = at.session_state["explorer"]
    assert s.tokens == s.model.tokenizer.encode(text)
    strip = chart(at, f"{len(s.tokens)} tokens")
    labels = " ".join(strip["data"][0]["text"])
    assert "<b>" not in labels and "<script>" not in labels and "\x00" not in labels
    assert not at.error


def test_every_section_renders(at):
    at.button(key="ex_step").click().run()
    for section in explorer_sections.SECTIONS.values():
        at.radio(key="ex_section").set_value(section.label).run()
        no_exception(at)
        assert not section.chart or chart(at, section.chart), section.name
    at.radio(key="ex_section").set_value("Embeddings").run()
    assert chart(at, "Embedding matrix, 2") and chart(at, "The current token's residual")
    assert at.dataframe
    at.radio(key="ex_dims").set_value(3).run()
    assert chart(at, "Embedding matrix, 3")


def test_state_section_layers(at):
    at.radio(key="ex_section").set_value("State per layer").run()
    assert chart(at, "Layer 0: the state")
    at.select_slider(key="ex_layer").set_value(5).run()
    heat = chart(at, "Layer 5: the state")
    s = at.session_state["explorer"]
    assert len(heat["data"]) == 5 and len(heat["data"][0]["x"]) == len(s.tokens)
    assert chart(at, "Memory needed") and chart(at, "State size per layer")
    assert at.metric[-1].value == f"{s.state.nbytes() / 1024:.1f} KiB ({s.state.nbytes():,} bytes)"


def test_wkv_as_attention_reproduces_the_recording(at):
    at.radio(key="ex_section").set_value("WKV as attention").run()
    title = chart(at, "What the current token's WKV")["layout"]["title"]["text"]
    diff = float(title.rsplit(" ", 1)[-1].removesuffix("</sup>"))
    assert diff < 1e-4
    at.selectbox(key="ex_channel").set_value(10).run()
    assert "channel 10" in chart(at, "What the current token's WKV")["layout"]["title"]["text"]


def test_rnn_equals_parallel_section(at):
    at.radio(key="ex_section").set_value("RNN = parallel").run()
    s = at.session_state["explorer"]
    calls = s.forward_calls
    assert float(at.metric[-1].value) < 1e-4
    at.slider(key="ex_temperature").set_value(0.5).run()            # cached: no new runs
    assert at.session_state["explorer"].forward_calls == calls


def test_state_surgery(at):
    at.radio(key="ex_section").set_value("State surgery").run()
    at.selectbox(key="ex_surg_layer").set_value(1)
    at.radio(key="ex_surg_op").set_value("zero")
    at.button(key="ex_surg_go").click().run()
    no_exception(at)
    fig = chart(at, "Layer 1, zero")
    assert {d["name"] for d in fig["data"]} == {"state as it was", "edited state"}
    at.radio(key="ex_surg_op").set_value("copy").run()
    at.text_input(key="ex_surg_donor").set_value("")
    at.button(key="ex_surg_go").click().run()
    assert any("empty" in e.value for e in at.error)
    at.text_input(key="ex_surg_donor").set_value("KING HENRY:")
    at.button(key="ex_surg_go").click().run()
    no_exception(at)
    assert chart(at, "Layer 1, copy")


# --- the user's work kept, deep links, flagged prompt, numbers (issue 19, items 3 and 4) ----------

def test_prompt_and_settings_survive_a_visit_to_another_page(at):
    at.text_area(key="ex_prompt").set_value("ROMEO: But soft")
    at.button(key="ex_read").click().run()
    at.slider(key="ex_temperature").set_value(0.55).run()
    at.number_input(key="ex_top_k").set_value(7).run()
    at.number_input(key="ex_seed").set_value(42).run()
    at.radio(key="ex_section").set_value("Memory half-life").run()
    tokens = list(at.session_state["explorer"].tokens)
    at.switch_page("app_pages/home.py").run()
    no_exception(at)
    at.switch_page("app_pages/explorer.py").run()
    no_exception(at)
    assert at.text_area(key="ex_prompt").value == "ROMEO: But soft"
    assert at.slider(key="ex_temperature").value == 0.55
    assert at.number_input(key="ex_top_k").value == 7 and at.number_input(key="ex_seed").value == 42
    assert at.radio(key="ex_section").value == "Memory half-life"
    assert at.session_state["explorer"].tokens == tokens
    assert not at.warning                                           # the box is the text in use: no flag


def test_deep_link_sets_prompt_settings_and_section():
    at = started_app("app_pages/explorer.py", query={"ex_prompt": "KING HENRY:", "ex_temperature": "0.3",
                                                     "ex_seed": "9", "ex_section": "State per layer"})
    s = at.session_state["explorer"]
    assert s.tokens == s.model.tokenizer.encode("KING HENRY:")      # the session reads the linked prompt
    assert at.slider(key="ex_temperature").value == 0.3 and at.number_input(key="ex_seed").value == 9
    assert at.radio(key="ex_section").value == "State per layer"
    assert chart(at, "Layer 0: the state")


def test_a_link_carries_the_open_sections_settings():
    """The state section's layer and window, the WKV section's channel and the embeddings' projection:
    a link opens each section as it was."""
    at = started_app("app_pages/explorer.py", query={"ex_section": "State per layer", "ex_layer": "3",
                                                     "ex_state_window": "all"})
    assert at.select_slider(key="ex_layer").value == 3 and at.select_slider(key="ex_state_window").value == "all"
    assert chart(at, "Layer 3: the state")
    # (the address write of a change is the browser's: tests/browser/test_links_browser.py)
    at = started_app("app_pages/explorer.py", query={"ex_section": "WKV as attention", "ex_channel": "17"})
    assert at.selectbox(key="ex_channel").value == 17
    at = started_app("app_pages/explorer.py", query={"ex_section": "Embeddings", "ex_dims": "3D"})
    assert at.radio(key="ex_dims").value == 3
    no_exception(at)


def test_a_changed_prompt_box_is_flagged_and_read_on_step(at):
    old = list(at.session_state["explorer"].tokens)
    at.text_area(key="ex_prompt").set_value("Friends, Romans").run()
    assert any("differs from the text below" in w.value for w in at.warning)
    assert at.session_state["explorer"].tokens == old               # not read yet, and said so
    at.button(key="ex_step").click().run()
    no_exception(at)
    s = at.session_state["explorer"]
    assert s.tokens[:-1] == s.model.tokenizer.encode("Friends, Romans") and s.n_prompt == len(s.tokens) - 1
    assert any("was read first" in i.value for i in at.info)
    assert not any("differs" in w.value for w in at.warning)


def test_a_bad_changed_prompt_is_not_stepped_silently(at):
    old = list(at.session_state["explorer"].tokens)
    at.text_area(key="ex_prompt").set_value("   ").run()
    at.button(key="ex_step").click().run()
    assert any("empty" in e.value and "unchanged" in e.value for e in at.error)
    assert at.session_state["explorer"].tokens == old


def test_step_has_a_keyboard_shortcut(at):
    assert at.button(key="ex_step").proto.shortcut.lower() == "s"
    assert "key: S" in at.button(key="ex_step").help


def test_a_step_redraws_only_what_it_changed(at):
    """The vocabulary's map and its table are the prompt's: a Step sends them again unchanged (the
    browser keeps its drawing); the tokens, the bars and the current token's path change."""
    def seen():
        specs = {s["layout"]["title"]["text"].split(",")[0]: el.proto.spec for s, el in
                 zip(charts(at), at.get("plotly_chart"))}
        return specs, at.dataframe[-1].value.to_dict() if at.dataframe else None
    before, table_before = seen()
    at.button(key="ex_step").click().run()
    no_exception(at)
    after, table_after = seen()
    assert after["Embedding matrix"] == before["Embedding matrix"] and table_after == table_before
    assert after["The current token's residual stream"] != before["The current token's residual stream"]
    assert "8 tokens (7 from the prompt" in after and "7 tokens (7 from the prompt" in before


def test_two_students_on_one_prompt_share_its_run_and_charts():
    first, second = started_app("app_pages/explorer.py"), started_app("app_pages/explorer.py")
    a, b = first.session_state["explorer"], second.session_state["explorer"]
    assert a is not b and a.trace is b.trace                 # one forward pass over the default prompt
    assert [el.proto.spec for el in first.get("plotly_chart")] == [el.proto.spec for el in second.get("plotly_chart")]
    first.button(key="ex_step").click().run()
    assert len(first.session_state["explorer"].tokens) == len(second.session_state["explorer"].tokens) + 1
