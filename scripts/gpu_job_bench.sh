#!/usr/bin/env bash
# On the GPU machine (device tool): the job-level bench (engine.job_bench), whole `lora-studio train`
# jobs from command to saved adapter, with the carried wheels (.whl) and tokenizer (.carry/tokenizer).
# Usage: bash scripts/gpu_job_bench.sh OUT_DIR BENCH_ARGS...   (results: OUT_DIR/jobs.jsonl, logs beside it)
set -uo pipefail
out="$1"; shift
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    >/dev/null 2>&1 || echo "wheel install failed"
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1 TORCH_LOGS="${TORCH_LOGS:-recompiles}"
[ -f .carry/unsloth/site.tar.gz ] && . scripts/unsloth_site.sh  # for --modes ...,unsloth (a comparison only)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -m studio.engine.bench --out "$out/jobs.jsonl" --tokenizer .carry/tokenizer --workdir /tmp/job-bench "$@" 2>&1 \
    | grep -v -i "warn" | tee -a "$out/jobs.log"
cp /tmp/job-bench/logs/*.log "$out/" 2>/dev/null || true
