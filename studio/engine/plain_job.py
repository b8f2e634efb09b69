"""The job as a user would write it with plain transformers + peft, for the job benchmark.

``python -m studio.engine.plain_job --model DIR --data FILE --out DIR [--qlora]`` does
what the peft and transformers docs show, with the app's defaults (LoRA r=16, alpha 32,
dropout 0.05 on all linear layers; batch 4, lr 2e-4, cosine, 1 epoch, max length 512,
10% held out and evaluated at the end, bf16): load, format each row with the model's
chat template, tokenize, train with ``Trainer`` and a padding collator, evaluate, save
the adapter. Nothing of the engine is used. It prints ``PHASE name seconds`` lines
(seconds since the process started) so engine.job_bench can itemise it like a worker.
"""

from __future__ import annotations

import argparse
import json
import math
import time

STARTED = time.time()


def phase(name: str) -> None:
    print(f"PHASE {name} {time.time():.3f}", flush=True)


def arguments(prog: str, description: str, argv: list[str] | None) -> argparse.Namespace:
    """The job's command line, the same for this script and engine.unsloth_job."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--qlora", action="store_true")
    parser.add_argument("--max-length", type=int, default=512)
    return parser.parse_args(argv)


def warmup_steps(train_rows: int) -> int:
    """3% of the steps of one epoch at batch 4, as the app's defaults warm up."""
    return math.ceil(0.03 * math.ceil(train_rows / 4))


def first_step_callback():
    """A Trainer callback that prints the ``first_step`` phase when the first step ends."""
    import transformers

    class FirstStep(transformers.TrainerCallback):
        seen = False

        def on_step_end(self, args, state, control, **kw):
            if not self.seen:
                self.seen = True
                phase("first_step")

    return FirstStep()


def conversations(path: str) -> list[list[dict[str, str]]]:
    """alpaca rows (a JSON list) or chat rows (JSONL with ``messages``) as message lists."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    rows = json.loads(text) if text.lstrip().startswith("[") else [json.loads(line) for line in text.splitlines()
                                                                   if line.strip()]
    out = []
    for row in rows:
        if "messages" in row:
            out.append(row["messages"])
        else:
            prompt = row["instruction"] + (f"\n\n{row['input']}" if row.get("input") else "")
            out.append([{"role": "user", "content": prompt}, {"role": "assistant", "content": row["output"]}])
    return out


def main(argv: list[str] | None = None) -> int:
    args = arguments("python -m studio.engine.plain_job", __doc__.splitlines()[0], argv)
    phase("start")
    import datasets
    import peft
    import torch
    import transformers

    phase("imported")
    tokenizer = transformers.AutoTokenizer.from_pretrained(args.model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    gpu = torch.cuda.is_available()  # the CPU only for the benchmark's own test
    kwargs: dict = {"dtype": torch.bfloat16, "device_map": {"": 0}} if gpu else {"dtype": torch.float32}
    if args.qlora:
        kwargs["quantization_config"] = transformers.BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16)
    model = transformers.AutoModelForCausalLM.from_pretrained(args.model, **kwargs)
    if args.qlora:
        model = peft.prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    model = peft.get_peft_model(model, peft.LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05,
                                                       target_modules="all-linear", task_type="CAUSAL_LM"))
    phase("loaded")

    def tokenize(row):
        ids = tokenizer.apply_chat_template(row["messages"], tokenize=True, truncation=True,
                                            max_length=args.max_length, return_dict=True)["input_ids"]
        return {"input_ids": ids, "labels": list(ids)}

    data = datasets.Dataset.from_list([{"messages": m} for m in conversations(args.data)])
    data = data.map(tokenize, remove_columns=["messages"]).train_test_split(test_size=0.1, seed=42)
    phase("data")
    training_args = transformers.TrainingArguments(
        output_dir=f"{args.out}/checkpoints", per_device_train_batch_size=4, per_device_eval_batch_size=4,
        num_train_epochs=1, learning_rate=2e-4, lr_scheduler_type="cosine", bf16=gpu, use_cpu=not gpu,
        warmup_steps=warmup_steps(len(data["train"])),
        logging_steps=10, save_strategy="no", report_to=[], disable_tqdm=True, seed=42)
    trainer = transformers.Trainer(
        model=model, args=training_args, train_dataset=data["train"], eval_dataset=data["test"],
        data_collator=transformers.DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100),
        callbacks=[first_step_callback()])
    return train_evaluate_save(trainer, model, args.out)


def train_evaluate_save(trainer, model, out: str) -> int:
    """Train, evaluate the held-out rows, save the adapter, and print the RESULT line (this
    script's and engine.unsloth_job's end)."""
    import torch

    result = trainer.train()
    phase("trained")
    metrics = trainer.evaluate()
    phase("evaluated")
    model.save_pretrained(f"{out}/adapter")
    phase("saved")
    # The allocator's peak; the CUDA context is extra.
    peak = torch.cuda.max_memory_reserved() / 2**30 if torch.cuda.is_available() else None
    print("RESULT " + json.dumps({"steps": result.global_step, "train_loss": result.training_loss,
                                  "eval_loss": metrics.get("eval_loss"),
                                  "peak_gib": None if peak is None else round(peak, 2)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
