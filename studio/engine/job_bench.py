"""What users wait for: the time from ``lora-studio train`` to a saved adapter.

``lora-studio bench --configs job-1b-alpaca-1k`` runs one job, at the app's defaults, as
a user would: a Llama-shaped model folder with random weights (written once, with a
real tokenizer), generated instruction data with real datasets' length statistics
(core.bench_data), then each mode as its own command, timed from its start to its exit:

* ``script``: a plain transformers + peft script (engine.plain_job), the usual alternative;
* ``unsloth``: the same job with Unsloth as its docs show it (engine.unsloth_job), what users
  would pick instead; a comparison only, never a dependency: it runs where Unsloth's packages
  are, on the path or in the folder ``LORA_STUDIO_UNSLOTH_PATH`` names (scripts/unsloth_site.sh
  unpacks the carried ones there), and is left out of the default modes;
* ``plain``: ``lora-studio train`` with ``training.fast_path = false``;
* ``eager``: the fast path with ``training.compile = off`` and ``training.cuda_graphs = off``
  (every kernel launched from Python);
* ``cold``: the defaults with empty compile caches (a fresh home: its ``cache/`` is empty);
* ``warm``: the same job again, the caches kept;
* ``cold-on`` / ``warm-on``: the same with ``training.compile = on`` (what compiling costs
  and gives where ``auto`` would not compile).

The worker's phases come from the run's events.jsonl (start, load, data, first step:
compiling included, steps, eval, save, exit), the scripts' from their PHASE lines.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from studio.core.outputs import TrainOutputs

JOB_CONFIGS: dict[str, dict[str, Any]] = {
    "job-1b-alpaca-1k": {"shape": "llama-3.2-1b", "data": "alpaca", "rows": 1000},
    "job-1b-alpaca-10k": {"shape": "llama-3.2-1b", "data": "alpaca", "rows": 10000},
    "job-1b-chat-1k": {"shape": "llama-3.2-1b", "data": "chat", "rows": 1000},
    "job-8b-alpaca-1k": {"shape": "llama-3.1-8b", "data": "alpaca", "rows": 1000},
    "job-8b-qlora-alpaca-1k": {"shape": "llama-3.1-8b", "data": "alpaca", "rows": 1000, "quant": "4bit"},
    # The CPU test's: every mode but the script (bf16 on a GPU) runs anywhere.
    "job-tiny-alpaca-40": {"shape": "tiny", "data": "alpaca", "rows": 40},
}
MODES = ("script", "unsloth", "plain", "eager", "cold", "warm", "cold-on", "warm-on")
DEFAULT_MODES = ("script", "plain", "cold", "warm")
SCRIPT_MODULES = {"script": "studio.engine.plain_job", "unsloth": "studio.engine.unsloth_job"}
UNSLOTH_PATH_VARIABLE = "LORA_STUDIO_UNSLOTH_PATH"  # a folder holding Unsloth and what it needs
UNSLOTH_UNAVAILABLE = 3  # engine.unsloth_job's exit where Unsloth cannot be imported (not imported here)
PHASES = ("start", "load", "data", "first_step", "steps", "eval", "save", "exit")
# Sizes of the smallest shape the CPU test builds; its vocabulary must hold the tokenizer's ids.
TINY_SHAPE = {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
              "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "vocab_size": 49152,
              "tie_word_embeddings": True, "max_position_embeddings": 2048, "rms_norm_eps": 1e-5,
              "rope_theta": 10000.0}
COMPILE_CACHE_VARIABLES = ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR")


def shape_of(name: str) -> dict[str, Any]:
    from studio.core.reference_shapes import shape_config, shrunk

    if name.startswith("tiny-"):  # a family's shape at toy size: CPU dry runs of the GPU scripts
        return shrunk(shape_config(name.removeprefix("tiny-")))
    return dict(TINY_SHAPE) if name == "tiny" else shape_config(name)


def model_folder(workdir: Path, shape_name: str, tokenizer_dir: Path) -> Path:
    """A model folder of the shape with random bf16 weights and ``tokenizer_dir``'s tokenizer;
    written once per work folder (an 8B one is 16 GB)."""
    folder = workdir / "models" / shape_name
    if (folder / "config.json").exists():
        return folder
    import torch
    import transformers

    from studio.engine.random_model import random_causal_lm, random_llama

    shape = shape_of(shape_name)
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(tokenizer_dir))
    shape.update(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                 pad_token_id=tokenizer.pad_token_id)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if shape.get("model_type", "llama") == "llama":
        model = random_llama({k: v for k, v in shape.items() if k not in ("model_type", "architectures")},
                             device=device)
    else:
        model = random_causal_lm(shape, device=device)
    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    del model
    staging.rename(folder)
    return folder


def data_file(workdir: Path, kind: str, rows: int) -> Path:
    from studio.core import bench_data

    folder = workdir / "data"
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "alpaca":
        path = folder / f"alpaca-{rows}.json"
        return path if path.exists() else bench_data.write_alpaca(path, rows)
    path = folder / f"chat-{rows}.jsonl"
    return path if path.exists() else bench_data.write_chat(path, rows)


def command(mode: str, cfg: dict[str, Any], model: Path, data: Path, out: Path,
            extra: tuple[str, ...] = ()) -> list[str]:
    if mode in SCRIPT_MODULES:
        return [sys.executable, "-m", SCRIPT_MODULES[mode], "--model", str(model), "--data", str(data),
                "--out", str(out), *(["--qlora"] if cfg.get("quant") == "4bit" else [])]
    settings = ["output.name=bench"]
    if cfg.get("quant"):
        settings.append(f"model.quantization={cfg['quant']}")
    if mode == "plain":
        settings.append("training.fast_path=false")
    if mode == "eager":
        settings += ["training.compile=off", "training.cuda_graphs=off"]
    if mode.endswith("-on"):
        settings.append("training.compile=on")
    settings += extra
    flags = [part for setting in settings for part in ("--set", setting)]
    return [sys.executable, "-m", "studio", "train", "--model", str(model), "--dataset", str(data), "--quiet", *flags]


def home_path(workdir: Path, config: str, mode: str) -> Path:
    return workdir / "homes" / config / mode.replace("cold", "ours").replace("warm", "ours")


def home_for(workdir: Path, config: str, mode: str) -> Path:
    """cold and warm share one home (warm finds cold's compile caches); cold empties it first."""
    home = home_path(workdir, config, mode)
    if not mode.startswith("warm"):
        shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True, exist_ok=True)
    return home


