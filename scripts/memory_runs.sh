#!/usr/bin/env bash
# The memory lab's queue (docs/memory-lab.md, issue 28): the recipe per N of lab.memory (RECIPE, STEPS,
# PAIRS_TRAINED: N = 4, 8, 16 at length 3N) x nominal widths 64 and 128 (WIDTHS="64 128 256" adds the
# optional 256) x RWKV-4, the GPT, the stacked LSTM: 18 tiny runs, one at a time, `nice`, one thread
# each. Then the measurement, which writes docs/memory/results.json from models/memory/.
#
#   scripts/memory_runs.sh                    # the whole queue; run it again to go on
#   BESIDE="a test run" scripts/memory_runs.sh
#   DRY_RUN=1 scripts/memory_runs.sh          # say what would be trained or skipped, train nothing
#
# Resumable: a model already published in models/memory/<kind>-w<W>-n<N>.safetensors with today's recipe
# (python -m lab.memory --is-current NAME) is skipped, one of an earlier recipe is trained again; an
# interrupted one resumes from runs/memory-lab-pern/<name>/ckpt.pt. It refuses to start while lab.sweep
# (its run or its retraining) trains, unless FORCE=1: one training at a time on this machine, or the
# two would slow each other and the timings would mean less.
set -euo pipefail
cd "$(dirname "$0")/.."
WIDTHS=${WIDTHS:-"64 128"}
KINDS=${KINDS:-"rwkv4 gpt lstm"}
PYTHON=${PYTHON:-python}
BESIDE=${BESIDE:-"nothing else of the memory lab; other sessions' editors and tests on the same 2 cores"}
PAIRS=${PAIRS:-$("$PYTHON" -c "from lab.memory import PAIRS_TRAINED; print(*PAIRS_TRAINED)")}
MODELS=${MODELS:-models/memory}

if [ "${FORCE:-0}" != 1 ] && pgrep -f "lab.sweep" > /dev/null; then
    echo "lab.sweep is training (pgrep -f lab.sweep): wait for it to stop, or FORCE=1" >&2
    exit 1
fi
for pairs in $PAIRS; do
    for width in $WIDTHS; do
        for kind in $KINDS; do
            name="$kind-w$width-n$pairs"
            if [ -f "$MODELS/$name.safetensors" ] && "$PYTHON" -m lab.memory --is-current "$name" --models "$MODELS"; then
                echo "$name: published already, skipped"
                continue
            fi
            echo "$name: training ($(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg))"
            if [ "${DRY_RUN:-0}" != 1 ]; then
                nice "$PYTHON" -m lab.memory --train "$kind" --width "$width" --pairs "$pairs" \
                    --models "$MODELS" --beside "$BESIDE"
            fi
        done
    done
done
if [ "${DRY_RUN:-0}" != 1 ]; then
    nice "$PYTHON" -m lab.memory --models "$MODELS" --json docs/memory/results.json
fi
