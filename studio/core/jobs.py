"""The job: what a worker is asked to do, as small typed dataclasses.

Help text lives beside each field (``metadata={"help": ...}``) so the GUI can draw
labels and tooltips from one place. Parsing and checking live in
:mod:`studio.core.job_schema`; this module only says what a job *is*.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

Precision = Literal["auto", "bf16", "fp16", "fp32"]
Quantization = Literal["none", "4bit", "8bit"]
LoraInit = Literal["default", "gaussian", "pissa", "olora"]
Scheduler = Literal["cosine", "linear", "constant", "constant_with_warmup"]
Optimizer = Literal["adamw_torch", "adamw_8bit", "paged_adamw_8bit"]
TrainOn = Literal["responses", "all"]
DatasetFormat = Literal["auto", "alpaca", "sharegpt", "messages", "prompt_completion", "text",
                        "preference", "preference_sharegpt", "preference_alpaca", "kto", "kto_messages"]
TextSplit = Literal["auto", "line", "paragraph", "file"]
OnBadRows = Literal["skip", "stop"]
OnRewardError = Literal["stop", "skip"]
GrpoGeneration = Literal["generate", "batched"]
Device = Literal["auto", "cpu", "cuda"]
Strategy = Literal["auto", "ddp", "fsdp"]
OnNan = Literal["stop", "skip"]
Switch = Literal["auto", "on", "off"]
# Where a run's numbers also go (core.trackers): "auto" = TensorBoard where installed, "none" = nowhere.
ReportTo = Literal["auto", "none", "tensorboard", "mlflow", "wandb", "trackio"]
# What a run learns from: replies (sft), pairs of a chosen and a rejected reply (dpo, orpo, simpo),
# replies labelled desirable or not (kto, which also reads pairs) or prompts whose own answers are scored by
# reward functions (grpo); core.datasets.stages reads this list.
Stage = Literal["sft", "dpo", "orpo", "simpo", "kto", "grpo"]
PREFERENCE_STAGES: tuple[str, ...] = ("dpo", "orpo", "simpo", "kto")
# TRL's DPO losses (trl.DPOConfig.loss_type) that need nothing but beta and label_smoothing.
DpoLoss = Literal["sigmoid", "ipo", "hinge", "robust", "exo_pair", "bco_pair", "sppo_hard", "nca_pair",
                  "apo_zero", "apo_down", "sigmoid_norm"]


def _f(default, help: str, **kw):
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help, **kw})
    return field(default=default, metadata={"help": help, **kw})


@dataclass
class ModelSettings:
    path: str = _f(
        "bundled",
        "Base model: 'bundled' (SmolLM2-135M-Instruct, shipped with the app), a folder with "
        "config.json, or a .gguf file (converted once and cached).",
    )
    quantization: Quantization = _f(
        "none", "Load the frozen base in 4-bit NF4 (QLoRA) or 8-bit to save memory; needs a CUDA GPU."
    )
    trust_remote_code: bool = _f(
        False, "Run Python code shipped with the model. Only for models you trust."
    )
    allow_pickle: bool = _f(
        False, "Load weights stored as pickle (pytorch_model.bin) when the folder has no safetensors. A pickle "
               "can run code; they are read with torch's weights_only loader, but only allow it for models you trust."
    )


@dataclass
class DatasetSettings:
    path: str = _f(
        "bundled",
        "Training data: 'bundled' (the Captain Lora sample), a .json/.jsonl/.csv/.parquet/.arrow/.txt file, or a "
        "folder (Hugging Face save_to_disk, or parquet/arrow/jsonl shards as a Hub download has them).",
    )
    format: DatasetFormat = _f("auto", "Row format; 'auto' detects it from the fields of the first rows.")
    eval_fraction: float = _f(
        0.1, "Share of rows held out to measure eval loss (0 to 0.5); 0.05-0.1 is typical."
    )
    train_on: TrainOn = _f(
        "responses",
        "'responses' computes the loss on the assistant's replies only (usual for chat data); "
        "'all' trains on every token.",
    )
    max_rows: int = _f(0, "Use at most this many rows (0 = all); handy for a quick trial.")
    eval_max_rows: int = _f(
        200, "Evaluate on at most this many of the held-out rows, spread over them (0 = all): a few hundred "
             "rows measure the eval loss to about 1%, and every evaluation of a large set adds minutes."
    )
    columns: dict[str, str] = _f(
        {}, "Your file's column for each field of the format, e.g. {instruction = 'question', output = 'answer'} "
            "(empty: the format's own names)."
    )
    text_split: TextSplit = _f(
        "auto", "How a .txt file becomes documents: one per 'line', per blank-line 'paragraph', or the whole "
                "'file'; 'auto' picks from the file's shape."
    )
    chunk_text: bool = _f(
        True, "Split raw text longer than max_length into max_length blocks (continued pretraining) instead of "
              "cutting it; a chat or completion is never split."
    )
    chunk_overlap: int = _f(0, "Tokens each raw-text block repeats from the end of the block before (0 = none).")
    variables: dict[str, str] = _f(
        {}, "Values for {{placeholders}} in the data, e.g. {name = 'Captain Lora'}; a placeholder without a "
            "value is reported before training."
    )
    on_bad_rows: OnBadRows = _f(
        "skip", "Rows that can't be trained right: 'skip' leaves them out (listed in the run's log) up to "
                "bad_rows_limit of the file; 'stop' refuses the file at the first one."
    )
    bad_rows_limit: float = _f(
        0.01, "With on_bad_rows = 'skip', the largest share of rows that may be left out (0.01 = 1%); "
              "beyond it the file is refused."
    )


@dataclass
class LoraSettings:
    r: int = _f(16, "Rank of the update matrices: capacity vs. size. 8 or 16 is typical; 4 for tiny models.")
    alpha: float = _f(32, "Scale of the update (alpha/r). About 2x the rank is typical.")
    dropout: float = _f(0.05, "Dropout on the adapter input (0-0.1); 0.05 helps on small datasets.")
    target_modules: list[str] = _f(
        ["auto"],
        "Layers to adapt: 'auto' (attention + MLP projections for the architecture), "
        "'all-linear', or module names such as q_proj, v_proj.",
    )
    tuner: str = _f(
        "lora", "The peft tuner the adapter is: lora (with its variants below), or another method's own, such as "
                "loha or vera. The Method box and --method set it; the validator lists every one."
    )
    use_rslora: bool = _f(False, "rsLoRA: scale by alpha/sqrt(r), which keeps high ranks stable.")
    use_dora: bool = _f(False, "DoRA: learn magnitude and direction apart; better at low rank, ~20% slower.")
    init: LoraInit = _f(
        "default",
        "Adapter initialisation: default (B=0), gaussian, pissa (principal singular vectors; "
        "faster convergence) or olora (orthonormal).",
    )
    loraplus_lr_ratio: float = _f(
        0.0, "LoRA+: learning rate of B = ratio x that of A (0 = off; 16 is the paper's value)."
    )
    continue_from: str = _f(
        "", "Keep training an existing adapter (library NAME/vN or a folder) instead of a new one; its rank "
            "and modules are kept, and the result is its next version with it as parent."
    )

    def method_label(self, quantization: str = "none") -> str:
        """A short name for the method, e.g. ``qlora+dora`` (for cards and run lists)."""
        from studio.core.methods import method_label  # the methods package reads this module

        return method_label(dataclasses.asdict(self), quantization)


@dataclass
class TrainingSettings:
    stage: Stage = _f("sft", "What the run learns from: 'sft' (supervised fine-tuning) learns the replies of the "
                             "data. The preference stages (see the preference section) learn to prefer one reply "
                             "to another: 'dpo' (direct preference optimization) from pairs of a prompt, a chosen "
                             "and a rejected reply, against the adapter as it started; 'orpo' from pairs, "
                             "fine-tuning on the chosen while penalising the rejected, no reference model; "
                             "'simpo' from pairs, length-normalised, no reference model; 'kto' from replies "
                             "labelled desirable or not (pairs are read as one of each). 'grpo' (group relative "
                             "policy optimization, see the grpo section) answers prompts several times and learns "
                             "from how reward functions score the answers against each other.")
    epochs: float = _f(1.0, "Passes over the training rows; 1-3 is typical (ignored when max_steps > 0).")
    max_steps: int = _f(0, "Stop after this many optimizer steps (0 = use epochs).")
    batch_size: int = _f(4, "Rows per device per step; lower it first when memory runs out.")
    grad_accum: int = _f(1, "Steps whose gradients add up before an update: effective batch = batch x this.")
    learning_rate: float = _f(2e-4, "Peak learning rate; 1e-4 to 3e-4 is typical for LoRA.")
    lr_scheduler: Scheduler = _f("cosine", "How the learning rate decays after warmup.")
    warmup_ratio: float = _f(0.03, "Share of steps spent ramping the learning rate up from 0.")
    weight_decay: float = _f(0.0, "L2 penalty on the adapter weights; 0-0.01 is typical.")
    max_grad_norm: float = _f(1.0, "Clip gradients at this norm (0 disables clipping).")
    max_length: int = _f(512, "Longest row in tokens; longer rows are truncated.")
    packing: bool = _f(False, "Pack several short rows into one sequence to waste no padding.")
    gradient_checkpointing: bool = _f(
        False, "Recompute activations in the backward pass: much less memory, ~25% slower. On an NVIDIA GPU "
               "only as many layers as the memory needs are checkpointed (see memory_limit_gib)."
    )
    memory_limit_gib: float = _f(0.0, "GPU memory this run may use, in GiB (0 = what the card has free). With "
                                     "gradient checkpointing, the fewest layers that keep the estimate under it "
                                     "are checkpointed; the rest run at full speed.")
    offload_activations: bool = _f(False, "With gradient checkpointing: keep each checkpointed layer's input in "
                                          "(pinned) CPU memory instead of on the GPU, for the longest sequences.")
    precision: Precision = _f("auto", "Number format: auto picks bf16 on recent GPUs, fp16 on older, fp32 on CPU.")
    fast_path: bool = _f(True, "On NVIDIA GPUs: padding-free packing, Liger fused kernels (never builds the full "
                               "logits), fused AdamW and TF32. Off = plain transformers + peft.")
    compile: Switch = _f("auto", "torch.compile each decoder layer on an NVIDIA GPU. auto: where it was measured "
                                 "faster (bf16 and 4-bit LoRA, padded or packed rows; one GPU; not DoRA or 8-bit); "
                                 "on: always; off: never. The first step is slower while it compiles.")
    cuda_graphs: Switch = _f("auto", "Replay each training step as a CUDA graph on an NVIDIA GPU (packed rows, one "
                                     "GPU, no gradient accumulation or checkpointed layer). auto: where steps are "
                                     "short enough that launching kernels, not computing, takes their time; on: "
                                     "wherever they can run; off: never.")
    optimizer: Optimizer = _f("adamw_torch", "adamw_8bit / paged_adamw_8bit save memory (need bitsandbytes + CUDA).")
    seed: int = _f(42, "Random seed for data order, split and adapter init.")
    on_nan: OnNan = _f("stop", "A loss that is NaN or infinite: 'stop' ends the run with the step named (the last "
                               "checkpoint is kept, nothing bad reaches the weights); 'skip' drops that batch and goes on.")
    eval_steps: int = _f(0, "Evaluate every N steps (0 = only at the end).")
    save_steps: int = _f(0, "Save a resumable checkpoint every N steps (0 = only when asked or at the end).")
    save_total_limit: int = _f(2, "Keep at most this many checkpoints.")
    logging_steps: int = _f(1, "Send a step event every N steps.")
    report_to: list[ReportTo] = _f(["auto"], "Experiment trackers that also get the run's numbers, through "
                                             "transformers: tensorboard (event files in the run folder), mlflow "
                                             "(<home>/mlruns or mlflow_tracking_uri), wandb (offline in the run "
                                             "folder unless logged in), trackio (local). auto = tensorboard where "
                                             "installed; none = nowhere. pip install 'lora-studio[trackers]'.")
    mlflow_tracking_uri: str = _f("", "Where mlflow reports go: a folder, file: URI or server (empty = "
                                      "MLFLOW_TRACKING_URI, else <home>/mlruns).")
    sample_steps: int = _f(0, "Generate a short sample every N steps (0 = never).")
    sample_prompt: str = _f("Who are you?", "Prompt for the samples generated during training.")
    device: Device = _f("auto", "Where to train: auto (CUDA when present), cpu or cuda.")
    resume_from: str = _f("", "Resume from a checkpoint folder, or 'latest' for this run's newest one.")


@dataclass
class PreferenceSettings:
    """The preference stages' own settings (training.stage dpo, orpo, simpo or kto); SFT reads none of them."""
    beta: float = _f(0.1, "dpo and kto: how far the adapter may move from the reference model (the base, or "
                           "the adapter continued from); higher keeps it closer; 0.1 is typical, 0.01-0.5. "
                           "orpo: the weight (lambda) of the odds-ratio term beside the chosen reply's loss; "
                           "0.1 is typical. simpo: the reward scale; 2.0-2.5 is the SimPO paper's.")
    loss_type: DpoLoss = _f("sigmoid", "DPO's loss, as TRL names it: sigmoid (the DPO paper's), ipo (squared, "
                                       "for pairs that are near-certain), hinge (SLiC), robust (with "
                                       "label_smoothing: some pairs are labelled the wrong way round), exo_pair, "
                                       "bco_pair, sppo_hard, nca_pair, apo_zero/apo_down (anchored), sigmoid_norm "
                                       "(length-normalised).")
    label_smoothing: float = _f(0.0, "The share of pairs whose chosen and rejected may be the wrong way round "
                                     "(0 to 0.5; robust and exo_pair read it, exo_pair needs it > 0, 1e-3 "
                                     "typical); 0 = every pair is right. dpo and simpo.")
    simpo_gamma: float = _f(0.5, "simpo: the margin the chosen reply's reward should beat the rejected one's by; "
                                 "0.5 is typical (the paper's gamma/beta ratio is 0.3-1.6).")
    cpo_alpha: float = _f(0.0, "simpo: the weight of a plain loss on the chosen reply added to SimPO's (CPO-SimPO); "
                               "0 = SimPO alone, 1.0 = CPO's.")
    desirable_weight: float = _f(1.0, "kto: the weight of the desirable replies' loss. With unequal counts, weigh "
                                      "them so that desirable x count is 1 to 1.33 x undesirable x count.")
    undesirable_weight: float = _f(1.0, "kto: the weight of the undesirable replies' loss (see desirable_weight).")

    def of_stage(self, stage: str) -> dict[str, Any]:
        """The settings ``stage`` reads, by name (TRL's configs take the same names)."""
        return {name: getattr(self, name) for name in STAGE_SETTINGS[stage]}


