#!/usr/bin/env bash
# The GPU check (issue 29, "Real GPU timing"): one command, about 7 minutes on an H100/H200-class GPU.
#   OUT=/some/folder bash scripts/gpu_check.sh                          # the GPU run (docs/gpu/README.md)
#   OUT=/tmp/gpu_rehearsal GPU_CHECK_SMALL=1 nice bash scripts/gpu_check.sh   # the CPU rehearsal, sizes cut
# Parts, in this order (each with its own time limit, all inside GPU_CHECK_BUDGET seconds, 450 by default;
# GPU_CHECK_PARTS="race tests bench generation scaling kernel" picks some, e.g. for a rerun of one that failed):
# race        the training race: one training step per kind (lab.train_bench), the shipped and the 169M shapes,
#             batch 6 x 512 and a batch that about fills the GPU                      -> train_race.json
# tests       the engine's equivalence tests on the GPU, fp32 and bf16 side by side   -> logs.tar.gz (junit xml)
#             (meanwhile, on a GPU, the rwkv package's CUDA kernel is built in the background for `kernel`)
# bench       python -m lab.bench, 169M shape: decode, prefill 256/1024/4096, rnn 1024/4096, the cascade (512) at
#             chunks 1/16/128/512 with 2 workers (streams), the rwkv package beside it (kernel off) -> bench.json
# generation  the time per new token against context, RWKV-4 and the GPT (models/)   -> generation.json
# scaling     the Scheduling Lab's scaling record for the 169M shape (docs/bench layout) -> scaling_169m.json
# kernel      lab.bench again with the rwkv package's CUDA kernel on, if it built     -> bench_pkgkernel.json
# Every log, the junit files and summary.txt (exit status and seconds of each part) go into
# $OUT/logs.tar.gz, refreshed after each part: at most 8 files come back from the device tool.
# Needs python3 with torch; the rwkv package as wheels in .gpu_wheels/ (installed here into a
# scratch folder) or importable. The repo root goes on PYTHONPATH (no pip install -e . there).
set -u
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT" || exit 1
OUT="${OUT:-gpu_out}"
SMALL="${GPU_CHECK_SMALL:-0}"
PARTS=" ${GPU_CHECK_PARTS:-race tests bench generation scaling kernel} "
SCALE=1
[ "$SMALL" = 1 ] && SCALE=3   # the rehearsal's busy 2-core CPU is slower than the GPU at everything
BUDGET="${GPU_CHECK_BUDGET:-$((450 * SCALE))}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
LOGS="$(mktemp -d)" && chmod 755 "$LOGS"   # its mode travels in the tar as "."
SITE="$LOGS/site"
START=$(date +%s)
export PYTHONUNBUFFERED=1
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
PY=python3

pack() {  # the logs so far, as one file in $OUT
  tar -czf "$OUT/logs.tar.gz.tmp" -C "$LOGS" --exclude=./site --exclude=./random . &&
    mv "$OUT/logs.tar.gz.tmp" "$OUT/logs.tar.gz"
}

part() {  # part NAME LIMIT COMMAND...: run it within its limit and the budget left, output in NAME.log
  local name=$1 limit=$(($2 * SCALE)) t0 left rc
  shift 2
  t0=$(date +%s)
  left=$((START + BUDGET - t0))
  if ((left < 15)); then
    echo "$name: skipped, no time left in the budget of ${BUDGET} s" | tee -a "$LOGS/summary.txt"
    return
  fi
  ((limit > left)) && limit=$left
  echo "== $name (limit ${limit} s): $*" > "$LOGS/$name.log"
  timeout "$limit" "$@" >> "$LOGS/$name.log" 2>&1
  rc=$?
  echo "$name: exit $rc$( ((rc == 124)) && echo ' (timed out)'), $(($(date +%s) - t0)) s" | tee -a "$LOGS/summary.txt"
}

want() { [[ $PARTS == *" $1 "* ]]; }
RANDOM_MODELS='  # argv[1]: a folder; writes random weights of the shipped RWKV-4 and GPT (their trainer hooks)
import sys, torch
from safetensors.torch import save_file
from lab.kinds import KINDS
from lab.train import recipe
for kind in ("rwkv4", "gpt"):
    hooks = KINDS[kind].trainer
    sd = hooks.init_weights(hooks.make_config(recipe(kind), 2048), torch.Generator().manual_seed(0))
    save_file({k: v.contiguous() for k, v in sd.items()}, f"{sys.argv[1]}/{kind}-shakespeare.safetensors")
'

