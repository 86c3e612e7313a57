#!/usr/bin/env bash
# The thread sweep of issue #12 on a many-core machine, as one script:
#   bash benchmarks/device/threads.sh [OUT_DIR]
# skvi from this checkout on PYTHONPATH; numpy, scipy, scikit-learn and
# threadpoolctl as installed. Writes threads.log (and prints it).
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
out=${1:-.}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
{
  echo "== machine"; nproc; grep -m1 "model name" /proc/cpuinfo; uptime
  python3 -c "import numpy, scipy, sklearn, threadpoolctl; print('numpy', numpy.__version__, 'scipy', scipy.__version__, 'scikit-learn', sklearn.__version__); import pprint; pprint.pprint([(i['internal_api'], i.get('version'), i['num_threads']) for i in threadpoolctl.threadpool_info()])"
  echo "== does numpy's matmul hold the GIL? (spins per ms of a Python thread while one call runs)"
  python3 benchmarks/device/gil_probe.py
  for elements in 65536 262144 1048576; do
    echo "== bench_normal thread sweep, block $elements values"
    timeout 240 python3 benchmarks/bench_normal.py --threads 1 2 4 8 16 --rows 1e4 1e5 1e6 1e7 \
      --dtypes float64 --repeats 5 --block-elements $elements
  done
  echo "== bench_mixture thread sweep"
  timeout 300 python3 benchmarks/bench_mixture.py --threads 1 2 4 8 16 --rows 1e6 --features 10 \
    --types full diag --iterations 3
} 2>&1 | tee "$out/threads.log"
