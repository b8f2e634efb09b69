"""``lora-studio library``, ``merge`` and ``export`` for real: finished runs land in the library,
then every library action, a merge job and a merge-into-base export run through the CLI."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from cli_support import cli_env, run_cli, tiny_train_args

TIMEOUT = 300


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> SimpleNamespace:
    home = tmp_path_factory.mktemp("cli-library-home")
    env = cli_env(home)
    for seed in ("1", "2"):  # the same name twice: two versions of one history
        result = run_cli(*tiny_train_args(tiny_model_dir, max_steps=3, save_steps=0), "--name", "pirate",
                         "--seed", seed, env=env, timeout=TIMEOUT)
        assert result.returncode == 0, result.output
    return SimpleNamespace(home=home, env=env, model=tiny_model_dir)


def listing(env, *flags) -> list[dict]:
    result = run_cli("library", "list", "--json", *flags, env=env)
    assert result.returncode == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.slow
def test_finished_runs_land_in_the_library_as_versions(library):
    entries = listing(library.env)
    assert [e["ref"] for e in entries] == ["pirate/v1", "pirate/v2"]
    assert all(e["rank"] == 8 and e["train_loss"] is not None and e["run_id"] for e in entries)
    shown = run_cli("library", "show", "pirate", "--json", env=library.env)
    assert json.loads(shown.stdout)["ref"] == "pirate/v2"  # a bare name is the newest version


@pytest.mark.slow
def test_tag_diff_trash_restore_export_import_reindex(library, tmp_path):
    env = library.env
    assert run_cli("library", "tag", "pirate/v1", "keeper", env=env).returncode == 0
    assert [e["ref"] for e in listing(env, "--tag", "keeper")] == ["pirate/v1"]
    diff = run_cli("library", "diff", "pirate/v1", "pirate/v2", env=env)
    assert diff.returncode == 0 and "metrics.train_loss" in diff.stdout and "training.seed" in diff.stdout
    assert run_cli("library", "rm", "pirate/v2", env=env).returncode == 0
    assert [e["ref"] for e in listing(env)] == ["pirate/v1"]
    assert [e["ref"] for e in listing(env, "--trash")] == ["pirate/v2"]
    assert run_cli("library", "restore", "pirate/v2", env=env).returncode == 0
    archive = tmp_path / "pirate.zip"
    assert run_cli("library", "export", "pirate/v1", archive, env=env).returncode == 0
    assert "adapter_model.safetensors" in zipfile.ZipFile(archive).namelist()
    imported = run_cli("library", "import", archive, "--name", "copy", env=env)
    assert imported.returncode == 0 and "copy/v1" in imported.stdout, imported.output
    assert "warning" not in imported.stdout  # the tiny model is known (its folder was used to train)
    (library.home / "library" / "index.sqlite").unlink()
    assert "3 version(s)" in run_cli("library", "reindex", env=env).stdout
    checked = run_cli("library", "check", env=env)
    assert checked.returncode == 0 and "consistent" in checked.stdout
    missing = run_cli("library", "show", "ghost", env=env)
    assert missing.returncode != 0 and "no adapter named 'ghost'" in missing.output


@pytest.mark.slow
def test_merge_and_export_through_the_worker(library, tmp_path):
    env = library.env
    merged = run_cli("merge", "pirate/v1", "pirate/v2", "--combination", "cat", "--weights", "0.5,0.5",
                     "--name", "blend", env=env, timeout=TIMEOUT)
    assert merged.returncode == 0, merged.output
    assert "blend/v1" in merged.stdout and "rank 16" in merged.stdout
    card = json.loads(run_cli("library", "show", "blend", "--json", env=env).stdout)
    assert card["card"]["parents"] == ["pirate/v1", "pirate/v2"] and card["ancestors"][0][0] == "pirate/v1"
    out = tmp_path / "full-model"
    exported = run_cli("export", "blend", out, env=env, timeout=TIMEOUT)
    assert exported.returncode == 0, exported.output
    assert (out / "config.json").exists() and list(out.glob("*.safetensors"))
    assert "reloaded with transformers" in exported.stdout
    bad = run_cli("merge", "pirate/v1", "--weights", "1", env=env)
    assert bad.returncode != 0 and "two or more adapters" in bad.output


@pytest.mark.slow
def test_eval_and_generate_take_library_refs(library):
    env = library.env
    result = run_cli("eval", "--adapter", "pirate/v1", "--split", "all", "--max-rows", "24", "--generate-rows", "2",
                     "--max-length", "96", "--json", env=env, timeout=TIMEOUT)
    assert result.returncode == 0, result.output
    base, tuned = json.loads(result.stdout)
    assert (base["adapter"], tuned["adapter"]) == ("base", "pirate/v1")
    assert tuned["perplexity"] < base["perplexity"] and tuned["answered"] == 2
    table = run_cli("eval", "--adapter", "pirate/v1", "--max-rows", "24", "--generate-rows", "0",
                    "--max-length", "96", env=env, timeout=TIMEOUT)
    assert table.returncode == 0 and "perplexity" in table.stdout and "pirate/v1" in table.stdout
    answers = run_cli("generate", "--model", str(library.model), "--adapter", "pirate/v2", "--prompt", "Hi",
                      "--max-new-tokens", "8", env=env, timeout=TIMEOUT)
    assert answers.returncode == 0 and "pirate/v2" in answers.stdout, answers.output