main() {  # one function: bash reads it whole before running it, so an edit of this file cannot break a run
  if ls .gpu_wheels/*.whl > /dev/null 2>&1; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" .gpu_wheels/*.whl \
      > "$LOGS/wheels.log" 2>&1 && export PYTHONPATH="$PYTHONPATH:$SITE"
  fi
  DEVICE=$($PY -c "import torch; print('cuda' if torch.cuda.is_available() else 'cpu')")
  {
    date -u +"started %Y-%m-%dT%H:%M:%SZ"
    echo "device $DEVICE, small $SMALL, budget $BUDGET s, git $(git rev-parse --short HEAD 2> /dev/null)"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 || true
    $PY -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda',
      torch.version.cuda)"
    $PY -c "import rwkv, os; print('rwkv package at', os.path.dirname(rwkv.__file__))" 2>&1 | tail -1
  } > "$LOGS/environment.txt" 2>&1
  cat "$LOGS/environment.txt"


  if [ "$SMALL" = 1 ]; then   # the rehearsal: every part, sizes cut for a busy 2-core CPU
    RACE=(--shape shipped --batch 1 2 --ctx 16 --repeats 1)
    SHAPE=(--layers 2 --width 64 --vocab 512 --no-bounds)
    BENCH=(--prefill 32 64 --rnn-tokens 32 64 --cascade-tokens 64 --chunks 1 16 --decode-tokens 4 --rounds 1)
    KERNEL=(--prefill 64 --rnn-tokens 64 --cascade-tokens 16 --chunks 16 --decode-tokens 4 --rounds 1)
    SCALING=(--scaling 16 64 --scaling-rnn-max 16 --chunks 1 16)
    CONTEXTS=16,64
  else
    RACE=(--shape shipped 169m --batch 6 fill --ctx 512 --repeats 3)
    SHAPE=()                  # lab.bench's default: the 169M shape (12 x 768, vocab 50277)
    BENCH=(--prefill 256 1024 4096 --rnn-tokens 1024 4096 --cascade-tokens 512 --chunks 1 16 128 512
      --decode-tokens 64 --rounds 3)
    KERNEL=(--prefill 256 1024 4096 --rnn-tokens 256 --cascade-tokens 256 --chunks 16 --decode-tokens 64 --rounds 3)
    SCALING=(--scaling 16 64 256 1024 --scaling-rnn-max 256 --chunks 1 16 128 512)   # rnn 1024, 4096: bench.json
    CONTEXTS=16,64,256,512,1024,2048,4096
  fi

  if want race; then
    part train_race 150 $PY -m lab.train_bench --device "$DEVICE" "${RACE[@]}" --json "$OUT/train_race.json"
    pack
  fi

  if want kernel && [ "$DEVICE" = cuda ]; then   # compile the package's kernel (CPU work) while the tests run
    RWKV_CUDA_ON=1 RWKV_JIT_ON=1 part kernel_build 150 $PY -c "import rwkv.model" &
  fi
  if want tests; then   # both dtypes at once: tiny models, correctness only
    for dtype in float32 bfloat16; do
      RWKV_TEST_DEVICE=$DEVICE RWKV_TEST_DTYPE=$dtype part "tests_$dtype" 150 $PY -m pytest -q -p no:cacheprovider \
        tests/test_reference.py tests/test_engine.py --junitxml="$LOGS/tests_$dtype.xml" &
    done
  fi
  wait
  pack

  if want bench; then   # the engine beside the rwkv package, its kernel off
    part bench 200 $PY -m lab.bench --device "$DEVICE" "${SHAPE[@]}" "${BENCH[@]}" --workers 2 --json "$OUT/bench.json"
    pack
  fi
  if want generation; then   # the Why page's chart: time per new token against context
    MODELS=rwkv4-shakespeare,gpt-shakespeare
    if [ ! -f models/rwkv4-shakespeare.safetensors ] || [ ! -f models/gpt-shakespeare.safetensors ] ||
      [ "${GPU_CHECK_RANDOM_MODELS:-0}" = 1 ]; then   # the checkpoints did not travel: random weights of their shapes
      mkdir -p "$LOGS/random" && MODELS="$LOGS/random/rwkv4-shakespeare,$LOGS/random/gpt-shakespeare"
      $PY -c "$RANDOM_MODELS" "$LOGS/random" > "$LOGS/random_models.log" 2>&1
    fi
    part generation 60 $PY -m lab.measure --device "$DEVICE" --models "$MODELS" \
      --contexts "$CONTEXTS" --new-tokens 16 --json "$OUT/generation.json"
    pack
  fi
  if want scaling; then   # the Scheduling Lab's scaling record (docs/bench layout)
    part scaling 90 $PY -m lab.bench --device "$DEVICE" "${SHAPE[@]}" "${SCALING[@]}" --workers 2 --no-package \
      --prefill 16 --rnn-tokens 16 --cascade-tokens 16 --decode-tokens 2 --rounds 1 --scaling-json "$OUT/scaling_169m.json"
    pack
  fi
  if want kernel; then   # the package with its CUDA kernel on (built above); on a CPU the same run, kernel off
    CUDA_FLAG=()
    [ "$DEVICE" = cuda ] && CUDA_FLAG=(--package-cuda)
    if [ "$DEVICE" = cuda ] && ! grep -q "^kernel_build: exit 0," "$LOGS/summary.txt"; then
      echo "bench_pkgkernel: skipped, the package's CUDA kernel did not build (kernel_build.log)" | tee -a "$LOGS/summary.txt"
    else
      part bench_pkgkernel 90 $PY -m lab.bench --device "$DEVICE" "${SHAPE[@]}" "${KERNEL[@]}" --workers 1 \
        "${CUDA_FLAG[@]}" --json "$OUT/bench_pkgkernel.json"
    fi
  fi
  echo "total: $(($(date +%s) - START)) s" | tee -a "$LOGS/summary.txt"
  pack
  rm -rf "$LOGS"
  $PY scripts/gpu_summary.py "$OUT"
}

main "$@"; exit   # on one line: read whole before it runs
