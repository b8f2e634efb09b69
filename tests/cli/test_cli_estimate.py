"""``lora-studio estimate``: the same flags and job files as ``train``, a table or JSON out."""

from __future__ import annotations

import json

import pytest
from cli_support import run_cli

from studio.core import vram
from studio.core.jobs import TrainJob
from studio.core.models import bundled_model_path, inspect_model

pytestmark = pytest.mark.integration  # starts lora-studio processes (tests/conftest.py's quick-tier guard)


def test_table_shows_every_part_and_the_total():
    result = run_cli("estimate", "--gpu-memory", "80")
    assert result.returncode == 0, result.output
    for label in ("Base weights", "Adapter weights", "Gradients", "Optimizer states", "Activations",
                  "Logits and loss", "Allocator overhead", "CUDA context", "Total"):
        assert label in result.stdout
    assert "Fits an 80 GiB card" in result.stdout


def test_json_equals_the_core_estimate_for_the_same_flags():
    result = run_cli("estimate", "--json", "--gpu-memory", "80", "--batch-size", "8", "--max-length", "1024",
                     "--method", "dora", "--gradient-checkpointing")
    assert result.returncode == 0, result.output
    shown = json.loads(result.stdout)
    job = TrainJob()
    job.training.batch_size, job.training.max_length, job.training.gradient_checkpointing = 8, 1024, True
    job.lora.use_dora = True
    model = inspect_model(bundled_model_path())
    expected = vram.estimate(job, model.config, num_parameters=model.num_parameters)
    assert shown["total_bytes"] == expected.total and shown["parts"] == expected.as_dict()["parts"]
    assert shown["fits"] is True and shown["suggestions"] == []


def test_a_checkpointed_job_with_room_to_spare_shows_what_will_run():
    flags = ("estimate", "--gpu-memory", "24", "--batch-size", "8", "--max-length", "1024", "--gradient-checkpointing")
    result = run_cli(*flags, "--json")
    shown = json.loads(result.stdout)["partial_checkpointing"]
    model = inspect_model(bundled_model_path())
    assert shown["layers"] == model.config["num_hidden_layers"] and shown["checkpointed_layers"] < shown["layers"]
    assert shown["total_bytes"] <= 0.9 * 24 * 2**30
    result = run_cli(*flags)
    text = result.words
    # One figure, what will run: the table's Total is the planner's, and one sentence says why.
    runs = vram.format_bytes(shown["total_bytes"])
    assert f"Total {runs}" in " ".join(text.replace("│", " ").split())
    if shown["checkpointed_layers"] == 0:
        assert (f"Checkpointing will be turned off: the card has room, and steps are faster without it — about "
                f"{runs}.") in text
    else:
        assert f"Checkpointing will be kept on {shown['checkpointed_layers']} of {shown['layers']} layers" in text
    assert "fuses the loss" not in text and "at most" not in text
    plain = json.loads(run_cli("estimate", "--gpu-memory", "24", "--json").stdout)
    assert plain["partial_checkpointing"] is None


def test_too_small_a_card_gets_suggestions_that_fit(tmp_path):
    job_file = tmp_path / "job.toml"
    job_file.write_text("[training]\nbatch_size = 16\nmax_length = 2048\n")
    result = run_cli("estimate", "--job", str(job_file), "--gpu-memory", "6", "--json")
    shown = json.loads(result.stdout)
    assert shown["fits"] is False and shown["suggestions"]
    best = shown["suggestions"][0]
    assert best["fits"] and best["total_bytes"] <= 6 * 2**30
    text = run_cli("estimate", "--job", str(job_file), "--gpu-memory", "6").stdout
    assert "Does not fit" in text and "--set training." in text


def test_a_bad_flag_value_is_named():
    result = run_cli("estimate", "--rank", "-3")
    assert result.returncode != 0 and "lora.r" in result.output


def test_two_gpus_estimate_each_gpu_and_auto_shards_only_what_does_not_fit():
    model = inspect_model(bundled_model_path())
    roomy = json.loads(run_cli("estimate", "--json", "--gpus", "0,1", "--gpu-memory", "80").stdout)
    assert (roomy["gpus"], roomy["strategy"]) == (2, "ddp")
    job = TrainJob()
    job.distributed.gpus = [0, 1]
    expected = vram.estimate(job, model.config, num_parameters=model.num_parameters, gpus=2, strategy="ddp")
    assert roomy["total_bytes"] == expected.total
    # A card too small for the whole job: auto shards it (FSDP), and says so in the table.
    tight = run_cli("estimate", "--gpus", "0,1", "--gpu-memory", "1", "--batch-size", "16", "--max-length", "2048")
    assert tight.returncode == 0, tight.output
    assert "2 GPUs (fsdp)" in tight.stdout
    forced = json.loads(run_cli("estimate", "--json", "--gpus", "0,1", "--strategy", "ddp", "--gpu-memory", "1",
                                "--batch-size", "16", "--max-length", "2048").stdout)
    assert forced["strategy"] == "ddp"


def test_bad_gpu_indices_are_a_clear_error():
    result = run_cli("estimate", "--gpus", "0,x")
    assert result.returncode != 0 and "GPU indices" in result.output
