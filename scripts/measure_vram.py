"""Measure the real peak GPU memory of LoRA/QLoRA training configurations (device machine).

Each configuration runs in a fresh process (clean allocator, its own CUDA context):
a Llama-shaped model built from a config with random weights straight on the GPU
(bf16, or its linear layers quantized to 4-bit NF4 with double quantization the way
transformers' bitsandbytes loader does), the engine's own adapter setup and Trainer
arguments, and 4 optimizer steps on fixed-length batches. What a user sees in
nvidia-smi is the allocator's peak reservation plus the memory outside it (CUDA
context, kernels, library handles), so both are recorded.

Usage: python scripts/measure_vram.py [--group A|B|all] [--only NAME] --out results.jsonl
Results land in docs/vram_measurements.jsonl; docs/vram_validation.md compares them with
studio.core.vram (scripts/vram_report.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from studio.core.reference_shapes import MODEL_SHAPES  # noqa: E402 - after the path tweak
from studio.engine.bench import run_isolated  # noqa: E402

# name, model, method, rank, batch, seq, checkpointing, extra settings; group A/B split the
# list into two calls that each fit in ten minutes.
CONFIGS: list[dict] = [
    # ~0.1B
    dict(name="135m-r8-b16-s512", model="smollm2-135m", r=8, batch=16, seq=512, ckpt=False, group="A"),
    dict(name="135m-r64-b4-s2048-ckpt", model="smollm2-135m", r=64, batch=4, seq=2048, ckpt=True, group="A"),
    dict(name="135m-qlora-r16-b8-s1024", model="smollm2-135m", r=16, batch=8, seq=1024, ckpt=False,
         quant="4bit", group="A"),
    # 1B
    dict(name="1b-r16-b4-s1024", model="llama-3.2-1b", r=16, batch=4, seq=1024, ckpt=False, group="A"),
    dict(name="1b-r16-b8-s2048-ckpt", model="llama-3.2-1b", r=16, batch=8, seq=2048, ckpt=True, group="A"),
    dict(name="1b-r64-b1-s4096", model="llama-3.2-1b", r=64, batch=1, seq=4096, ckpt=False, group="A"),
    dict(name="1b-qlora-r16-b4-s2048-ckpt", model="llama-3.2-1b", r=16, batch=4, seq=2048, ckpt=True,
         quant="4bit", group="A"),
    dict(name="1b-dora-r16-b4-s1024-ckpt", model="llama-3.2-1b", r=16, batch=4, seq=1024, ckpt=True,
         dora=True, group="A"),
    dict(name="1b-r16-b8-s2048-ckpt-liger", model="llama-3.2-1b", r=16, batch=8, seq=2048, ckpt=True,
         liger=True, group="A"),
    dict(name="1b-r16-b4-s1024-adamw8bit", model="llama-3.2-1b", r=16, batch=4, seq=1024, ckpt=False,
         optimizer="paged_adamw_8bit", group="A"),
    # 3B
    dict(name="3b-r32-b2-s2048-ckpt", model="llama-3.2-3b", r=32, batch=2, seq=2048, ckpt=True, group="A"),
    dict(name="3b-r8-b4-s1024", model="llama-3.2-3b", r=8, batch=4, seq=1024, ckpt=False, group="A"),
    dict(name="3b-qlora-r16-b8-s1024-ckpt", model="llama-3.2-3b", r=16, batch=8, seq=1024, ckpt=True,
         quant="4bit", group="A"),
    # 7-8B
    dict(name="8b-r16-b1-s2048-ckpt", model="llama-3.1-8b", r=16, batch=1, seq=2048, ckpt=True, group="B"),
    dict(name="8b-r8-b2-s1024", model="llama-3.1-8b", r=8, batch=2, seq=1024, ckpt=False, group="B"),
    dict(name="8b-qlora-r64-b4-s2048-ckpt", model="llama-3.1-8b", r=64, batch=4, seq=2048, ckpt=True,
         quant="4bit", group="B"),
    dict(name="8b-qlora-r16-b16-s512-ckpt", model="llama-3.1-8b", r=16, batch=16, seq=512, ckpt=True,
         quant="4bit", group="B"),
    dict(name="8b-qlora-r16-b1-s4096", model="llama-3.1-8b", r=16, batch=1, seq=4096, ckpt=False,
         quant="4bit", group="B"),
    dict(name="8b-qlora-r16-b2-s2048-ckpt-liger", model="llama-3.1-8b", r=16, batch=2, seq=2048, ckpt=True,
         quant="4bit", liger=True, group="B"),
    # The seeds' 7B table: r=16, batch 4, q/k/v/o, 512 tokens (their examples' max_length).
    dict(name="7b-seeds-r16-b4-s512-qkvo", model="llama-2-7b", r=16, batch=4, seq=512, ckpt=False,
         modules=["q_proj", "k_proj", "v_proj", "o_proj"], group="B"),
    dict(name="7b-seeds-r16-b4-s512-qkvo-ckpt", model="llama-2-7b", r=16, batch=4, seq=512, ckpt=True,
         modules=["q_proj", "k_proj", "v_proj", "o_proj"], group="B"),
    dict(name="7b-seeds-qlora-r16-b4-s512-qkvo", model="llama-2-7b", r=16, batch=4, seq=512, ckpt=False,
         quant="4bit", modules=["q_proj", "k_proj", "v_proj", "o_proj"], group="B"),
    # Added after the first fit, to test it on settings it had not seen.
    dict(name="7b-seeds-qlora-r16-b4-s512-qkvo-ckpt", model="llama-2-7b", r=16, batch=4, seq=512, ckpt=True,
         quant="4bit", modules=["q_proj", "k_proj", "v_proj", "o_proj"], group="C"),
    dict(name="1b-dora-r8-b2-s2048", model="llama-3.2-1b", r=8, batch=2, seq=2048, ckpt=False, dora=True, group="C"),
    dict(name="3b-qlora-r32-b1-s4096-ckpt", model="llama-3.2-3b", r=32, batch=1, seq=4096, ckpt=True,
         quant="4bit", group="C"),
    dict(name="8b-r32-b4-s1024-ckpt-adamw8bit", model="llama-3.1-8b", r=32, batch=4, seq=1024, ckpt=True,
         optimizer="adamw_8bit", group="C"),
]
STEPS = 4


def measure_one(cfg: dict) -> dict:
    import torch
    import transformers
    from torch.utils.data import Dataset

    from studio.core.jobs import LoraSettings, TrainJob
    from studio.engine import adapter_setup, hardware, memory_report
    from studio.engine.random_model import random_llama
    from studio.engine.step_setup import training_arguments

    shape = MODEL_SHAPES[cfg["model"]]
    start = time.time()
    model = random_llama(shape, cfg.get("quant", "none"))
    torch.cuda.synchronize()
    weights_allocated = torch.cuda.memory_allocated()

    lora = LoraSettings(r=cfg["r"], alpha=2 * cfg["r"], dropout=0.05, target_modules=cfg.get("modules", ["auto"]),
                        use_dora=bool(cfg.get("dora")))
    model = adapter_setup.apply_adapter(model, lora, cfg["ckpt"], quantized=cfg.get("quant") == "4bit")
    trainable, _total = adapter_setup.trainable_parameters(model)
    adapter_allocated = torch.cuda.memory_allocated()

    job = TrainJob()
    tr = job.training
    tr.batch_size, tr.grad_accum, tr.max_length, tr.max_steps = cfg["batch"], 1, cfg["seq"], STEPS
    tr.gradient_checkpointing, tr.optimizer, tr.logging_steps = cfg["ckpt"], cfg.get("optimizer", "adamw_torch"), 1
    args = training_arguments(job, Path("/tmp/vram-run"), hardware.Hardware("cuda", "bf16"), STEPS, has_eval=False)
    if cfg.get("liger"):
        args.use_liger_kernel = True

    vocab, seq = shape["vocab_size"], cfg["seq"]

    class Fixed(Dataset):
        def __len__(self) -> int:
            return cfg["batch"] * STEPS

        def __getitem__(self, i: int) -> dict:
            ids = torch.randint(0, vocab, (seq,), generator=torch.Generator().manual_seed(i))
            return {"input_ids": ids, "labels": ids.clone(), "attention_mask": torch.ones(seq, dtype=torch.long)}

    trainer = transformers.Trainer(model=model, args=args, train_dataset=Fixed(),
                                   data_collator=transformers.default_data_collator)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    step_start = time.time()
    out: dict = dict(cfg)
    try:
        trainer.train()
        torch.cuda.synchronize()
    except torch.cuda.OutOfMemoryError as exc:
        out.update(oom=True, error=str(exc)[:300])
    seconds = time.time() - step_start
    reserved_now = torch.cuda.memory_reserved()
    driver = memory_report.process_gpu_bytes(0)
    props = torch.cuda.get_device_properties(0)
    out.update(
        gpu=props.name, gpu_total_bytes=props.total_memory,
        versions={"torch": torch.__version__, "transformers": transformers.__version__,
                  "peft": __import__("peft").__version__},
        trainable_parameters=trainable,
        weights_allocated_bytes=weights_allocated,
        adapter_allocated_bytes=adapter_allocated - weights_allocated,
        peak_allocated_bytes=torch.cuda.max_memory_allocated(),
        peak_reserved_bytes=torch.cuda.max_memory_reserved(),
        outside_allocator_bytes=(driver - reserved_now) if driver else None,
        tokens_per_second=round(cfg["batch"] * seq * STEPS / seconds),
        build_seconds=round(step_start - start, 1), train_seconds=round(seconds, 1),
    )
    if driver:
        out["measured_peak_bytes"] = out["peak_reserved_bytes"] + out["outside_allocator_bytes"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--group", default="all")
    parser.add_argument("--only", default="")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "vram_measurements.jsonl")
    parser.add_argument("--one", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        result = measure_one(json.loads(args.one))
        print("RESULT " + json.dumps(result), flush=True)
        return
    chosen = [c for c in CONFIGS if (args.group == "all" or c["group"] == args.group)
              and (not args.only or c["name"] == args.only)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for cfg in chosen:
        began = time.time()
        result = run_isolated([sys.executable, __file__, "--one", json.dumps(cfg)], cfg["name"], args.out, cwd=ROOT,
                              timeout=300)
        if result is None:
            continue
        gib = 2**30
        print(f"{cfg['name']}: peak reserved {result['peak_reserved_bytes'] / gib:.2f} GiB, allocated "
              f"{result['peak_allocated_bytes'] / gib:.2f}, outside {(result['outside_allocator_bytes'] or 0) / gib:.2f}"
              f", weights {result['weights_allocated_bytes'] / gib:.2f}, {result['tokens_per_second']} tok/s, "
              f"{time.time() - began:.0f} s{' OOM' if result.get('oom') else ''}", flush=True)


if __name__ == "__main__":
    main()
