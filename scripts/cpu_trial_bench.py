"""Time a quick trial on the CPU the way a user runs it (issue 20): `lora-studio train` of the
bundled model on a 1,000-row alpaca file, 5 steps, every other setting at its default.

Three runs in one go, each a real CLI subprocess: cold (a fresh studio home, so the bundled
GGUF is converted first), warm (the same home again) and the plain transformers + peft path
(``training.fast_path=false``, warm). For each: the wall time from the command's start to its
exit (the adapter saved and added to the library), the worker's phases from its events, and
the worker's peak resident memory (VmHWM of the worker process and its children, read from
/proc every 50 ms; VmHWM never goes down, so the last reading is the peak).

    .venv/bin/python scripts/cpu_trial_bench.py            # prints the table
    .venv/bin/python scripts/cpu_trial_bench.py --doc      # and writes it to docs/benchmarks.md

The data: 1,000 rows generated from a fixed seed with the shape of a public instruction set
(alpaca-cleaned): short instructions, an input on about a third of the rows, outputs from a
few words to 600+ tokens (log-normal lengths).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import re
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
SECTION = "## Quick trials on a CPU (issue 20"

WORDS = (
    "the model data train learn value result system change number water energy people city history "
    "example question answer simple explain describe list write story poem reason because therefore "
    "however important different between within around through during before after about under "
    "computer program language network memory function method process design research science "
    "health market product customer service policy government climate weather ocean forest animal "
    "plant music art color light sound time year day night morning small large quick slow strong "
    "weak happy careful clear short long first second third final early late often usually rarely "
    "build create improve reduce increase compare measure describe provide include consider suggest"
).split()


def alpaca_rows(count: int, seed: int = 0) -> list[dict[str, str]]:
    """``count`` alpaca rows with alpaca-cleaned's shape of lengths (in words, ~1.3 tokens each)."""
    rng = random.Random(seed)

    def text(words: int) -> str:
        out, sentence = [], []
        for _ in range(max(1, words)):
            sentence.append(rng.choice(WORDS))
            if len(sentence) >= rng.randint(6, 18):
                out.append(" ".join(sentence).capitalize() + ".")
                sentence = []
        if sentence:
            out.append(" ".join(sentence).capitalize() + ".")
        return " ".join(out)

    rows = []
    for _ in range(count):
        output_words = int(min(900, max(2, rng.lognormvariate(math.log(90), 0.9))))
        rows.append({
            "instruction": text(rng.randint(5, 30)),
            "input": text(rng.randint(5, 80)) if rng.random() < 0.35 else "",
            "output": text(output_words),
        })
    return rows


def descendants_peak(pid: int, peaks: dict[int, tuple[str, int, float]], stop: threading.Event) -> None:
    """Poll VmHWM (peak RSS, kB) and CPU seconds of every process under ``pid`` until ``stop``."""
    import psutil

    try:
        parent = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    while not stop.is_set():
        try:
            children = parent.children(recursive=True)
        except psutil.NoSuchProcess:
            return
        for child in children:
            try:
                status = Path(f"/proc/{child.pid}/status").read_text()
                hwm = int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) * 1024  # type: ignore[union-attr]
                cmd = " ".join(child.cmdline()[1:4])
                times = child.cpu_times()
            except (OSError, AttributeError, psutil.Error):
                continue
            peaks[child.pid] = (cmd, max(hwm, peaks.get(child.pid, ("", 0, 0.0))[1]), times.user + times.system)
        stop.wait(0.05)


