"""Side-by-side speed and memory: plain transformers + peft vs the engine's fast path.

``python -m studio.engine.bench`` (or ``lora-studio bench``) builds Llama-shaped models
with random weights on the GPU (no download) and trains the same examples, in the same
order, both ways, each configuration in a fresh process:

* baseline: what peft's and transformers' docs show: ``get_peft_model`` with LoRA on
  all linear layers, ``Trainer`` in bf16 with SDPA attention and batches padded by
  ``DataCollatorForSeq2Seq``;
* ours: the worker's own Trainer (engine.training.build: the adapter, the fast path it picks
  for the GPU, its optimizer, collators, callbacks and CUDA graphs), built by the same function
  from a model in memory and rows already tokenized.

Tokens/s counts real (non-padding) tokens after two warm-up steps (a quarter of the steps
where CUDA graphs are captured); ``--profile N`` says where the last N steps' GPU time went
(engine.kernel_profile). Peak memory is the allocator's peak plus NVML's outside-allocator
memory; MFU uses 4 x parameters per token (frozen base: no weight gradients) against the
GPU's bf16 dense peak.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from studio.engine import kernel_profile

CONFIGS: dict[str, dict[str, Any]] = {
    "1b-variable": {"shape": "llama-3.2-1b", "data": "variable", "batch": 8, "seq": 2048, "ckpt": False},
    "1b-fixed": {"shape": "llama-3.2-1b", "data": "fixed", "batch": 8, "seq": 2048, "ckpt": False},
    "8b-fixed": {"shape": "llama-3.1-8b", "data": "fixed", "batch": 4, "seq": 2048, "ckpt": True},
    "8b-fixed-4k": {"shape": "llama-3.1-8b", "data": "fixed", "batch": 2, "seq": 4096, "ckpt": True},
    # QLoRA's target is half the bf16 baseline's peak: that is its memory limit when 8b-fixed ran first.
    "8b-qlora": {"shape": "llama-3.1-8b", "data": "fixed", "batch": 4, "seq": 2048, "ckpt": True, "quant": "4bit",
                 "only": "ours", "limit_from": "8b-fixed", "limit_share": 0.5},
    # Several GPUs (--gpus N, under torchrun): ours only; compare with the same config on one GPU.
    "70b-qlora": {"shape": "llama-3.1-70b", "data": "fixed", "batch": 1, "seq": 2048, "ckpt": True, "quant": "4bit",
                  "only": "ours"},
}
LONG_JOB_STEPS = 10_000  # the job ours is chosen for (setup)
PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12}


def lengths(count: int, seq: int, seed: int = 0) -> list[int]:
    """Chat-like lengths: most 50-600 tokens (lognormal, median ~245), a tail to ``seq``."""
    import random

    rng = random.Random(seed)
    return [max(32, min(seq, int(rng.lognormvariate(math.log(245), 0.75)))) for _ in range(count)]


def examples(cfg: dict[str, Any], vocab: int, steps: int) -> list[dict[str, list[int]]]:
    import random

    rng = random.Random(1)
    count = cfg["batch"] * steps
    sizes = lengths(count, cfg["seq"]) if cfg["data"] == "variable" else [cfg["seq"]] * count
    rows = []
    for size in sizes:
        ids = [rng.randrange(10, vocab) for _ in range(size)]
        rows.append({"input_ids": ids, "labels": list(ids)})
    return rows


def pad_tokenizer():
    """The smallest tokenizer the collators accept (they only need the pad id)."""
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.WordLevel({"<pad>": 0, "<unk>": 1}, unk_token="<unk>"))
    return PreTrainedTokenizerFast(tokenizer_object=raw, pad_token="<pad>", unk_token="<unk>")


class Timer:
    """Step end times and losses; with ``profile_from``, torch.profiler records the steps after
    that one (engine.kernel_profile). On the GPU a step's end is an event on its stream, turned
    into a time after training: the timer never makes the host wait, so steps whose numbers
    are read lagged (engine.step_log) overlap as they do in the worker."""

    def __init__(self, profile_from: int | None = None):
        from transformers import TrainerCallback

        timer = self

        class Callback(TrainerCallback):
            def on_train_begin(self, args, state, control, **kwargs):
                import torch

                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                    timer.origin = (time.perf_counter(), torch.cuda.Event(enable_timing=True))
                    timer.origin[1].record()

            def on_step_end(self, args, state, control, **kwargs):
                import torch

                if timer.origin is not None:
                    event = torch.cuda.Event(enable_timing=True)
                    event.record()
                    timer.events.append(event)
                else:
                    timer.ends.append(time.perf_counter())
                if state.global_step == profile_from:
                    timer.profiler = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA])
                    timer.profiler.start()

            def on_train_end(self, args, state, control, **kwargs):
                if timer.profiler is not None:
                    timer.profiler.stop()
                timer.losses = [float(entry["loss"]) for entry in state.log_history if "loss" in entry]
                if timer.origin is not None:
                    import torch

                    torch.cuda.synchronize()
                    host, start = timer.origin
                    timer.ends = [host + start.elapsed_time(event) / 1000 for event in timer.events]

        self.callback = Callback()
        self.ends: list[float] = []
        self.events: list[Any] = []
        self.origin: tuple[float, Any] | None = None
        self.losses: list[float] = []
        self.profiler: Any = None


def llama_parameters(shape: dict[str, Any]) -> int:
    h, i, kv = shape["hidden_size"], shape["intermediate_size"], shape["num_key_value_heads"] * shape["head_dim"]
    layer = 2 * h * h + 2 * h * kv + 3 * h * i + 2 * h
    embeddings = shape["vocab_size"] * h * (1 if shape["tie_word_embeddings"] else 2)
    return shape["num_hidden_layers"] * layer + embeddings + h


def bench_job(cfg: dict[str, Any], steps: int, memory_limit_gib: float = 0.0):
    """The TrainJob our side runs: LoRA r=16 on all linear layers, constant lr 1e-4; with
    ``memory_limit_gib`` (the baseline's measured peak) it checkpoints only the layers that
    limit needs."""
    from studio.core.jobs import LoraSettings, TrainJob

    job = TrainJob()
    training = dataclasses.replace(
        job.training, batch_size=cfg["batch"], max_steps=steps, max_length=cfg["seq"],
        gradient_checkpointing=cfg["ckpt"], learning_rate=1e-4, logging_steps=1, warmup_ratio=0.0,
        lr_scheduler="constant", memory_limit_gib=memory_limit_gib)
    return dataclasses.replace(job, training=training,
                               model=dataclasses.replace(job.model, quantization=cfg.get("quant", "none")),
                               lora=LoraSettings(r=16, alpha=32, dropout=0.05, target_modules=["all-linear"]))


def mode_job(job, mode: str, cfg: dict[str, Any]):
    """``job`` as one of our modes runs it (a copy). Ablations, as mode suffixes: -eager (no compile),
    -compile (compile even where auto would not), -offload (checkpointed layers' inputs in CPU memory),
    -allckpt (every layer checkpointed, whatever the memory limit), -nodrop (LoRA dropout 0); the
    others change the step, not the job (``ablation``)."""
    parts = set(mode.split("-"))
    tr = job.training
    training = dataclasses.replace(
        tr, compile="off" if "eager" in parts else "on" if "compile" in parts else "auto",
        offload_activations="offload" in parts and cfg["ckpt"],
        # a limit nothing fits: every layer checkpointed
        memory_limit_gib=0.01 if "allckpt" in parts else tr.memory_limit_gib)
    lora = dataclasses.replace(job.lora, dropout=0.0) if "nodrop" in parts else job.lora
    return dataclasses.replace(job, training=training, lora=lora)


def ablation(mode: str):
    """What our ``mode`` changes in the step the job gets (engine.training.Ablation), chosen as
    for a long job (``LONG_JOB_STEPS``): -noliger, -nopack, -flex (flex attention; the model's own
    setting, made by ``setup``), -sdpa (packed rows through SDPA and a mask instead of the flash
    varlen kernel), -nocast (LoRA layers keep their bf16 input, no fp32 copy), -synced (every
    step's loss check and log wait for the GPU, as before engine.step_log); -cudnn (SDPA tries
    cuDNN's attention first) is run_one's."""
    from studio.engine import training

    parts = set(mode.split("-"))

    def adjust(path):
        if not {"nopack", "noliger", "flex", "sdpa"} & parts:
            return path
        return dataclasses.replace(path, packing=path.packing and "nopack" not in parts,
                                   liger=path.liger and "noliger" not in parts,
                                   attention="sdpa" if {"nopack", "flex", "sdpa"} & parts else path.attention)

    def keep_input_dtype(model):  # LoRA reads the bf16 input as it is (autocast runs its matmuls in bf16 anyway)
        import peft

        for module in model.modules():
            if isinstance(module, peft.tuners.tuners_utils.BaseTunerLayer):
                module.cast_input_dtype_enabled = False

    return training.Ablation(adjust=adjust, choice_steps=LONG_JOB_STEPS,
                             adapted=keep_input_dtype if "nocast" in parts else None, synced="synced" in parts)


@dataclasses.dataclass
class Setup:
    trainer: Any  # ready to train (the timer's callback goes on it)
    described: str
    path: Any  # ours' FastPath; None for the baseline
    job: Any  # the job as trained (ours: its mode's copy)


def setup(mode: str, model, job, cfg: dict[str, Any], rows: list[dict[str, list[int]]], strategy: str = "single",
          hw=None) -> Setup:
    """The baseline's Trainer or ours, on ``rows``.

    Ours is the worker's own (engine.training.build: the same adapter, fast path, Trainer,
    optimizer, collators, callbacks and CUDA graphs), chosen as for a long job (``LONG_JOB_STEPS``:
    the steady steps this measures are what such a job is made of; ``compile = auto`` weighs its
    compile against that many steps); the ``-compile`` modes compile whatever it decides.
    The QLoRA baseline follows peft's docs: ``prepare_model_for_kbit_training`` (which
    also turns on checkpointing), then ``get_peft_model``. ``hw``: a GPU in bf16 unless told
    (the CPU test's)."""
    import peft
    import transformers

    from studio.engine import hardware

    tokenizer = pad_tokenizer()
    hw = hw or hardware.Hardware("cuda", "bf16")
    if mode == "baseline":
        if cfg.get("quant") == "4bit":
            model.is_loaded_in_4bit = True  # what from_pretrained(quantization_config=...) sets
            model = peft.prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg["ckpt"])
        elif cfg["ckpt"]:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            model.enable_input_require_grads()
        model = peft.get_peft_model(model, peft.LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05,
                                                           target_modules="all-linear", task_type="CAUSAL_LM"))
        args = transformers.TrainingArguments(
            output_dir="/tmp/bench-baseline", per_device_train_batch_size=cfg["batch"],
            max_steps=job.training.max_steps, learning_rate=job.training.learning_rate,
            bf16=hw.precision == "bf16", use_cpu=hw.device == "cpu", logging_steps=1, report_to=[],
            save_strategy="no", lr_scheduler_type="constant", remove_unused_columns=False, disable_tqdm=True, seed=42)
        collator = transformers.DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100)
        trainer = transformers.Trainer(model=model, args=args, data_collator=collator, train_dataset=rows)
        return Setup(trainer, "plain transformers + peft (padded, SDPA)", None, job)
    if "flex" in mode.split("-"):  # packed rows through flex attention: a block mask, no materialized one
        model.set_attn_implementation("flex_attention")
    session = ours(model, tokenizer, mode_job(job, mode, cfg), rows, hw, strategy, ablation(mode))
    return Setup(session.trainer, session.step.path.describe(), session.step.path, session.job)


