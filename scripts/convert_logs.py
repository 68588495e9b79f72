"""One-off (run once): the five shipped training logs, models/*.log.json, in the one log schema
(lab.train_log), through lab.log_convert. The sessions below (resumes, threads, what ran beside
each run) were transcribed once from the old cards, evaluations and the app's hand-written note
(app/compare_core.py SHARED_CPU), since the old logs lacked them; each log's notes say so.

    python scripts/convert_logs.py [--models models] [--dry-run]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from lab.log_convert import convert, sessions_from

ROOT = Path(__file__).resolve().parent.parent
EPYC = "AMD EPYC"   # the old evaluations' machine field, read on the development machine that trained them
FROM_CARD = "Sessions, threads and what ran beside it transcribed once from the old card ({}), not measured."

RUNS = {
    "rwkv4-shakespeare": dict(
        kind="rwkv4", variant="", cpu=None, cores=2,
        beside="the rest of the project being built on the same two cores",
        spans=[dict(start_step=0, stop_step=200, threads=2),
               dict(start_step=200, stop_step=250, threads=2, recipe_changes={"total_steps": [2600, 1300]}),
               dict(start_step=250, stop_step=325, threads=1),
               dict(start_step=325, stop_step=375, threads=2),
               dict(start_step=375, stop_step=2000, threads=2, why="finished",
                    recipe_changes={"total_steps": [1300, 2000]})],
        notes=[FROM_CARD.format("models/rwkv4-shakespeare.md: 'stopped and resumed from its checkpoints four times', "
                                "one thread for steps 250–325; the four resumes placed at its four named changes, "
                                "steps 200, 250, 325 and 375; why each stop happened is unknown (null)"),
               "The CPU model was not recorded: the old card says only 'x86_64 CPU, 2 threads (the project's 2-core "
               "development machine)'.",
               "The schedule's planned length was changed from 2,600 to 1,300 steps at step 200 and to 2,000 at step "
               "375 (the learning rate of steps 100–375 differed from the final schedule's by under 1%); from step "
               "325 on it ran with the faster parallel WKV (the same maths). A rerun with the defaults repeats the "
               "same setup, not these interruptions, so its numbers will be close but not identical."]),
    "rwkv4-shiftonly-shakespeare": dict(
        kind="rwkv4", variant="shift", cpu=EPYC, cores=2, beside="other work on the project, all along",
        spans=[dict(start_step=0, stop_step=250, threads=2),
               dict(start_step=250, stop_step=2000, threads=1, why="finished")],
        notes=[FROM_CARD.format("models/rwkv4-shiftonly-shakespeare.md: 'steps 1–250 on 2 threads, then (restarted "
                                "from the step-250 checkpoint) 1 thread at raised priority'"),
               "Trained with the embedded model's tokenizer (--tokenizer models/rwkv4-shakespeare.tokenizer.json), "
               "copied, not retrained."]),
    "lstm-shakespeare": dict(
        kind="lstm", variant="", cpu=EPYC, cores=2,
        beside="a GPT's training from about minute 7 and the red-line RNN's from about minute 19 (one thread "
               "each), and the project's tests and benchmarks",
        spans=[dict(start_step=0, stop_step=50, threads=2),
               dict(start_step=50, stop_step=2000, threads=1, why="finished")],
        notes=[FROM_CARD.format("the old log's 'resumed' entry (step 50, 1 thread) and "
                                "models/lstm-shakespeare.eval.json's 'shared'")]),
    "redline-shakespeare": dict(
        kind="redline", variant="", cpu=EPYC, cores=2,
        beside="the stacked LSTM's training for its first 18 minutes and a GPT's for its first 56 (one thread "
               "each), and the project's tests and benchmarks",
        spans=[dict(start_step=0, stop_step=1460, threads=1, why="time cap")],
        notes=[FROM_CARD.format("models/redline-shakespeare.eval.json's 'shared'")]),
    "gpt-shakespeare": dict(
        kind="gpt", variant="", cpu=EPYC, cores=2,
        beside="the LSTM's and the red-line RNN's trainings (one thread each), benchmarks and test runs",
        spans=[dict(start_step=0, stop_step=2000, threads=1, why="finished")],
        notes=[FROM_CARD.format("models/gpt-shakespeare.md and app/compare_core.py's SHARED_CPU, written from "
                                "runs/gpt/STARTED_BY_LEAD.txt")]),
}


def train_tokens_per_pass() -> int:
    """Tokens of the training text, one pass (every shipped model reads it with the same tokenizer)."""
    from lab.data import load_texts
    from lab.train import TOKENIZER, encode_corpus
    from rwkv_core.tokenizer import Tokenizer
    return len(encode_corpus(Tokenizer(TOKENIZER), load_texts()[0].values()))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=str(ROOT / "models"))
    p.add_argument("--dry-run", action="store_true", help="print the converted logs' sessions, write nothing")
    args = p.parse_args(argv)
    per_pass = train_tokens_per_pass()
    for name, run in RUNS.items():
        path = Path(args.models) / f"{name}.log.json"
        old = json.loads(path.read_text())
        sessions = sessions_from(old, run["spans"], run["cpu"], run["cores"], run["beside"])
        log = convert(old, kind=run["kind"], variant=run["variant"], name=name, sessions=sessions,
                      train_tokens_per_pass=per_pass, notes=run["notes"])
        print(name, json.dumps(log["sessions"])[:200] if args.dry_run else path)
        if not args.dry_run:
            path.write_text(json.dumps(log))


if __name__ == "__main__":
    main()
