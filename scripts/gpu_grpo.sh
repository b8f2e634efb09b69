#!/usr/bin/env bash
# On the GPU machine (device tool): GRPO with LoRA on 1B- and 8B-shaped models through the app's own
# training path (scripts/measure_vram.py --preference grpo): generation and training seconds per step,
# peak memory beside the app's estimate (issue 24). Carried wheels: .whl (trl, datasets, jsonschema, ...).
# Usage: bash scripts/gpu_grpo.sh OUT_DIR [1b|8b|all]   (results: OUT_DIR/grpo.jsonl)
set -uo pipefail
out="$1"; which="${2:-all}"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    >/dev/null 2>&1 || echo "wheel install failed"
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers, peft, trl, datasets, jsonschema; print('torch', torch.__version__, \
'transformers', transformers.__version__, 'peft', peft.__version__, 'trl', trl.__version__)" 2>&1 | tail -1
measure=(python3 scripts/measure_vram.py --preference grpo --out "$out/grpo.jsonl" --workdir /tmp/vram-grpo --steps 4
         --answers 8 --completion 512 --seq 768)
if [ "$which" != 8b ]; then
    "${measure[@]}" --shape llama-3.2-1b --batch 4
fi
if [ "$which" != 1b ]; then
    "${measure[@]}" --shape llama-3.1-8b --batch 2
fi
python3 scripts/measure_vram.py --table "$out/grpo.jsonl"
python3 - "$out/grpo.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    print(r["name"], "generation s/step", r.get("generation_s_per_step"), "step s", r.get("step_s"),
          "steady step s", r.get("steady_step_s"), "parts GiB",
          {k: round(v / 2**30, 2) for k, v in r.get("estimate_parts", {}).items()}, r.get("error", ""))
PY
