"""``lora-studio library …``, ``merge`` and ``export``: the adapter library, headless."""

from __future__ import annotations

import argparse
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from studio.cli.run_job import run_job
from studio.cli.shown import shown
from studio.cli.worker_process import Outcome
from studio.core import protocol, runs
from studio.core import settings as user_settings
from studio.core.compare_report import METRIC_COLUMNS, best
from studio.core.job_schema import JobError, job_from_dict
from studio.core.library import (
    Library,
    LibraryError,
    base_model_of,
    diff_cards,
    import_adapter,
    locate_adapter,
    read_card,
)
from studio.core.library.failures import describe
from studio.core.library.store import library_root
from studio.core.merging import COMBINATIONS
from studio.core.models import discover_models
from studio.core.outputs import ExportOutputs, MergeOutputs
from studio.core.stage_names import card_stage, stage_tag


def add_library_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("library", help="the adapter library: list, show, diff, tag, rm, restore, export, import, add")
    lsub = p.add_subparsers(dest="library_command", metavar="ACTION", required=True)
    q = lsub.add_parser("list", help="adapters and versions (filters combine)")
    q.add_argument("--search", default="", help="text in the name, dataset, notes, tags or base model")
    q.add_argument("--base", default="")
    q.add_argument("--method", default="")
    q.add_argument("--tag", default="")
    q.add_argument("--trash", action="store_true", help="list the trash instead")
    q.add_argument("--json", action="store_true")
    q = lsub.add_parser("show", help="one version's card and lineage")
    q.add_argument("ref", help="NAME or NAME/vN")
    q.add_argument("--json", action="store_true")
    q = lsub.add_parser("diff", help="what differs between two versions")
    q.add_argument("a")
    q.add_argument("b")
    q = lsub.add_parser("tag", help="add or remove tags")
    q.add_argument("ref")
    q.add_argument("tags", nargs="*")
    q.add_argument("--remove", action="append", default=[])
    q = lsub.add_parser("notes", help="set a version's notes")
    q.add_argument("ref")
    q.add_argument("text")
    q = lsub.add_parser("rename", help="rename an adapter (all its versions)")
    q.add_argument("name")
    q.add_argument("new_name")
    q = lsub.add_parser("rm", help="move a version to the trash")
    q.add_argument("ref")
    q = lsub.add_parser("restore", help="bring a version back from the trash")
    q.add_argument("ref")
    q = lsub.add_parser("push", help="upload a version to a Hugging Face Hub model repo, with a model card")
    q.add_argument("ref", help="NAME or NAME/vN")
    q.add_argument("repo", help="owner/name of the model repo (created when missing)")
    q.add_argument("--public", action="store_true", help="make a new repo public (default: private)")

    q = lsub.add_parser("export", help="copy a version out (a folder, or a .zip), PEFT-loadable")
    q.add_argument("ref")
    q.add_argument("destination")
    q = lsub.add_parser("import", help="import a PEFT adapter folder or .zip")
    q.add_argument("source")
    q.add_argument("--name")
    q.add_argument("--allow-pickle", action="store_true",
                   help="accept adapter_model.bin (pickle: can run code; only from a source you trust)")
    q = lsub.add_parser("add", help="file a finished run's adapter (one the library could not take when it ended)")
    q.add_argument("run", help="the run folder, or its id")
    q.add_argument("--name", help="file it under this name (default: the run's)")
    lsub.add_parser("reindex", help="rebuild the index from the version folders")
    lsub.add_parser("check", help="compare the index with the folders and check every version's files")
    p.set_defaults(func=cmd_library)

    p = sub.add_parser("merge", help="combine adapters into a new library version (peft add_weighted_adapter)")
    p.add_argument("adapters", nargs="+", help="library refs (NAME/vN) or adapter folders")
    p.add_argument("--weights", help="comma-separated, one per adapter (default: equal)")
    p.add_argument("--combination", default="linear", choices=COMBINATIONS)
    p.add_argument("--density", type=float, default=0.5, help="ties/dare/magnitude_prune: share of weights kept")
    p.add_argument("--name", default="")
    p.add_argument("--model", help="base model (default: the first adapter's)")
    p.add_argument("--verbose", "-v", action="store_true")
    p.set_defaults(func=cmd_merge)

    p = sub.add_parser("export", help="merge an adapter into its base model and save the full model")
    p.add_argument("adapter", help="library ref (NAME/vN) or adapter folder")
    p.add_argument("output_dir")
    p.add_argument("--model", help="base model (default: the adapter's)")
    p.add_argument("--max-shard-size", default="2GB")
    p.add_argument("--gguf", default="", metavar="f16,q8_0",
                   help="also write GGUF files (llama.cpp, Ollama) with a Modelfile; Llama-family models")
    p.add_argument("--verbose", "-v", action="store_true")
    p.set_defaults(func=cmd_export)


