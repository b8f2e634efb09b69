"""Several GPUs through the real worker (torchrun), on the GPU machine.

One GPU at batch 2B vs two GPUs (DDP) at batch B on the same rows: the loss curves
must agree and tokens/s nearly double. Then FSDP with a 4-bit base (the QLoRA recipe:
quant storage bf16) across the GPUs, stopped by a user command mid-run: every rank
stops at the same step, the adapter is gathered and saved, and it loads.
Usage: python scripts/multi_gpu_check.py [--shape llama-3.2-1b] [--steps 20]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from gpu_estimate_check import build_model, long_rows  # noqa: E402


def run(job: dict, run_dir: Path, stop_at: int = 0) -> dict:
    job_path = run_dir.parent / f"{run_dir.name}.json"
    job_path.write_text(json.dumps(job))
    proc = subprocess.Popen([sys.executable, "-m", "studio.worker", str(job_path), "--run-dir", str(run_dir)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    events = []
    for line in proc.stdout:
        event = json.loads(line)
        events.append(event)
        if stop_at and event["type"] == "step" and event["step"] == stop_at:
            proc.stdin.write('{"cmd": "stop"}\n')
            proc.stdin.flush()
    code = proc.wait()
    steps = [e for e in events if e["type"] == "step"]
    rates = [e["tokens_per_s"] for e in steps[3:] if e.get("tokens_per_s")]
    final = events[-1] if events else {}
    return {"exit": code, "final": final.get("type"), "error": final.get("message"),
            "losses": [round(e["loss"], 4) for e in steps],
            "tokens_per_s": round(sum(rates) / len(rates)) if rates else None,
            "phases": [e.get("detail") for e in events if e["type"] == "phase" and e.get("detail")][:6],
            "metrics": (final.get("outputs") or {}).get("metrics"),
            "stopped": (final.get("outputs") or {}).get("stopped"),
            "gpus_in_system": max((len(e["gpus"]) for e in events if e["type"] == "system"), default=0)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shape", default="llama-3.2-1b")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--length", type=int, default=1024)
    parser.add_argument("--skip-fsdp", action="store_true")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp())
    os.environ["LORA_STUDIO_HOME"] = str(home)
    model_dir = build_model(home / "model", args.shape)
    data = long_rows(home / "long.jsonl", 2 * args.batch * args.steps, words=3 * args.length)

    def job(**sections) -> dict:
        base = {"kind": "train", "model": {"path": str(model_dir)},
                "dataset": {"path": str(data), "format": "text", "eval_fraction": 0.0},
                "lora": {"r": 16, "alpha": 32, "dropout": 0.0},
                "training": {"max_steps": args.steps, "batch_size": args.batch, "max_length": args.length,
                             "learning_rate": 1e-4, "lr_scheduler": "constant", "warmup_ratio": 0.0},
                "output": {"add_to_library": False}}
        for section, values in sections.items():
            base.setdefault(section, {}).update(values)
        return base

    results = {
        "one_gpu": run(job(training={"batch_size": 2 * args.batch}), home / "one"),
        "ddp_2": run(job(distributed={"gpus": [0, 1], "strategy": "ddp"}), home / "ddp"),
    }
    if not args.skip_fsdp:
        results["fsdp_qlora_2_stopped"] = run(job(model={"quantization": "4bit"},
                                                  training={"gradient_checkpointing": True, "max_steps": 50},
                                                  distributed={"gpus": [0, 1], "strategy": "fsdp"}),
                                              home / "fsdp", stop_at=4)
    adapter = home / "fsdp" / "adapter" / "adapter_model.safetensors"
    if adapter.exists():
        from safetensors.torch import load_file

        tensors = load_file(adapter)
        results["fsdp_adapter"] = {"tensors": len(tensors), "nonzero_B": sum(
            int(t.abs().sum().item() > 0) for k, t in tensors.items() if "lora_B" in k)}
    one, ddp = results["one_gpu"], results["ddp_2"]
    if one["losses"] and ddp["losses"]:
        results["max_loss_difference"] = max(abs(a - b) for a, b in zip(one["losses"], ddp["losses"], strict=False))
        if one["tokens_per_s"] and ddp["tokens_per_s"]:
            results["ddp_speedup"] = round(ddp["tokens_per_s"] / one["tokens_per_s"], 3)
    text = json.dumps(results, indent=1)
    print(text)
    (Path(os.environ.get("OUT", ".")) / "multi_gpu_check.json").write_text(text)


if __name__ == "__main__":
    main()
