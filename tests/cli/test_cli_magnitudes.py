"""``lora-studio train`` with nonsense numbers (issue 22, finding 12), through the real CLI.

``-r 100000`` used to try to allocate ~120 GB and end as ``internal``; ``--epochs 1e9`` planned
1.47e11 steps; ``--seed -1`` failed only once the worker seeded numpy. Now the first two are
refused before any run folder or worker, with the reason and the ``--force`` hint; the seed is
a config error; and a rank forced through anyway ends as out of memory, not ``internal``.
"""

from __future__ import annotations

import pytest
from cli_support import cli_env, read_events, run_cli, run_dirs, tiny_train_args

from studio.core import protocol, runs

pytestmark = pytest.mark.integration  # starts lora-studio processes (tests/conftest.py's quick-tier guard)


def test_a_rank_above_the_layers_and_a_billion_epochs_are_refused_before_a_worker(tiny_model_dir, studio_home):
    args = tiny_train_args(tiny_model_dir, max_steps=0)  # by epochs; a later --rank wins over its --rank 8
    result = run_cli(*args, "--rank", "100000", "--epochs", "1e9", env=cli_env(studio_home))
    assert result.returncode == protocol.EXIT_BAD_JOB, result.output
    said = result.flat
    assert "this job has 2 value(s) far past any usual need" in said
    assert "lora.r is 100,000, above the width of k_proj (64 in, 32 out)" in said and "32 at most" in said
    # The bundled sample, at most 48 rows, a tenth held out: 43 rows, 11 steps an epoch.
    assert "training.epochs is 1e+09: 11,000,000,000 optimizer steps over 43 training rows at 4 rows a step" in said
    assert "Nothing was started. --force starts it anyway." in said
    assert run_dirs(studio_home) == []


def test_a_negative_seed_is_a_config_error(tiny_model_dir, studio_home):
    result = run_cli(*tiny_train_args(tiny_model_dir), "--seed", "-1", env=cli_env(studio_home))
    assert result.returncode == protocol.EXIT_BAD_JOB, result.output
    assert "training.seed must be in [0, 4294967295]" in result.words and "got -1" in result.words
    assert run_dirs(studio_home) == []


def test_force_starts_it_and_a_rank_past_the_address_space_ends_as_out_of_memory(tiny_model_dir, studio_home):
    """r = 2^40 asks torch's CPU allocator for 256 TiB for one layer's A: more than any x86-64
    process can address, so the allocation fails at once on every machine."""
    args = tiny_train_args(tiny_model_dir, max_steps=2, save_steps=0)
    result = run_cli(*args, "--rank", str(2**40), "--force", env=cli_env(studio_home), timeout=180)
    assert result.returncode == protocol.EXIT_OOM, result.output
    assert "error (oom): out of memory:" in result.words and "can't allocate memory" in result.words
    assert "this machine's RAM ran out" in result.words and "lora.r" in result.words
    (run_dir,) = run_dirs(studio_home)
    assert runs.summarize(run_dir).status == "failed"
    (error,) = [e for e in read_events(run_dir) if e["type"] == "error"]
    assert error["kind"] == "oom"