# The preference settings each stage reads: the Train form shows these, the card records them, and the
# engine hands them to TRL's config.
STAGE_SETTINGS: dict[str, tuple[str, ...]] = {
    "sft": (),
    "dpo": ("beta", "loss_type", "label_smoothing"),
    "orpo": ("beta",),
    "simpo": ("beta", "label_smoothing", "simpo_gamma", "cpo_alpha"),
    "kto": ("beta", "desirable_weight", "undesirable_weight"),
    "grpo": (),  # its own section, GrpoSettings
}
# SimPO's beta is a reward scale (2.0-2.5 in its paper): the other stages' 0.1 would barely move it.
SIMPO_BETA = 2.0
# A preference stage's learning rate with LoRA, as a share of SFT's (peers use 5e-6 to 5e-5): SFT's 2e-4
# over-optimised DPO on the bundled sample, its answers lost their facts to the voice (docs/preference.md).
PREFERENCE_LEARNING_RATE_SHARE = 0.1
PREFERENCE_LEARNING_RATE = TrainingSettings.learning_rate * PREFERENCE_LEARNING_RATE_SHARE
# GRPO's, as a share of SFT's: its steps follow the model's own sampled answers, so large ones collapse
# them (peers use 1e-6 to 5e-5 with LoRA); docs/grpo.md has the bundled model's run.
GRPO_LEARNING_RATE_SHARE = 0.25


