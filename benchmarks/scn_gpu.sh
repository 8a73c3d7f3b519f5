#!/usr/bin/env bash
# One GPU session for the Self-Cure Network: the CUDA test, the throughput benchmark and the
# whole digits protocol (pipelines/scn_digits). Results go under $OUT (default out/scn_gpu).
#   OUT=/tmp/x WORKERS=8 bash benchmarks/scn_gpu.sh [extra run.py options, e.g. --resume]
# SKIP_TESTS=1 skips the pytest step; SPEED_* shrink the benchmark for a dry run on a CPU.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/scn_gpu}
PY=${PY:-python3}
WORKERS=${WORKERS:-8}
mkdir -p "$OUT/digits"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 || true
  "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
  [ -n "${SKIP_TESTS:-}" ] || "$PY" -m pytest -q -p no:cacheprovider tests/test_scn_gpu.py 2>&1
  # the trainer's batch (64): launch-bound on a large GPU; then a large batch at 224 px
  "$PY" benchmarks/scn_speed.py --device auto --sizes ${SPEED_SIZES:-48 112 224} --steps ${SPEED_STEPS:-30} \
    --train-batch ${SPEED_BATCH:-64} --infer-batch ${SPEED_IBATCH:-256} --out "$OUT/speed_gpu.json" 2>&1
  "$PY" benchmarks/scn_speed.py --device auto --sizes ${SPEED_SIZES:-224} --steps ${SPEED_STEPS:-20} \
    --train-batch ${SPEED_BATCH:-256} --infer-batch ${SPEED_IBATCH:-1024} --out "$OUT/speed_gpu_large.json" 2>&1
} 2>&1 | tee "$OUT/gpu_checks.log"
"$PY" pipelines/scn_digits/run.py --out "$OUT/digits" --workers "$WORKERS" --threads 1 "$@" 2>&1 | tee "$OUT/digits.log"
