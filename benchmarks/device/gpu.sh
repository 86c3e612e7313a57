#!/usr/bin/env bash
# skvi on a GPU (issue #16), as one script: correctness against numpy, then
# the benchmarks of benchmarks/README.md ("On a GPU").
#   bash benchmarks/device/gpu.sh [OUT_DIR]
# Needs numpy, scipy, scikit-learn and PyTorch (CuPy too, if installed); skvi
# from this checkout on PYTHONPATH. Writes gpu.log (and prints it). About 3-4
# minutes on an H200; every step has its own timeout and the script goes on
# after a failure.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
out=${1:-.}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 SCIPY_ARRAY_API=1
python=${PYTHON:-python3}   # PYTHON=/path/to/python to choose another
step() {  # step SECONDS TITLE COMMAND...: run with a timeout, report its status
  local seconds=$1 title=$2; shift 2
  echo "== $title"
  timeout "$seconds" "$@"
  local status=$?
  [ "$status" -eq 0 ] || echo "!! '$title' ended with status $status (124: timed out after ${seconds}s)"
}
{
  echo "== machine"; date -u; nproc; uptime
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | head -3
  git log -1 --oneline 2>/dev/null || true
  "$python" -c "import numpy, scipy, sklearn; print('numpy', numpy.__version__, 'scipy', scipy.__version__, 'scikit-learn', sklearn.__version__)"
  "$python" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available() and torch.cuda.get_device_name())" 2>&1 | tail -1
  "$python" -c "import cupy; print('cupy', cupy.__version__)" 2>&1 | tail -1
  step 120 "correctness: torch cuda against numpy" "$python" benchmarks/device/gpu_check.py torch cuda
  step 150 "mixture: torch cuda, 2e6 x 10, K = 8" \
    "$python" benchmarks/bench_mixture.py --array-api torch --device cuda --rows 2e6 --features 10 --components 8
  step 90 "normal: torch cuda, 1e8 x 10 float32" \
    "$python" benchmarks/bench_normal.py --array-api torch --device cuda --rows 1e8 --features 10 --dtypes float32
  step 60 "mixture: torch cpu, 2e5 x 10, K = 8 (float64)" \
    "$python" benchmarks/bench_mixture.py --array-api torch --device cpu --rows 2e5 --dtypes float64 --iterations 3 --repeats 3
  if "$python" -c "import cupy" 2>/dev/null; then
    step 60 "correctness: cupy against numpy" "$python" benchmarks/device/gpu_check.py cupy
    step 90 "mixture: cupy, 2e6 x 10, K = 8, float64" \
      "$python" benchmarks/bench_mixture.py --array-api cupy --rows 2e6 --dtypes float64
  fi
  echo "== done"; date -u
} 2>&1 | tee "$out/gpu.log"