def run_mode(config: str, mode: str, workdir: Path, tokenizer_dir: Path,
             extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """One mode's command, timed; ``extra``: more ``--set`` settings (a check's, not the defaults')."""
    cfg = JOB_CONFIGS[config]
    model = model_folder(workdir, cfg["shape"], tokenizer_dir)
    data = data_file(workdir, cfg["data"], cfg["rows"])
    home = home_for(workdir, config, mode)
    env = {k: v for k, v in os.environ.items() if k not in COMPILE_CACHE_VARIABLES}
    env.update(LORA_STUDIO_HOME=str(home), PYTHONUNBUFFERED="1")
    if mode == "unsloth":
        env.update(unsloth_environment(env, home))
    argv = command(mode, cfg, model, data, home / "script-out", extra)
    started = time.time()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env)
    ended = time.time()
    result: dict[str, Any] = {"config": config, "mode": mode, "exit": proc.returncode,
                              "wall_s": round(ended - started, 1), **cfg}
    run_dir = latest_run(home)
    if run_dir is not None and (run_dir / "worker.log").exists():  # kept for what torch.compile did
        logs = workdir / "logs"
        logs.mkdir(exist_ok=True)
        shutil.copy(run_dir / "worker.log", logs / f"{config}-{mode}.log")
    if proc.returncode != 0:
        result["error"] = (proc.stderr or proc.stdout)[-1500:]  # the traceback's end and its message
        if mode == "unsloth" and proc.returncode == UNSLOTH_UNAVAILABLE:
            result["unavailable"] = True  # a comparison that could not run here, not our failure
    elif mode in SCRIPT_MODULES:
        result.update(script_phases(proc.stdout, started, ended))
    else:
        result.update(worker_phases(events_of(run_dir), started, ended))
    return result


def unsloth_environment(env: dict[str, str], home: Path) -> dict[str, str]:
    """What the ``unsloth`` mode's command runs with besides ``env``: the folder that
    ``LORA_STUDIO_UNSLOTH_PATH`` names first on its path (where set), Unsloth's compiled
    modules in the mode's home (emptied for each run, like a first run's; not the working
    folder), and no network: the model is a local folder, and Unsloth's statistics and Hub
    look-ups would only wait on a machine that reaches nothing."""
    extra = {"UNSLOTH_COMPILE_LOCATION": str(home / "unsloth_compiled_cache"), "HF_HUB_OFFLINE": "1",
             "UNSLOTH_DISABLE_STATISTICS": "1"}
    folder = env.get(UNSLOTH_PATH_VARIABLE)
    if folder:
        extra["PYTHONPATH"] = os.pathsep.join(p for p in (folder, env.get("PYTHONPATH")) if p)
    return extra


