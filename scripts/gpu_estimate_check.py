"""End-to-end check on the GPU machine: real worker runs record their measured peak and
the estimate in the ``done`` event (and card.json), through the engine's own loading
path (from_pretrained, and BitsAndBytesConfig for QLoRA).

Builds a random-weight model of a reference shape with the tiny test tokenizer and a
raw-text dataset whose rows are longer than max_length, so every batch is exactly
batch x max_length tokens, the case the estimate describes.
Usage: python scripts/gpu_estimate_check.py [--shape llama-3.2-1b] [--steps 4]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from studio.core.reference_shapes import MODEL_SHAPES  # noqa: E402

VARIANTS = {
    "lora": {},
    "lora-checkpointing": {"training": {"gradient_checkpointing": True}},
    "qlora-checkpointing": {"model": {"quantization": "4bit"}, "training": {"gradient_checkpointing": True}},
}


def build_model(folder: Path, shape: str) -> Path:
    import torch
    from tiny_model import build_tiny_model

    from studio.engine.random_model import random_llama

    tiny = build_tiny_model(folder.parent / "tiny")
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (tiny / name).exists():
            shutil.copy(tiny / name, folder / name)
    model = random_llama(MODEL_SHAPES[shape], device="cuda" if torch.cuda.is_available() else "cpu")
    model.save_pretrained(folder)
    del model
    return folder


def long_rows(path: Path, rows: int, words: int) -> Path:
    from tiny_model import sample_texts

    vocabulary = " ".join(sample_texts()).split()
    rng = random.Random(0)
    with open(path, "w") as handle:
        for _ in range(rows):
            handle.write(json.dumps({"text": " ".join(rng.choice(vocabulary) for _ in range(words))}) + "\n")
    return path


def run_worker(job: dict, run_dir: Path) -> dict:
    job_path = run_dir.parent / f"{run_dir.name}.json"
    job_path.write_text(json.dumps(job))
    out = subprocess.run([sys.executable, "-m", "studio.worker", str(job_path), "--run-dir", str(run_dir)],
                         capture_output=True, text=True, cwd=ROOT)
    events = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    if not events or events[-1]["type"] != "done":
        print(out.stderr[-3000:])
        return {"error": events[-1] if events else out.returncode}
    card = json.loads((run_dir / "adapter" / "card.json").read_text())
    return {"done": events[-1]["outputs"]["metrics"], "card_metrics": card.get("metrics", {})}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shape", default="llama-3.2-1b", choices=sorted(MODEL_SHAPES))
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--length", type=int, default=1024)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp())
    os.environ["LORA_STUDIO_HOME"] = str(home)
    model_dir = build_model(home / "model", args.shape)
    data = long_rows(home / "long.jsonl", args.batch * args.steps, words=3 * args.length)
    summary = {}
    for name in args.variants.split(","):
        job = {"kind": "train", "model": {"path": str(model_dir)},
               "dataset": {"path": str(data), "format": "text", "eval_fraction": 0.0},
               "lora": {"r": 16, "alpha": 32},
               "training": {"max_steps": args.steps, "batch_size": args.batch, "max_length": args.length,
                            "learning_rate": 1e-4}}
        for section, values in VARIANTS[name].items():
            job[section].update(values)
        result = run_worker(job, home / f"run-{name}")
        metrics = result.get("done") or {}
        if "peak_memory_bytes" in metrics:
            print(f"{name}: measured {metrics['peak_memory_bytes'] / 2**30:.2f} GiB, estimate "
                  f"{metrics.get('estimated_peak_bytes', 0) / 2**30:.2f} GiB "
                  f"({metrics.get('estimate_error', float('nan')):+.1%}); in card.json: "
                  f"{'peak_memory_bytes' in result.get('card_metrics', {})}", flush=True)
        else:
            print(f"{name}: {json.dumps(result)[:600]}", flush=True)
        summary[name] = result
    out = Path(os.environ.get("OUT", "."))
    (out / "gpu_estimate_check.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
