#!/usr/bin/env bash
# The memory lab's committed runs (docs/memory-lab.md, issue 28): nominal widths 64 and 128
# (WIDTHS="64 128 256" adds the optional 256) x RWKV-4, the GPT, the stacked LSTM, one at a time,
# one thread each, every model on the recipe of lab.memory (RECIPE, STEPS: the same steps, the
# same data). Then the measurement, which writes docs/memory/results.json from models/memory/.
#
#   scripts/memory_runs.sh                    # the whole queue; run it again to go on
#   BESIDE="a test run" scripts/memory_runs.sh
#
# Resumable: a model already published in models/memory/ is skipped; an interrupted one resumes
# from runs/memory-lab/<name>/ckpt.pt. It refuses to start while a training run of the tuning sweep
# (lab.sweep run) holds the CPU, unless FORCE=1: the two would slow each other and the timings
# would mean less.
set -euo pipefail
cd "$(dirname "$0")/.."
WIDTHS=${WIDTHS:-"64 128"}
KINDS=${KINDS:-"rwkv4 gpt lstm"}
BESIDE=${BESIDE:-"nothing else of the memory lab; other sessions' editors and tests on the same 2 cores"}
PAIRS=$(python -c "from lab.memory import RECIPE; print(RECIPE['mqar_pairs'])")

if [ "${FORCE:-0}" != 1 ] && pgrep -f "lab.sweep run" > /dev/null; then
    echo "the tuning sweep (lab.sweep run) is training: wait for it to stop, or FORCE=1" >&2
    exit 1
fi
for width in $WIDTHS; do
    for kind in $KINDS; do
        name="$kind-w$width-n$PAIRS"
        if [ -f "models/memory/$name.safetensors" ]; then
            echo "$name: published already, skipped"
            continue
        fi
        echo "$name: training ($(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg))"
        nice python -m lab.memory --train "$kind" --width "$width" --beside "$BESIDE"
    done
done
nice python -m lab.memory --json docs/memory/results.json
