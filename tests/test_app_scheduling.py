"""The Scheduling Lab page driven through the real app (router + sidebar + page, AppTest) with the
real embedded model."""
import json
import re
from pathlib import Path

import pytest
from app_helpers import chart, embedded, no_exception, started_app

from app import scheduling_core as sc
from rwkv_core.timing import device_name

ROOT = Path(__file__).resolve().parent.parent
PAGE = "app_pages/scheduling_lab.py"


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


@pytest.fixture()
def lab():
    return started_app(PAGE)


def default_tokens() -> int:
    return len(embedded().tokenizer.encode(sc.DEFAULT_PROMPT))


def test_page_opens_with_the_models_grid(lab):
    T = default_tokens()
    assert lab.title[0].value == "Scheduling Lab"
    assert lab.slider(key="sl_layers").value == 6 and lab.number_input(key="sl_tokens").value == T
    assert metrics(lab) == {"rnn steps: L·T": f"{6 * T:,}", "cascade steps: L + ⌈T/chunk⌉ − 1": str(6 + -(-T // 4) - 1),
                            "parallel steps: L": "6"}
    grid = chart(lab, f"6 layers × {T} tokens")
    assert len(grid["frames"]) == 6 * T
    assert any("Why generating text cannot cascade across layers" in i.value for i in lab.info)


def test_chunk_and_size_controls_change_the_step_counts(lab):
    T = default_tokens()
    lab.select_slider(key="sl_chunk").set_value(32).run()
    no_exception(lab)
    assert metrics(lab)["cascade steps: L + ⌈T/chunk⌉ − 1"] == str(6 + -(-T // 32) - 1)
    grid = chart(lab, f"6 layers × {T} tokens")
    assert any(f"cascade (chunk 32): L + ⌈T/32⌉ − 1 = {6 + -(-T // 32) - 1} steps" in a.get("text", "")
               for a in grid["layout"]["annotations"])
    lab.slider(key="sl_layers").set_value(3).run()
    lab.number_input(key="sl_tokens").set_value(100).run()
    lab.select_slider(key="sl_chunk").set_value(1).run()
    no_exception(lab)
    assert metrics(lab) == {"rnn steps: L·T": "300", "cascade steps: L + ⌈T/chunk⌉ − 1": "102",
                            "parallel steps: L": "3"}
    assert len(chart(lab, "3 layers × 100 tokens")["frames"]) == 300


def test_run_and_time_shows_equal_outputs_and_measured_charts(lab):
    lab.button(key="sl_run").click().run()
    no_exception(lab)
    assert any(s.value.startswith("Same outputs") for s in lab.success), [e.value for e in lab.error]
    table = lab.dataframe[0].value
    assert list(table["schedule"]) == ["rnn", "cascade (chunk 4)", "parallel"]
    assert all(float(d) < sc.SAME_TOLERANCE for d in table["max |logits − rnn logits|"])
    assert all(float(t.replace(",", "")) > 0 for t in table["wall time (ms)"])   # text at one precision (app/formats.py)
    # the thread count is the page's own (torch keeps it per thread, and the app's script thread
    # is not this one): the device's name must match, and a thread count must be said
    name = device_name(sc.timing_device()).split(",")[0]
    assert any(re.fullmatch(rf"Device: {re.escape(name)}(, \d+ threads?)?", t.value) for t in lab.text), \
        [t.value for t in lab.text]
    for title in ("Whole forward pass", "Time of each step"):
        chart(lab, title)
    race = chart(lab, f"6 layers × {default_tokens()} tokens · replayed")
    assert "slower than measured" in race["layout"]["title"]["text"]
    kept = lab.session_state["sl_runs"][1]                  # the session keeps no (T, V) logits
    assert all(r.logits.numel() == 0 and r.logits.shape[-1] == embedded().config.vocab_size for r in kept)


def test_watch_it_run(lab):
    lab.radio(key="sl_watch_mode").set_value("cascade").run()
    lab.button(key="sl_watch_run").click().run()
    no_exception(lab)
    fig = chart(lab, "Watch it run: cascade")
    T = default_tokens()
    assert len(fig["frames"]) == 6 + -(-T // 4) - 1


def test_export_makes_both_files(lab):
    assert not any(b.key == "sl_export" for b in lab.button)       # made only while its expander is open
    lab.session_state["sl_export_open"] = True
    lab.run()
    lab.button(key="sl_export").click().run()
    no_exception(lab)
    labels = [el.proto.label for el in lab.get("download_button")]
    assert labels == ["Download the animation (HTML, works offline)", "Download the animation (GIF)"]


def test_scaling_section_without_gpu_figures_and_a_live_measurement(lab):
    has_gpu_files = any(not json.loads(p.read_text()).get("device", "CPU").startswith("CPU")
                        for p in (ROOT / "docs" / "bench").glob("*.json"))
    assert any("No GPU figures have been measured yet" in i.value for i in lab.info) != has_gpu_files
    lab.select_slider(key="sl_scale_max").set_value(32)
    lab.multiselect(key="sl_scale_chunks").set_value([4])
    lab.button(key="sl_scale_run").click().run()
    no_exception(lab)
    fig = chart(lab, "Scaling with sequence length", last=True)   # the live one, after any from docs/bench
    names = {tr["name"] for tr in fig["data"]}
    assert {"rnn", "cascade (chunk 4)", "parallel"} <= names


def test_uses_the_explorers_prompt():
    at = started_app("app_pages/explorer.py")
    n = len(at.session_state["explorer"].tokens)
    at.switch_page(PAGE)
    at.run()
    no_exception(at)
    assert at.number_input(key="sl_tokens").value == n
    assert any("the Explorer's current text" in c.value for c in at.caption)


def test_no_raw_html_in_the_page():
    for page in (ROOT / "app" / "app_pages" / "scheduling_lab.py", ROOT / "app" / "lab_sections.py"):
        assert "unsafe_allow_html" not in page.read_text()


def test_replay_and_watch_exports(lab):
    lab.button(key="sl_run").click().run()
    lab.button(key="sl_export_race").click().run()
    lab.radio(key="sl_watch_mode").set_value("rnn").run()
    lab.button(key="sl_watch_run").click().run()
    lab.button(key="sl_export_watch").click().run()
    no_exception(lab)
    labels = [el.proto.label for el in lab.get("download_button")]
    assert labels == ["Download the replay (HTML)", "Download the replay (GIF)", "Download the run (HTML)",
                      "Download the run (GIF)"]


# --- deep links, typed numbers, the chunk's cap ---------------------------------------------

def test_a_link_sets_kind_size_and_chunk_and_the_page_writes_its_settings_back():
    lab = started_app(PAGE, query={"kind": "rwkv4", "L": "3", "T": "40", "chunk": "16"})
    assert (lab.slider(key="sl_layers").value, lab.number_input(key="sl_tokens").value,
            lab.select_slider(key="sl_chunk").value) == (3, 40, 16)
    assert not lab.warning
    grid = chart(lab, "3 layers × 40 tokens")
    assert any(a.get("text", "").startswith("cascade (chunk 16): L + ⌈T/16⌉ − 1 = 5 steps")
               for a in grid["layout"]["annotations"])
    lab.select_slider(key="sl_chunk").set_value(8).run()
    assert {k: lab.query_params[k] for k in ("kind", "L", "T", "chunk")} == {
        "kind": "rwkv4", "L": "3", "T": "40", "chunk": "8"}


def test_a_link_with_bad_values_is_refused_with_a_message_naming_each():
    lab = started_app(PAGE, query={"kind": "gpt5", "L": "1e9", "T": "9999", "chunk": "5"})
    said = " ".join(w.value for w in lab.warning)
    for part in ("kind='gpt5' is not a model kind here", "L='1e9' is not a whole number from 1 to 24",
                 "T='9999' is not a whole number from 1 to 512", "chunk='5' is not one of the chunks"):
        assert part in said, said
    assert lab.slider(key="sl_layers").value == 6 and lab.number_input(key="sl_tokens").value == default_tokens()
    assert lab.select_slider(key="sl_chunk").value == 4 and lab.radio(key="sl_kind").value == "rwkv4"
    assert lab.query_params["T"] == str(default_tokens())      # the address now holds what is shown


@pytest.mark.parametrize("typed,used,words", [(9999, 512, "above 512, the largest; 512 is used"),
                                              (1e9, 512, "1e+09 is above 512"),
                                              (0, 1, "below 1, the smallest; 1 is used"),
                                              (2.5, 2, "2.5 is not a whole number; 2 is used")])
def test_a_typed_token_count_out_of_range_is_said_and_the_box_shows_what_is_used(lab, typed, used, words):
    lab.number_input(key="sl_tokens").set_value(typed).run()
    no_exception(lab)
    assert lab.number_input(key="sl_tokens").value == used
    assert any(words in w.value for w in lab.warning), [w.value for w in lab.warning]
    assert chart(lab, f"6 layers × {used} token")            # "1 token", "512 tokens"


def test_a_focus_cell_outside_the_grid_is_said(lab):
    lab.number_input(key="sl_focus_layer").set_value(40).run()
    no_exception(lab)
    assert lab.number_input(key="sl_focus_layer").value == 5
    assert any("Cell: layer = 40 is above 5" in w.value for w in lab.warning)


def test_a_chunk_longer_than_the_text_is_said_to_be_capped(lab):
    lab.number_input(key="sl_tokens").set_value(15).run()
    lab.select_slider(key="sl_chunk").set_value(16).run()
    no_exception(lab)
    assert any(i.value.startswith("Cascade chunk 16, capped at 15 by the 15 tokens") for i in lab.info)
    grid = chart(lab, "6 layers × 15 tokens")
    assert any("chunk 16, capped at 15 by the 15 tokens" in a.get("text", "") for a in grid["layout"]["annotations"])


def test_the_pictures_are_drawn_only_when_opened(lab):
    before = len(lab.get("plotly_chart"))
    lab.session_state["sl_pictures_open"] = True
    lab.run()
    no_exception(lab)
    assert len(lab.get("plotly_chart")) == before + 4


def test_parse_link():
    good, bad = sc.parse_link({"kind": "lstm", "L": "0", "T": "12", "chunk": "32", "other": "x"},
                              kinds=["rwkv4", "lstm"], max_layers=24)
    assert good == {"kind": "lstm", "T": 12, "chunk": 32} and bad == ["L='0' is not a whole number from 1 to 24"]
    assert sc.parse_link({"T": "-3"}, kinds=["rwkv4"], max_layers=24)[0] == {}
    assert sc.chunk_note(16, 15).startswith("Cascade chunk 16, capped at 15") and sc.chunk_note(8, 15) is None
