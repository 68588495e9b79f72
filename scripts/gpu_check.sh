#!/usr/bin/env bash
# The GPU check (issue "Real GPU timing"): run on a machine with an NVIDIA GPU, from the repo root.
#   OUT=/some/folder bash scripts/gpu_check.sh
# 1. the engine's equivalence tests on CUDA: fp32 (within 1e-4 of the rwkv package and HF
#    transformers) and bf16 (within the looser tolerance stated in tests/test_reference.py);
# 2. python -m lab.bench on CUDA for the 169M shape, with the rwkv package side by side
#    (its CUDA kernel off, then on if it builds);
# 3. the scheduling lab's scaling data for the 169M shape.
# Everything lands in $OUT as JSON and logs. Needs torch with CUDA; rwkv, transformers, tokenizers,
# safetensors importable (a folder of them can be put on PYTHONPATH: .gpu_deps/).
set -u
OUT="${OUT:-gpu_out}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD:$PWD/.gpu_deps:${PYTHONPATH:-}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/device.csv" 2>&1
python -c "import torch; print(torch.__version__, torch.cuda.get_device_name(0))" > "$OUT/torch.txt" 2>&1

for dtype in float32 bfloat16; do
  RWKV_TEST_DEVICE=cuda RWKV_TEST_DTYPE=$dtype timeout 300 python -m pytest -q -p no:cacheprovider \
    tests/test_reference.py tests/test_engine.py --junitxml="$OUT/tests_cuda_$dtype.xml" \
    > "$OUT/tests_cuda_$dtype.log" 2>&1
  echo "tests cuda $dtype: exit $?" >> "$OUT/summary.txt"
done

timeout 400 python -m lab.bench --device cuda --prefill 64 256 1024 4096 --rnn-tokens 1024 \
  --cascade-tokens 1024 --chunks 1 16 64 256 512 --decode-tokens 64 \
  --scaling 16 64 256 1024 4096 --scaling-rnn-max 1024 \
  --scaling-json "$OUT/scaling_169m_cuda.json" --json "$OUT/bench_cuda.json" > "$OUT/bench_cuda.log" 2>&1
echo "bench cuda: exit $?" >> "$OUT/summary.txt"
timeout 300 python -m lab.bench --device cuda --prefill 1024 4096 --chunks 16 --cascade-tokens 256 \
  --rnn-tokens 256 --decode-tokens 64 --workers 1 --package-cuda --json "$OUT/bench_cuda_pkgkernel.json" \
  > "$OUT/bench_cuda_pkgkernel.log" 2>&1
echo "bench cuda (rwkv package kernel on): exit $?" >> "$OUT/summary.txt"
cat "$OUT/summary.txt"
