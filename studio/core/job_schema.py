"""Reading, writing and checking jobs.

Every problem is collected before anything is reported (like litgpt's
``validate_args``), and each names the field and a fix, so a user editing a job
file sees all that is wrong at once: ``lora.r must be a positive integer, got -4``.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import sys
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from studio.core import methods, trackers
from studio.core.jobs import JOB_KINDS, ExportJob, Job, MergeJob, TrainJob

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


# The seeds numpy.random.seed takes: transformers.set_seed seeds numpy, torch and random with the job's
# seed, and -1 failed there, at run time (issue 22).
MAX_SEED = 2**32 - 1
# LoRA+: B's learning rate / A's. The paper's value is 16; at 1000 x the typical 2e-4, B already
# moves at 0.2 a step, a thousand times the rates LoRA trains well at (1e-4 to 5e-4).
MAX_LORAPLUS_RATIO = 1000.0


@dataclass(frozen=True)
class Issue:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field} {self.message}" if self.field else self.message


class JobError(ValueError):
    """A job that can't run; ``issues`` lists every problem found."""

    def __init__(self, issues: list[Issue], source: str = "job"):
        self.issues = issues
        self.source = source
        lines = "\n".join(f"  - {issue}" for issue in issues)
        super().__init__(f"{source} has {len(issues)} problem(s):\n{lines}")


def to_dict(job: Job) -> dict[str, Any]:
    return dataclasses.asdict(job)


def dumps(job: Job) -> str:
    return json.dumps(to_dict(job), indent=2, ensure_ascii=False) + "\n"


def load_job(path: str | Path) -> Job:
    """Read a job from a .json or .toml file, parse and validate it, or raise JobError."""
    return job_from_dict(read_job_data(path), source=str(path))


