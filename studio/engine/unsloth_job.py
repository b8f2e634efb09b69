"""The job as a user would write it with Unsloth, for the job benchmark's comparison only.

Issue 18: compare with what users would pick instead. Unsloth is never a dependency of the
app: nothing else in ``studio`` imports this module or Unsloth, and the benchmark runs it
only where Unsloth's packages are there (engine.job_bench's ``unsloth`` mode puts the folder
named by ``LORA_STUDIO_UNSLOTH_PATH`` on its path).

``python -m studio.engine.unsloth_job --model DIR --data FILE --out DIR [--qlora]`` does
what Unsloth's docs show, with the app's defaults, the same job as engine.plain_job:
``from unsloth import FastLanguageModel`` first (before transformers, peft and trl, as
Unsloth requires), ``FastLanguageModel.from_pretrained`` (max length 512, bf16, 4-bit for
QLoRA), ``FastLanguageModel.get_peft_model`` (r=16, alpha 32, dropout 0.05 on the seven
projections, Unsloth's own gradient checkpointing, its default), TRL's ``SFTTrainer`` on
the rows rendered with the model's chat template (batch 4, lr 2e-4, cosine, 3% warm-up,
1 epoch, no packing; 10% held out and evaluated at the end), then the adapter saved.
Unsloth warns that dropout 0 is faster (its fused LoRA kernels need it); 0.05 is kept so
that the job is the same one. The optimizer is the Trainer's default, as in the other modes
(Unsloth's notebooks pick ``adamw_8bit``).

It prints plain_job's ``PHASE name seconds`` and ``RESULT {json}`` lines, so job_bench
itemises it the same way. Where Unsloth cannot be imported it prints the reason as its last
line and exits with ``UNAVAILABLE`` (3).
"""

from __future__ import annotations

import sys
import traceback

# Standard library only (plain_job imports nothing else at its top): Unsloth stays first.
from studio.engine.plain_job import (
    arguments,
    conversations,
    first_step_callback,
    phase,
    train_evaluate_save,
    warmup_steps,
)

UNAVAILABLE = 3
TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def main(argv: list[str] | None = None) -> int:
    args = arguments("python -m studio.engine.unsloth_job", __doc__.splitlines()[0], argv)
    phase("start")
    try:
        from unsloth import FastLanguageModel  # first, before transformers, peft and trl
    except Exception as exc:  # noqa: BLE001 - any failure at import (a missing package, no GPU) is the reason
        traceback.print_exc()
        print(f"unsloth cannot be imported: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return UNAVAILABLE
    import datasets
    import torch
    from trl import SFTConfig, SFTTrainer

    phase("imported")
    gpu = torch.cuda.is_available()  # the CPU only for a check where Unsloth has its CPU backend
    model, tokenizer = FastLanguageModel.from_pretrained(
        model_name=args.model, max_seq_length=args.max_length, dtype=torch.bfloat16 if gpu else torch.float32,
        load_in_4bit=args.qlora)
    model = FastLanguageModel.get_peft_model(
        model, r=16, lora_alpha=32, lora_dropout=0.05, target_modules=TARGET_MODULES, bias="none",
        use_gradient_checkpointing="unsloth", random_state=42)
    phase("loaded")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    rows = [{"text": tokenizer.apply_chat_template(messages, tokenize=False)}
            for messages in conversations(args.data)]
    data = datasets.Dataset.from_list(rows).train_test_split(test_size=0.1, seed=42)
    config = SFTConfig(
        output_dir=f"{args.out}/checkpoints", dataset_text_field="text", max_length=args.max_length,
        packing=False, per_device_train_batch_size=4, per_device_eval_batch_size=4, num_train_epochs=1,
        learning_rate=2e-4, lr_scheduler_type="cosine",
        warmup_steps=warmup_steps(len(data["train"])),
        bf16=gpu, use_cpu=not gpu, logging_steps=10, save_strategy="no", report_to="none",
        disable_tqdm=True, seed=42)
    trainer = SFTTrainer(model=model, processing_class=tokenizer, train_dataset=data["train"],
                         eval_dataset=data["test"], args=config, callbacks=[first_step_callback()])
    phase("data")  # after the trainer: TRL tokenizes the rows as it is built
    return train_evaluate_save(trainer, model, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
