"""Build a job from a job file, command-line flags and ``--set key=value`` overrides.

Later sources win: defaults < job file < flags < --set. The result is checked by
core's validator before any worker starts, so a typo fails in milliseconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any, get_args

from studio.core.job_schema import Issue, JobError, job_from_dict, load_job, to_dict
from studio.core.jobs import (
    PREFERENCE_STAGES,
    DatasetFormat,
    Job,
    OnBadRows,
    ReportTo,
    Stage,
    TextSplit,
    TrainingSettings,
    TrainJob,
    stage_typical,
)
from studio.core.methods import METHODS, apply_method
from studio.core.rewards.samples import sample_rewards
from studio.core.rewards.specs import parse_spec_line

# flag dest -> (section, field)
FLAG_FIELDS: dict[str, tuple[str, str]] = {
    "stage": ("training", "stage"),
    "model": ("model", "path"),
    "dataset": ("dataset", "path"),
    "format": ("dataset", "format"),
    "eval_fraction": ("dataset", "eval_fraction"),
    "max_rows": ("dataset", "max_rows"),
    "text_split": ("dataset", "text_split"),
    "on_bad_rows": ("dataset", "on_bad_rows"),
    "bad_rows_limit": ("dataset", "bad_rows_limit"),
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
    "report_to": ("training", "report_to"),
    "mlflow_tracking_uri": ("training", "mlflow_tracking_uri"),
}
# flag dest -> (section, field) of a table: each use adds names to what the job file has
PAIR_FIELDS: dict[str, tuple[str, str]] = {
    "columns": ("dataset", "columns"),
    "variables": ("dataset", "variables"),
}


def _indices(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected GPU indices such as 0,1; got {text!r}") from None


def count(text: str) -> int:
    """A whole number >= 0, for flags such as --rows."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number such as 5; got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more; got {value}")
    return value


def column_pairs(text: str) -> dict[str, str]:
    """``instruction=question,output=answer`` -> {"instruction": "question", "output": "answer"}."""
    pairs = [item.partition("=") for item in text.split(",") if item.strip()]
    if not pairs or any(not sep or not key.strip() or not value.strip() for key, sep, value in pairs):
        raise argparse.ArgumentTypeError(f"expected FIELD=COLUMN pairs such as instruction=question,output=answer; "
                                         f"got {text!r}")
    return {key.strip(): value.strip() for key, _sep, value in pairs}


def variable_pair(text: str) -> dict[str, str]:
    """``name=Captain Lora`` -> {"name": "Captain Lora"} (the value may hold commas and '=')."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE such as name='Captain Lora'; got {text!r}")
    return {name.strip(): value}


def reward_spec(text: str) -> dict[str, Any]:
    """``--reward numeric_match:column=answer,weight=2`` (or a JSON table) -> a grpo.rewards table."""
    try:
        return parse_spec_line(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def trackers(text: str) -> list[str]:
    """``tensorboard,mlflow`` -> ["tensorboard", "mlflow"], each one core.jobs.ReportTo names."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in get_args(ReportTo)]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"expected trackers from {', '.join(get_args(ReportTo))}, comma-separated; "
                                         f"got {text!r}")
    return names


def add_dataset_flags(parser: argparse.ArgumentParser) -> None:
    """How a dataset file is read: shared by ``train``, ``estimate`` and ``datasets inspect``."""
    parser.add_argument("--map", dest="columns", type=column_pairs, action="append", metavar="FIELD=COLUMN,...",
                        help="read your file's columns as the format's fields, e.g. --map "
                             "instruction=question,output=answer (repeatable)")
    parser.add_argument("--text-split", choices=get_args(TextSplit),
                        help="how a .txt file becomes documents (default: auto)")
    parser.add_argument("--on-bad-rows", choices=get_args(OnBadRows),
                        help="skip rows that can't be trained (up to --bad-rows-limit of the file), or stop at the "
                             "first (default: skip)")
    parser.add_argument("--bad-rows-limit", type=float, metavar="SHARE",
                        help="the largest share of rows that may be skipped (default: 0.01, i.e. 1%%)")
    parser.add_argument("--var", dest="variables", type=variable_pair, action="append", metavar="NAME=VALUE",
                        help="the value of a {{NAME}} placeholder in the data (repeatable)")


def _help(section: type, name: str) -> str:
    """A job field's help text (core.jobs), for its flag; '%' doubled for argparse."""
    field = next(f for f in dataclasses.fields(section) if f.name == name)
    return str(field.metadata.get("help", "")).replace("%", "%%")


