"""A real CUDA out-of-memory through the worker, on the GPU machine: one GPU, then two (DDP).

A 1B random-weight Llama with rows of 4,096 tokens at batch 64 and no checkpointing
needs several times an 80 GB card. The run must end with an ``oom`` error event and its
hint, exit status 4, and (with two GPUs) the failing rank named and no process left on
the GPUs. Usage: python scripts/gpu_oom_check.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from gpu_estimate_check import build_model, long_rows  # noqa: E402


def gpu_processes() -> list[str]:
    out = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader"],
                         capture_output=True, text=True)
    return [line for line in out.stdout.splitlines() if line.strip()]


def main() -> None:
    home = Path(tempfile.mkdtemp())
    os.environ["LORA_STUDIO_HOME"] = str(home)
    model_dir = build_model(home / "model", "llama-3.2-1b")
    data = long_rows(home / "long.jsonl", 256, words=3 * 4096)
    results = {}
    for name, distributed in (("one_gpu", {}), ("ddp_2", {"gpus": [0, 1]})):
        job = {"kind": "train", "model": {"path": str(model_dir)},
               "dataset": {"path": str(data), "format": "text", "eval_fraction": 0.0},
               "training": {"max_steps": 3, "batch_size": 64, "max_length": 4096, "fast_path": False},
               "distributed": distributed, "output": {"add_to_library": False}}
        run_dir = home / name
        job_path = home / f"{name}.json"
        job_path.write_text(json.dumps(job))
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "studio.worker", str(job_path), "--run-dir", str(run_dir)],
                              capture_output=True, text=True, cwd=ROOT)
        events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        final = events[-1] if events else {}
        time.sleep(2)
        results[name] = {"exit": proc.returncode, "final": final.get("type"), "kind": final.get("kind"),
                         "message": (final.get("message") or "")[:300], "hint": final.get("hint"),
                         "seconds": round(time.monotonic() - started, 1), "left_on_gpus": gpu_processes()}
        print(name, json.dumps(results[name], indent=1), flush=True)
    (Path(os.environ.get("OUT", ".")) / "gpu_oom_check.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
