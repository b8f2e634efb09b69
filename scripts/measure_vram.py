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

Preference stages (``--preference dpo,orpo,simpo,kto``) run whole jobs through the app's own
training path instead (engine.training.run_training, what the worker calls: the loader, TRL's
trainer, the save): a model folder of the shape with random weights and the tiny test tokenizer,
written once under --workdir, and a generated data set whose every reply is longer than
--seq tokens, so every sequence is cut at max length (the case the estimate describes). Each
stage prints its measured peak beside the estimate the Train page and ``lora-studio estimate``
show for the same job (core.launch_plan.per_gpu_estimate). On a machine without CUDA the
"measured" figure is the process's peak RSS, which is not comparable (a dry run of the script).

  python scripts/measure_vram.py --preference dpo,orpo --shape llama-3.2-1b --batch 4 --seq 1024 \
      --out $OUT/preference.jsonl
  python scripts/measure_vram.py --table $OUT/preference.jsonl

Adapter methods (``--method lora,loha,lokr,vera,adalora,oft``, issue 19) run the same way as SFT jobs
with ``training.fast_path = false`` (plain transformers + peft, no fused loss, compile or graphs: the
path the estimate describes before a run), each at its size preset's rank for the shape (VeRA 256,
OFT 32; core.presets.for_method) unless --r is given, prompt/completion rows cut at --seq.

  python scripts/measure_vram.py --method lora,loha,vera --shape llama-3.2-1b --batch 4 --seq 1024 \
      --out $OUT/tuners.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from studio.core.reference_shapes import FAMILY_SHAPES, MODEL_SHAPES  # noqa: E402 - after the path tweak
from studio.engine.bench import run_isolated  # noqa: E402

GIB = 2**30
PREFERENCE_STAGES = ("dpo", "orpo", "simpo", "kto", "grpo")  # grpo: prompts, --group answers of --completion

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


# -- preference stages, through the app's own training path -------------------------------------


def method_config(args: argparse.Namespace, method: str, num_parameters: int | None) -> dict[str, Any]:
    """An SFT job of ``method`` at its size preset's rank (``--r`` when given): what the Train page
    fills in for the shape once the method is chosen."""
    from studio.core.presets import for_method, preset_for

    r = args.r or for_method(preset_for(num_parameters), method).r
    short = args.shape.split('-')[-1] if args.shape in MODEL_SHAPES else args.shape  # other families: whole
    name = f"{short}-{method}-r{r}-b{args.batch}-s{args.seq}{'-ckpt' if args.ckpt else ''}"
    return dict(name=name, shape=args.shape, stage="sft", method=method, batch=args.batch, seq=args.seq,
                ckpt=args.ckpt, quant=args.quant, r=r, steps=args.steps, workdir=str(args.workdir))


def method_job(cfg: dict[str, Any], model: Path, data: Path) -> dict[str, Any]:
    from studio.core.methods import apply_method

    job = _stage_job(cfg, model, data)
    job["training"]["fast_path"] = False
    job = apply_method(job, cfg["method"])
    if job["model"]["quantization"] != cfg["quant"]:  # a method sets its own loading: plain lora loads bf16
        raise SystemExit(f"--method {cfg['method']} loads the base as {job['model']['quantization']!r}, not "
                         f"--quant {cfg['quant']!r}: ask for --method qlora to measure 4-bit")
    return job


def preference_config(args: argparse.Namespace, stage: str) -> dict[str, Any]:
    quant = "qlora-" if args.quant == "4bit" else ""
    name = f"{args.shape.split('-')[-1]}-{quant}{stage}-b{args.batch}-s{args.seq}{'-ckpt' if args.ckpt else ''}"
    if stage == "grpo":
        name += f"-g{args.group}-c{args.completion}"
    return dict(name=name, shape=args.shape, stage=stage, batch=args.batch, seq=args.seq, ckpt=args.ckpt,
                quant=args.quant, r=args.r, steps=args.steps, workdir=str(args.workdir), group=args.group,
                completion=args.completion)


def tokenizer_folder(workdir: Path) -> Path:
    """The tiny test model's folder (its ChatML tokenizer is what the random models get): offline, a second."""
    sys.path.insert(0, str(ROOT / "tests"))
    from tiny_model import build_tiny_model

    folder = workdir / "tiny-tokenizer"
    if not (folder / "config.json").exists():
        build_tiny_model(folder)
    return folder


def model_folder(workdir: Path, shape: str) -> Path:
    """A model folder of ``shape`` with random bf16 weights (engine.job_bench's, written once), built in
    its own process so that this one never holds the GPU."""
    folder = workdir / "models" / shape
    if not (folder / "config.json").exists():
        code = ("import sys; from pathlib import Path; from studio.engine.job_bench import model_folder; "
                "model_folder(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]))")
        subprocess.run([sys.executable, "-c", code, str(workdir), shape, str(tokenizer_folder(workdir))],
                       check=True, cwd=ROOT)
    return folder