@dataclass
class GrpoSettings:
    """GRPO's own settings (training.stage = "grpo"): each step answers training.batch_size prompts
    num_generations times and learns from the rewards of each group's answers against each other."""
    num_generations: int = _f(4, "Group size: answers sampled per prompt. GRPO learns from how the answers to one "
                                 "prompt score against each other, so a group whose answers all score the same "
                                 "teaches nothing; 4-16 is typical (more: steadier, slower).")
    max_completion_length: int = _f(128, "Longest answer generated, in tokens; an answer cut here is scored as it "
                                         "stands. Long answers cost most of a step's time and memory.")
    temperature: float = _f(1.0, "Sampling temperature of the answers (0.6-1.2): higher gives more varied groups "
                                 "to learn from.")
    beta: float = _f(0.0, "KL penalty keeping the adapter near where it started (0 = none: no reference pass, "
                          "less memory and time, as TRL's default and DAPO; 0.001-0.04 are used).")
    num_iterations: int = _f(1, "Optimizer steps on each batch of answers before new ones are sampled (GRPO's mu); "
                                "1 is typical, 2-4 reuse costly generations.")
    rewards: list[dict[str, Any]] = _f([], "Reward functions scoring each answer, as tables: kind (numeric_match, "
                                           "exact_match, regex, length_window, contains, excludes, json_schema, or "
                                           "file for your own reward.py), its settings (e.g. column = 'answer') and "
                                           "weight (1). The total is their weighted sum.")
    on_reward_error: OnRewardError = _f("stop", "A reward function that raises (your own file's): 'stop' ends the "
                                                "run naming the file and line; 'skip' leaves that function out of "
                                                "the batch's total, with a warning, and goes on.")
    sample_steps: int = _f(5, "Send a few of the step's answers with their rewards every N steps, for the Monitor "
                              "and the log (0 = never).")
    generation: GrpoGeneration = _f("generate", "How the answers are sampled: 'generate' (transformers' generate, "
                                                "one padded batch a step) or 'batched' (transformers' continuous "
                                                "batching: a finished answer frees its slot). On a CPU batched was "
                                                "4x slower for a tiny model; on a GPU it is not yet measured.")


