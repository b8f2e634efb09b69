"""Build a job from a job file, command-line flags and ``--set key=value`` overrides.

Later sources win: defaults < job file < flags < --set. The result is checked by
core's validator before any worker starts, so a typo fails in milliseconds.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from studio.core.job_schema import Issue, JobError, job_from_dict, load_job, to_dict
from studio.core.jobs import Job, TrainJob
from studio.core.methods import METHODS, apply_method

# flag dest -> (section, field)
FLAG_FIELDS: dict[str, tuple[str, str]] = {
    "model": ("model", "path"),
    "dataset": ("dataset", "path"),
    "format": ("dataset", "format"),
    "eval_fraction": ("dataset", "eval_fraction"),
    "max_rows": ("dataset", "max_rows"),
    "rank": ("lora", "r"),
    "alpha": ("lora", "alpha"),
    "dropout": ("lora", "dropout"),
    "target_modules": ("lora", "target_modules"),
    "lr": ("training", "learning_rate"),
    "epochs": ("training", "epochs"),
    "max_steps": ("training", "max_steps"),
    "batch_size": ("training", "batch_size"),
    "grad_accum": ("training", "grad_accum"),
    "max_length": ("training", "max_length"),
    "precision": ("training", "precision"),
    "seed": ("training", "seed"),
    "eval_steps": ("training", "eval_steps"),
    "save_steps": ("training", "save_steps"),
    "device": ("training", "device"),
    "name": ("output", "name"),
    "continue_from": ("lora", "continue_from"),
    "gpus": ("distributed", "gpus"),
    "strategy": ("distributed", "strategy"),
}


def _indices(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected GPU indices such as 0,1; got {text!r}") from None


def add_train_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--job", type=Path, help="job file (.json or .toml); flags override it")
    parser.add_argument("--model", help="'bundled', a model folder or a .gguf file")
    parser.add_argument("--dataset", help="'bundled' or a dataset file")
    parser.add_argument("--format", help="dataset format (default: auto)")
    parser.add_argument("--eval-fraction", type=float)
    parser.add_argument("--max-rows", type=int)
    parser.add_argument("--method", choices=list(METHODS),
                        help="the adapter method, as the Train page's Method box sets it (its fields replace the "
                             "job file's method fields). "
                             + " ".join(f"{m.name} = {m.help}" for m in METHODS.values()).replace("%", "%%"))
    parser.add_argument("--rank", "-r", type=int)
    parser.add_argument("--alpha", type=float)
    parser.add_argument("--dropout", type=float)
    parser.add_argument("--target-modules", help="comma-separated, 'auto' or 'all-linear'")
    parser.add_argument("--lr", type=float, help="learning rate")
    parser.add_argument("--epochs", type=float)
    parser.add_argument("--max-steps", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--grad-accum", type=int)
    parser.add_argument("--max-length", type=int)
    parser.add_argument("--precision", choices=["auto", "bf16", "fp16", "fp32"])
    parser.add_argument("--seed", type=int)
    parser.add_argument("--eval-steps", type=int)
    parser.add_argument("--save-steps", type=int)
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--name", help="adapter name")
    parser.add_argument("--continue-from", metavar="ADAPTER",
                        help="keep training a library adapter (NAME/vN) or adapter folder; lands as its next version")
    parser.add_argument("--gpus", type=_indices, metavar="0,1",
                        help="GPUs to train on; two or more run one process per GPU (torchrun)")
    parser.add_argument("--strategy", choices=["auto", "ddp", "fsdp"], help="how several GPUs share the job")
    parser.add_argument("--packing", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="set any job field, e.g. --set training.warmup_ratio=0.1 (value parsed as JSON)")


def build_train_job(args: argparse.Namespace) -> Job:
    data: dict[str, Any] = to_dict(load_job(args.job)) if args.job else to_dict(TrainJob())
    if getattr(args, "method", None):
        data = apply_method(data, args.method)  # exactly what the Train page's Method box does
    for dest, (section, name) in FLAG_FIELDS.items():
        value = getattr(args, dest, None)
        if value is not None:
            data.setdefault(section, {})[name] = value
    if args.packing is not None:
        data["training"]["packing"] = args.packing
    if args.gradient_checkpointing is not None:
        data["training"]["gradient_checkpointing"] = args.gradient_checkpointing
    issues = []
    for item in args.overrides:
        key, sep, raw = item.partition("=")
        parts = key.strip().split(".")
        if not sep or len(parts) != 2:
            issues.append(Issue(key, "--set needs section.field=value, e.g. training.warmup_ratio=0.1"))
            continue
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        data.setdefault(parts[0], {})[parts[1]] = value
    if issues:
        raise JobError(issues, "command line")
    return job_from_dict(data, source=str(args.job) if args.job else "command line")