def read_job_data(path: str | Path) -> Any:
    """A job file's plain data (.toml, or JSON for any other name), or JobError saying why not."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise JobError([Issue("", f"cannot read {path}: {exc.strerror}")], str(path)) from None
    try:
        text = raw.decode("utf-8")
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise JobError([Issue("", f"is not valid {path.suffix.lstrip('.') or 'JSON'}: {exc}")], str(path)) from None
    return data


def job_from_dict(data: Any, source: str = "job") -> Job:
    """Build and validate a job from plain data (missing fields take their defaults)."""
    if not isinstance(data, dict):
        raise JobError([Issue("", f"must be an object, got {type(data).__name__}")], source)
    kind = data.get("kind", "train")
    cls = JOB_KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise JobError([Issue("kind", f"must be one of {', '.join(JOB_KINDS)}, got {kind!r}")], source)
    issues: list[Issue] = []
    data = _without_old_faults(data, issues)
    job = _build(cls, data, "", issues)
    # Fields with a wrong type kept their defaults, so the semantic checks still run;
    # they only add problems for fields not already reported.
    seen = {issue.field for issue in issues}
    issues.extend(issue for issue in validate(job) if issue.field not in seen)
    if issues:
        raise JobError(issues, source)
    return job


def _without_old_faults(data: dict[str, Any], issues: list[Issue]) -> dict[str, Any]:
    """Job files written before drills moved to an environment variable (core.faults) carry an
    empty ``faults`` section: dropped. One that asks for a drill says where drills are now."""
    old = data.get("faults")
    if old is None:
        return data
    if isinstance(old, dict) and old.get("inject"):
        issues.append(Issue("faults.inject", "drills are set with the LORA_STUDIO_FAULT environment variable now, "
                                             "not in the job"))
    return {k: v for k, v in data.items() if k != "faults"}


def build_section(cls: type, data: dict[str, Any], issues: list[Issue]) -> Any:
    """A dataclass of the job-file kind (``_f`` fields) from plain data, its type problems added to
    ``issues``: what a file that is not a worker job (a sweep) is read with."""
    return _build(cls, data, "", issues)


def _build(cls: type, data: dict[str, Any], prefix: str, issues: list[Issue]) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=1)
            tip = f"; did you mean '{prefix}{close[0]}'?" if close else f"; known: {', '.join(fields)}"
            issues.append(Issue(f"{prefix}{key}", f"is not a known field{tip}"))
    kwargs = {}
    for name in fields:
        if name in data:
            kwargs[name] = _coerce(data[name], hints[name], f"{prefix}{name}", issues)
    return cls(**{k: v for k, v in kwargs.items() if v is not _BAD})


_BAD = object()
_SCALARS: dict[type, tuple[Any, str]] = {
    bool: (lambda v: isinstance(v, bool), "must be true or false"),
    int: (lambda v: isinstance(v, int) and not isinstance(v, bool), "must be an integer"),
    str: (lambda v: isinstance(v, str), "must be a string"),
}


def _coerce(value: Any, hint: Any, name: str, issues: list[Issue]) -> Any:
    origin = get_origin(hint)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):  # a section's class, never an instance
        if not isinstance(value, dict):
            issues.append(Issue(name, f"must be a table/object, got {_show(value)}"))
            return _BAD
        return _build(hint, value, name + ".", issues)
    if origin is Literal:
        choices = get_args(hint)
        if isinstance(value, bool) and {"auto", "on"} <= set(choices):
            # A switch that was a bool in older job files (training.compile): true forced it on;
            # false was the default (not forced), which is "auto" now.
            value = "on" if value else "auto"
        if value not in choices:
            issues.append(Issue(name, f"must be one of {', '.join(map(str, choices))}, got {_show(value)}"))
            return _BAD
        return value
    if origin is list:
        (item,) = get_args(hint)
        if isinstance(value, str) and (item is str or get_origin(item) is Literal):  # "a, b" from a command line
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            issues.append(Issue(name, f"must be a list, got {_show(value)}"))
            return _BAD
        out = [_coerce(v, item, f"{name}[{i}]", issues) for i, v in enumerate(value)]
        return _BAD if _BAD in out else out
    if origin is dict and get_args(hint)[1] is Any:  # a JSON object as it is (a tool definition)
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            issues.append(Issue(name, f"must be a table/object, got {_show(value)}"))
            return _BAD
        return dict(value)
    if origin is dict:
        if isinstance(value, str):  # "a=b, c=d", as a command line writes it
            pairs = [item.partition("=") for item in value.split(",") if item.strip()]
            if any(not sep for _k, sep, _v in pairs):
                issues.append(Issue(name, f"must be KEY=VALUE pairs separated by commas, got {_show(value)}"))
                return _BAD
            value = {k.strip(): v.strip() for k, _sep, v in pairs}
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                  for k, v in value.items()):
            issues.append(Issue(name, f"must be a table of names to strings, got {_show(value)}"))
            return _BAD
        return dict(value)
    if origin in (typing.Union, types.UnionType):
        for option in get_args(hint):
            scratch: list[Issue] = []
            got = _coerce(value, option, name, scratch) if option is not type(None) else (
                None if value is None else _BAD)
            if got is not _BAD and not scratch:
                return got
        issues.append(Issue(name, f"has the wrong type: {_show(value)}"))
        return _BAD
    if hint in _SCALARS:
        accepts, expected = _SCALARS[hint]
        if not accepts(value):
            issues.append(Issue(name, f"{expected}, got {_show(value)}"))
            return _BAD
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            issues.append(Issue(name, f"must be a number, got {_show(value)}"))
            return _BAD
        number = float(value) if isinstance(value, float) or abs(value) < 2**1023 else math.inf
        if not math.isfinite(number):
            issues.append(Issue(name, f"must be a finite number, got {_show(value)}"))
            return _BAD
        return number
    return value


def _show(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) < 60 else text[:57] + "..."


def cuda_only_settings(job: TrainJob) -> list[tuple[str, str]]:
    """(field, what) of each setting only bitsandbytes on an NVIDIA GPU can run: quantized
    loading and the 8-bit optimizers (core.machine_fit asks too, for machines without one)."""
    found = []
    if job.model.quantization != "none":
        found.append(("model.quantization", f"{job.model.quantization} loading"))
    if job.training.optimizer != "adamw_torch":
        found.append(("training.optimizer", job.training.optimizer))
    return found


def validate(job: Job) -> list[Issue]:
    """Semantic checks beyond types: ranges and combinations that can't work."""
    issues: list[Issue] = []
    if isinstance(job, TrainJob):
        _validate_train(job, issues)
    elif isinstance(job, MergeJob):
        _validate_merge(job, issues)
    elif isinstance(job, ExportJob):
        if not job.adapter:
            issues.append(Issue("adapter", "is required: a library reference (name/v2) or an adapter folder"))
        if not job.output_dir:
            issues.append(Issue("output_dir", "is required: the folder the merged model is written to"))
        for index, kind in enumerate(job.gguf):
            if kind not in ("f16", "q8_0"):
                issues.append(Issue(f"gguf[{index}]", f"must be f16 or q8_0, got {kind!r}"))
    return issues


