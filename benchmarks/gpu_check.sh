#!/usr/bin/env bash
# CUDA checks, for a machine with an NVIDIA GPU (none of this can run without one):
#   1. the tests with a CUDA case (mixed-precision training, channels_last, torch.compile,
#      the lean fused-Adam step, device and backend choice), which skip it elsewhere;
#   2. benchmarks/gpu_bench.py: digits_cnn and the ResNet-18 template (synthetic 3×224×224
#      images) with bf16 autocast and channels_last, Netwright's trainer against a hand-written
#      loop in the same run: samples/s, their ratio (target ≥ 0.95) and the GPU's busy share of
#      the step from torch.profiler (target ≥ 90 %).
# Usage: benchmarks/gpu_check.sh [gpu_bench.py options, e.g. --samples 4096 --batch 256]
# Through the device tool (its python3 holds a CUDA torch and every package the runtime needs;
# no Qt is needed): command "bash benchmarks/gpu_check.sh 2>&1 | tee $OUT/gpu_check.log",
# timeout_s 540. It runs in about 3–5 minutes there. The script's own logic can be checked
# anywhere with: python benchmarks/gpu_bench.py --smoke --device cpu
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD" QT_QPA_PLATFORM=offscreen
PY="${PYTHON:-python3}"
"$PY" - <<'PYCHECK'
import torch
assert torch.cuda.is_available(), "no CUDA GPU here: benchmarks/gpu_check.sh needs one"
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name(0)}, "
      f"bf16 supported: {torch.cuda.is_bf16_supported()}")
PYCHECK
echo "== CUDA tests"
"$PY" -m pytest -q -rs -p no:cacheprovider \
    tests/runtime/test_trainer.py tests/runtime/test_training_settings.py \
    tests/runtime/test_distributed.py \
    -k "cuda or precision or channels_last or compile or lean or devices or device_and_backend"
echo "== trainer vs hand-written loop"
"$PY" benchmarks/gpu_bench.py "$@"