def failure_reason(result: dict[str, Any]) -> str:
    """The last line of a failed command's output: the exception and its message, as a rule."""
    lines = [line.strip() for line in str(result.get("error", "")).splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def latest_run(home: Path) -> Path | None:
    runs = list((home / "runs").iterdir()) if (home / "runs").is_dir() else []
    return max(runs, key=lambda p: p.stat().st_mtime) if runs else None


def events_of(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "events.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def worker_phases(events: list[dict[str, Any]], started: float, ended: float) -> dict[str, Any]:
    """Seconds in each phase of a worker's run, from its events' times."""
    def first(kind: str, name: str | None = None) -> float | None:
        return next((e["t"] for e in events if e["type"] == kind and (name is None or e.get("name") == name)), None)

    steps = [e for e in events if e["type"] == "step"]
    done = next(e for e in events if e["type"] == "done")
    loading, preparing, training = first("phase", "loading_model"), first("phase", "preparing_data"), \
        first("phase", "training")
    saving = first("phase", "saving") or done["t"]
    marks = {  # "eval": from the last step to saving (the final evaluation, when there is one)
        "start": (started, loading), "load": (loading, preparing), "data": (preparing, training),
        "first_step": (training, steps[0]["t"]), "steps": (steps[0]["t"], steps[-1]["t"]),
        "eval": (steps[-1]["t"], saving), "save": (saving, done["t"]), "exit": (done["t"], ended),
    }
    hello = first("hello")
    metrics = TrainOutputs.from_dict(done.get("outputs") or {}, "the run's done event").metrics
    tokens = metrics.tokens_trained or metrics.train_tokens or 0
    steady_s = steps[-1]["t"] - steps[0]["t"]
    return {
        "phases": {k: round(b - a, 2) for k, (a, b) in marks.items()},
        "to_hello_s": round(hello - started, 2) if hello else None,  # of "start": the worker's process up
        "steps": len(steps),
        "steady_tokens_per_s": round(tokens * (len(steps) - 1) / len(steps) / steady_s) if steady_s > 0 else None,
        "step_ms": round(1000 * steady_s / max(1, len(steps) - 1), 1),
        "average_tokens_per_s": metrics.tokens_per_s,  # the run's own: warm-up, eval and saves in it
        "train_loss": metrics.train_loss, "eval_loss": metrics.eval_loss,
        "graphed_steps": metrics.graphed_steps,
        "peak_gib": round(metrics.peak_memory_bytes / 2**30, 2) if metrics.peak_memory_bytes else None,
        "path": next((e.get("detail", "")[len("fast path: "):] for e in events
                      if e["type"] == "phase" and str(e.get("detail", "")).startswith("fast path: ")), ""),
    }


def script_phases(stdout: str, started: float, ended: float) -> dict[str, Any]:
    marks = {}
    out: dict[str, Any] = {}
    for line in stdout.splitlines():
        if line.startswith("PHASE "):
            _, name, t = line.split()
            marks[name] = float(t)
        elif line.startswith("RESULT "):
            out.update(json.loads(line[7:]))
    order = [("start", started, marks["imported"]), ("load", marks["imported"], marks["loaded"]),
             ("data", marks["loaded"], marks["data"]), ("first_step", marks["data"], marks["first_step"]),
             ("steps", marks["first_step"], marks["trained"]), ("eval", marks["trained"], marks["evaluated"]),
             ("save", marks["evaluated"], marks["saved"]), ("exit", marks["saved"], ended)]
    out["phases"] = {name: round(b - a, 2) for name, a, b in order}
    out["step_ms"] = round(1000 * out["phases"]["steps"] / max(1, out.get("steps", 1) - 1), 1)
    return out


def report_line(result: dict[str, Any], references: dict[str, dict[str, Any]]) -> str:
    """One mode's line: its wall time, as a share of the script's, Unsloth's and the plain path's
    (where they ran before it in the same bench run), and its phases; a failed one's reason."""
    if result.get("exit"):
        reason = failure_reason(result)
        return f"{result['config']:24s} {result['mode']:7s} FAILED (exit {result['exit']})" + \
            (f": {reason}" if reason else "")
    phases = " ".join(f"{k} {result['phases'][k]:.1f}" for k in PHASES)
    ratio = "".join(f" = {result['wall_s'] / ref['wall_s']:.2f}x {name}" for name, ref in references.items()
                    if ref.get("wall_s") and not ref.get("exit") and ref is not result)
    return (f"{result['config']:24s} {result['mode']:7s} {result['wall_s']:7.1f} s{ratio}  [{phases}]  "
            f"{result.get('step_ms', '?')} ms/step, peak {result.get('peak_gib', '?')} GiB, "
            f"loss {result.get('train_loss')}")


def run(configs: list[str], modes: list[str] | None, workdir: Path, tokenizer_dir: Path, out: Path) -> list[dict]:
    results = []
    for config in configs:
        chosen = modes or list(DEFAULT_MODES)
        references: dict[str, dict[str, Any]] = {}
        for mode in chosen:
            result = run_mode(config, mode, workdir, tokenizer_dir)
            with open(out, "a") as handle:
                handle.write(json.dumps(result) + "\n")
            print(report_line(result, references), flush=True)
            if mode in ("script", "unsloth", "plain"):
                references[mode] = result
            if result.get("error") and not result.get("unavailable"):  # the reason is on the line
                print(result["error"], flush=True)
            results.append(result)
    return results


def default_tokenizer() -> Path:
    """The bundled model's tokenizer (SmolLM2's, ChatML template), converted once."""
    from studio.engine import model_loading

    return model_loading.ensure_hf_folder(model_loading.resolve_model_path("bundled"))
