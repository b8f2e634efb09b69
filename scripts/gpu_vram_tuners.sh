#!/usr/bin/env bash
# On the GPU machine (device tool): each adapter tuner's peak memory beside the app's estimate (issue 19),
# a whole SFT job per tuner through the app's training path with training.fast_path = false (the path the
# estimate describes: no fused loss, compile or graphs), on a 1B Llama shape with random weights, every
# row cut at max length, each tuner at its size preset's rank (VeRA 256, OFT block 32, the others 16).
# LoRA's row is the control: its estimate is the measured fit's (docs/vram_validation.md). Carried
# wheels: .whl (datasets, dill, multiprocess, platformdirs, gguf, bitsandbytes, trl).
# Usage: bash scripts/gpu_vram_tuners.sh OUT_DIR [plain|ckpt|all]   (results: OUT_DIR/tuners.jsonl)
# Dry run on a CPU, the venv's packages and a tiny shape ("measured" is then the process's RSS, not comparable):
#   PATH=.venv/bin:$PATH WHEELS=no SHAPE=tiny bash scripts/gpu_vram_tuners.sh /tmp/vram-tuners-dry plain
set -uo pipefail
out="$1"; which="${2:-all}"; shape="${SHAPE:-llama-3.2-1b}"
mkdir -p "$out"
if [ "${WHEELS:-yes}" != no ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        >/dev/null 2>&1 || echo "wheel install failed"
fi
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers, peft, datasets; print('torch', torch.__version__, 'transformers', \
transformers.__version__, 'peft', peft.__version__, 'datasets', datasets.__version__)" 2>&1 | tail -1
tuners=lora,loha,lokr,vera,adalora,oft
measure=(python3 scripts/measure_vram.py --method "$tuners" --shape "$shape" --out "$out/tuners.jsonl"
         --workdir "/tmp/vram-tuners-$shape" --steps 3 --timeout 240)
if [ "$which" != ckpt ]; then  # every layer keeps its activations: the per-token and per-layer terms
    "${measure[@]}" --batch 4 --seq 1024
fi
if [ "$which" != plain ]; then  # checkpointed: one layer's terms at a time, the transient of the largest
    "${measure[@]}" --batch 4 --seq 2048 --ckpt
fi
python3 scripts/measure_vram.py --table "$out/tuners.jsonl"
python3 scripts/measure_vram.py --summary "$out/tuners.jsonl"
