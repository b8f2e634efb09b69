"""How the Train form shows each job field: label, range, grouping.

Types and help text come from the dataclasses in :mod:`studio.core.jobs`; only what
they can't say (a short label, a sensible range for a spin box, the words for a 0
that means "off") lives here. Ranges stop at what can never be right; the validator
explains the rest, so a typed 0 learning rate is shown as a problem, not clamped.
"""

from __future__ import annotations

from dataclasses import dataclass

from studio.core.jobs import STAGE_SETTINGS


@dataclass(frozen=True)
class FieldSpec:
    label: str
    minimum: float = 0
    maximum: float = 2**31 - 1
    decimals: int = 2
    step: float = 1
    special: str = ""  # shown instead of the minimum, e.g. "off" for 0
    placeholder: str = ""
    scientific: bool = False
    suffix: str = ""
    width: int = 8  # a choice box's narrowest width, in characters: its longest words must fit


# The fields the form draws itself (not one widget per dataclass field).
METHOD = "method"
TARGET_MODULES = "lora.target_modules"
GPUS = "distributed.gpus"
REWARDS = "grpo.rewards"

SPECS: dict[str, FieldSpec] = {
    "training.stage": FieldSpec("Stage", width=33),
    "preference.beta": FieldSpec("Beta (β)", 0, 100, decimals=3, step=0.05),
    "preference.loss_type": FieldSpec("DPO loss"),
    "preference.label_smoothing": FieldSpec("Label smoothing", 0, 0.5, decimals=3, step=0.01),
    "preference.simpo_gamma": FieldSpec("Margin (γ)", 0, 100, decimals=2, step=0.1),
    "preference.cpo_alpha": FieldSpec("Chosen-reply loss (α)", 0, 100, decimals=2, step=0.1, special="off"),
    "preference.desirable_weight": FieldSpec("Desirable weight", 0, 100, decimals=2, step=0.1),
    "preference.undesirable_weight": FieldSpec("Undesirable weight", 0, 100, decimals=2, step=0.1),
    "grpo.num_generations": FieldSpec("Answers per prompt", 2, 1024),
    "grpo.max_completion_length": FieldSpec("Longest answer", 1, 1 << 20, step=32, suffix=" tokens"),
    "grpo.temperature": FieldSpec("Temperature", 0, 5, decimals=2, step=0.1),
    "grpo.beta": FieldSpec("KL penalty (β)", 0, 10, decimals=3, step=0.01, special="none"),
    "grpo.num_iterations": FieldSpec("Steps per batch (μ)", 1, 100),
    "grpo.on_reward_error": FieldSpec("A reward fails"),
    "grpo.sample_steps": FieldSpec("Show answers every", special="never", suffix=" steps"),
    "grpo.generation": FieldSpec("Sampling"),
    REWARDS: FieldSpec("Rewards"),
    METHOD: FieldSpec("Method"),
    "lora.r": FieldSpec("Rank (r)", 1, 1024),
    "lora.alpha": FieldSpec("Alpha", 0, 4096, decimals=1),
    "lora.dropout": FieldSpec("Dropout", 0, 0.9, decimals=3, step=0.01),
    TARGET_MODULES: FieldSpec("Target modules"),
    "training.learning_rate": FieldSpec("Learning rate", 0, 1, scientific=True),
    "training.lr_scheduler": FieldSpec("Scheduler"),
    "training.optimizer": FieldSpec("Optimizer"),
    "training.epochs": FieldSpec("Epochs", 0, 1000, decimals=2, step=0.5),
    "training.max_steps": FieldSpec("Max steps", special="off (use epochs)"),
    "training.warmup_ratio": FieldSpec("Warmup ratio", 0, 0.99, decimals=3, step=0.01),
    "training.weight_decay": FieldSpec("Weight decay", 0, 1, decimals=4, step=0.001),
    "training.max_grad_norm": FieldSpec("Max grad norm", 0, 100, decimals=2, step=0.1, special="no clipping"),
    "training.batch_size": FieldSpec("Batch size", 1, 4096),
    "training.grad_accum": FieldSpec("Gradient accumulation", 1, 4096),
    "training.max_length": FieldSpec("Max length", 16, 1 << 20, step=64, suffix=" tokens"),
    "training.packing": FieldSpec("Pack short rows together"),
    "training.gradient_checkpointing": FieldSpec("Gradient checkpointing"),
    "training.precision": FieldSpec("Precision"),
    "training.device": FieldSpec("Device"),
    "training.seed": FieldSpec("Seed"),
    "training.eval_steps": FieldSpec("Eval every", special="at the end", suffix=" steps"),
    "training.save_steps": FieldSpec("Save every", special="at the end", suffix=" steps"),
    "training.save_total_limit": FieldSpec("Keep checkpoints", 1, 1000),
    "training.logging_steps": FieldSpec("Log every", 1, 100000, special="every step", suffix=" steps"),
    "training.sample_steps": FieldSpec("Sample every", special="never", suffix=" steps"),
    "training.sample_prompt": FieldSpec("Sample prompt"),
    "training.resume_from": FieldSpec("Resume from", placeholder="checkpoint folder or 'latest'"),
    "dataset.train_on": FieldSpec("Train on"),
    "dataset.eval_fraction": FieldSpec("Eval fraction", 0, 0.5, decimals=3, step=0.01),
    "dataset.max_rows": FieldSpec("Max rows", special="all"),
    "dataset.eval_max_rows": FieldSpec("Evaluate on at most", special="all held-out", suffix=" rows"),
    "dataset.on_bad_rows": FieldSpec("Bad rows"),
    "dataset.bad_rows_limit": FieldSpec("Skip at most", 0, 1, decimals=3, step=0.01, suffix=" of rows"),
    "dataset.chunk_text": FieldSpec("Split long raw text into blocks"),
    "dataset.chunk_overlap": FieldSpec("Block overlap", 0, 1 << 20, special="none", suffix=" tokens"),
    "output.name": FieldSpec("Adapter name", placeholder="from the model and dataset"),
    "output.save_merged": FieldSpec("Also save the merged model"),
    "output.add_to_library": FieldSpec("Add to the library"),
    "lora.continue_from": FieldSpec("Continue adapter", placeholder="library NAME/vN or folder (optional)"),
    "model.trust_remote_code": FieldSpec("Trust remote code"),
    "model.allow_pickle": FieldSpec("Allow pickle weights"),
    "training.on_nan": FieldSpec("On a NaN loss"),
    "training.fast_path": FieldSpec("GPU fast path"),
    "training.compile": FieldSpec("torch.compile"),
    "training.cuda_graphs": FieldSpec("CUDA graphs"),
    "training.memory_limit_gib": FieldSpec("GPU memory limit", 0, 4096, decimals=1, step=1, special="the whole card",
                                           suffix=" GiB"),
    "training.offload_activations": FieldSpec("Offload checkpoints to CPU"),
    GPUS: FieldSpec("Train on"),
    "distributed.strategy": FieldSpec("Several GPUs"),
}

