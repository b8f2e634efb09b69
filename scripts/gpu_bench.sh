#!/usr/bin/env bash
# On the GPU machine (device tool): install the carried wheels, then run lora-studio bench.
# Usage: bash scripts/gpu_bench.sh OUT_DIR BENCH_ARGS...   (each bench call appends to OUT_DIR/bench.jsonl)
set -uo pipefail
out="$1"; shift
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    >/dev/null 2>&1 || echo "wheel install failed"
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers, peft, liger_kernel, bitsandbytes; print(torch.__version__, transformers.__version__, peft.__version__, bitsandbytes.__version__)" 2>&1 | tail -1
python3 -m studio.engine.bench --out "$out/bench.jsonl" "$@" 2>&1 | grep -v -i "warn" | tee -a "$out/bench.log"