def cmd_library(args: argparse.Namespace, console: Console) -> int:
    try:
        with Library() as library:
            return ACTIONS[args.library_command](library, args, console) or 0
    except LibraryError as exc:
        console.print(f"[red bold]error:[/red bold] {shown(exc)}")
        return protocol.EXIT_BAD_JOB
    except (OSError, sqlite3.Error) as exc:  # the library's own calls say these; a last net for the rest
        console.print(f"[red bold]error:[/red bold] {shown(describe(exc, library_root()))}")
        return protocol.EXIT_BAD_JOB


def _list(library: Library, args: argparse.Namespace, console: Console) -> int:
    entries = library.search(text=args.search, base=args.base, method=args.method, tag=args.tag, trashed=args.trash)
    if args.json:
        console.print_json(json.dumps([e.__dict__ for e in entries]))
        return 0
    table = Table(title="Adapter library" + (" (trash)" if args.trash else ""))
    for column in ("ref", "base model", "stage", "method", "rank", "dataset", "loss", "size", "tags"):
        table.add_column(column)
    for e in entries:
        stage = stage_tag(card_stage(library.card(e.ref)))  # the index has no stage: the card says
        table.add_row(e.ref, shown(e.base_name or e.base_id), stage, shown(e.method), str(e.rank or "?"),
                      shown(Path(e.dataset).name if e.dataset else "—"),
                      f"{e.train_loss:.4f}" if e.train_loss is not None else "—", _size(e.size_bytes),
                      shown(", ".join(e.tags)))
    if library.unwritable:
        console.print(f"[yellow]note:[/yellow] {shown(library.unwritable)}; this list comes from its folders, "
                      "and nothing in it can be changed now")
    console.print(table if entries else "The library is empty: finished runs land here, or use "
                                        "`lora-studio library import`.")
    return 0


def _show(library: Library, args: argparse.Namespace, console: Console) -> int:
    resolved = library.resolve(args.ref)
    found = read_card(resolved.path_obj)
    card = found.to_dict() if found is not None else {}
    ancestors, children = library.lineage(resolved.entry.ref)
    if args.json:
        console.print_json(json.dumps({"ref": resolved.entry.ref, "path": str(resolved.path_obj), "card": card,
                                       "ancestors": ancestors, "children": [c.ref for c in children]}))
        return 0
    console.print(f"[bold]{resolved.entry.ref}[/bold]  {shown(resolved.path_obj)}")
    console.print_json(json.dumps(card))
    console.print("parents: " + (", ".join(p for p, _ in ancestors[:len(resolved.entry.parents)]) or "none"))
    console.print("children: " + (", ".join(c.ref for c in children) or "none"))
    return 0


def _diff(library: Library, args: argparse.Namespace, console: Console) -> int:
    rows = diff_cards(library.card(args.a), library.card(args.b))
    table = Table(title=f"{args.a} vs {args.b}")
    for column in ("field", args.a, args.b):
        table.add_column(escape(column))
    for key, a, b in rows:
        table.add_row(key, escape(json.dumps(a)), escape(json.dumps(b)))
    console.print(table if rows else "No differences in hyperparameters, dataset or metrics.")
    return 0


def _tagged(library: Library, args: argparse.Namespace) -> str:
    entry = library.tag(args.ref, add=args.tags, remove=args.remove)
    return f"{entry.ref}: tags {shown(', '.join(entry.tags)) or 'none'}"


def _renamed(library: Library, args: argparse.Namespace) -> str:
    entries = library.rename(args.name, args.new_name)
    saved = entries[0].name if entries else args.new_name  # the folder-safe name the library saved
    typed = f" (typed as {args.new_name!r})" if saved != args.new_name else ""
    return f"renamed {escape(args.name)} → {escape(saved)}{escape(typed)} ({len(entries)} version(s))"