def stage_typical(stage: str, sft_learning_rate: float = TrainingSettings.learning_rate) -> dict[str, float]:
    """The values a stage usually wants where they differ between stages ("section.field": value), for
    a model whose SFT learning rate is ``sft_learning_rate`` (a size preset's). A job that picks
    ``stage`` with such a field still at another stage's value gets this one (the CLI and the Train
    form; the form says so)."""
    share = 1.0 if stage == "sft" else GRPO_LEARNING_RATE_SHARE if stage == "grpo" else PREFERENCE_LEARNING_RATE_SHARE
    return {"training.learning_rate": float(f"{sft_learning_rate * share:.3g}"),
            "preference.beta": SIMPO_BETA if stage == "simpo" else PreferenceSettings.beta}


@dataclass
class DistributedSettings:
    gpus: list[int] = _f([], "GPU indices to train on (nvidia-smi numbering); two or more start one process per "
                             "GPU through torchrun. Empty = one GPU (the first) or the CPU.")
    strategy: Strategy = _f("auto", "ddp: each GPU holds the whole model, batches are split (fastest when it fits); "
                                    "fsdp: weights, gradients and optimizer states are sharded across GPUs (for "
                                    "models that don't fit one card); auto picks ddp unless the estimate "
                                    "does not fit one GPU.")
    cpu_processes: int = _f(0, "On the CPU: train in this many processes (gloo backend); 0 or 1 = one process.")
    nnodes: int = _f(1, "Machines taking part (torchrun --nnodes); more than 1 needs rdzv_endpoint.")
    node_rank: int = _f(0, "This machine's number among nnodes (0 = the one that reports and saves).")
    rdzv_endpoint: str = _f("", "host:port where the machines meet (torchrun --rdzv-endpoint); "
                                "empty = this machine alone.")


