"""``lora-studio``: everything the app does, headless."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import get_args

from rich.console import Console

from studio import __version__
from studio.cli import (
    estimate_command,
    info_commands,
    inspect_command,
    library_commands,
    queue_commands,
    settings_command,
    sweep_command,
    train_commands,
)
from studio.cli.job_building import add_dataset_flags, add_train_flags, count
from studio.core.jobs import DatasetFormat


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lora-studio", description="Fine-tune language models with LoRA.")
    parser.add_argument("--version", action="version", version=f"lora-studio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("models", help="list base models: bundled, Hugging Face cache, the model folders added "
                                      "here or on the Models page")
    p.add_argument("--path", action="append", default=[], help="also look at this folder or .gguf file, this once")
    p.add_argument("--add", action="append", default=[], metavar="PATH",
                   help="remember a model folder or .gguf file (the app's Models page lists it too)")
    p.add_argument("--forget", action="append", default=[], metavar="PATH", help="stop looking at a remembered one")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=info_commands.cmd_models)

    p = sub.add_parser("datasets", help="inspect dataset files")
    dsub = p.add_subparsers(dest="datasets_command", metavar="ACTION", required=True)
    q = dsub.add_parser("inspect", help="detect the format, list bad rows and what training would do with them, "
                                        "preview, token lengths; exit 3 when training would refuse the file")
    q.add_argument("file", nargs="?", help="a dataset file, or 'bundled' (default: the --job file's dataset)")
    q.add_argument("--job", type=Path, help="read the file as this job file's dataset settings say; flags override")
    q.add_argument("--format", choices=get_args(DatasetFormat), help="dataset format (default: auto)")
    add_dataset_flags(q)
    q.add_argument("--rows", type=count, default=5, help="rows to preview")
    q.add_argument("--max-issues", type=count, default=20, help="bad rows to list")
    q.add_argument("--tokenizer", help="tokenizer.json or a model folder (default: a converted model)")
    q.add_argument("--max-length", type=count, default=512)
    q.set_defaults(func=inspect_command.cmd_datasets_inspect)

    p = sub.add_parser("train", help="train an adapter (defaults: bundled model + bundled sample)")
    add_train_flags(p)
    p.add_argument("--resume", metavar="RUN", help="continue a run from its last checkpoint")
    p.add_argument("--hang-timeout", type=float, metavar="S",
                   help="warn when training makes no progress for S seconds (0 = never; default: the "
                        "hang_timeout_s setting, 600 unless changed)")
    p.add_argument("--quiet", "-q", action="store_true")
    p.add_argument("--verbose", "-v", action="store_true", help="show the worker's log")
    p.add_argument("--force", action="store_true",
                   help="start even where the memory estimate says the job will not fit (the GPU's memory, or "
                        "the RAM available for a CPU run), or a value is far past any usual need (a rank above "
                        "the adapted layers' width, over a million optimizer steps)")
    p.set_defaults(func=train_commands.cmd_train)

    p = sub.add_parser("estimate", help="peak GPU memory of a train job, with its breakdown and what would fit")
    add_train_flags(p)
    estimate_command.add_estimate_flags(p)
    p.set_defaults(func=estimate_command.cmd_estimate)

    p = sub.add_parser("generate", help="answer prompts with the base model and adapters")
    p.add_argument("--model", default="bundled")
    p.add_argument("--adapter", action="append", default=[], help="adapter folder (repeatable)")
    p.add_argument("--prompt", action="append", default=[], help="prompt (repeatable; default: sample prompts)")
    p.add_argument("--tools", metavar="FILE", help="JSON file of tool definitions the prompts may call "
                   "(a list in the OpenAI shape, or bare functions), written in as training writes a dataset's tools")
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--verbose", "-v", action="store_true")
    p.set_defaults(func=train_commands.cmd_generate)

    library_commands.add_library_parser(sub)
    library_commands.add_eval_parser(sub)

    sub.add_parser("bench", help="GPU benchmark: plain transformers+peft vs our fast path (NVIDIA GPU)",
                   add_help=False)  # its arguments are the benchmark's own: see cmd_bench

    p = sub.add_parser("runs", help="list past runs with status and final loss")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=info_commands.cmd_runs)

    p = sub.add_parser("stop", help="send a command to a running worker (default: stop)")
    p.add_argument("run", help="run id, id prefix or folder")
    p.add_argument("--command", default="stop", choices=["stop", "pause", "resume", "checkpoint", "cancel"])
    p.add_argument("--cancel", action="store_true", help="same as --command cancel")
    p.set_defaults(func=train_commands.cmd_stop)

    p = sub.add_parser("download", help="download a model from the Hugging Face Hub into its cache (resumes)")
    p.add_argument("repo", help="owner/name, e.g. HuggingFaceTB/SmolLM2-360M-Instruct")
    p.add_argument("--revision", help="branch, tag or commit (default: main)")
    p.set_defaults(func=info_commands.cmd_download)

    p = sub.add_parser("doctor", help="check Python, torch, the driver and GPUs, optional kernels, disk, the bundled "
                                      "model; each problem with its fix")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=info_commands.cmd_doctor)

    settings_command.add_settings_parser(sub)
    queue_commands.add_queue_parser(sub)
    sweep_command.add_sweep_parser(sub)

    p = sub.add_parser("demo", help="train the bundled model on the sample and show before/after")
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--quiet", "-q", action="store_true")
    p.add_argument("--verbose", "-v", action="store_true")
    p.set_defaults(func=train_commands.cmd_demo)
    return parser


def run_bench(rest: list[str]) -> int:
    """Runs in its own process: the CLI never imports the engine (or torch) itself."""
    import subprocess

    from studio.core.processes import module_argv

    return subprocess.call(module_argv("studio.engine.bench", *rest))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:
        return run_bench(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    console = Console(highlight=False, emoji=False)  # a ':x:' in a file's text is text, not an emoji
    return int(args.func(args, console) or 0)


if __name__ == "__main__":
    sys.exit(main())
