"""Where the host time of a training step goes, on a CPU proxy of a small GPU step.

A 1B LoRA step of ~800 tokens on an H200 is almost all host overhead (Python, launches,
syncs), and so is a tiny model's step on the CPU: this trains a Llama with 16 decoder
layers of hidden size 64 (LoRA r=16 on every linear layer, batch 4 of short rows) through
the engine's Trainer (adapter_setup, training_arguments, GuardedTrainer, ProtocolCallback,
the counting collator: what engine.training.train builds) and through plain
transformers + peft (get_peft_model + Trainer, as peft's docs show) on the same rows,
prints ms/step for each, then cProfiles the engine's steps and prints the functions
called at least once a step, by cumulative and by own time, with who calls the module
walks (``named_parameters``, ``named_modules``, ``Module.train``).

Beside "ours" and "plain" it times the engine's trainer with the Trainer's own per-step
walks (as before engine.step_overhead) and without the NaN guard's check (its host sync
per micro-batch), so each cost shows as a difference in one run.

    .venv/bin/python scripts/profile_step_overhead.py [--steps 60] [--warmup 10] [--profile KIND]
    python3 scripts/profile_step_overhead.py --shape llama-3.2-1b --lengths 100 300   # on a GPU
"""

from __future__ import annotations

import argparse
import cProfile
import statistics
import tempfile
import time
from pathlib import Path

import torch
import transformers

from studio.engine.guarded_trainer import GuardedTrainer

VOCAB = 1000
WALKS = ("named_parameters", "named_modules", "_named_members", "train", "parameters", "modules")


def proxy_model(layers: int, seed: int = 0):
    torch.manual_seed(seed)
    config = transformers.LlamaConfig(vocab_size=VOCAB, hidden_size=64, intermediate_size=128,
                                      num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=4,
                                      max_position_embeddings=256, pad_token_id=0, tie_word_embeddings=False)
    return transformers.LlamaForCausalLM(config)


def build_model(shape: str, layers: int):
    """The CPU proxy, or a random bf16 model of a reference shape on the GPU."""
    if shape == "proxy":
        return proxy_model(layers)
    from studio.core.reference_shapes import MODEL_SHAPES
    from studio.engine.random_model import random_llama

    return random_llama(MODEL_SHAPES[shape], device="cuda")


def tokenizer():
    """A word-level tokenizer over VOCAB made-up words: the padding collator needs one."""
    from tokenizers import Tokenizer, models

    raw = Tokenizer(models.WordLevel({f"w{i}": i for i in range(VOCAB)}, unk_token="w1"))
    return transformers.PreTrainedTokenizerFast(tokenizer_object=raw, pad_token="w0", eos_token="w2")


def rows(count: int, lengths: tuple[int, int], vocab: int = VOCAB, seed: int = 0):
    """Rows of random tokens, of ``lengths`` (low, high) tokens, the loss on all of them."""
    import datasets

    generator = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(count):
        length = int(torch.randint(lengths[0], lengths[1] + 1, (1,), generator=generator))
        ids = torch.randint(3, vocab, (length,), generator=generator).tolist()
        out.append({"input_ids": ids, "attention_mask": [1] * length, "labels": list(ids)})
    return datasets.Dataset.from_list(out)


class StepClock(transformers.TrainerCallback):
    """Step end times, wall and CPU; cProfile on from the end of step ``profile_from`` to the last step.

    The CPU time of this process is the steadier figure on a shared machine: other
    processes stretch the wall time, not it (one thread does the proxy's work)."""

    def __init__(self, profile_from: int | None = None, profiler: cProfile.Profile | None = None):
        self.ends: list[tuple[float, float]] = []
        self.profile_from, self.profiler = profile_from, profiler

    def on_step_end(self, args, state, control, **kwargs):
        self.ends.append((time.perf_counter(), time.process_time()))  # no GPU sync: steady steps pace themselves
        if self.profiler is not None and state.global_step == self.profile_from:
            self.profiler.enable()
        if self.profiler is not None and state.global_step == state.max_steps:
            self.profiler.disable()

    def ms_per_step(self, warmup: int) -> tuple[float, float]:
        """Median (wall, CPU) ms of the steps after ``warmup``."""
        steady = self.ends[warmup:]
        return tuple(1000 * statistics.median(b[i] - a[i] for a, b in zip(steady, steady[1:], strict=False))
                     for i in (0, 1))