def data_file(workdir: Path, stage: str, rows: int, seq: int) -> Path:
    """Rows whose replies each have ``seq`` words (at least ``seq`` tokens): every sequence is cut at max
    length. Pairs (prompt, chosen, rejected) for DPO, ORPO and SimPO; KTO's labelled replies alternate;
    GRPO's prompts of ``seq`` words (a random model answers them up to the longest answer)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from tiny_model import sample_texts

    kind = stage if stage in ("kto", "grpo", "sft") else "pairs"
    path = workdir / "data" / f"{kind}-{rows}x{seq}.jsonl"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    words = " ".join(sample_texts()).split()
    rng = random.Random(0)

    def text(n: int) -> str:
        return " ".join(rng.choice(words) for _ in range(n))

    with open(path, "w", encoding="utf-8") as handle:
        for i in range(rows):
            row = ({"prompt": text(12), "completion": text(seq)} if kind == "sft"
                   else {"prompt": text(12), "completion": text(seq), "label": i % 2 == 0} if kind == "kto"
                   else {"prompt": text(seq), "answer": "1"} if kind == "grpo"
                   else {"prompt": text(12), "chosen": text(seq), "rejected": text(seq)})
            handle.write(json.dumps(row) + "\n")
    return path


def preference_job(cfg: dict[str, Any], model: Path, data: Path) -> dict[str, Any]:
    if cfg["stage"] == "grpo":  # prompts fill max_length less the answer; the answers reach their longest
        return {**_stage_job(cfg, model, data), "grpo": {
            "num_generations": cfg["group"], "max_completion_length": cfg["completion"], "sample_steps": 0,
            "rewards": [{"kind": "length_window", "max_length": 50, "unit": "words"}]}}
    return _stage_job(cfg, model, data)


def _stage_job(cfg: dict[str, Any], model: Path, data: Path) -> dict[str, Any]:
    return {"kind": "train", "model": {"path": str(model), "quantization": cfg["quant"]},
            "dataset": {"path": str(data), "eval_fraction": 0.0},
            "lora": {"r": cfg["r"], "alpha": 2 * cfg["r"]},
            "training": {"stage": cfg["stage"], "max_steps": cfg["steps"], "batch_size": cfg["batch"],
                         "grad_accum": 1, "max_length": cfg["seq"], "gradient_checkpointing": cfg["ckpt"],
                         "learning_rate": 1e-5, "logging_steps": 1}}


def measure_preference_one(cfg: dict[str, Any]) -> dict[str, Any]:
    """One preference job in this (fresh) process: its peak beside the app's estimate for it."""
    import resource

    import torch

    workdir = Path(cfg["workdir"])
    os.environ["LORA_STUDIO_HOME"] = str(workdir / "home")
    from studio.core import launch_plan, vram
    from studio.core.job_schema import job_from_dict
    from studio.core.models import inspect_model
    from studio.engine import memory_report, training
    from studio.engine.control import JobControl

    job = job_from_dict(cfg["job"], source=cfg["name"])
    loaded = _note_loaded_model()
    events: list[Any] = []
    generating = _time_generation() if job.training.stage == "grpo" else None
    cuda = torch.cuda.is_available()
    run_dir = workdir / "runs" / f"{cfg['name']}-{int(time.time())}"
    started = time.time()
    out: dict[str, Any] = {k: v for k, v in cfg.items() if k != "job"}
    try:
        outputs = training.run_training(job, run_dir, events.append, JobControl())
        out["train_loss"] = outputs.metrics.train_loss
        out["tokens_trained"] = outputs.metrics.tokens_trained  # full rows: steps x the estimate's tokens
    except torch.cuda.OutOfMemoryError as exc:
        out.update(oom=True, error=str(exc)[:300])
    out["seconds"] = round(time.time() - started, 1)
    steps = [e for e in events if type(e).__name__ == "Step"]
    out["steps_done"] = len(steps)
    if len(steps) > 3 and out.get("tokens_trained"):  # after two warm-up steps: the steady rate
        per_step = out["tokens_trained"] / len(steps)
        span = steps[-1].elapsed_s - steps[1].elapsed_s
        out["steady_tokens_per_s"] = round(per_step * (len(steps) - 2) / span) if span > 0 else None
        out["steady_step_s"] = round(span / (len(steps) - 2), 3)
    if generating is not None and steps:
        out["generation_s_per_step"] = round(generating["seconds"] / len(steps), 3)
        out["step_s"] = round(steps[-1].elapsed_s / len(steps), 3)
    out.update(loaded)
    model = inspect_model(Path(cfg["job"]["model"]["path"]))
    capacity = torch.cuda.get_device_properties(0).total_memory if cuda else None
    estimate, _options = launch_plan.per_gpu_estimate(job, model.config, model.num_parameters, capacity)
    out["estimate_bytes"] = estimate.total
    out["estimate_parts"] = {part.key: part.bytes for part in estimate.parts}
    if cuda:
        reserved = torch.cuda.max_memory_reserved()
        process = memory_report.process_gpu_bytes(torch.cuda.current_device())
        # NVML's per-process figure, where the container shows it; else the context as measured on an H100
        outside = process - torch.cuda.memory_reserved() if process else vram.CUDA_CONTEXT_BYTES
        out.update(gpu=torch.cuda.get_device_name(0), peak_reserved_bytes=reserved,
                   peak_allocated_bytes=torch.cuda.max_memory_allocated(), outside_allocator_bytes=outside,
                   outside_measured=bool(process), measured_peak_bytes=reserved + outside, measured="gpu")
    else:
        out.update(measured_peak_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, measured="rss")
    return out


