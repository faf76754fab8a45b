#!/usr/bin/env bash
# Run on the lent GPU machine (torch + transformers present; no network): the test suite on CUDA in
# float32 and bfloat16 (tests take the device as a parameter), then the GPU benchmarks.
# Needs the wheels listed in ../shared/gpu/README.md (+ plotly, narwhals, jaxtyping, wadler-lindig,
# gguf, numba, llvmlite, beartype for the type-checked tests) in .whl/; numba+llvmlite (63 MB) overflow the 64 MiB carry, so leave them out and
# pass PYTEST_K=cuda when the CPU probe fits (numba) are not needed. Logs and JSON results go to $OUT (or ./gpu_out).
set -uo pipefail
OUT="${OUT:-gpu_out}"; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && export PYTHONPATH="/tmp/site:$PWD" || exit 1
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
# the tests check every mechint call's annotations with beartype (tests/conftest.py); without its wheel, run unchecked
python3 -c "import beartype" 2>/dev/null || { echo "beartype missing: tests run without type checking"; export MECHINT_TYPECHECK=0; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" | tee -a "$OUT/gpu.txt"
timeout "${TEST_TIMEOUT:-240}" python3 -m pytest -q -m "not slow" -p no:cacheprovider -k "${PYTEST_K:-cuda or not cpu}" ${TESTS:-tests} 2>&1 \
  | tee "$OUT/pytest.log" | tail -25
# Each benchmark's GPU arguments; BENCHES picks which run (default: all).
declare -A ARGS=(
  [collect]="--device cuda --model random-llama-1b --dtype bfloat16"
  [probes]="--device cuda --methods sklearn_lbfgs,mechint,mechint_resident --profile $OUT/probes_profile.txt"
  [patching]="--device cuda"
  [refusal_direction]="--random-llama --device cuda --dtype bfloat16 --n 32 --k 16 --mechint-batch-size 8 --max-candidates 32"
  [monitor]="--device cuda --dtype bfloat16"
  [overheads]="--device cuda"
)
for bench in ${BENCHES:-collect probes patching refusal_direction monitor overheads}; do
  [ -f "benchmarks/bench_${bench}.py" ] || continue
  timeout "${BENCH_TIMEOUT:-240}" python3 "benchmarks/bench_${bench}.py" ${ARGS[$bench]} \
    --out "$OUT/${bench}_cuda.json" 2>&1 | tee "$OUT/bench_${bench}.log" | tail -30
done
# PATCH_TOKENS="16384 32768 65536": activation_patch's token budget per chunk against plain forwards at
# 128 positions (mechint with and without skipping unchanged cells, plain forwards; no TransformerLens: ~40 s per value).
for t in ${PATCH_TOKENS:-}; do
  timeout "${BENCH_TIMEOUT:-240}" python3 benchmarks/bench_patching.py --device cuda --positions 128 --methods mechint,mechint_all,plain \
    --no-memory --mechint-tokens "$t" --out "$OUT/patching_tokens_$t.json" 2>&1 | tee "$OUT/bench_patching_tokens_$t.log" | tail -8
done
# PATCH_PROFILE=1: one 128-position mechint sweep under torch.profiler (operator table by GPU time).
if [ -n "${PATCH_PROFILE:-}" ]; then
  timeout "${BENCH_TIMEOUT:-240}" python3 benchmarks/bench_patching.py --device cuda --positions 128 --methods mechint \
    --no-memory --repeats 1 --out "$OUT/patching_profile.json" --profile "$OUT/patching_profile.txt" 2>&1 | tail -4
fi