def _trashed(library: Library, args: argparse.Namespace) -> str:
    ref = library.delete(args.ref).ref
    return f"{ref} moved to the trash (`lora-studio library restore {ref}` brings it back)"


def _push(library: Library, args: argparse.Namespace, console: Console) -> int:
    from studio.core import hub

    resolved = library.resolve(args.ref)
    try:
        url = hub.push_adapter(Path(resolved.entry.path), args.repo, private=not args.public)
    except hub.HubError as exc:
        console.print(f"[red bold]error:[/red bold] {escape(str(exc))}")
        return 1
    console.print(f"pushed {resolved.entry.ref} to {url}")
    return 0


def _import(library: Library, args: argparse.Namespace, console: Console) -> int:
    result = import_adapter(library, Path(args.source), name=args.name, allow_pickle=args.allow_pickle,
                            known_models=discover_models(user_settings.load().model_paths()))
    console.print(f"imported as [bold]{result.entry.ref}[/bold]"
                  + (f" (base model: {shown(result.base.name)})" if result.base else ""))
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/yellow] {shown(warning)}")
    return 0


def _add(library: Library, args: argparse.Namespace, console: Console) -> int:
    try:
        run_dir = runs.resolve_run(args.run)
    except FileNotFoundError as exc:
        raise LibraryError(str(exc)) from None
    card = read_card(run_dir / runs.ADAPTER_NAME)
    filed = library.filed_run(card.run_id or run_dir.name, args.name or card.name) if card is not None else None
    if filed is not None:
        console.print(f"{shown(run_dir.name)} is in the library already, as [bold]{filed.ref}[/bold]")
        return 0
    console.print(f"filed as [bold]{library.add_run(run_dir, name=args.name).ref}[/bold]")
    return 0


def _check(library: Library, args: argparse.Namespace, console: Console) -> int:
    problems = library.check()
    for problem in problems:
        console.print(f"[red]problem:[/red] {escape(problem)}")
    console.print(f"{len(library.scan())} version(s) checked: "
                  + ("consistent" if not problems else f"{len(problems)} problem(s)"))
    return 1 if problems else 0


Action = Callable[[Library, argparse.Namespace, Console], int]
# Actions that change one thing and say so in one line (exit 0).
_SAID: dict[str, Callable[[Library, argparse.Namespace], str]] = {
    "tag": _tagged,
    "notes": lambda library, args: f"{library.set_notes(args.ref, args.text).ref}: notes saved",
    "rename": _renamed,
    "rm": _trashed,
    "restore": lambda library, args: f"{library.restore(args.ref).ref} restored",
    "export": lambda library, args: f"exported to {shown(library.export(args.ref, Path(args.destination)))}",
    "reindex": lambda library, args: f"index rebuilt: {library.rebuild()} version(s)",
}


def _saying(say: Callable[[Library, argparse.Namespace], str]) -> Action:
    """The action that prints what ``say`` returns: one line about what it changed."""

    def action(library: Library, args: argparse.Namespace, console: Console) -> int:
        console.print(say(library, args))
        return 0

    return action


ACTIONS: dict[str, Action] = {"add": _add, "check": _check, "list": _list, "show": _show, "diff": _diff, "push": _push,
                              "import": _import, **{name: _saying(say) for name, say in _SAID.items()}}


def cmd_merge(args: argparse.Namespace, console: Console) -> int:
    weights = [float(w) for w in args.weights.split(",")] if args.weights else [1 / len(args.adapters)] * len(
        args.adapters)
    data = {"kind": "merge", "adapters": args.adapters, "weights": weights, "combination": args.combination,
            "density": args.density, "name": args.name}
    return _run(data, args, console, args.adapters[0])


def cmd_export(args: argparse.Namespace, console: Console) -> int:
    data = {"kind": "export", "adapter": args.adapter, "output_dir": args.output_dir,
            "max_shard_size": args.max_shard_size, "gguf": [k.strip() for k in args.gguf.split(",") if k.strip()]}
    return _run(data, args, console, args.adapter)


