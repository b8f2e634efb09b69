"""First-token latency of a warm compare worker on the bundled model (target: under 1 s).

Starts a ``serve`` worker for the bundled SmolLM2-135M (plus an adapter if given),
sends a first request (which waits for the model load), then a second one through
the control socket, and prints the time from sending it to its first ``token``
event in events.jsonl, i.e. what the Compare page waits for.
Usage: .venv/bin/python scripts/bench_compare_worker.py [--adapter REF_OR_FOLDER] [--home DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def wait_for(events: Path, predicate, timeout: float) -> tuple[dict, float]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if events.exists():
            for line in events.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    event = json.loads(line)
                    if predicate(event):
                        return event, time.perf_counter()
        time.sleep(0.005)
    raise TimeoutError("no matching event")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--adapter", action="append", default=[])
    parser.add_argument("--home", type=Path)
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp())
    os.environ["LORA_STUDIO_HOME"] = str(home)
    from studio.core import control_client, runs

    run_dir = runs.create_run_dir("serve")
    job = run_dir.parent / f"{run_dir.name}.json"
    job.write_text(json.dumps({"kind": "serve", "adapters": args.adapter, "idle_timeout_s": 120,
                               "sampling": {"temperature": 0, "max_new_tokens": 32}}))
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "studio.worker", str(job), "--run-dir", str(run_dir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    events = run_dir / runs.EVENTS_NAME
    try:
        _ready, ready_at = wait_for(events, lambda e: e.get("type") == "phase" and e.get("name") == "ready", 300)
        print(f"worker ready (model loaded) in {ready_at - started:.1f} s")
        ask = [{"role": "user", "content": "What is the capital of Norway?"}]
        timings = []
        for index in range(4):
            request = f"r{index}"
            sent = time.perf_counter()
            control_client.send_command(run_dir, "generate", id=request, messages=ask, adapters=["base"])
            _first, first_at = wait_for(events, lambda e, r=request: e.get("type") == "token" and e.get("request") == r,
                                        60)
            answer, done_at = wait_for(events, lambda e, r=request: e.get("type") == "answer" and e.get("request") == r,
                                       60)
            timings.append((first_at - sent, done_at - sent, answer["tokens"]))
            print(f"request {index + 1}: first token {first_at - sent:.3f} s, whole answer ({answer['tokens']} "
                  f"tokens) {done_at - sent:.2f} s; worker-side first token {answer['first_token_s']} s")
        warm = sorted(t[0] for t in timings[1:])
        print(f"warm requests: median first token {warm[len(warm) // 2]:.3f} s (target < 1 s)")
        control_client.send_command(run_dir, "stop")
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()


if __name__ == "__main__":
    main()