# The fields of its own each stage shows: the preference settings it reads (core.jobs.STAGE_SETTINGS),
# and GRPO's section.
GRPO_FIELDS = ("grpo.num_generations", "grpo.max_completion_length", "grpo.temperature", "grpo.beta",
               "grpo.num_iterations", REWARDS, "grpo.on_reward_error", "grpo.sample_steps",
               "grpo.generation")
STAGE_FIELDS: dict[str, tuple[str, ...]] = {stage: tuple(f"preference.{name}" for name in names)
                                            for stage, names in STAGE_SETTINGS.items()} | {"grpo": GRPO_FIELDS}
PREFERENCE_FIELDS = tuple(dict.fromkeys(name for names in STAGE_FIELDS.values() for name in names))

# (group title, fields), in two columns: what most runs change on the left.
COLUMNS: tuple[tuple[tuple[str, tuple[str, ...]], ...], ...] = (
    (
        ("Training stage", ("training.stage", *PREFERENCE_FIELDS)),
        ("Adapter", (METHOD, "lora.r", "lora.alpha", "lora.dropout", TARGET_MODULES)),
        ("Optimisation", ("training.learning_rate", "training.lr_scheduler", "training.warmup_ratio",
                          "training.optimizer", "training.epochs", "training.max_steps", "training.seed")),
        ("Data", ("dataset.train_on", "dataset.eval_fraction", "dataset.eval_max_rows", "dataset.max_rows",
                  "dataset.on_bad_rows", "dataset.bad_rows_limit", "dataset.chunk_text", "dataset.chunk_overlap")),
    ),
    (
        ("Batch and memory", ("training.batch_size", "training.grad_accum", "training.max_length",
                              "training.precision", "training.device", "training.packing",
                              "training.gradient_checkpointing", "training.memory_limit_gib",
                              "training.offload_activations")),
        ("GPUs", (GPUS, "distributed.strategy")),
        ("Evaluation and checkpoints", ("training.eval_steps", "training.save_steps",
                                        "training.save_total_limit", "training.sample_steps",
                                        "training.sample_prompt")),
        ("Output", ("output.name", "lora.continue_from", "output.add_to_library", "output.save_merged")),
        ("Advanced", ("training.weight_decay", "training.max_grad_norm", "training.logging_steps",
                      "training.resume_from", "training.fast_path", "training.compile",
                      "training.cuda_graphs", "training.on_nan", "model.trust_remote_code", "model.allow_pickle")),
    ),
)

