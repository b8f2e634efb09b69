#!/usr/bin/env bash
# On the GPU machine (device tool): the memory estimate against real peaks for every model family the
# estimate names (issue 26): Qwen2.5, Qwen3, Gemma 2, Gemma 3, Phi-3/4, Mistral, a Mixtral-shaped MoE
# (4 of its layers), GPT-2 and GPT-NeoX, from their config.json shapes (core.reference_shapes.FAMILY_SHAPES)
# with random weights, each a whole SFT job through the app's training path with training.fast_path =
# false (what the estimate describes before a run), every row cut at max length. Per shape: LoRA and
# QLoRA at 4 x 1,024 tokens without checkpointing and at 2 x 2,048 with it (the second shape of a family
# runs two of them; rows measured already are left out). Shapes run in lanes side by side: each process's
# peak is its own allocator's and its own context, so lanes do not disturb each other's figures; the plan
# (scripts/vram_family_plan.py) keeps the lanes' estimates together within 85% of an 80 GiB card and
# deals them into calls of a few minutes each: CALL=1, 2, ... (it prints them all without --call).
# Carried wheels: .whl (datasets, dill, multiprocess, platformdirs, gguf, bitsandbytes, trl).
# Usage: CALL=1 bash scripts/gpu_vram_families.sh OUT_DIR     (results: OUT_DIR/families-<lane>.jsonl)
# Dry run on a CPU with toy shapes of each family ("measured" is then the process's RSS):
#   PATH=.venv/bin:$PATH WHEELS=no TINY=tiny- CALL=6 bash scripts/gpu_vram_families.sh /tmp/vram-families-dry
set -uo pipefail
out="$1"
mkdir -p "$out"
if [ "${WHEELS:-yes}" != no ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        >/dev/null 2>&1 || echo "wheel install failed"
fi
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers, peft; print('torch', torch.__version__, 'transformers', \
transformers.__version__, 'peft', peft.__version__)" 2>&1 | tail -1
tiny="${TINY:-}"
steps="${STEPS:-3}"

measure() {  # shape lane quant batch seq [--ckpt]
    local shape="$1" lane="$2" quant="$3" batch="$4" seq="$5"; shift 5
    local method=lora; [ "$quant" = 4bit ] && method=qlora  # a method sets how the base loads
    python3 scripts/measure_vram.py --method "$method" --shape "$tiny$shape" --quant "$quant" --batch "$batch" \
        --seq "$seq" "$@" --r 16 --steps "$steps" --timeout 300 --workdir "/tmp/vram-families" \
        --out "$out/families-$lane.jsonl" </dev/null 2>&1 | grep -E "^\| [a-z0-9]|timed out|Error|error" | grep -v "^| configuration"
}

lane() {  # the plan's lines of one lane, one after another
    local name="$1" began=$SECONDS
    while read -r _call lane shape quant batch seq ckpt _gib; do
        [ "$lane" = "$name" ] || continue
        if [ "$ckpt" = ckpt ]; then measure "$shape" "$name" "$quant" "$batch" "$seq" --ckpt
        else measure "$shape" "$name" "$quant" "$batch" "$seq"; fi
    done <<< "$plan"
    echo "lane $name done in $((SECONDS - began)) s"
}

# scripts/vram_family_plan.py deals the configurations into calls of lanes that fit an 80 GiB card
plan="$(python3 scripts/vram_family_plan.py --call "${CALL:-1}")"
echo "$plan"
for name in $(echo "$plan" | awk '{print $2}' | sort -u); do
    lane "$name" &
done
wait
cat "$out"/families-*.jsonl > "$out/families.jsonl"
python3 scripts/measure_vram.py --summary "$out/families.jsonl"
