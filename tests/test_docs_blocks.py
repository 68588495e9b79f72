"""docs/benchmarks.md's tables of the models trained here are written from their files
(scripts/docs_blocks.py): the committed text is what the logs, evaluations and the recall file say
now, so a retrained model, a new evaluation or a new recall run fails here until the script is run."""
from pathlib import Path

from app.lessons import views_cliffhanger as vcl
from scripts import docs_blocks

ROOT = Path(__file__).resolve().parent.parent


def test_every_block_of_the_benchmarks_and_the_readme_is_what_its_files_say():
    docs = {path: path.read_text() for path in docs_blocks.DOCS}
    for name in docs_blocks.BLOCKS:
        assert any(f"<!-- block:{name} -->" in d and f"<!-- /block:{name} -->" in d for d in docs.values()), name
    for path, doc in docs.items():
        assert docs_blocks.fill(doc) == doc, f"{path.name} is stale: run python scripts/docs_blocks.py"


def test_the_readme_says_the_race_as_its_files_do():
    """The README's claims about the comparison are the Why page's own sentences, from the committed files."""
    from app import compare_core as cc
    from lab import race
    readme = (ROOT / "README.md").read_text()
    curves = cc.read_curves()
    eq = cc.equal_race(curves, race.throughput(race.read(race.THROUGHPUT_FILE)))
    assert cc.verdict(curves, eq) in readme and cc.verdict_compute(curves, eq) in readme
    reasons = race.unfair(race.read(race.SWEEP_FILE), race.race_logs())
    assert ("not yet fair: " + "; ".join(reasons)) in readme if reasons else "trained at its chosen setting" in readme
    assert race.SCALE_NOTE in readme


def test_a_block_is_filled_empty_or_not_and_nothing_else_moves():
    doc = "# A\n\ntext\n\n<!-- block:cliffhanger -->\n<!-- /block:cliffhanger -->\n\nafter\n"
    once = docs_blocks.fill(doc)
    assert once.startswith("# A\n\ntext\n\n<!-- block:cliffhanger -->\n| model |") and once.endswith(
        "<!-- /block:cliffhanger -->\n\nafter\n")
    assert docs_blocks.fill(once) == once
    stale = once.replace(f"{vcl.trained_models()[0].bits_per_char:.3f}", "9.999", 1)
    assert stale != once and docs_blocks.fill(stale) == once


def test_the_rivals_table_says_each_runs_recipe_and_a_cut_run():
    text = docs_blocks.rivals()
    for kind in docs_blocks.RACE:
        assert f"(`models/{docs_blocks.kinds.main_model(kind).stem}.md`)" in text
    assert text.count("peak rate ") == len(docs_blocks.RACE)


def test_the_tokens_note_names_who_saw_fewer():
    t = [vcl.Trained("a", "A", "", 2.0, 6_144_000, 1.0), vcl.Trained("b", "B", "", 2.0, 4_485_120, 1.0)]
    assert vcl.tokens_note(t) == "Not every model saw the same tokens: 6.14M each, except the B 4.49M."
    assert vcl.tokens_note(t[:1]) == "Every model saw the same 6.14M training tokens."