def ours(model, tokenizer, job, rows: list[dict[str, list[int]]], hw, strategy: str, changes):
    """The worker's session (engine.training.build) for a model already in memory and rows already
    tokenized: nothing is held out, events go nowhere but warnings (to stderr)."""
    import datasets

    from studio.core import protocol
    from studio.engine import data_prep, training
    from studio.engine.control import JobControl

    def emit(event) -> None:
        if isinstance(event, protocol.Warning):
            print(f"warning: {event.message}", file=sys.stderr, flush=True)

    place = Path("/tmp/bench-ours")
    base = training.Loaded(model, tokenizer, place, place, hw)
    prepared = data_prep.PreparedData(datasets.Dataset.from_list(rows), None, dropped=0,
                                      train_tokens=sum(len(r["input_ids"]) for r in rows))
    data = training.TrainData(place, None, prepared, rows=len(rows), held_out=0)
    return training.build(job, place, emit, JobControl(), training.Parallel(strategy, "nccl"), base, data, changes)


def run_one(name: str, mode: str, steps: int, strategy: str = "single", memory_limit_gib: float = 0.0,
            profile_steps: int = 0) -> dict[str, Any]:
    """One configuration in one mode; ``profile_steps``: the last this many steps run under
    torch.profiler (left out of tokens/s) and the result says where their time went."""
    import contextlib

    import peft
    import torch
    import transformers
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from studio.core.reference_shapes import MODEL_SHAPES
    from studio.engine import distributed, memory_report
    from studio.engine.random_model import random_llama

    cfg = CONFIGS[name]
    shape = MODEL_SHAPES[cfg["shape"]]
    rank = distributed.current()
    if rank.world_size > 1:  # under torchrun: one GPU each, the same random weights (same seed)
        torch.cuda.set_device(rank.local_rank)
        torch.distributed.init_process_group("nccl")
        assert cfg["data"] == "fixed", "several GPUs are benchmarked on fixed-length data"
    model = random_llama(shape, cfg.get("quant", "none"), device=f"cuda:{rank.local_rank}",
                         quant_storage=torch.bfloat16 if strategy == "fsdp" else torch.uint8)
    params = llama_parameters(shape)
    rows = examples(cfg, shape["vocab_size"], steps * rank.world_size)
    global_batch = cfg["batch"] * rank.world_size
    real_tokens = [sum(len(r["input_ids"]) for r in rows[i:i + global_batch]) for i in range(0, len(rows), global_batch)]
    timer = Timer(steps - profile_steps if profile_steps else None)
    made = setup(mode, model, bench_job(cfg, steps, memory_limit_gib), cfg, rows, strategy)
    trainer, job, path = made.trainer, made.job, made.path
    trainer.add_callback(timer.callback)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    out: dict[str, Any] = {"config": name, "mode": mode, "path": made.described, "gpus": rank.world_size,
                           "strategy": strategy, "memory_limit_gib": memory_limit_gib, **cfg}
    cudnn_first = sdpa_kernel([SDPBackend.CUDNN_ATTENTION, SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION,
                               SDPBackend.MATH], set_priority=True) if "cudnn" in mode else contextlib.nullcontext()
    try:
        with cudnn_first:
            trainer.train()
    except torch.cuda.OutOfMemoryError as exc:
        out.update(oom=True, error=str(exc)[:200])
        return out
    # Steady steps: after two, or after the first quarter where CUDA graphs are captured (each
    # packed row length runs eagerly once and is captured the next time it is seen).
    graphs = getattr(trainer, "graphs", None)  # ours' StepGraphs, where its steps are graphs
    warm = max(2, len(timer.ends) // 4) if graphs is not None else 2
    timed = len(timer.ends) - profile_steps
    seconds = timer.ends[timed - 1] - timer.ends[warm - 1]
    tokens = sum(real_tokens[warm:timed])
    if profile_steps:
        linear = params - shape["vocab_size"] * shape["hidden_size"] * (0 if shape["tie_word_embeddings"] else 1)
        out["profile"] = kernel_profile.summarize(
            kernel_profile.kernels_of(timer.profiler), profile_steps,
            1000 * (timer.ends[-1] - timer.ends[timed - 1]),
            4 * linear * sum(real_tokens[timed:len(timer.ends)]) / profile_steps)
    gpu = torch.cuda.get_device_name(0)
    peak = next((v for k, v in PEAK_BF16_FLOPS.items() if k in gpu), 989e12)
    metrics = memory_report.gpu_memory_metrics(job, shape, None, gpus=rank.world_size, strategy=strategy, path=path)
    out.update(
        gpu=gpu, versions={"torch": torch.__version__, "transformers": transformers.__version__,
                           "peft": peft.__version__},
        tokens_per_s=round(tokens / seconds), step_s=round(seconds / (timed - warm), 3),
        peak_allocated_gib=round(torch.cuda.max_memory_allocated() / 2**30, 2),
        peak_reserved_gib=round(torch.cuda.max_memory_reserved() / 2**30, 2),
        peak_total_gib=round(metrics["peak_memory_bytes"] / 2**30, 2),
        mfu=round(4 * params * tokens / seconds / peak / rank.world_size, 3),
        estimated_total_gib=round(metrics.get("estimated_peak_bytes", 0) / 2**30, 2),
        padding_share=round(1 - sum(real_tokens) / (len(real_tokens) * cfg["batch"] * max(
            len(r["input_ids"]) for r in rows)), 3) if cfg["data"] == "variable" else 0.0,
        loss_last3=round(sum(timer.losses[-3:]) / max(1, len(timer.losses[-3:])), 4),
        wall_s=round(time.perf_counter() - started, 1),
        first_step_s=round(timer.ends[0] - started, 1),  # compiling, for the compiled paths
        warm_steps=warm,
        graphed_steps=graphs.stats.replayed if graphs is not None else None,
    )
    return out


def run_isolated(argv: list[str], label: str, out: Path, **popen: Any) -> dict[str, Any] | None:
    """Run one measurement in a fresh process (a clean GPU), read its ``RESULT {json}`` line
    and append it to ``out``; None (and the tail of its stderr, printed) when it failed."""
    proc = subprocess.run(argv, capture_output=True, text=True, **popen)
    found = [line[7:] for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if not found:
        print(f"{label}: FAILED (exit {proc.returncode})\n{proc.stderr[-2500:]}", flush=True)
        return None
    result = json.loads(found[-1])
    with open(out, "a") as handle:
        handle.write(json.dumps(result) + "\n")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lora-studio bench", description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--out", type=Path, default=Path("bench_results.jsonl"))
    parser.add_argument("--modes", default="", help="e.g. ours,ours-compile (default: baseline and ours)")
    parser.add_argument("--gpus", type=int, default=1, help="train each config on this many GPUs (torchrun)")
    parser.add_argument("--strategy", choices=["ddp", "fsdp"], default="ddp", help="with --gpus > 1")
    parser.add_argument("--memory-limit-gib", type=float, default=None,
                        help="our runs' memory limit (default: the baseline's measured peak, when it ran first)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run each configuration's modes this many times, interleaved (the first pass also "
                             "warms the machine's kernel caches)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/lora-studio-job-bench"),
                        help="job configs: where the model folders, data and homes go")
    parser.add_argument("--tokenizer", type=Path, help="job configs: a tokenizer folder (default: the bundled "
                                                       "model's)")
    parser.add_argument("--profile", type=int, default=0, metavar="STEPS",
                        help="step configs: run the last STEPS steps under torch.profiler and say where their GPU "
                             "time went (left out of tokens/s)")
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    jobs = [name for name in args.configs.split(",") if name.startswith("job-")]
    if jobs and args.modes and len(jobs) < len(args.configs.split(",")):
        parser.error("--modes names job modes (script, plain, cold, ...) or step modes (baseline, ours, ...): "
                     "run job and step configs in separate calls")
    if jobs:  # what users wait for: whole jobs, command to adapter (engine.job_bench)
        from studio.engine import job_bench

        unknown = sorted(set(args.modes.split(",") if args.modes else ()) - set(job_bench.MODES))
        if unknown:  # an unknown name would run the defaults under another label
            parser.error(f"unknown job mode(s) {', '.join(unknown)}; choose from {', '.join(job_bench.MODES)}")

        args.workdir.mkdir(parents=True, exist_ok=True)
        job_bench.run(jobs, args.modes.split(",") if args.modes else None, args.workdir,
                      args.tokenizer or job_bench.default_tokenizer(), args.out)
        args.configs = ",".join(name for name in args.configs.split(",") if not name.startswith("job-"))
        if not args.configs:
            return 0
    if args.one:
        result = run_one(args.one[0], args.one[1], args.steps, args.strategy if args.gpus > 1 else "single",
                         args.memory_limit_gib or 0.0, args.profile)
        if int(os.environ.get("RANK", 0)) == 0:
            print("RESULT " + json.dumps(result), flush=True)
        return 0
    baseline_peaks: dict[str, float] = {}
    for name in args.configs.split(","):
        modes = args.modes.split(",") if args.modes else (
            [CONFIGS[name]["only"]] if CONFIGS[name].get("only") else ["baseline", "ours"])
        limit = args.memory_limit_gib
        if limit is None and CONFIGS[name].get("limit_from") in baseline_peaks:
            limit = round(baseline_peaks[CONFIGS[name]["limit_from"]] * CONFIGS[name]["limit_share"], 2)
        for mode in modes * max(1, args.repeat):
            launcher = [sys.executable] if args.gpus == 1 else [
                sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(args.gpus)]
            limit_args = ["--memory-limit-gib", str(limit)] if limit and mode != "baseline" else []
            result = run_isolated([*launcher, "-m", "studio.engine.bench", "--steps", str(args.steps), "--gpus",
                                   str(args.gpus), "--strategy", args.strategy, *limit_args,
                                   "--profile", str(args.profile), "--one", name, mode],
                                  f"{name} {mode}", args.out,
                                  env=os.environ if args.gpus > 1 else {**os.environ, "CUDA_VISIBLE_DEVICES": "0"})
            if result is None:
                continue
            if mode == "baseline" and result.get("peak_total_gib"):
                baseline_peaks[name] = result["peak_total_gib"]
                limit = limit or result["peak_total_gib"]  # ours may use what the baseline used, no more
            print(f"{name:12s} {mode:8s} x{args.gpus} {result.get('tokens_per_s', 'OOM'):>8} tok/s  peak "
                  f"{result.get('peak_total_gib', '?')} GiB  MFU {result.get('mfu', '?')}  loss "
                  f"{result.get('loss_last3', '?')}  [{result['path']}]", flush=True)
            if result.get("profile"):
                print(kernel_profile.report(result["profile"]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