# Friendlier words for some choices (the value stays the job's own).
CHOICE_LABELS: dict[str, dict[str, str]] = {
    "training.stage": {"sft": "SFT — learn the replies", "dpo": "DPO — prefer the chosen reply",
                       "orpo": "ORPO — learn and prefer chosen", "simpo": "SimPO — prefer chosen, no reference",
                       "kto": "KTO — replies marked good or bad",
                       "grpo": "GRPO — answers scored by rewards"},
    "grpo.on_reward_error": {"stop": "stop the run", "skip": "leave it out of the batch"},
    "grpo.generation": {"generate": "generate, one batch", "batched": "continuous batching"},
    "dataset.train_on": {"responses": "responses only", "all": "every token"},
    "training.device": {"auto": "auto", "cpu": "CPU", "cuda": "CUDA GPU"},
    "training.precision": {"auto": "auto", "bf16": "bf16", "fp16": "fp16", "fp32": "fp32"},
    "training.on_nan": {"stop": "stop the run", "skip": "skip that batch"},
    "dataset.on_bad_rows": {"skip": "skip (up to a share)", "stop": "refuse the file"},
    "training.compile": {"auto": "auto", "on": "always", "off": "never"},
    "training.cuda_graphs": {"auto": "auto", "on": "always", "off": "never"},
    "distributed.strategy": {"auto": "auto", "ddp": "DDP", "fsdp": "FSDP"},
}
# What a choice means, as its tooltip in the list: kept out of the words, which must fit the
# form's column at the smallest window (960 x 640).
CHOICE_HELP: dict[str, dict[str, str]] = {
    "training.stage": {
        "sft": "Supervised fine-tuning: learns the replies of prompts and answers (alpaca, messages, text…)",
        "dpo": "Direct preference optimization: from pairs of a prompt, a chosen and a rejected reply, moves "
               "toward the chosen one, measured against the adapter as it started",
        "orpo": "Odds-ratio preference optimization: from pairs, fine-tunes on the chosen reply while "
                "penalising the rejected one; no reference model",
        "simpo": "Simple preference optimization: from pairs, rewards are length-normalised log-probabilities; "
                 "no reference model; beta about 2",
        "kto": "Kahneman-Tversky optimization: from replies labelled desirable or not (pairs are read as one "
               "of each)",
        "grpo": "Group relative policy optimization: answers each prompt several times and learns from how "
                "reward functions score the answers against each other (prompts plus the columns the rewards "
                "read, e.g. the shipped arithmetic problems)"},
    "training.compile": {"auto": "where measured faster and the job is long enough to pay the compile back"},
    "training.cuda_graphs": {"auto": "where short steps are predicted faster as CUDA graphs"},
    "distributed.strategy": {"auto": "DDP when the model fits one GPU, else FSDP",
                             "ddp": "a whole copy of the model on each GPU",
                             "fsdp": "the model sharded across the GPUs"},
}
