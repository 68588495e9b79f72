"""The bigram plateau (lab/bigram.py): the level is the conditional entropy of the next token given
the previous one, and docs/race/bigram.json says what the race's logs say now."""
import json
import math
from pathlib import Path

from lab import bigram, race

ROOT = Path(__file__).resolve().parent.parent


def test_the_level_is_the_conditional_entropy_of_the_next_token():
    assert bigram.conditional_entropy([0, 1] * 50) == 0.0                        # each token fixes the next
    ids = [0, 1, 0, 2] * 100                                                     # after 0: 1 or 2, half each
    want = -(0.5 * math.log(0.5) * 2) * (ids[:-1].count(0) / (len(ids) - 1))     # only the 0s are uncertain
    assert math.isclose(bigram.conditional_entropy(ids), want, rel_tol=1e-12)


def test_a_run_leaves_the_plateau_when_its_windowed_loss_is_below_the_level():
    log = {"train": [{"step": s, "loss": 5.0 if s < 300 else 3.0} for s in range(1, 1001)]}
    assert bigram.leaves_at(log, 4.0) == 300 + bigram.WINDOW // 2 + 1           # the mean of 50 crosses halfway
    assert bigram.leaves_at(log, 2.0) is None


def test_the_committed_plateau_file_is_what_the_race_logs_say():
    data = race.read(race.BIGRAM_FILE)
    assert [r["log"] for r in data["runs"]] == [str(p.resolve().relative_to(ROOT)) for p in bigram.default_logs()]
    for r in data["runs"]:
        log = json.loads((ROOT / r["log"]).read_text())
        assert bigram.leaves_at(log, data["bigram_nats_per_token"], data["window"]) == r["leaves_at_step"], r["log"]
        assert (r["lr_peak"], r["warmup_steps"]) == (log["recipe"]["lr_peak"], log["recipe"]["warmup_steps"])
