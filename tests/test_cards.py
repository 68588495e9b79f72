"""Every shipped model's card is what the one card writer makes of the committed log and evaluation:
a figure in a card that no longer matches its JSON fails here (the card writer reads, never measures,
when the evaluation is there)."""
from __future__ import annotations

import shutil

import pytest

from lab import card
from lab.kinds import MODELS_DIR, SHIPPED


@pytest.fixture(scope="module")
def rewritten(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    for stem in SHIPPED:
        for f in MODELS_DIR.glob(f"{stem}.*"):
            shutil.copy(f, folder / f.name)
    return folder


@pytest.mark.parametrize("stem", list(SHIPPED))
def test_the_committed_card_is_the_card_writers(rewritten, stem, monkeypatch):
    monkeypatch.setattr(card, "load_seconds", lambda path: pytest.fail("the card writer measured instead of reading"))
    path = card.write(stem, models_dir=rewritten)
    assert path.read_text() == (MODELS_DIR / f"{stem}.md").read_text()
