"""Merge jobs: combine adapters into a new library version, or merge one into the base.

Both are peft's own operations (``add_weighted_adapter``, ``merge_and_unload``); this
module only loads, orders, saves atomically and checks. An export is checked by
reloading it with plain transformers and comparing its logits with base + adapter.
A cancel (which ends the worker at once) removes what a job was writing: a merge is
kept only from the moment it goes into the library, an export only once it is checked.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import peft
import torch
import transformers

from studio.core import atomic, protocol
from studio.core.cards import BaseModelRef, DatasetRef, MergeInfo, build_card, read_card, write_card
from studio.core.job_schema import Issue, JobError
from studio.core.jobs import ExportJob, MergeJob, TrainJob
from studio.core.library import Library, locate_adapter, read_adapter_config
from studio.core.merging import (
    WITH_DENSITY,
    adapter_summary,
    adapter_tuner,
    adapter_uses_dora,
    plan,
)
from studio.core.outputs import ExportOutputs, MergeOutputs, TrainOutputs
from studio.core.paths import user_path
from studio.core.resources import eval_prompts
from studio.engine.control import JobControl
from studio.engine.training import load_base

Emit = Callable[[protocol.Event], None]
CHECK_TOLERANCE = {torch.float32: 1e-3, torch.bfloat16: 5e-2, torch.float16: 2e-2}


def run_merge(job: MergeJob, emit: Emit, control: JobControl | None = None) -> MergeOutputs:
    with Library() as library:
        return _merge(job, emit, library, control or JobControl())


def _merge(job: MergeJob, emit: Emit, library: Library, control: JobControl) -> MergeOutputs:
    located = [locate_adapter(a, library) for a in job.adapters]
    cards = [read_card(folder) for folder, _ref in located]
    summaries = [adapter_summary(folder) for folder, _ref in located]
    merge_plan = plan(job.combination, [r or 0 for r, _m in summaries], [m for _r, m in summaries], job.weights,
                      job.density, tuners=[adapter_tuner(folder) for folder, _ref in located],
                      dora=[adapter_uses_dora(folder) for folder, _ref in located])
    if merge_plan.problems:
        raise JobError([Issue("adapters", problem) for problem in merge_plan.problems], "the merge")
    for warning in merge_plan.warnings:  # the Merge page said it before starting; the CLI hears it here
        emit(protocol.Warning(warning))
    base = load_base(job.model, emit)
    names = [f"a{i}" for i in range(len(located))]
    model = base.model
    for index, (name, (folder, ref)) in enumerate(zip(names, located, strict=True)):
        # done/total: adapters loaded of all (the Merge page's bar and time left)
        emit(protocol.Phase("merging", done=index, total=len(located), detail=f"loading {ref or folder.name}"))
        if index == 0:
            model = peft.PeftModel.from_pretrained(base.model, str(folder), adapter_name=name)
        else:
            model.load_adapter(str(folder), adapter_name=name)
    emit(protocol.Phase("merging", done=len(located), total=len(located), detail=f"combining ({job.combination})"))
    kwargs: dict[str, Any] = {"combination_type": job.combination}
    if job.combination in WITH_DENSITY:
        kwargs["density"] = job.density
    model.add_weighted_adapter(names, list(job.weights), adapter_name="merged", **kwargs)
    model.set_adapter("merged")
    for name in names:
        model.delete_adapter(name)
    emit(protocol.Phase("saving"))
    parents = [ref or str(folder) for folder, ref in located]
    first = cards[0]
    # A hidden ".staging" folder: the library's own clean-up removes one a killed worker left.
    with tempfile.TemporaryDirectory(prefix=".merge-", suffix=".staging", dir=library.root) as tmp:
        control.discard_on_cancel(Path(tmp))
        model.save_pretrained(tmp, selected_adapters=["merged"])
        saved = Path(tmp) / "merged" if (Path(tmp) / "merged").is_dir() else Path(tmp)
        card = build_card(
            read_adapter_config(saved), name=job.name or f"merged-{_name_of(located[0])}",
            base_model=first.base_model if first is not None else BaseModelRef(id=job.model.path),
            method=f"merge ({job.combination})", parents=parents,
            merge=MergeInfo(combination=job.combination, weights=list(job.weights), adapters=parents,
                            density=job.density if job.combination in WITH_DENSITY else None),
            dataset=DatasetRef(path=" + ".join((c.dataset.path if c is not None else None) or "?" for c in cards)))
        control.commit()  # adding it is the point of no return: a cancel now is too late
        emit(protocol.Phase("saving", detail="adding it to the library"))
        entry = library.add(saved, card, parents=parents)
    return MergeOutputs(adapter_path=entry.path, library_ref=entry.ref, rank=merge_plan.rank)


def run_export(job: ExportJob, emit: Emit, control: JobControl | None = None) -> ExportOutputs:
    """Merge an adapter into its base, save the full model, then prove the copy is right."""
    control = control or JobControl()
    folder, ref = locate_adapter(job.adapter)
    base = load_base(job.model, emit)
    tokenizer = base.tokenizer
    emit(protocol.Phase("merging"))
    model = peft.PeftModel.from_pretrained(base.model, str(folder))
    model.eval()
    ids = _check_inputs(tokenizer)
    with torch.no_grad():
        expected = model(input_ids=ids.to(model.device)).logits.float().cpu()
    merged = model.merge_and_unload()
    output = user_path(job.output_dir)
    if output.exists() and any(output.iterdir()):
        raise FileExistsError(f"{output} exists and is not empty: choose a new folder")
    emit(protocol.Phase("saving", detail=str(output)))
    control.discard_on_cancel(output)  # it was empty or absent: an unchecked export is not kept
    with atomic.staged_dir(output) as stage:
        control.discard_on_cancel(stage)
        merged.save_pretrained(stage, safe_serialization=True, max_shard_size=job.max_shard_size)
        tokenizer.save_pretrained(stage)
        merged.generation_config.save_pretrained(stage)
        card = read_card(folder)
        if card is not None:
            write_card(stage, dataclasses.replace(card, merged_into_base=True), name="lora_studio_card.json")
    emit(protocol.Phase("evaluating", detail="reloading the export with plain transformers"))
    dtype = next(merged.parameters()).dtype
    del model, merged
    reloaded = transformers.AutoModelForCausalLM.from_pretrained(output, dtype=dtype)
    reloaded.eval()
    with torch.no_grad():
        actual = reloaded(input_ids=ids.to(reloaded.device)).logits.float().cpu()
    difference = float((actual - expected).abs().max())
    tolerance = CHECK_TOLERANCE.get(dtype, 5e-2)
    if difference > tolerance:
        shutil.rmtree(output, ignore_errors=True)
        raise RuntimeError(f"the exported model's logits differ from base + adapter by {difference:.2e} "
                           f"(> {tolerance:g}); the export was removed")
    shards = sorted(p.name for p in output.glob("*.safetensors"))
    outputs = ExportOutputs(output_dir=str(output), adapter=ref or str(folder), shards=shards,
                            max_logit_difference=difference, tolerance=tolerance,
                            dtype=str(dtype).replace("torch.", ""))
    if job.gguf:
        outputs.gguf = _export_gguf(reloaded, tokenizer, output, job.gguf, (ref or folder.name), emit)
    return outputs


def export_after_training(job: TrainJob, outputs: TrainOutputs, run_dir: Path, emit: Emit) -> ExportOutputs | None:
    """``output.save_merged``: the trained adapter merged into its base, beside it in the run
    folder (``merged/``), by the same checked export as ``lora-studio export``. The base is
    loaded again in full precision (a 4-bit base has no exact merge); a failure is a warning:
    the adapter is saved either way. None when nothing was exported."""
    if outputs.stopped:
        emit(protocol.Warning("the run was stopped: the merged model was not saved (export the adapter from "
                              "the library when you want it)"))
        return None
    gc.collect()  # the trained model has gone out of scope: its memory serves the export
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    export = ExportJob(model=dataclasses.replace(job.model, quantization="none"), adapter=str(outputs.adapter_path),
                       output_dir=str(run_dir / "merged"))
    try:
        return run_export(export, emit)
    except (RuntimeError, OSError, ValueError) as exc:
        emit(protocol.Warning(f"the merged model was not saved: {exc}; the adapter is saved, and "
                              f"`lora-studio export` can merge it later"))
        return None


GGUF_CHECK_PROMPTS = ["Who are you?", "What is 7 plus 5?", "Name a colour of the sea."]


def _export_gguf(model, tokenizer, output: Path, kinds: list[str], name: str, emit: Emit) -> list[dict[str, Any]]:
    """Each GGUF beside the merged model, reloaded with transformers and checked: greedy
    answers to a few prompts must equal the merged model's (f16 must; q8_0 is reported)."""
    from studio.engine import gguf_export

    stem = str(name).replace("/", "-")
    model = model.float()
    expected = gguf_export.greedy_tokens(model, tokenizer, GGUF_CHECK_PROMPTS)
    written = []
    for kind in kinds:
        path = output / f"{stem}-{kind}.gguf"
        emit(protocol.Phase("saving", detail=f"GGUF {kind}: {path.name}"))
        temporary = output / f".{path.name}.tmp"
        gguf_export.write_gguf(model, tokenizer, temporary, kind, name=stem)
        os.replace(temporary, path)
        emit(protocol.Phase("evaluating", detail=f"reloading {path.name} with transformers"))
        back = transformers.AutoModelForCausalLM.from_pretrained(output, gguf_file=path.name, dtype=torch.float32)
        back_tokenizer = transformers.AutoTokenizer.from_pretrained(output, gguf_file=path.name)
        # The file's own tokenizer must split the chat-formatted prompts as ours does (a wrong
        # vocabulary or merges show here); the model must then answer alike.
        tokens_same = gguf_export.same_tokens(tokenizer, back_tokenizer, GGUF_CHECK_PROMPTS)
        same = tokens_same and gguf_export.greedy_tokens(back.eval(), tokenizer, GGUF_CHECK_PROMPTS) == expected
        agreement = gguf_export.greedy_agreement(back, tokenizer, GGUF_CHECK_PROMPTS, expected)
        del back
        if not tokens_same or (kind == "f16" and not same):
            path.unlink()
            raise RuntimeError(f"the {kind} GGUF {'tokenizes' if not tokens_same else 'answers'} differently from "
                               f"the merged model; {path.name} was removed")
        if not same:
            emit(protocol.Warning(f"{path.name}: q8_0 rounding changed a greedy answer on the check prompts "
                                  f"({agreement:.0%} of next-token picks agree)"))
        written.append({**gguf_export.describe(path), "type": kind, "same_greedy_answers": same,
                        "greedy_agreement": round(agreement, 4)})
    chosen = next((w for w in written if w["type"] == "q8_0"), written[0])  # Ollama gets the smaller one
    atomic.write_text(output / "Modelfile", gguf_export.modelfile(Path(chosen["file"]).name, tokenizer))
    return written


def _name_of(located: tuple[Path, str | None]) -> str:
    folder, ref = located
    if ref:
        return ref.split("/")[0]
    return folder.parent.name if folder.name == "adapter" else folder.name


def _check_inputs(tokenizer) -> torch.Tensor:
    """A few held-out prompts as one sequence (no padding to disagree about)."""
    text = "\n".join(eval_prompts()[:3]) or "Hello"
    return tokenizer(text, return_tensors="pt")["input_ids"]
