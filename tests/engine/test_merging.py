"""Merging real adapters trained here on the tiny model, and merging one into the base."""

from __future__ import annotations

import pytest
import torch
from helpers import Recorder, tiny_job
from peft import PeftModel
from transformers import AutoModelForCausalLM

from studio.core.job_schema import JobError, job_from_dict
from studio.core.library import Library
from studio.core.merging import COMBINATIONS
from studio.engine.control import JobControl
from studio.engine.merging import run_export, run_merge
from studio.engine.training import train


@pytest.fixture(scope="module")
def adapters(tiny_model_dir, tmp_path_factory):
    """Two different adapters (other seed, other scope) in a library of their own."""
    home = tmp_path_factory.mktemp("merge-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LORA_STUDIO_HOME", str(home))
        library = Library()
        refs = []
        for name, seed in (("alpha", 1), ("beta", 2)):
            run_dir = tmp_path_factory.mktemp(name)
            job = tiny_job(tiny_model_dir, training={"max_steps": 6, "seed": seed}, output={"name": name},
                           lora={"init": "gaussian"})
            train(job, run_dir, Recorder(), JobControl())
            refs.append(library.add_run(run_dir).ref)
        library.close()
    return home, refs


@pytest.fixture
def library_home(adapters, monkeypatch):
    home, refs = adapters
    monkeypatch.setenv("LORA_STUDIO_HOME", str(home))
    return refs


SIGN_ELECTING = {"ties", "dare_ties"}


def logits(model_dir, adapter=None) -> torch.Tensor:
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    if adapter is not None:
        model = PeftModel.from_pretrained(model, str(adapter))
    model.eval()
    ids = torch.tensor([[5, 17, 42, 99, 7, 3, 250, 11]])
    with torch.no_grad():
        return model(input_ids=ids).logits


def merge(model_dir, refs, combination, weights, density=1.0, name=""):
    job = job_from_dict({"kind": "merge", "model": {"path": str(model_dir)}, "adapters": refs,
                         "weights": weights, "combination": combination, "density": density, "name": name})
    return run_merge(job, Recorder())


@pytest.mark.slow
@pytest.mark.parametrize("combination", COMBINATIONS)
def test_every_method_gives_a_loadable_adapter_and_weight_one_zero_gives_the_first(
        combination, library_home, tiny_model_dir):
    first, second = library_home
    torch.manual_seed(0)  # dare drops at random
    out = merge(tiny_model_dir, [first, second], combination, [1.0, 0.0], name=f"m-{combination}")
    library = Library()
    entry = library.resolve(out.library_ref).entry
    assert entry.parents == [first, second] and entry.method == f"merge ({combination})"
    merged = logits(tiny_model_dir, entry.path)
    base = logits(tiny_model_dir)
    alpha = logits(tiny_model_dir, library.resolve(first).entry.path)
    beta = logits(tiny_model_dir, library.resolve(second).entry.path)
    assert (merged - base).abs().max() > 1e-3  # it changes the outputs
    if combination in SIGN_ELECTING:
        # TIES elects signs over A and B matrices separately, so even 1/0 is not A alone;
        # it must still land nearer the adapter that has all the weight.
        assert (merged - alpha).norm() < (merged - beta).norm(), ((merged - alpha).norm(), (merged - beta).norm())
    else:
        assert torch.allclose(merged, alpha, atol=1e-4), (merged - alpha).abs().max()
    library.close()


@pytest.mark.slow
def test_linear_half_and_half_sits_between(library_home, tiny_model_dir):
    first, second = library_home
    out = merge(tiny_model_dir, [first, second], "cat", [0.5, 0.5], name="half")
    library = Library()
    merged = logits(tiny_model_dir, out.adapter_path)
    a = logits(tiny_model_dir, library.resolve(first).entry.path)
    b = logits(tiny_model_dir, library.resolve(second).entry.path)
    base = logits(tiny_model_dir)
    # cat is exact: the update is 0.5 * dA + 0.5 * dB, so the logits move about half way to each
    assert (merged - a).abs().max() > 1e-4 and (merged - b).abs().max() > 1e-4
    assert out.rank == 16
    assert (merged - base).abs().max() < max((a - base).abs().max(), (b - base).abs().max())
    library.close()


def test_a_rank_mismatch_is_a_clear_error_before_loading(library_home, tiny_model_dir, tmp_path):
    first, _ = library_home
    other_run = tmp_path / "run"
    train(tiny_job(tiny_model_dir, training={"max_steps": 1}, lora={"r": 4}), other_run, Recorder(), JobControl())
    with pytest.raises(JobError, match="needs adapters of one rank"):
        merge(tiny_model_dir, [first, str(other_run / "adapter")], "linear", [0.5, 0.5])


@pytest.mark.slow
def test_export_merges_into_the_base_and_reloads_with_plain_transformers(library_home, tiny_model_dir, tmp_path):
    first, _ = library_home
    job = job_from_dict({"kind": "export", "model": {"path": str(tiny_model_dir)}, "adapter": first,
                         "output_dir": str(tmp_path / "merged"), "max_shard_size": "100KB"})
    out = run_export(job, Recorder())
    folder = tmp_path / "merged"
    assert len(out.shards) > 1 and (folder / "model.safetensors.index.json").exists()
    assert (folder / "tokenizer.json").exists() and (folder / "generation_config.json").exists()
    assert out.max_logit_difference < 1e-3
    library = Library()
    expected = logits(tiny_model_dir, library.resolve(first).entry.path)
    assert torch.allclose(logits(folder), expected, atol=1e-3)  # plain transformers, no peft
    library.close()


def test_continued_training_is_the_next_version_with_its_parent(library_home, tiny_model_dir, tmp_path):
    first, _ = library_home
    run_dir = tmp_path / "more"
    job = tiny_job(tiny_model_dir, training={"max_steps": 3}, lora={"continue_from": first, "r": 4})
    result = train(job, run_dir, Recorder(), JobControl())
    library = Library()
    entry = library.add_run(run_dir)
    assert (entry.name, entry.version, entry.parents) == ("alpha", 2, [first])  # the next version of its history
    assert entry.rank == 8 == library.card(entry.ref).peft_config["r"]  # the parent's rank, not the job's r=4
    assert result.outputs.metrics.trainable_parameters > 0
    assert job.lora.r == 4  # the job asked for stays as asked (job.json); only the card tells the parent's
    library.close()