@dataclass
class OutputSettings:
    name: str = _f("", "Name of the adapter (empty = derived from the model and dataset).")
    save_merged: bool = _f(False, "Also save the base model with the adapter merged in: the run folder's merged/, "
                                  "checked like `lora-studio export` (the base is loaded again in full precision).")
    add_to_library: bool = _f(True, "Add the adapter to the library when the run ends (also a stopped run).")


@dataclass
class TrainJob:
    kind: Literal["train"] = "train"
    model: ModelSettings = field(default_factory=ModelSettings)
    dataset: DatasetSettings = field(default_factory=DatasetSettings)
    lora: LoraSettings = field(default_factory=LoraSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    preference: PreferenceSettings = field(default_factory=PreferenceSettings)
    grpo: GrpoSettings = field(default_factory=GrpoSettings)
    distributed: DistributedSettings = field(default_factory=DistributedSettings)
    output: OutputSettings = field(default_factory=OutputSettings)


@dataclass
class SamplingSettings:
    max_new_tokens: int = _f(128, "Most tokens to generate per answer.")
    temperature: float = _f(0.7, "Randomness; 0 = greedy (always the likeliest token).")
    top_p: float = _f(0.9, "Sample from the smallest set of tokens whose probability adds up to this.")
    top_k: int = _f(50, "Sample from the k likeliest tokens (0 = no limit).")
    seed: int = _f(0, "Random seed for sampling.")


@dataclass
class GenerateJob:
    kind: Literal["generate"] = "generate"
    model: ModelSettings = field(default_factory=ModelSettings)
    adapters: list[str] = _f([], "Adapters to compare: library references (name/v2) or folders (empty = base alone).")
    prompts: list[str] = _f([], "Prompts, each sent as one user turn through the chat template.")
    tools: list[dict[str, Any]] = _f([], "Tool definitions the prompts may call (OpenAI shape), written into the "
                                         "prompt as training writes a dataset's tools.")
    sampling: SamplingSettings = field(default_factory=SamplingSettings)


@dataclass
class ServeJob:
    """A worker that keeps the base and adapters loaded and answers generate requests
    (the Compare page and playground): the second prompt needs no model load."""
    kind: Literal["serve"] = "serve"
    model: ModelSettings = field(default_factory=ModelSettings)
    adapters: list[str] = _f([], "Adapters to keep loaded: library references (name/v2) or folders.")
    idle_timeout_s: float = _f(900.0, "Exit after this many seconds without a request (frees the memory).")
    sampling: SamplingSettings = field(default_factory=SamplingSettings)


@dataclass
class EvalJob:
    kind: Literal["eval"] = "eval"
    model: ModelSettings = field(default_factory=ModelSettings)
    adapters: list[str] = _f([], "Adapters to evaluate: library references or folders (the base is always included).")
    dataset: DatasetSettings = field(default_factory=DatasetSettings)
    split: Literal["eval", "all"] = _f("eval", "Rows to score: the eval split (same seed and fraction as training) "
                                               "or the whole file.")
    seed: int = _f(42, "Seed of the train/eval split (use the training run's).")
    max_length: int = _f(512, "Longest row in tokens.")
    batch_size: int = _f(4, "Rows per forward pass.")
    generate_rows: int = _f(16, "Rows answered by each model for ROUGE-L and exact match (0 = none).")
    max_new_tokens: int = _f(64, "Longest generated answer for ROUGE-L / exact match.")


@dataclass
class MergeJob:
    kind: Literal["merge"] = "merge"
    model: ModelSettings = field(default_factory=ModelSettings)
    adapters: list[str] = _f([], "Adapters to combine (two or more): library references (name/v2) or folders.")
    weights: list[float] = _f([], "One weight per adapter, e.g. 0.7 and 0.3.")
    combination: str = _f("linear", "peft combination type: linear, cat, svd, ties, dare_linear, dare_ties, "
                                    "magnitude_prune.")
    density: float = _f(0.5, "Share of weights kept by ties/dare/magnitude_prune (0-1]; 0.5 is typical.")
    name: str = _f("", "Name of the merged adapter in the library (empty = merged-<first adapter>).")


@dataclass
class ExportJob:
    kind: Literal["export"] = "export"
    model: ModelSettings = field(default_factory=ModelSettings)
    adapter: str = _f("", "Adapter to merge into the base model: a library reference (name/v2) or a folder.")
    output_dir: str = _f("", "Folder for the merged model (safetensors, tokenizer, generation config).")
    max_shard_size: str = _f("2GB", "Largest safetensors shard, e.g. 2GB or 500MB.")
    gguf: list[str] = _f([], "Also write GGUF files for llama.cpp and Ollama: f16 and/or q8_0 (Llama-family "
                             "models), with an Ollama Modelfile; each is reloaded and checked.")


Job = TrainJob | GenerateJob | EvalJob | MergeJob | ExportJob | ServeJob
JOB_KINDS: dict[str, type] = {
    "train": TrainJob,
    "generate": GenerateJob,
    "eval": EvalJob,
    "merge": MergeJob,
    "export": ExportJob,
    "serve": ServeJob,
}