def run_train(home: Path, dataset: Path, steps: int, extra: list[str], tree: Path = ROOT) -> dict:
    """One `lora-studio train`; ``tree``: the source tree to run (another checkout's, for a
    before/after comparison; this venv's packages)."""
    env = dict(os.environ, LORA_STUDIO_HOME=str(home), COLUMNS="160")
    if tree != ROOT:
        env["PYTHONPATH"] = str(tree)
    command = [str(ROOT / ".venv" / "bin" / "lora-studio"), "train", "--dataset", str(dataset),
               "--max-steps", str(steps), "--quiet", *extra]
    runs_before = set((home / "runs").iterdir()) if (home / "runs").exists() else set()
    peaks: dict[int, tuple[str, int, float]] = {}
    load_before = os.getloadavg()[0]
    stop = threading.Event()
    start = time.time()
    proc = subprocess.Popen(command, env=env, cwd=tree, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    poller = threading.Thread(target=descendants_peak, args=(proc.pid, peaks, stop), daemon=True)
    poller.start()
    output, _ = proc.communicate()
    end = time.time()
    stop.set()
    poller.join()
    if proc.returncode != 0:
        raise SystemExit(f"{shlex.join(command)} failed ({proc.returncode}):\n{output[-3000:]}")
    run_dir = sorted(set((home / "runs").iterdir()) - runs_before)[-1]
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    log_text = (run_dir / "worker.log").read_text(errors="replace")
    workers = [(hwm, cpu) for cmd, hwm, cpu in peaks.values() if "studio.worker" in cmd]
    shown = ["lora-studio", *(dataset.name if part == str(dataset) else part for part in command[1:])]
    return {"command": shlex.join(shown), "wall_s": end - start,
            "phases": phases(events, start, end), "worker_peak_bytes": max((w[0] for w in workers), default=0),
            "worker_cpu_s": max((w[1] for w in workers), default=0.0),
            "load": (load_before, os.getloadavg()[0]),
            "events": events, "output": output, "log": log_text, "run_dir": str(run_dir)}


def phases(events: list[dict], start: float, end: float) -> dict[str, float]:
    """Seconds in each stretch of the run, from the event times."""
    marks: dict[str, float] = {}
    for event in events:
        key = event["type"] if event["type"] in ("hello", "done") else event.get("name")
        if key and key not in marks:
            marks[key] = event["t"]
    order = [("start", start), *[(name, marks[name]) for name in
                                 ("hello", "loading_model", "preparing_data", "training", "evaluating",
                                  "saving", "done") if name in marks], ("exit", end)]
    label = {"start": "process start + imports", "hello": "hello → load", "loading_model": "load model",
             "preparing_data": "data prep + adapter", "training": "training steps",
             "evaluating": "final eval", "saving": "save", "done": "library + exit"}
    return {label[name]: round(order[i + 1][1] - t, 2) for i, (name, t) in enumerate(order[:-1])}


def details(result: dict) -> dict:
    events = result["events"]
    done = next(e for e in events if e["type"] == "done")
    metrics = done["outputs"]["metrics"]
    phase_details = [e.get("detail", "") for e in events if e["type"] == "phase" and e.get("detail")]
    steps = [e for e in events if e["type"] == "step"]
    return {"train_loss": metrics.get("train_loss"), "eval_loss": metrics.get("eval_loss"),
            "steps": len(steps), "s_per_step": (steps[-1]["elapsed_s"] / len(steps)) if steps else None,
            "details": phase_details}


def table(results: dict[str, dict]) -> list[str]:
    names = list(next(iter(results.values()))["phases"])
    for result in results.values():
        names += [n for n in result["phases"] if n not in names]
    lines = ["| run | wall, command to exit | worker peak RSS | worker CPU s | load (1 min) | " + " | ".join(names)
             + " | s/step | eval loss |",
             "| --- | --- | --- | --- | --- | " + " | ".join("---" for _ in names) + " | --- | --- |"]
    for label, result in results.items():
        info = details(result)
        cells = [f"{result['phases'].get(n, 0):.1f} s" if n in result["phases"] else "–" for n in names]
        per_step = f"{info['s_per_step']:.2f}" if info["s_per_step"] else "–"
        eval_loss = f"{info['eval_loss']:.3f}" if info["eval_loss"] is not None else "–"
        load = "{:.1f} → {:.1f}".format(*result["load"])
        lines.append(f"| {label} | **{result['wall_s']:.1f} s** | **{result['worker_peak_bytes'] / 2**30:.2f} GiB** | "
                     f"{result['worker_cpu_s']:.0f} | {load} | " + " | ".join(cells) + f" | {per_step} | {eval_loss} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--home", type=Path, help="studio home to use (default: a fresh temp folder)")
    parser.add_argument("--only", choices=("cold", "warm", "plain"), nargs="*",
                        help="runs to do (default: all three; warm and plain need a converted model)")
    parser.add_argument("--label", default="", help="a note for the doc section's heading, e.g. 'after'")
    parser.add_argument("--doc", action="store_true", help="write the section into docs/benchmarks.md")
    parser.add_argument("--tree", type=Path, default=ROOT,
                        help="source tree to run, e.g. `git archive HEAD` unpacked, for the numbers before a change")
    args = parser.parse_args()
    wanted = args.only or ["cold", "warm", "plain"]
    with tempfile.TemporaryDirectory() as tmp:
        home = args.home or Path(tmp) / "home"
        home.mkdir(parents=True, exist_ok=True)
        dataset = Path(tmp) / "alpaca-1000.jsonl"
        dataset.write_text("".join(json.dumps(row) + "\n" for row in alpaca_rows(args.rows)), encoding="utf-8")
        runs = {"cold": ("cold (fresh home: GGUF converted)", []), "warm": ("warm (same home)", []),
                "plain": ("plain transformers + peft (`training.fast_path=false`), warm",
                          ["--set", "training.fast_path=false"])}
        results = {}
        for name in wanted:
            label, extra = runs[name]
            print(f"running {label} ...", file=sys.stderr, flush=True)
            results[label] = run_train(home, dataset, args.steps, extra, args.tree.resolve())
    lines = table(results)
    first = next(iter(results.values()))
    machine = (f"{platform.machine()}, {os.cpu_count()} cores, "
               f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, "
               f"Python {platform.python_version()}")
    print("\n".join(lines))
    for label, result in results.items():
        print(f"\n{label}: {result['command']}\n  " + "\n  ".join(details(result)["details"]))
    if args.doc:
        write_doc(lines, results, machine, args.label, first["command"])


def write_doc(lines: list[str], results: dict[str, dict], machine: str, label: str, command: str) -> None:
    heading = f"{SECTION}: a 5-step run in under 60 s, under 3 GB)"
    sub = f"### {label or 'Measured'} ({time.strftime('%Y-%m-%d')}, {machine})"
    body = [sub, "", f"`.venv/bin/python scripts/cpu_trial_bench.py --doc`; each run is `{command}` "
            "(plus `--set training.fast_path=false` for the plain one) on the script's 1,000-row alpaca file.", "",
            *lines, "", "What the worker said (its phase details):", "", "```"]
    for name, result in results.items():
        body.append(f"{name}:")
        body += [f"  {d}" for d in details(result)["details"]]
    body += ["```", ""]
    text = DOC.read_text(encoding="utf-8")
    start = text.find(SECTION)
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + heading + "\n\n" + "\n".join(body)
    else:
        end = text.find("\n## ", start + 1)
        end = len(text) if end < 0 else end
        text = text[:end].rstrip("\n") + "\n\n" + "\n".join(body) + text[end:]
    DOC.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
