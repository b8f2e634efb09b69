"""Commands that start workers: ``train``, ``generate``, ``demo``, and ``stop``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from studio.cli.advice import MEASURED_ROWS, print_batch_tip
from studio.cli.dataset_check import checked_dataset, dataset_refused
from studio.cli.job_building import FLAG_FIELDS, PAIR_FIELDS, build_train_job
from studio.cli.magnitude_check import magnitudes_refused
from studio.cli.progress import preference_words
from studio.cli.run_job import run_job
from studio.cli.shown import shown
from studio.core import control_client, gpus, machine_fit, memory_fit, protocol, resumable, runs
from studio.core.datasets import (
    DatasetError,
    evaluation_sample,
    load_dataset_file,
    token_length_stats,
    tool_definitions,
)
from studio.core.job_schema import Issue, JobError, job_from_dict, load_job, to_dict
from studio.core.jobs import GenerateJob, TrainJob
from studio.core.models import gguf_tokenizer_dir, inspect_model, model_source
from studio.core.outputs import TrainOutputs
from studio.core.presets import demo_settings
from studio.core.resources import eval_prompts, resolve_dataset_path


def cmd_train(args: argparse.Namespace, console: Console) -> int:
    try:
        if args.resume:
            if changed := _settings_given(args):
                console.print(f"[red bold]error:[/red bold] --resume continues the run's own job; "
                              f"{', '.join(changed)} can't change mid-run")
                return protocol.EXIT_BAD_JOB
            run_dir = runs.resolve_run(args.resume)
            job: TrainJob | int = _resume_job(run_dir)
            check = checked_dataset(job.dataset, job.training.stage, job.grpo.rewards)
            if (refused := dataset_refused(check, console)) is not None:
                return refused
        else:
            job = checked_new_job(args, console)
            if isinstance(job, int):
                return job
            run_dir = runs.create_run_dir(Path(job.model.path).stem)
    except JobError as exc:
        return job_refused(exc, console)
    except FileNotFoundError as exc:
        console.print(f"[red bold]error:[/red bold] {shown(exc, keep_newlines=True)}")
        return protocol.EXIT_BAD_JOB
    if not args.quiet:  # a larger batch when the GPU would idle: offered, never applied
        print_batch_tip(job, console)
    console.print(f"run [bold]{shown(run_dir.name)}[/bold] in {shown(run_dir)}")
    outcome, _events = run_job(job, run_dir, console, quiet=args.quiet, show_log=args.verbose,
                               hang_timeout_s=args.hang_timeout)
    final = outcome.final
    if isinstance(final, protocol.Done):
        _print_result(console, TrainOutputs.from_dict(final.outputs, "the run"))
    return outcome.exit_code


def checked_new_job(args: argparse.Namespace, console: Console) -> TrainJob | int:
    """The job the flags describe, checked as the Train page checks it before Start (the machine,
    the data, values far past any need, the memory); an exit code where it is refused, said why.
    Raises JobError and FileNotFoundError for the caller to print."""
    job = build_train_job(args)
    if not isinstance(job, TrainJob):
        raise JobError([Issue("kind", f"is {job.kind!r}: this command trains (a train job file)")], str(args.job))
    if problems := machine_fit.machine_issues(job, gpus.visible_gpus()):
        raise machine_fit.MachineError(problems)
    check = checked_dataset(job.dataset, job.training.stage, job.grpo.rewards)
    if (refused := dataset_refused(check, console)) is not None:
        return refused  # before any run folder: a missing file is not a failed run
    if not getattr(args, "force", False) and (odd := magnitudes_refused(job, check.loaded, console)):
        return odd  # -r 100000, --epochs 1e9: said with the reason, before any run folder
    if not getattr(args, "force", False) and (fit := will_not_fit(job)) is not None:
        if fit.blocks:
            console.print(f"[red bold]error:[/red bold] {shown(fit.problem(), keep_newlines=True)}\n"
                          "[dim]Nothing was started. --force starts it anyway.[/dim]", soft_wrap=True)
            return protocol.EXIT_BAD_JOB
        console.print(f"[yellow bold]warning:[/yellow bold] {shown(fit.problem(), keep_newlines=True)}", soft_wrap=True)
    return job


def job_refused(exc: JobError, console: Console) -> int:
    console.print(f"[red bold]error:[/red bold] {shown(exc, keep_newlines=True)}")
    if isinstance(exc, machine_fit.MachineError):
        console.print(f"[red]hint:[/red] {shown(exc.hint, keep_newlines=True)}")
    return protocol.EXIT_BAD_JOB


def will_not_fit(job: TrainJob) -> memory_fit.MemoryFit | None:
    """core.memory_fit's verdict, as the Train page's, where it says the job won't fit here: the
    card's memory for a GPU run, the available RAM for a CPU run (whose rows are measured when
    the worst case, every row at max length, does not fit). None where it fits or can't be
    told (an unreadable model or dataset: the worker says what is wrong with it)."""
    try:
        model = inspect_model(model_source(job.model.path))
        target = memory_fit.target_for(job, gpus.visible_gpus())
        fit = memory_fit.check(job, model.config, target, num_parameters=model.num_parameters)
        if not fit.fits and target.kind == "cpu" and (longest := _longest_row(job, model)) is not None:
            fit = memory_fit.check(job, model.config, target, num_parameters=model.num_parameters,
                                   longest_row=longest)
    except Exception:  # noqa: BLE001 - no estimate is no verdict; the run goes on and says what is wrong
        return None
    return None if fit.fits else fit


def _longest_row(job: TrainJob, model) -> int | None:
    """The longest of (up to) MEASURED_ROWS rows spread over the dataset, in tokens; None without a
    tokenizer.json (a .gguf whose tokenizer the Datasets page has not extracted yet)."""
    folder = model.path if model.path.is_dir() else gguf_tokenizer_dir(model.path)
    if not (folder / "tokenizer.json").is_file():
        return None
    examples = load_dataset_file(resolve_dataset_path(job.dataset.path), job.dataset.format, on_error="skip").examples
    return token_length_stats(evaluation_sample(examples, MEASURED_ROWS), folder / "tokenizer.json",
                              job.training.max_length).max


def _settings_given(args: argparse.Namespace) -> list[str]:
    flags = {"columns": "map", "variables": "var"}
    names = [f"--{flags.get(dest, dest).replace('_', '-')}"
             for dest in (*FLAG_FIELDS, *PAIR_FIELDS, "method", "packing", "gradient_checkpointing")
             if getattr(args, dest, None) is not None]
    if args.job:
        names.append("--job")
    if args.overrides:
        names.append("--set")
    return names


def _resume_job(run_dir: Path) -> TrainJob:
    if runs.is_locked(run_dir):
        raise FileNotFoundError(f"{run_dir.name} is still running; stop it first (lora-studio stop {run_dir.name})")
    job = load_job(run_dir / runs.JOB_NAME)
    # A run with its whole adapter saved needs no checkpoint: the worker finishes it from the adapter.
    if resumable.finished_adapter(run_dir, job.training.max_steps) is None:
        point = resumable.resume_point(run_dir)
        if point.checkpoint is None:
            raise FileNotFoundError(point.refusal(job.training.save_steps))
    data = to_dict(job)
    data["training"]["resume_from"] = "latest"
    if _saved_before_eval_sample(run_dir / runs.JOB_NAME):
        data["dataset"]["eval_max_rows"] = 0  # it evaluated every held-out row: so does the rest of it
    return job_from_dict(data, source=str(run_dir / runs.JOB_NAME))


def _saved_before_eval_sample(job_path: Path) -> bool:
    """A run started before ``dataset.eval_max_rows`` existed (its job.json lacks it)."""
    try:
        return "eval_max_rows" not in json.loads(job_path.read_text(encoding="utf-8")).get("dataset", {})
    except (OSError, ValueError, AttributeError):
        return False


def _print_result(console: Console, outputs: TrainOutputs) -> None:
    metrics = outputs.metrics
    state = "stopped early; saved" if outputs.stopped else "done"
    console.print(f"[green bold]{state}:[/green bold] adapter [bold]{shown(outputs.name)}[/bold] in "
                  f"{shown(outputs.adapter_path)}")
    parts = [f"{label} {value:.4f}" for label, value in (("train_loss", metrics.train_loss),
                                                         ("eval_loss", metrics.eval_loss),
                                                         ("perplexity", metrics.perplexity)) if value is not None]
    held_out = {key.removeprefix("eval_"): value for key, value in (metrics.preference or {}).items()
                if key.startswith("eval_")}
    if held_out:
        what = "prompts" if "reward" in held_out else "pairs"  # GRPO's held-out rows are prompts it answers
        parts.append(f"held-out {what}:{preference_words(held_out)}")
    if parts:
        console.print("  " + ", ".join(parts))
    average, seconds = metrics.tokens_per_s, metrics.train_seconds
    if average is not None and seconds is not None:
        # The run's real average (core.throughput), never the last step's rate.
        console.print(f"  {metrics.steps if metrics.steps is not None else '?'} steps in {seconds:,.1f} s of training: "
                      f"{average:,.0f} tok/s on average (real tokens; warm-up, evals and saves in, pauses out)")


def cmd_generate(args: argparse.Namespace, console: Console) -> int:
    prompts = args.prompt or eval_prompts()
    data = {"kind": "generate", "model": {"path": args.model}, "adapters": args.adapter, "prompts": prompts,
            "sampling": {"temperature": args.temperature, "max_new_tokens": args.max_new_tokens}}
    try:
        if args.tools:
            data["tools"] = list(tool_definitions(Path(args.tools).read_text(encoding="utf-8"), file=args.tools))
        job = job_from_dict(data, source="command line")
    except (OSError, UnicodeDecodeError) as exc:
        console.print(f"[red bold]error:[/red bold] cannot read the tools file: {shown(exc, keep_newlines=True)}")
        return protocol.EXIT_BAD_JOB
    except (JobError, DatasetError) as exc:
        console.print(f"[red bold]error:[/red bold] {shown(exc, keep_newlines=True)}")
        return protocol.EXIT_BAD_JOB
    run_dir = runs.create_run_dir("generate")
    outcome, events = run_job(job, run_dir, console, quiet=True, show_log=args.verbose)
    if isinstance(outcome.final, protocol.Done):
        show_answers(console, [e for e in events if isinstance(e, protocol.Sample)])
    return outcome.exit_code


def show_answers(console: Console, samples: list[protocol.Sample]) -> None:
    labels = list(dict.fromkeys(s.adapter or "base" for s in samples))
    table = Table(title="answers", show_lines=True)
    table.add_column("prompt", overflow="fold")
    for label in labels:
        table.add_column(shown(_short(label)), overflow="fold")
    for prompt in dict.fromkeys(s.prompt for s in samples):  # text is data, not markup
        row = {s.adapter or "base": s.text for s in samples if s.prompt == prompt}
        table.add_row(shown(prompt, keep_newlines=True),
                      *(shown(row.get(label, ""), keep_newlines=True) for label in labels))
    console.print(table)


def _short(label: str) -> str:
    path = Path(label)
    if label == "base" or not path.is_absolute():  # "base" or a library reference such as pirate/v2
        return label
    return (f"{path.parent.name}/{path.name}" if path.name == runs.ADAPTER_NAME else path.name)


def cmd_demo(args: argparse.Namespace, console: Console) -> int:
    """Train the bundled model on the bundled sample, then show answers before and after."""
    job = TrainJob()
    for dotted, value in demo_settings(args.steps).items():  # shared with the GUI's first-run guide
        section, field = dotted.split(".")
        setattr(getattr(job, section), field, value)
    run_dir = runs.create_run_dir("demo")
    console.rule("1/2 training the bundled model on the Captain Lora sample")
    console.print(f"run folder: {shown(run_dir)}")
    outcome, _ = run_job(job, run_dir, console, quiet=args.quiet, show_log=args.verbose)
    if not isinstance(outcome.final, protocol.Done):
        return outcome.exit_code or protocol.EXIT_INTERNAL
    trained = TrainOutputs.from_dict(outcome.final.outputs, "the demo run")
    _print_result(console, trained)
    adapter = str(trained.adapter_path)
    console.rule("2/2 the same held-out prompts, before and after")
    gen = GenerateJob(adapters=[adapter], prompts=eval_prompts())
    gen.sampling.temperature = 0.0
    gen.sampling.max_new_tokens = 40
    gen_outcome, events = run_job(gen, runs.create_run_dir("demo-answers"), console, quiet=True,
                                  show_log=args.verbose)
    show_answers(console, [e for e in events if isinstance(e, protocol.Sample)])
    console.print(f"\nThe adapter is a plain PEFT folder: {shown(adapter)}\n"
                  "Load it with peft.PeftModel.from_pretrained(base_model, that_folder).")
    return gen_outcome.exit_code


def cmd_stop(args: argparse.Namespace, console: Console) -> int:
    try:
        run_dir = runs.resolve_run(args.run)
    except FileNotFoundError as exc:
        console.print(f"[red bold]error:[/red bold] {shown(exc, keep_newlines=True)}")
        return protocol.EXIT_BAD_JOB
    cmd = "cancel" if args.cancel else args.command
    if cmd == "cancel" and control_client.cancel(run_dir):
        console.print(json.dumps({"ok": True, "cmd": cmd}))  # it often exits before any reply
        return 0
    try:
        reply = control_client.send_command(run_dir, cmd)
    except OSError as exc:
        console.print(f"[red]no worker is listening in {shown(run_dir)}[/red] ({shown(exc)}); "
                      f"status: {runs.summarize(run_dir).status}")
        return 1
    console.print(shown(json.dumps(reply)))  # the worker's reply may quote a path
    return 0 if reply.get("ok") else 1
