#!/usr/bin/env bash
# The fair race's queue (docs/race/README.md, issue "A fair race"), one training at a time, resumable:
#   1. the tuning sweep's unfinished runs (python -m lab.sweep run), then its JSON;
#   2. the full recipe at each kind's chosen setting (python -m lab.sweep retrain; a finished run of an
#      earlier choice is set aside and trained again), in RACE order: rwkv4, gpt, lstm, redline;
#   3. once every retraining is done: adopt them (RWKV-4's embedded model only if as good; else models/race/),
#      evaluate and write the cards, the bigram plateau, the recall curves, the docs tables and the report.
#
#   MINUTES=100 scripts/race_runs.sh            # train for at most 100 minutes, then stop (run it again to go on)
#   BESIDE="a test run" scripts/race_runs.sh
#   DRY_RUN=1 scripts/race_runs.sh              # say what is done and what is next, train nothing
#
# It refuses to start while the memory lab trains (pgrep -f "lab.memory --train"), unless FORCE=1.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
MINUTES=${MINUTES:-60}
THREADS=${THREADS:-2}
BESIDE=${BESIDE:-"nothing else of the race; the session's own edits and short single tests on the same 2 cores"}

if [ "${DRY_RUN:-0}" = 1 ]; then
    "$PYTHON" -m lab.sweep status
    for kind in rwkv4 gpt lstm redline; do
        if [ -f "runs/race/$kind/log.json" ]; then
            "$PYTHON" -c "import json,sys; d=json.load(open(sys.argv[1])); r=d['recipe']; v=d['val'][-1] if d['val'] else {}; print(sys.argv[2], 'finished' if 'final' in d else 'at step %s' % v.get('step', 0), 'lr', r['lr_peak'], 'warm-up', r['warmup_steps'], 'init', r.get('init', 'kind'))" "runs/race/$kind/log.json" "$kind"
        else
            echo "$kind: no run here"
        fi
    done
    "$PYTHON" -m lab.sweep pending || true
    exit 0
fi
if [ "${FORCE:-0}" != 1 ] && pgrep -f "lab.memory --train" > /dev/null; then
    echo "the memory lab is training (pgrep -f 'lab.memory --train'): wait for it, or FORCE=1" >&2
    exit 1
fi
start=$(date +%s)
left() { echo $(( MINUTES - ($(date +%s) - start) / 60 )); }

"$PYTHON" -m lab.sweep run --threads "$THREADS" --max-minutes "$MINUTES" --beside "$BESIDE"
"$PYTHON" -m lab.sweep json docs/race/sweep.json
if ! "$PYTHON" -c "import json,sys; sys.exit(0 if json.load(open('docs/race/sweep.json'))['complete'] else 1)"; then
    echo "the sweep is not complete yet: run this again"
    exit 0
fi
if [ "$(left)" -le 1 ]; then echo "time is up: run this again"; exit 0; fi
"$PYTHON" -m lab.sweep retrain --threads "$THREADS" --max-minutes "$(left)" --beside "$BESIDE"
if ! "$PYTHON" -m lab.sweep pending; then      # neither finished in runs/race/ nor adopted into models/
    echo "the retraining is not done yet: run this again"
    exit 0
fi
"$PYTHON" -m lab.sweep adopt
if [ -f models/race/rwkv4-shakespeare.safetensors ] && [ ! -f models/race/rwkv4-shakespeare.eval.json ]; then
    "$PYTHON" -m lab.evaluate --model models/race/rwkv4-shakespeare.safetensors --json models/race/rwkv4-shakespeare.eval.json
fi
for stem in gpt-shakespeare lstm-shakespeare redline-shakespeare; do   # a replaced file lost its evaluation
    [ -f "models/$stem.eval.json" ] || "$PYTHON" -m lab.card --model "$stem" --evaluate --threads "$THREADS"
done
"$PYTHON" -m lab.card --all --threads "$THREADS"
"$PYTHON" -m lab.bigram --json docs/race/bigram.json
if compgen -G "runs/sweep/gpt-*/ckpt.pt" > /dev/null; then     # the GPT checkpoints it reads are local runs
    "$PYTHON" -m lab.plateau --json docs/race/plateau.json
else
    echo "kept docs/race/plateau.json: the GPT checkpoints it reads (runs/sweep/gpt-*/) are not in this checkout"
fi
"$PYTHON" -m lab.recall --threads 1 --json docs/compare/recall_cpu.json
"$PYTHON" scripts/docs_blocks.py
"$PYTHON" scripts/race_report.py --out docs/race/README.md
echo "done: commit models/, docs/race/ (with before/: the logs adopt replaced), docs/compare/recall_cpu.json, docs/benchmarks.md; retake the Why page's screenshots"
