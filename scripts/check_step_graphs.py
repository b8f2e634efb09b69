"""On the GPU machine: the same job trained with and without CUDA graphs gives the same losses.

Two ``lora-studio train`` commands of one job (engine.job_bench's model and data), LoRA
dropout 0 so both runs draw no random numbers: the fast path with every kernel launched
from Python (job_bench's ``eager``), then with ``training.cuda_graphs = on``. Prints each
run's per-step losses side by side, the largest difference, both runs' ms per step and
what the graphs did (the worker log's "CUDA graphs:" line). On a CPU both runs are eager
(graphs need CUDA): a dry run of this script.

    python scripts/check_step_graphs.py --tokenizer .carry/tokenizer --workdir /tmp/job-bench \
        [--config job-1b-alpaca-1k] [--steps 60]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from studio.engine import job_bench


def step_losses(home: Path) -> list[float]:
    run_dir = job_bench.latest_run(home)
    return [e["loss"] for e in job_bench.events_of(run_dir) if e["type"] == "step"]


def graphs_line(workdir: Path, config: str, mode: str) -> str:
    log = workdir / "logs" / f"{config}-{mode}.log"
    lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    return next((line for line in lines if "CUDA graphs:" in line), "(no CUDA graphs line in the log)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/job-bench"))
    parser.add_argument("--config", default="job-1b-alpaca-1k")
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    same = ("lora.dropout=0", f"training.max_steps={args.steps}")
    eager = job_bench.run_mode(args.config, "eager", args.workdir, args.tokenizer, same)
    eager_losses = step_losses(job_bench.home_path(args.workdir, args.config, "eager"))
    graphed = job_bench.run_mode(args.config, "cold", args.workdir, args.tokenizer,
                                 (*same, "training.compile=off", "training.cuda_graphs=on"))
    graphed_losses = step_losses(job_bench.home_path(args.workdir, args.config, "cold"))
    for result in (eager, graphed):
        print(json.dumps({k: result.get(k) for k in ("mode", "exit", "wall_s", "step_ms", "graphed_steps", "path",
                                                      "error")}))
    print("step  eager      graphs     difference")
    for step, (a, b) in enumerate(zip(eager_losses, graphed_losses, strict=False), start=1):
        print(f"{step:4d}  {a:.6f}  {b:.6f}  {b - a:+.6f}")
    worst = max((abs(a - b) for a, b in zip(eager_losses, graphed_losses, strict=False)), default=float("nan"))
    print(f"steps: {len(eager_losses)} eager, {len(graphed_losses)} graphed; largest loss difference {worst:.6f}")
    print(f"ms/step: eager {eager.get('step_ms')}, graphs {graphed.get('step_ms')}")
    print(graphs_line(args.workdir, args.config, "cold"))
    return 0 if eager_losses and len(eager_losses) == len(graphed_losses) else 1


if __name__ == "__main__":
    raise SystemExit(main())
