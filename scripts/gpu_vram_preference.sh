#!/usr/bin/env bash
# On the GPU machine (device tool): the preference stages' peak memory beside the app's estimate
# (issue 23), each a whole job through the app's training path (scripts/measure_vram.py --preference),
# with the carried wheels (.whl: trl, datasets, dill, multiprocess, bitsandbytes, platformdirs, gguf).
# Usage: bash scripts/gpu_vram_preference.sh OUT_DIR [1b|8b|all]   (results: OUT_DIR/preference.jsonl)
# Took 176 s (1b) and 139 s (8b, dpo and orpo only) of an H200's time, 2026-12-04.
set -uo pipefail
out="$1"; which="${2:-all}"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    >/dev/null 2>&1 || echo "wheel install failed"
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers, peft, trl, datasets, pyarrow, bitsandbytes; print('torch', torch.__version__, \
'transformers', transformers.__version__, 'peft', peft.__version__, 'trl', trl.__version__, 'datasets', \
datasets.__version__, 'pyarrow', pyarrow.__version__, 'bitsandbytes', bitsandbytes.__version__)" 2>&1 | tail -1
measure=(python3 scripts/measure_vram.py --out "$out/preference.jsonl" --workdir /tmp/vram-preference --steps 3)
if [ "$which" != 8b ]; then  # 1B-shaped: every stage with LoRA, then DPO with QLoRA and checkpointing
    "${measure[@]}" --preference dpo,orpo,simpo,kto --shape llama-3.2-1b --batch 4 --seq 1024
    "${measure[@]}" --preference dpo --shape llama-3.2-1b --batch 4 --seq 1024 --quant 4bit --ckpt
fi
if [ "$which" != 1b ]; then  # 8B-shaped (one 16 GB folder, written once): QLoRA pairs, LoRA KTO
    "${measure[@]}" --preference dpo,orpo,simpo --shape llama-3.1-8b --batch 2 --seq 1024 --quant 4bit --ckpt
    "${measure[@]}" --preference kto --shape llama-3.1-8b --batch 4 --seq 512 --ckpt
fi
python3 scripts/measure_vram.py --table "$out/preference.jsonl"
