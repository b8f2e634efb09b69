"""The job benchmark: whole commands timed from start to saved adapter, phases itemised.

It runs for real on a tiny random Llama and generated alpaca rows: the script, the
plain path and the fast path (which on the CPU is the plain path with its own
choices), each as its own process."""

from __future__ import annotations

import json

import pytest

from studio.engine import job_bench

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("job-bench")
    out = workdir / "jobs.jsonl"
    tokenizer = job_bench.default_tokenizer()
    results = job_bench.run(["job-tiny-alpaca-40"], ["script", "plain", "cold"], workdir, tokenizer, out)
    return results, out


def test_every_mode_ends_with_an_adapter_and_itemised_phases(bench):
    results, out = bench
    assert [r["mode"] for r in results] == ["script", "plain", "cold"]
    for result in results:
        assert result["exit"] == 0, result.get("error")
        phases = result["phases"]
        assert set(phases) == set(job_bench.PHASES)
        assert all(seconds >= 0 for seconds in phases.values()), phases
        # The phases cover the whole command: nothing is left out of the itemisation.
        assert sum(phases.values()) == pytest.approx(result["wall_s"], abs=0.5)
        assert result["steps"] == 9  # 36 training rows (40 less 10% held out) in batches of 4
    assert [json.loads(line)["mode"] for line in out.read_text().splitlines()] == ["script", "plain", "cold"]


def test_the_worker_runs_report_their_losses_and_path(bench):
    results, _out = bench
    for result in results[1:]:
        assert result["train_loss"] > 0 and result["eval_loss"] > 0
        assert "packing" in result["path"]
        assert result["step_ms"] > 0


def test_script_phases_read_its_phase_lines():
    lines = "\n".join(f"PHASE {name} {t}" for name, t in [("start", 100.5), ("imported", 103.0), ("loaded", 105.0),
                                                          ("data", 106.0), ("first_step", 110.0),
                                                          ("trained", 130.0), ("evaluated", 131.0),
                                                          ("saved", 131.5)])
    out = job_bench.script_phases(lines + '\nRESULT {"steps": 21, "train_loss": 2.0}', 100.0, 132.0)
    assert out["phases"] == {"start": 3.0, "load": 2.0, "data": 1.0, "first_step": 4.0, "steps": 20.0,
                             "eval": 1.0, "save": 0.5, "exit": 0.5}
    assert out["step_ms"] == 1000.0