def add_train_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--job", type=Path, help="job file (.json or .toml); flags override it")
    parser.add_argument("--stage", choices=get_args(Stage),
                        help=_help(TrainingSettings, "stage") + " Its settings: --set preference.beta=0.1 "
                             "(default: sft)")
    parser.add_argument("--model", help="'bundled', a model folder or a .gguf file")
    parser.add_argument("--dataset", help="'bundled', 'bundled-preference', 'bundled-arithmetic' (prompts for grpo) "
                                          "or a dataset file")
    parser.add_argument("--format", choices=get_args(DatasetFormat), help="dataset format (default: auto)")
    add_dataset_flags(parser)
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
    parser.add_argument("--reward", dest="rewards", type=reward_spec, action="append", metavar="KIND:KEY=VALUE,...",
                        help="a grpo reward (repeatable; replaces the job file's): numeric_match:column=answer, "
                             "exact_match:column=label, regex:pattern=...,mode=search, length_window:max_length=200, "
                             "contains:words=[...], excludes:words=[...], json_schema:schema={...}, or "
                             "file:path=my_reward.py (your own reward(prompts, completions, **columns); it runs as "
                             "code), each with weight=W; a JSON table works too. Default for bundled-arithmetic: "
                             "its own set")
    parser.add_argument("--report-to", type=trackers, metavar="TRACKER,...",
                        help=_help(TrainingSettings, "report_to") + " (default: auto)")
    parser.add_argument("--mlflow-tracking-uri", metavar="URI", help=_help(TrainingSettings, "mlflow_tracking_uri"))
    parser.add_argument("--packing", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="set any job field, e.g. --set training.warmup_ratio=0.1 (value parsed as JSON)")


def build_train_job(args: argparse.Namespace) -> Job:
    data: dict[str, Any] = to_dict(load_job(args.job)) if args.job else to_dict(TrainJob())
    if getattr(args, "method", None):
        data = apply_method(data, args.method)  # exactly what the Train page's Method box does
    given: set[str] = set()  # "section.field" set on this command line: a stage's usual value never replaces it
    for dest, (section, name) in FLAG_FIELDS.items():
        value = getattr(args, dest, None)
        if value is not None:
            data.setdefault(section, {})[name] = value
            given.add(f"{section}.{name}")
    for dest, (section, name) in PAIR_FIELDS.items():
        for pairs in getattr(args, dest, None) or []:
            table = data.setdefault(section, {}).get(name)
            data[section][name] = {**(table if isinstance(table, dict) else {}), **pairs}
    for name in ("packing", "gradient_checkpointing"):
        if getattr(args, name, None) is not None:
            data["training"][name] = getattr(args, name)
    if getattr(args, "rewards", None):
        data.setdefault("grpo", {})["rewards"] = list(args.rewards)
        given.add("grpo.rewards")
    issues = []
    for item in getattr(args, "overrides", []):
        key, sep, raw = item.partition("=")
        parts = key.strip().split(".")
        if not sep or len(parts) != 2:
            issues.append(Issue(key, "--set needs section.field=value, e.g. training.warmup_ratio=0.1"))
            continue
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        # --set dpo.beta=0.1 (a stage's name for the section its settings live in) means preference.beta
        section = "preference" if parts[0] in PREFERENCE_STAGES else parts[0]
        data.setdefault(section, {})[parts[1]] = value
        given.add(f"{section}.{parts[1]}")
    if issues:
        raise JobError(issues, "command line")
    _stage_typical(data, given)
    return job_from_dict(data, source=str(args.job) if args.job else "command line")


def _stage_typical(data: dict[str, Any], given: set[str]) -> None:
    """The stage's usual values (core.jobs.stage_typical) for fields still at the defaults and not
    ``given`` here, as the Train form does when a stage is chosen: SimPO's beta, a preference stage's
    learning rate; a shipped prompt sample's rewards for a GRPO job that names none."""
    stage = data.get("training", {}).get("stage", "sft")
    grpo = data.setdefault("grpo", {})
    if stage == "grpo" and not grpo.get("rewards"):
        grpo["rewards"] = sample_rewards(str(data.get("dataset", {}).get("path", "")))
    defaults = stage_typical("sft")
    for key, value in stage_typical(stage).items():
        section, name = key.split(".")
        table = data.setdefault(section, {})
        if key not in given and table.get(name, defaults[key]) == defaults[key]:
            table[name] = value