def _note_loaded_model() -> dict[str, Any]:
    """What the engine's loader made of the model (attention kernel, quantized layers): the memory of a
    family depends on them, and they are chosen inside the training path."""
    import torch
    import transformers

    seen: dict[str, Any] = {}
    original = transformers.AutoModelForCausalLM.from_pretrained.__func__  # type: ignore[attr-defined]

    def noted(cls, *args, **kwargs):
        model = original(cls, *args, **kwargs)
        seen["attn_implementation"] = getattr(model.config, "_attn_implementation", None)
        seen["model_type"] = getattr(model.config, "model_type", None)
        seen["loaded_parameters"] = sum(p.numel() for p in model.parameters())
        seen["linear_layers"] = sum(isinstance(m, torch.nn.Linear) for m in model.modules())
        seen["param_classes"] = sorted({type(p).__name__ for p in model.parameters()})
        return model

    transformers.AutoModelForCausalLM.from_pretrained = classmethod(noted)  # type: ignore[method-assign]
    return seen


def _time_generation() -> dict[str, float]:
    """Time every ``generate`` call of this (measuring) process: GRPO's generation, apart from its training."""
    import torch
    import transformers

    spent = {"seconds": 0.0}
    original = transformers.GenerationMixin.generate

    def timed(self, *args, **kwargs):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        began = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            spent["seconds"] += time.perf_counter() - began

    transformers.GenerationMixin.generate = timed  # type: ignore[method-assign]
    return spent


