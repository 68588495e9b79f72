"""The "Why RWKV, measured" page through the real app (AppTest) on the models trained here, and the
GPT's attention beside the WKV in the Explorer."""
import pytest
from app_helpers import chart, charts, no_exception, started_app

from app import compare_core as cc
from app.resources import md_escape
from lab import race

PAGE = "app_pages/why_rwkv.py"
LANDED = ("rwkv4", "gpt", "lstm", "redline")   # the four models trained here (models/*-shakespeare.*)


def table_with(app, column: str):
    """The first table on the page with that column (dataframes carry no key in AppTest)."""
    return next(d.value for d in app.dataframe if column in d.value.columns)


@pytest.fixture(scope="module")
def kinds():
    found = cc.shipped()
    assert set(LANDED) <= set(found), f"the trained models must be in models/: found {sorted(found)}"
    return list(found)


@pytest.fixture(scope="module")
def page(kinds):
    return started_app(PAGE)


def test_the_page_compares_quality_of_every_landed_model(page, kinds):
    titles = [cc.title(k) for k in kinds]
    assert page.title[0].value == "Why RWKV, measured"
    table = table_with(page, "held-out bits/char")
    assert list(table["model"]) == titles
    assert any(c.startswith("at ") and c.endswith("M tokens") for c in table.columns)
    assert any(c.endswith("min of compute") for c in table.columns)
    for axis in ("equal training tokens", "equal compute time"):
        fig = chart(page, f"Held-out bits per character at {axis}")
        assert [t["name"] for t in fig["data"]] == titles and fig["layout"]["shapes"]
    said = " ".join(c.value for c in page.caption)
    assert "clean training throughput" in said
    runs = page.expander[0].markdown[0].value                      # how each run was trained, from its log
    assert all(f"**{t}**" in runs for t in titles) and "resumed" in runs


def test_the_fairness_warning_is_computed_from_the_files(page):
    reasons = race.unfair(race.read(race.SWEEP_FILE), race.race_logs())
    if reasons:
        said = page.warning[0].value
        assert said.startswith("**Not yet a fair race.**") and race.SCALE_NOTE in said
        assert all(f"- {r[0].upper()}{r[1:]}." in said for r in reasons)
    else:
        assert page.success[0].value.startswith("A fair race") and race.SCALE_NOTE in page.success[0].value
    infos = " ".join(i.value for i in page.info)
    for line in race.kept():                  # a shipped model kept beside its kind's race run, said from both files
        assert md_escape(line[0].upper() + line[1:] + ".") in infos
    carried = race.carried_text(race.carried(), race.read(race.SWEEP_FILE))   # the sweep's choice vs the runs before
    assert carried and md_escape(carried) in [m.value for m in page.markdown]
    sweep = chart(page, "The tuning sweep")
    series = race.sweep_series(race.read(race.SWEEP_FILE))
    lines = [t for t in sweep["data"] if t.get("showlegend") is not False]
    assert [t["name"] for t in lines] == [cc.title(k) for k in series]
    assert [list(t["x"]) for t in lines] == [[lr for lr, _ in pts] for pts in series.values()]


def test_learning_early_shows_each_race_run_against_the_bigram_level_from_the_files(page):
    """The curves are the race's logs (the 50-step means lab.bigram reads), the steps in the table are
    docs/race/bigram.json's, and the sentences are worded from bigram.json, plateau.json and gpt_shift.json."""
    from lab import bigram
    data = race.read(race.BIGRAM_FILE)
    fig = chart(page, "Training loss against the bigram level")
    logs = race.race_logs()
    solid = [t for t in fig["data"] if t["line"].get("dash") != "dash"]
    assert [t["name"] for t in solid] == [cc.title(k) for k in logs]
    for t, log in zip(solid, logs.values()):
        assert list(zip(t["x"], t["y"])) == bigram.smoothed(log, data["window"])
    assert fig["layout"]["shapes"][0]["y0"] == data["bigram_nats_per_token"]
    view = cc.plateau_view()
    steps = table_with(page, "below the bigram level from step")
    assert steps.to_dict("list") == view.table
    assert sorted(view.table["below the bigram level from step"][:len(data["runs"])]) == \
        sorted(f"{r['leaves_at_step']:,}" for r in data["runs"])
    assert md_escape(view.text) in [m.value for m in page.markdown]
    assert bigram.gpt_sentence(data) in view.text
    shift = race.read(race.SHIFT_FILE)
    assert len(fig["data"]) == len(logs) + len(view.full)             # the experiment's full-length run, dashed
    if shift:
        assert shift["verdict"] in view.text and "The token-shift experiment below measures" in view.text
        close = chart(page, "The first")
        assert [list(zip(t["x"], t["y"])) for t in close["data"]] == [list(map(tuple, pts)) for pts in view.short.values()]


