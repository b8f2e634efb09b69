#!/usr/bin/env bash
# On the GPU machine: where the worker's start goes (the job bench's "start" phase, command to
# loading the model): the Python imports, sorted by cumulative time, and CUDA's first use.
# Usage: bash scripts/time_worker_start.sh OUT_DIR   (after scripts/gpu_job_bench.sh set up /tmp/site)
out="$1"
export PYTHONPATH="/tmp/site:$PWD"
for step in "import torch" "import torch; torch.cuda.init()" "import transformers" "import peft" "import datasets" \
            "import studio.engine.training" "import studio.engine.training; from studio.engine import hardware; hardware.devices()"; do
    python3 - "$step" <<'PY'
import subprocess, sys, time
started = time.perf_counter()
subprocess.run([sys.executable, "-c", sys.argv[1]], capture_output=True)
print(f"{time.perf_counter() - started:6.2f} s  {sys.argv[1]}")
PY
done
python3 -X importtime -c "import studio.engine.training" 2> "$out/imports.txt"
sort -t'|' -k2 -n "$out/imports.txt" | tail -25