def run_preference(args: argparse.Namespace) -> list[dict[str, Any]]:
    args.workdir.mkdir(parents=True, exist_ok=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model = model_folder(args.workdir, args.shape)
    configs = []
    for stage in args.preference.split(","):
        if stage not in PREFERENCE_STAGES:
            raise SystemExit(f"--preference takes {', '.join(PREFERENCE_STAGES)}; got {stage!r}")
        cfg = preference_config(args, stage)
        words = (args.seq - args.completion) // 3 if stage == "grpo" else args.seq  # a prompt that fits
        data = data_file(args.workdir, stage, args.batch * args.steps, words)
        cfg["job"] = preference_job(cfg, model, data)
        configs.append(cfg)
    return run_jobs(args, configs)


def run_methods(args: argparse.Namespace) -> list[dict[str, Any]]:
    from studio.core.methods import METHODS
    from studio.core.models import inspect_model

    args.workdir.mkdir(parents=True, exist_ok=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model = model_folder(args.workdir, args.shape)
    num_parameters = inspect_model(model).num_parameters
    data = data_file(args.workdir, "sft", args.batch * args.steps, args.seq)
    configs = []
    for method in args.method.split(","):
        if method not in METHODS:
            raise SystemExit(f"--method takes {', '.join(METHODS)}; got {method!r}")
        cfg = method_config(args, method, num_parameters)
        cfg["job"] = method_job(cfg, model, data)
        configs.append(cfg)
    return run_jobs(args, configs)


def run_jobs(args: argparse.Namespace, configs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each job in a fresh process (measure_preference_one), its row printed as it comes."""
    results = []
    print(TABLE_HEAD, flush=True)
    for cfg in configs:
        began = time.time()
        try:
            result = run_isolated([sys.executable, __file__, "--one-preference", json.dumps(cfg)], cfg["name"],
                                  args.out, cwd=ROOT, timeout=args.timeout)
        except subprocess.TimeoutExpired:
            print(f"{cfg['name']}: timed out after {args.timeout} s", flush=True)
            continue
        if result is not None:
            print(f"{table_row(result)}   ({time.time() - began:.0f} s)", flush=True)
            results.append(result)
    return results


TABLE_HEAD = ("| configuration | stage | batch x seq | checkpointing | tokens/step | measured (GiB) | estimate (GiB) "
              "| error | reference pass | logits | activations | adapter + optimizer |\n"
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")


def table_row(r: dict[str, Any]) -> str:
    parts = r.get("estimate_parts", {})
    measured, estimate = r.get("measured_peak_bytes") or 0, r.get("estimate_bytes") or 0
    error = f"{(estimate - measured) / measured:+.1%}" if measured and r.get("measured") == "gpu" else "n/a (CPU RSS)"
    if r.get("oom"):
        error = "OOM"
    per_step = f"{r['tokens_trained'] // r['steps_done']:,}" if r.get("tokens_trained") and r.get("steps_done") else "?"
    return (f"| {r['name']} | {r['stage']} | {r['batch']} x {r['seq']} | {'yes' if r['ckpt'] else 'no'} | {per_step} | "
            f"{measured / GIB:.2f} | {estimate / GIB:.2f} | {error} | {parts.get('reference', 0) / GIB:.2f} | "
            f"{parts.get('logits', 0) / GIB:.2f} | {parts.get('activations', 0) / GIB:.2f} | "
            f"{sum(parts.get(k, 0) for k in ('adapter', 'gradients', 'optimizer')) / GIB:.2f} |")


def print_summary(path: Path) -> None:
    """One line per measured job of a results file: peak, estimate, error, attention kernel and parts (the
    GPU scripts print it at their end, so that a run's output says everything without the file)."""
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        measured, estimate = r.get("measured_peak_bytes") or 0, r.get("estimate_bytes") or 0
        error = f"{(estimate - measured) / measured:+.1%}" if measured and r.get("measured") == "gpu" else "n/a"
        parts = {k: round(v / GIB, 3) for k, v in r.get("estimate_parts", {}).items()}
        print(f"{r['name']}: measured {measured / GIB:.2f} GiB (allocated {r.get('peak_allocated_bytes', 0) / GIB:.2f}), "
              f"estimate {estimate / GIB:.2f} GiB, error {error}, attention {r.get('attn_implementation')}, "
              f"{r.get('seconds')} s; parts GiB", parts, r.get("error", ""))


def print_table(path: Path) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    print(TABLE_HEAD)
    for row in rows:
        if "stage" in row:
            print(table_row(row))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--group", default="all")
    parser.add_argument("--only", default="")
    parser.add_argument("--out", type=Path, help="results (default: docs/vram_measurements.jsonl; with "
                                                 "--preference, preference.jsonl in --workdir)")
    parser.add_argument("--one", default="", help=argparse.SUPPRESS)
    parser.add_argument("--preference", default="", metavar="STAGES",
                        help="measure these preference stages (dpo,orpo,simpo,kto) as whole jobs")
    parser.add_argument("--shape", default="llama-3.2-1b", choices=[*MODEL_SHAPES, *FAMILY_SHAPES, "tiny",
                                                                     *(f"tiny-{name}" for name in FAMILY_SHAPES)])
    parser.add_argument("--batch", type=int, default=4, help="rows per step (a pair is a row)")
    parser.add_argument("--seq", type=int, default=1024, help="max length: every sequence is cut at it")
    parser.add_argument("--quant", choices=["none", "4bit"], default="none")
    parser.add_argument("--ckpt", action="store_true", help="gradient checkpointing")
    parser.add_argument("--method", default="", metavar="METHODS",
                        help="measure these adapter methods (lora,loha,lokr,vera,adalora,oft) as whole SFT jobs")
    parser.add_argument("--r", type=int, default=0, help="rank (default: 16; with --method, the method's size preset's)")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--answers", dest="group", type=int, default=8, help="grpo: answers per prompt (the group)")
    parser.add_argument("--completion", type=int, default=512, help="grpo: longest answer in tokens")
    parser.add_argument("--timeout", type=int, default=300, help="seconds for one stage's run")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/lora-studio-vram"),
                        help="model folders, data and the runs' home")
    parser.add_argument("--table", type=Path, help="print the preference rows of this results file as a table")
    parser.add_argument("--summary", type=Path, help="print each job of this results file on one line")
    parser.add_argument("--one-preference", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_preference:
        print("RESULT " + json.dumps(measure_preference_one(json.loads(args.one_preference))), flush=True)
        return
    if args.summary:
        print_summary(args.summary)
        return
    if args.table:
        print_table(args.table)
        return
    if args.method:
        args.out = args.out or args.workdir / "tuners.jsonl"
        run_methods(args)
        return
    args.r = args.r or 16
    if args.preference:
        args.out = args.out or args.workdir / "preference.jsonl"
        run_preference(args)
        return
    args.out = args.out or ROOT / "docs" / "vram_measurements.jsonl"
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