def _started(data: dict, args: argparse.Namespace, console: Console, first_adapter: str | None,
             quiet: bool = False) -> Outcome | int:
    """Run a merge, export or eval job through the worker, on ``--model``, else the first adapter's
    base model, else the bundled one; an exit status when the job can't be made."""
    try:
        model = args.model or (_base_of(first_adapter) if first_adapter else "bundled")
        job = job_from_dict({**data, "model": {"path": model}}, source="command line")
    except (JobError, LibraryError) as exc:
        console.print(f"[red bold]error:[/red bold] {escape(str(exc))}")
        return protocol.EXIT_BAD_JOB
    outcome, _events = run_job(job, runs.create_run_dir(data["kind"]), console, quiet=quiet, show_log=args.verbose)
    return outcome


def _run(data: dict, args: argparse.Namespace, console: Console, first_adapter: str) -> int:
    outcome = _started(data, args, console, first_adapter)
    if isinstance(outcome, int):
        return outcome
    if isinstance(outcome.final, protocol.Done) and data["kind"] == "merge":
        merged = MergeOutputs.from_dict(outcome.final.outputs, "the merge")
        console.print(f"merged into [bold]{merged.library_ref}[/bold] (rank {merged.rank})")
    elif isinstance(outcome.final, protocol.Done):
        exported = ExportOutputs.from_dict(outcome.final.outputs, "the export")
        console.print(f"full model saved to [bold]{escape(str(exported.output_dir))}[/bold] "
                      f"({len(exported.shards)} shard(s)); reloaded with transformers: logits within "
                      f"{exported.max_logit_difference or 0:.1e} of base + adapter")
        for written in exported.gguf or []:
            check = "same greedy answers" if written["same_greedy_answers"] else \
                f"[yellow]{written['greedy_agreement']:.0%} of next-token picks agree[/yellow]"
            console.print(f"GGUF {written['type']}: {escape(written['file'])} ({written['bytes'] / 2**20:.0f} MiB), "
                          f"reloaded with transformers: {check}; Modelfile beside it (ollama create NAME -f Modelfile)")
    return outcome.exit_code


def _base_of(adapter: str) -> str:
    folder, _ref = locate_adapter(adapter)
    model = base_model_of(folder)
    if model is None:
        raise LibraryError(f"{adapter}: its card does not name a base model found here; pass --model")
    return model


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 1024:.0f} KiB"


def add_eval_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="perplexity, ROUGE-L and exact match of the base and adapters on a dataset")
    p.add_argument("--adapter", action="append", default=[], help="library ref or folder (repeatable)")
    p.add_argument("--model", help="base model (default: the first adapter's, else bundled)")
    p.add_argument("--dataset", default="bundled")
    p.add_argument("--format", default="auto")
    p.add_argument("--split", choices=["eval", "all"], default="eval",
                   help="the held-out split training used (same seed/fraction), or every row")
    p.add_argument("--max-rows", type=int, default=0)
    p.add_argument("--generate-rows", type=int, default=16, help="rows each model answers for ROUGE-L / EM")
    p.add_argument("--max-length", type=int, default=512)
    p.add_argument("--json", action="store_true")
    p.add_argument("--verbose", "-v", action="store_true")
    p.set_defaults(func=cmd_eval)


def cmd_eval(args: argparse.Namespace, console: Console) -> int:
    data = {"kind": "eval", "adapters": args.adapter,
            "dataset": {"path": args.dataset, "format": args.format, "max_rows": args.max_rows},
            "split": args.split, "generate_rows": args.generate_rows, "max_length": args.max_length}
    outcome = _started(data, args, console, args.adapter[0] if args.adapter else None, quiet=args.json)
    if isinstance(outcome, int):
        return outcome
    if not isinstance(outcome.final, protocol.Done):
        return outcome.exit_code
    results = (outcome.final.outputs or {}).get("results", [])
    if args.json:
        console.print_json(json.dumps(results))
        return 0
    table = Table(title=f"Evaluation on {escape(args.dataset)} ({args.split} split)")
    table.add_column("model")
    for title, _key in METRIC_COLUMNS:
        table.add_column(title)
    winners = {key: best(results, key) for _t, key in METRIC_COLUMNS}
    for row in results:
        cells = [escape(row["adapter"])]
        for _title, key in METRIC_COLUMNS:
            value = row.get(key)
            text = "—" if value is None else f"{value:.4f}"
            cells.append(f"[bold green]{text}[/bold green]" if value is not None and value == winners[key] else text)
        table.add_row(*cells)
    console.print(table)
    return 0