def test_the_committed_training_speed(page, kinds):
    fig = chart(page, "Training: tokens per second of one step")
    assert set(cc.title(k) for k in LANDED) <= set(fig["data"][0]["x"])
    assert all(v > 0 for v in fig["data"][0]["y"])


def test_the_live_generation_cost_and_memory(page, kinds):
    page.multiselect(key="wr_gen_contexts").set_value([16, 64]).run()
    page.button(key="wr_gen_run").click().run()
    no_exception(page)
    done = next(s.value for s in page.success if s.value.startswith("Measured here"))   # the fair race's is first
    assert done.startswith("Measured here, contexts 16 → 64") and all(cc.title(k) in done for k in kinds)
    live = chart(page, "Generation: time per new token", last=True)
    assert [t["name"] for t in live["data"]] == [cc.title(k) for k in kinds]
    assert all(t["x"] == [16, 64] for t in live["data"])
    memory = chart(page, "Memory")
    names = [t["name"] for t in memory["data"]]
    assert names[:len(kinds)] == [cc.title(k) for k in kinds] and "GPT-2 small (computed)" in names
    gpt = memory["data"][kinds.index("gpt")]
    assert gpt["y"][1] == 4 * gpt["y"][0]                              # the cache: 4× the tokens, 4× the bytes


def test_the_same_prompt_side_by_side(page, kinds):
    page.text_area(key="wr_prompt").set_value("KING.\nWhat news?").run()
    page.number_input(key="wr_n_new").set_value(12).run()
    page.button(key="wr_generate").click().run()
    no_exception(page)
    texts = [c.value for c in page.code]
    assert len(texts) == len(kinds) and all(t.startswith("KING.\nWhat news?") for t in texts)
    speeds = [m for m in page.metric if m.label == "tokens / s"]
    assert len(speeds) == len(kinds) and all(float(m.value.replace(",", "")) > 0 for m in speeds)


def test_where_each_model_looks(page):
    page.selectbox(key="wr_look_layer").set_value(3).run()
    page.selectbox(key="wr_look_head").set_value(1).run()
    no_exception(page)
    rwkv = chart(page, "Layer 3, what each token reads: RWKV-4")["data"][0]
    gpt = chart(page, "Layer 3, what each token reads: GPT")["data"][0]
    for z in (rwkv["z"], gpt["z"]):
        assert all(abs(sum(row) - 1) < 1e-5 for row in z)               # every row a distribution
        assert all(v == 0 for i, row in enumerate(z) for v in row[i + 1:])   # nothing ahead
    table = table_with(page, "RWKV: mean look-back (tokens)")
    assert len(table) == 6 and (table["RWKV: mean look-back (tokens)"].astype(float) > 0).all()


def test_the_explorer_draws_the_gpt_attention_beside_the_wkv(kinds):
    app = started_app("app_pages/explorer.py")
    app.radio(key="ex_section").set_value("WKV as attention").run()
    no_exception(app)
    titles = [c["layout"]["title"]["text"] for c in charts(app)]
    assert any(t.startswith("What the current token's WKV averages over") for t in titles)
    gpt = chart(app, "What the GPT's last token attends to")
    assert len(gpt["data"][0]["z"]) == 6 and all(abs(sum(row) - 1) < 1e-5 for row in gpt["data"][0]["z"])