def ours(model, data, steps: int, out: Path, clock: StepClock, cls: type | None = None):
    """The engine's trainer, set up as engine.training.train sets it up with the fast path off
    (on the CPU there is none); ``cls`` another trainer class to compare with."""
    from studio.core.job_schema import job_from_dict
    from studio.engine import adapter_setup, data_prep, hardware
    from studio.engine.callbacks import ProtocolCallback
    from studio.engine.control import JobControl
    from studio.engine.step_setup import training_arguments

    device = model.device.type
    job = job_from_dict({"model": {"path": "proxy"}, "dataset": {"path": "proxy"},
                         "lora": {"r": 16, "alpha": 32, "target_modules": ["all-linear"]},
                         "training": {"max_steps": steps, "device": device, "fast_path": False}})
    model = adapter_setup.apply_adapter(model, job.lora, job.training.gradient_checkpointing, quantized=False)
    args = training_arguments(job, out, hardware.choose(device), steps, has_eval=False)
    callback = ProtocolCallback(lambda _event: None, JobControl())
    trainer = (cls or GuardedTrainer)(on_nan=job.training.on_nan, model=model, args=args, train_dataset=data,
                  data_collator=callback.counted(data_prep.collator(tokenizer(), packing=False)),
                  callbacks=[callback, clock])
    trainer.remove_callback(transformers.PrinterCallback)
    return trainer


class WalkingTrainer(GuardedTrainer):
    """GuardedTrainer with the Trainer's own per-step walks (before engine.step_overhead)."""
    train = transformers.Trainer.train
    training_step = transformers.Trainer.training_step
    floating_point_ops = transformers.Trainer.floating_point_ops


class UncheckedTrainer(GuardedTrainer):
    """GuardedTrainer without its NaN check, which reads every micro-batch's loss on the host."""
    compute_loss = transformers.Trainer.compute_loss


def plain(model, data, steps: int, out: Path, clock: StepClock):
    """What peft's docs show: get_peft_model, then a Trainer with the same rows and batch."""
    import peft

    model = peft.get_peft_model(model, peft.LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05,
                                                       target_modules="all-linear", task_type="CAUSAL_LM"))
    cpu = model.device.type == "cpu"
    args = transformers.TrainingArguments(output_dir=str(out), per_device_train_batch_size=4, learning_rate=2e-4,
                                          max_steps=steps, use_cpu=cpu, bf16=not cpu, report_to=[],
                                          disable_tqdm=True, save_strategy="no", remove_unused_columns=False)
    return transformers.Trainer(model=model, args=args, train_dataset=data,
                                data_collator=transformers.DataCollatorForSeq2Seq(tokenizer(), padding=True,
                                                                                  pad_to_multiple_of=8),
                                callbacks=[clock])


KINDS = {
    "ours": ours,
    "ours+walks": lambda *a: ours(*a, cls=WalkingTrainer),  # before engine.step_overhead
    "ours-nancheck": lambda *a: ours(*a, cls=UncheckedTrainer),  # what the NaN guard costs
    "plain": plain,
}


def timed(kind: str, args, profiler: cProfile.Profile | None = None) -> tuple[float, float]:
    """Median (wall, CPU) ms per step of ``kind`` after the warm-up steps."""
    clock = StepClock(args.warmup, profiler)
    model = build_model(args.shape, args.layers)
    vocab = model.config.vocab_size
    with tempfile.TemporaryDirectory() as out:
        trainer = KINDS[kind](model, rows(4 * args.steps, args.lengths, vocab), args.steps, Path(out), clock)
        trainer.train()
    del trainer, model
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return clock.ms_per_step(args.warmup)