def _validate_merge(job: MergeJob, issues: list[Issue]) -> None:
    from studio.core.merging import COMBINATIONS, WITH_DENSITY

    if len(job.adapters) < 2:
        issues.append(Issue("adapters", f"needs two or more adapters, got {len(job.adapters)}"))
    if len(job.weights) != len(job.adapters):
        issues.append(Issue("weights", f"needs one weight per adapter ({len(job.adapters)}), got {len(job.weights)}"))
    if job.combination not in COMBINATIONS:
        close = difflib.get_close_matches(job.combination, COMBINATIONS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        issues.append(Issue("combination", f"must be one of {', '.join(COMBINATIONS)}, got {job.combination!r}{hint}"))
    if job.combination in WITH_DENSITY and not 0.0 < job.density <= 1.0:
        issues.append(Issue("density", f"must be in (0, 1], got {job.density}; 0.5 is typical"))


def _positive_int(issues: list[Issue], name: str, value: int, tip: str) -> None:
    if value <= 0:
        issues.append(Issue(name, f"must be a positive integer, got {value}; {tip}"))


def _validate_train(job: TrainJob, issues: list[Issue]) -> None:
    lora, tr, ds = job.lora, job.training, job.dataset
    _positive_int(issues, "lora.r", lora.r, "8 or 16 is typical")
    if lora.alpha <= 0:
        issues.append(Issue("lora.alpha", f"must be > 0, got {lora.alpha}; about 2x the rank is typical"))
    if not 0 <= lora.dropout < 1:
        issues.append(Issue("lora.dropout", f"must be in [0, 1), got {lora.dropout}; 0.05 is typical"))
    if not lora.target_modules:
        issues.append(Issue("lora.target_modules", "must name at least one module, or 'auto'"))
    _validate_loraplus(lora.loraplus_lr_ratio, tr.learning_rate, issues)
    issues.extend(Issue(name, problem) for name, problem in methods.choice_problems(job))
    _positive_int(issues, "training.batch_size", tr.batch_size, "4 is typical; lower it when memory runs out")
    _positive_int(issues, "training.grad_accum", tr.grad_accum, "1 unless you need a larger effective batch")
    _positive_int(issues, "training.max_length", tr.max_length, "512 or 1024 is typical")
    _positive_int(issues, "training.logging_steps", tr.logging_steps, "1 logs every step")
    _positive_int(issues, "training.save_total_limit", tr.save_total_limit, "2 keeps the last two")
    if tr.max_length < 16:
        issues.append(Issue("training.max_length", f"must be at least 16 tokens, got {tr.max_length}"))
    if tr.max_steps < 0:
        issues.append(Issue("training.max_steps", f"must be >= 0 (0 = use epochs), got {tr.max_steps}"))
    if tr.max_steps == 0 and tr.epochs <= 0:
        issues.append(Issue("training.epochs", f"must be > 0 when max_steps is 0, got {tr.epochs}"))
    if not 0 < tr.learning_rate < 1:
        issues.append(Issue("training.learning_rate", f"must be in (0, 1), got {tr.learning_rate}; 2e-4 is typical"))
    if not 0 <= tr.seed <= MAX_SEED:
        issues.append(Issue("training.seed", f"must be in [0, {MAX_SEED}] (what numpy's seeding takes), "
                                             f"got {tr.seed}; 42 is typical"))
    if not 0 <= tr.warmup_ratio < 1:
        issues.append(Issue("training.warmup_ratio", f"must be in [0, 1), got {tr.warmup_ratio}"))
    if tr.memory_limit_gib < 0:
        issues.append(Issue("training.memory_limit_gib", f"must be >= 0 GiB (0 = the card's free memory), "
                                                        f"got {tr.memory_limit_gib}"))
    if tr.offload_activations and not tr.gradient_checkpointing:
        issues.append(Issue("training.offload_activations", "offloads the inputs of checkpointed layers: it "
                                                            "needs training.gradient_checkpointing on"))
    for name in ("weight_decay", "max_grad_norm"):
        if getattr(tr, name) < 0:
            issues.append(Issue(f"training.{name}", f"must be >= 0, got {getattr(tr, name)}"))
    for name in ("eval_steps", "save_steps", "sample_steps"):
        if getattr(tr, name) < 0:
            issues.append(Issue(f"training.{name}", f"must be >= 0 (0 = off), got {getattr(tr, name)}"))
    if not 0 <= ds.eval_fraction <= 0.5:
        issues.append(Issue("dataset.eval_fraction", f"must be in [0, 0.5], got {ds.eval_fraction}; 0.1 is typical"))
    if ds.max_rows < 0:
        issues.append(Issue("dataset.max_rows", f"must be >= 0 (0 = all), got {ds.max_rows}"))
    if ds.eval_max_rows < 0:
        issues.append(Issue("dataset.eval_max_rows", f"must be >= 0 (0 = all held-out rows), got {ds.eval_max_rows}"))
    if not 0 <= ds.bad_rows_limit <= 1:
        issues.append(Issue("dataset.bad_rows_limit", f"must be a share in [0, 1], got {ds.bad_rows_limit}; "
                                                      "0.01 (1%) is the default"))
    if not 0 <= ds.chunk_overlap < tr.max_length:
        issues.append(Issue("dataset.chunk_overlap", f"must be >= 0 and below training.max_length "
                                                     f"({tr.max_length}), got {ds.chunk_overlap}"))
    issues.extend(Issue("training.report_to", problem) for problem in trackers.choice_problems(tr.report_to))
    if tr.device == "cpu":
        for name, what in cuda_only_settings(job):
            issues.append(Issue(name, f"{what} needs a CUDA GPU (bitsandbytes), but training.device is 'cpu'"))
    if tr.device == "cpu" and tr.compile == "on":
        issues.append(Issue("training.compile", "'on' compiles on a CUDA GPU only, but training.device is 'cpu': "
                                                "choose auto or off"))
    if tr.device == "cpu" and tr.precision == "fp16":
        issues.append(Issue("training.precision", "fp16 training needs a GPU; use fp32 or bf16 on the CPU"))
    _validate_distributed(job, issues)
    _validate_preference(job, issues)
    if job.training.stage == "grpo":
        _validate_grpo(job, issues)
    name = job.output.name
    if name and (name.startswith(".") or any(c in name for c in '/\\:*?"<>|') or len(name) > 100):
        issues.append(Issue("output.name", f"must be a plain name (no path separators or leading dot), got {name!r}"))


def _validate_loraplus(ratio: float, learning_rate: float, issues: list[Issue]) -> None:
    """B's learning rate is ``learning_rate`` x the ratio: ratio 1e9 diverged to loss 10.8 and still
    ended ``done`` (issue 22). The LoRA+ paper's ratio is 16; above MAX_LORAPLUS_RATIO, or where B's
    rate reaches 1 (the learning rate itself must stay below it), B's steps are far too large to learn from."""
    name = "lora.loraplus_lr_ratio"
    if ratio < 0:
        issues.append(Issue(name, f"must be >= 0 (0 = off), got {ratio}; 16 is the LoRA+ paper's"))
    elif ratio > MAX_LORAPLUS_RATIO:
        issues.append(Issue(name, f"must be at most {MAX_LORAPLUS_RATIO:g}, got {ratio:g}: B's learning rate is "
                                  "the learning rate x this ratio; 16 is the LoRA+ paper's"))
    elif 0 < learning_rate < 1 <= learning_rate * ratio:
        issues.append(Issue(name, f"x training.learning_rate is {learning_rate * ratio:g}, B's learning rate: it "
                                  "must be below 1, as the learning rate must; 16 x 2e-4 is typical"))


def _validate_preference(job: TrainJob, issues: list[Issue]) -> None:
    """A preference stage's settings, and what its trainer (TRL's, run plainly) can't do."""
    stage, pref, tr = job.training.stage, job.preference, job.training
    if pref.beta <= 0:
        issues.append(Issue("preference.beta", f"must be > 0, got {pref.beta}; 0.1 is typical"))
    if not 0 <= pref.label_smoothing < 0.5:
        issues.append(Issue("preference.label_smoothing", f"must be in [0, 0.5), got {pref.label_smoothing}; "
                                                          "0 unless some pairs are labelled the wrong way round"))
    elif pref.loss_type == "exo_pair" and pref.label_smoothing == 0:
        issues.append(Issue("preference.label_smoothing", "must be > 0 with loss_type exo_pair; 1e-3 is the EXO "
                                                          "paper's"))
    if pref.simpo_gamma < 0:
        issues.append(Issue("preference.simpo_gamma", f"must be >= 0, got {pref.simpo_gamma}; 0.5 is typical"))
    if pref.cpo_alpha < 0:
        issues.append(Issue("preference.cpo_alpha", f"must be >= 0, got {pref.cpo_alpha}; 0 for SimPO alone"))
    for name in ("desirable_weight", "undesirable_weight"):
        if getattr(pref, name) <= 0:
            issues.append(Issue(f"preference.{name}", f"must be > 0, got {getattr(pref, name)}; 1.0 is typical"))
    if stage == "sft":
        return
    if tr.packing:
        issues.append(Issue("training.packing", f"packs rows for sft; {stage} keeps each pair's two sequences "
                                                "apart: turn packing off"))
    if tr.on_nan == "skip":
        issues.append(Issue("training.on_nan", f"'skip' is for sft; a {stage} run stops on a NaN loss (the last "
                                               "checkpoint is kept): choose stop"))
    if len(job.distributed.gpus) > 1 or job.distributed.cpu_processes > 1 or job.distributed.nnodes > 1:
        issues.append(Issue("distributed.gpus", f"{stage} trains in one process (one GPU or the CPU) in this "
                                                "version: list at most one GPU"))
    if stage == "kto" and tr.batch_size < 2:
        issues.append(Issue("training.batch_size", f"must be at least 2 for kto, got {tr.batch_size}: its KL term "
                                                   "pairs each row with another row's reply in the same batch; 4-8 "
                                                   "is typical"))


def _validate_grpo(job: TrainJob, issues: list[Issue]) -> None:
    """GRPO's settings and its reward tables (checked without running a user's reward file)."""
    from studio.core.rewards.specs import spec_problems  # jsonschema: only for a job that rewards

    g = job.grpo
    for name, lowest, typical in (("num_generations", 2, "4-16"), ("max_completion_length", 1, "128-1024"),
                                  ("num_iterations", 1, "1")):
        if getattr(g, name) < lowest:
            issues.append(Issue(f"grpo.{name}", f"must be at least {lowest}, got {getattr(g, name)}; {typical} is "
                                                "typical" + ("; GRPO compares each prompt's answers with each "
                                                             "other" if name == "num_generations" else "")))
    if not 0 < g.temperature <= 5:
        issues.append(Issue("grpo.temperature", f"must be in (0, 5], got {g.temperature}; a group needs varied "
                                                "answers to learn from, 0.6-1.2 is typical"))
    if g.beta < 0:
        issues.append(Issue("grpo.beta", f"must be >= 0 (0 = no KL penalty), got {g.beta}"))
    if g.sample_steps < 0:
        issues.append(Issue("grpo.sample_steps", f"must be >= 0 (0 = never), got {g.sample_steps}"))
    issues.extend(Issue("grpo.rewards", problem) for problem in spec_problems(g.rewards))
    if job.training.max_length <= g.max_completion_length:
        issues.append(Issue("training.max_length", f"is the longest prompt plus answer: it must exceed "
                                                   f"grpo.max_completion_length ({g.max_completion_length}), got "
                                                   f"{job.training.max_length}"))


def _validate_distributed(job: TrainJob, issues: list[Issue]) -> None:
    dist, device = job.distributed, job.training.device
    if any(index < 0 for index in dist.gpus):
        issues.append(Issue("distributed.gpus", f"GPU indices must be >= 0, got {dist.gpus}"))
    if len(set(dist.gpus)) != len(dist.gpus):
        issues.append(Issue("distributed.gpus", f"names a GPU twice: {dist.gpus}"))
    if dist.gpus and device == "cpu":
        issues.append(Issue("distributed.gpus", "lists GPUs, but training.device is 'cpu'"))
    if dist.cpu_processes < 0:
        issues.append(Issue("distributed.cpu_processes", f"must be >= 0, got {dist.cpu_processes}"))
    if dist.cpu_processes > 1 and (device == "cuda" or dist.gpus):
        issues.append(Issue("distributed.cpu_processes", "is for CPU training; on GPUs list them in distributed.gpus"))
    if dist.nnodes < 1:
        issues.append(Issue("distributed.nnodes", f"must be >= 1, got {dist.nnodes}"))
    elif not 0 <= dist.node_rank < dist.nnodes:
        issues.append(Issue("distributed.node_rank", f"must be in [0, {dist.nnodes - 1}], got {dist.node_rank}"))
    if dist.nnodes > 1 and not dist.rdzv_endpoint:
        issues.append(Issue("distributed.rdzv_endpoint", "is required when nnodes > 1: host:port of node 0"))
