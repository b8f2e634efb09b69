"""GRPO's answer sampling, transformers' generate beside its continuous batching (grpo.generation), on
one GPU through the app's own training path: seconds per step and the time spent sampling (issue 24).

Each job runs in its own process on a random-weight model of the shape (scripts/measure_vram.py's
folders and prompt files), so that neither warms the other.
  python3 scripts/gpu_grpo_generation.py --shape llama-3.2-1b --batch 4 [--steps 4] [--ways generate,batched]
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
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]


def one(cfg: dict) -> dict:
    """One GRPO job in this process: steps' seconds and the seconds inside generate / generate_batch."""
    import torch
    import transformers

    os.environ["LORA_STUDIO_HOME"] = str(Path(cfg["workdir"]) / "home")
    from studio.core.job_schema import job_from_dict
    from studio.engine import training
    from studio.engine.control import JobControl

    spent = {"seconds": 0.0, "calls": 0}
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    for name in ("generate", "generate_batch"):
        original = getattr(transformers.GenerationMixin, name, None)
        if original is None:
            continue

        def timed(self, *args, _original=original, **kwargs):
            sync()
            began = time.perf_counter()
            try:
                return _original(self, *args, **kwargs)
            finally:
                sync()
                spent["seconds"] += time.perf_counter() - began
                spent["calls"] += 1

        setattr(transformers.GenerationMixin, name, timed)
    events: list = []
    began = time.time()
    outputs = training.run_training(job_from_dict(cfg["job"], source=cfg["name"]),
                                    Path(cfg["workdir"]) / "runs" / f"{cfg['name']}-{int(began)}", events.append,
                                    JobControl())
    steps = [e for e in events if type(e).__name__ == "Step"]
    lengths = [(e.preference or {}).get("completions/mean_length") for e in steps]
    return {"name": cfg["name"], "generation": cfg["job"]["grpo"]["generation"], "steps": len(steps),
            "command_s": round(time.time() - began, 1), "step_s": round(steps[-1].elapsed_s / len(steps), 2),
            "steady_step_s": round((steps[-1].elapsed_s - steps[0].elapsed_s) / (len(steps) - 1), 2),
            "sampling_s_per_step": round(spent["seconds"] / len(steps), 2), "sampling_calls": spent["calls"],
            "mean_answer_tokens": lengths, "train_loss": outputs.metrics.train_loss,
            "peak_gib": round(torch.cuda.max_memory_reserved() / 2**30, 2) if torch.cuda.is_available() else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="llama-3.2-1b")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--answers", type=int, default=8)
    parser.add_argument("--completion", type=int, default=512)
    parser.add_argument("--seq", type=int, default=768)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--ways", default="generate,batched")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/grpo-generation"))
    parser.add_argument("--out", type=Path)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print("RESULT " + json.dumps(one(json.loads(args.one))), flush=True)
        return
    import measure_vram as mv

    args.workdir.mkdir(parents=True, exist_ok=True)
    model = mv.model_folder(args.workdir, args.shape)
    data = mv.data_file(args.workdir, "grpo", args.batch * args.steps, (args.seq - args.completion) // 3)
    for way in args.ways.split(","):
        cfg = {"name": f"{args.shape.split('-')[-1]}-grpo-b{args.batch}-g{args.answers}-c{args.completion}-{way}",
               "shape": args.shape, "stage": "grpo", "batch": args.batch, "seq": args.seq, "ckpt": False,
               "quant": "none", "r": 16, "steps": args.steps, "group": args.answers,
               "completion": args.completion, "workdir": str(args.workdir)}
        job = mv.preference_job(cfg, model, data)
        job["grpo"]["generation"] = way
        done = subprocess.run([sys.executable, __file__, "--one", json.dumps({**cfg, "job": job})],
                              capture_output=True, text=True, cwd=ROOT, check=False)
        rows = [line[len("RESULT "):] for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if not rows:
            print(f"{cfg['name']}: failed ({done.returncode})\n{done.stderr[-2500:]}", flush=True)
            continue
        print(rows[0], flush=True)
        if args.out:
            with open(args.out, "a", encoding="utf-8") as handle:
                handle.write(rows[0] + "\n")


if __name__ == "__main__":
    main()