def per_step_rows(stats, steps: int) -> list[tuple]:
    """(calls/step, own ms/step, cumulative ms/step, name) of the functions called every step."""
    table = []
    for (file, line, name), (_primitive, calls, own, cumulative, _callers) in stats.items():
        if calls >= steps:
            where = f"{Path(file).name}:{line}({name})" if line else name
            table.append((calls / steps, 1000 * own / steps, 1000 * cumulative / steps, where))
    return table


def print_table(title: str, table: list[tuple], key: int, top: int) -> None:
    print(f"\n{title}\n{'calls/step':>10} {'own ms':>8} {'cum ms':>8}  function")
    for calls, own, cumulative, where in sorted(table, key=lambda row: -row[key])[:top]:
        print(f"{calls:10.1f} {own:8.3f} {cumulative:8.3f}  {where}")


def print_walk_callers(stats, steps: int) -> None:
    """Who calls the module walks, per step."""
    print("\nmodule walks made every step, and their callers (calls per step)")
    found = False
    for (file, line, name), (_primitive, calls, _own, cumulative, callers) in sorted(
            stats.items(), key=lambda item: -item[1][3]):
        if name not in WALKS or "torch/nn/modules/module.py" not in file or calls < steps:
            continue
        found = True
        print(f"  {name} (module.py:{line}): {calls / steps:.1f} calls, {1000 * cumulative / steps:.2f} ms")
        for (caller_file, caller_line, caller_name), caller_stats in sorted(
                callers.items(), key=lambda item: -item[1][0])[:8]:
            print(f"      {caller_stats[0] / steps:7.1f}  {Path(caller_file).name}:{caller_line}({caller_name})")
    if not found:
        print("  none")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="optimizer steps per run")
    parser.add_argument("--warmup", type=int, default=10, help="steps left out of the timing and the profile")
    parser.add_argument("--layers", type=int, default=16, help="decoder layers of the proxy")
    parser.add_argument("--shape", default="proxy",
                        help="'proxy' (the CPU proxy) or a studio.core.reference_shapes name, random bf16 on the GPU")
    parser.add_argument("--lengths", type=int, nargs=2, default=(20, 60), metavar=("LOW", "HIGH"),
                        help="row lengths in tokens, uniform (batch 4)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each kind, alternated")
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=list(KINDS), help="what to time")
    parser.add_argument("--profile", nargs="*", default=["ours"], choices=list(KINDS), help="what to cProfile")
    parser.add_argument("--top", type=int, default=30, help="rows of each profile table")
    args = parser.parse_args(argv)
    if args.shape == "proxy":
        torch.set_num_threads(1)  # the proxy's matmuls are tiny; threads only add noise
    transformers.logging.set_verbosity_error()

    best: dict[str, list[float]] = {}
    for _ in range(args.repeats):  # alternated, so a busy spell of the machine hits every kind
        for kind in args.kinds:
            times = timed(kind, args)
            best[kind] = [min(a, b) for a, b in zip(best.get(kind, times), times, strict=True)]
    print(f"ms/step, median of steps {args.warmup + 2}-{args.steps}, best of {args.repeats} runs "
          f"({args.shape}, rows of {args.lengths[0]}-{args.lengths[1]} tokens, batch 4):")
    print(f"{'':16} {'wall':>8} {'CPU':>8}")
    for kind, (wall, cpu) in best.items():
        print(f"{kind:16} {wall:8.2f} {cpu:8.2f}")
    for kind in args.profile:
        profile(kind, args)
    return 0


def profile(kind: str, args) -> None:
    import pstats

    profiler = cProfile.Profile()
    timed(kind, args, profiler)
    profiled = args.steps - args.warmup
    stats = pstats.Stats(profiler).stats
    table = per_step_rows(stats, profiled)
    print(f"\ncProfile of {kind}, steps {args.warmup + 1}-{args.steps}, per step (the profiler's overhead "
          f"included; a generator's every resumption counts as a call)")
    print_table("by cumulative time", table, 2, args.top)
    print_table("by own time", table, 1, args.top)
    print_walk_callers(stats, profiled)


if __name__ == "__main__":
    raise SystemExit(main())
