"""GRPO on the bundled model and the shipped arithmetic sample, headless, with answers before and after.

Trains through the real CLI (`lora-studio train --stage grpo --dataset bundled-arithmetic`, the
sample's own rewards), then answers the 20 held-out problems (arithmetic.eval.jsonl, phrasings the
training rows never use) greedily with the base and with the new adapter and scores both with the same
rewards. Prints a markdown report (docs/grpo.md holds one run's).

  .venv/bin/python scripts/grpo_sample_run.py [--max-steps 30] [train flags...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def train(extra: list[str]) -> tuple[Path, float, str]:
    """The CLI's run: (adapter folder, seconds, its output)."""
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "studio.cli.main", "train", "--stage", "grpo", "--dataset",
                           "bundled-arithmetic", "--device", "cpu", *extra],
                          capture_output=True, text=True, cwd=ROOT, check=False,
                          env={**os.environ, "COLUMNS": "400"})  # rich wraps at 80 columns in a pipe
    output = done.stdout + done.stderr
    if done.returncode:
        raise SystemExit(f"training failed ({done.returncode}):\n{output[-3000:]}")
    adapter = next(line.split(" in ", 1)[1].strip() for line in output.splitlines() if " in " in line
                   and "/adapter" in line and line.startswith(("done:", "stopped")))
    return Path(adapter), time.monotonic() - began, output


def answers(adapter: Path | None, prompts: list[str], max_new_tokens: int) -> list[str]:
    import torch
    import transformers

    from studio.engine.model_loading import ensure_hf_folder, resolve_model_path

    folder = ensure_hf_folder(resolve_model_path("bundled"))
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    tokenizer.padding_side = "left"
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
    model.eval()
    texts = [tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                           add_generation_prompt=True) for p in prompts]
    batch = tokenizer(texts, return_tensors="pt", padding=True)
    with torch.no_grad():
        out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id)
    return [tokenizer.decode(row[batch["input_ids"].shape[1]:], skip_special_tokens=True).strip() for row in out]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answer-tokens", type=int, default=64)
    args, extra = parser.parse_known_args()
    from studio.core.resources import resolve_dataset_path
    from studio.core.rewards import combined_from_specs
    from studio.core.rewards.samples import sample_rewards

    rows = [json.loads(line) for line in resolve_dataset_path("bundled-arithmetic").with_name(
        "arithmetic.eval.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    prompts = [row["prompt"] for row in rows]
    rewards = combined_from_specs(sample_rewards("bundled-arithmetic"))
    before = answers(None, prompts, args.answer_tokens)
    adapter, seconds, output = train(extra)
    after = answers(adapter, prompts, args.answer_tokens)
    print(f"# GRPO on the bundled model: {len(rows)} held-out problems, greedy answers\n")
    print(f"training: {seconds:.0f} s, command to adapter; adapter {adapter}\n")
    print("| | " + " | ".join(rewards.labels) + " | total | right |\n|---|" + "---|" * (len(rewards.labels) + 2))
    for name, said in (("before", before), ("after", after)):
        scores = rewards.score(None, said, answer=[row["answer"] for row in rows])
        means = scores.means()
        right = sum(scores.per_function["numeric_match"])
        print(f"| {name} | " + " | ".join(f"{means[label]:.3f}" for label in rewards.labels)
              + f" | {sum(scores.total) / len(rows):.3f} | {right:.0f} / {len(rows)} |")
    print("\n| problem | answer | before | after |\n|---|---|---|---|")
    for row, old, new in list(zip(rows, before, after, strict=True))[:6]:
        cell = lambda text: " ".join(text.split())[:140].replace("|", "/")  # noqa: E731
        print(f"| {cell(row['prompt'])} | {row['answer']} | {cell(old)} | {cell(new)} |")
    print("\n## The run's step lines\n\n```")
    print("\n".join(line for line in output.splitlines() if line.startswith(("step ", "eval ", "answers at", "done", "  "))))
    print("```")


if __name__ == "__main__":
    main()
