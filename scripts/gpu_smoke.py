"""GPU smoke check of the engine and worker (run on the device machine, not in CI).

Builds the tiny test Llama, then trains it through the real worker subprocess with
device/precision on ``auto`` (plain LoRA, DoRA, packing) and prints what the events
say: devices, precision, GPU stats, losses, adapter. Writes a JSON summary to $OUT.
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
sys.path.insert(0, str(ROOT / "tests"))


def run_worker(job: dict, run_dir: Path) -> list[dict]:
    job_path = run_dir.parent / f"{run_dir.name}.json"
    job_path.write_text(json.dumps(job))
    start = time.time()
    out = subprocess.run([sys.executable, "-m", "studio.worker", str(job_path), "--run-dir", str(run_dir)],
                         capture_output=True, text=True, cwd=ROOT)
    events = [json.loads(line) for line in out.stdout.splitlines()]
    print(f"  exit {out.returncode} in {time.time() - start:.1f}s; last event: {events[-1]['type']}")
    if out.returncode != 0:
        print(out.stderr[-3000:])
    return events


def main() -> None:
    from tiny_model import build_tiny_model

    home = Path(tempfile.mkdtemp())
    os.environ["LORA_STUDIO_HOME"] = str(home)
    model_dir = build_tiny_model(home / "tiny")
    summary = {}
    variants = {
        "lora": {},
        "dora": {"lora": {"use_dora": True}},
        "packing": {"training": {"packing": True}},
        "checkpointing": {"training": {"gradient_checkpointing": True}},
    }
    for name, extra in variants.items():
        job = {"kind": "train", "model": {"path": str(model_dir)},
               "dataset": {"path": "bundled", "max_rows": 64},
               "lora": {"r": 8, "alpha": 16},
               "training": {"max_steps": 20, "batch_size": 8, "learning_rate": 1e-2, "max_length": 96}}
        for section, values in extra.items():
            job[section].update(values)
        print(f"{name}:")
        events = run_worker(job, home / f"run-{name}")
        hello = next(e for e in events if e["type"] == "hello")
        steps = [e for e in events if e["type"] == "step"]
        systems = [e for e in events if e["type"] == "system"]
        details = [e.get("detail") for e in events if e["type"] == "phase" and e.get("detail")]
        done = events[-1]
        result = {
            "exit_ok": done["type"] == "done",
            "devices": hello["devices"],
            "versions": hello["versions"],
            "detail": [d for d in details if "trainable" in d],
            "first_loss": steps[0]["loss"] if steps else None,
            "last_loss": steps[-1]["loss"] if steps else None,
            "tokens_per_s_last": steps[-1]["tokens_per_s"] if steps else None,
            "gpu_stats_sample": systems[-1]["gpus"] if systems else None,
            "metrics": done.get("outputs", {}).get("metrics"),
            "error": done.get("message"),
        }
        print(json.dumps(result, indent=1))
        summary[name] = result
    out = Path(os.environ.get("OUT", "."))
    (out / "gpu_smoke.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
