"""Training on several processes through torchrun (2 CPU processes, gloo): same result as
one process with the same global batch, commands reach every rank, a dying rank ends the
run with a clear error, nothing is left running."""

from __future__ import annotations

import signal
import time

import psutil
import pytest
from safetensors.torch import load_file
from worker_harness import LiveWorker, tiny_job

from studio.core import protocol, runs

pytestmark = pytest.mark.integration  # starts workers (tests/conftest.py's quick-tier guard)

SHORT = {"max_steps": 6, "warmup_ratio": 0.0, "lr_scheduler": "constant", "logging_steps": 1}


def is_step(event) -> bool:
    return isinstance(event, protocol.Step)


def ranks_of(worker: LiveWorker) -> dict[int, psutil.Process]:
    """The rank processes under the worker's torchrun, by their RANK."""
    found = {}
    for child in psutil.Process(worker.proc.pid).children(recursive=True):
        try:
            rank = int(child.environ().get("RANK", -1))
            if rank >= 0 and "studio.worker.rank" in " ".join(child.cmdline()):
                found[rank] = child
        except psutil.NoSuchProcess:
            continue
    return found


def assert_nothing_left(pids: list[int]) -> None:
    deadline = time.monotonic() + 20
    while any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in pids):
        assert time.monotonic() < deadline, "a rank process outlived the run"
        time.sleep(0.2)


def test_two_processes_train_the_same_adapter_as_one_with_the_same_global_batch(tiny_model_dir, tmp_path):
    output = {"add_to_library": False}
    single = LiveWorker(tiny_job(tiny_model_dir, training={**SHORT, "batch_size": 4}, output=output),
                        tmp_path / "single")
    assert single.finish() == protocol.EXIT_OK
    pair = LiveWorker(tiny_job(tiny_model_dir, training={**SHORT, "batch_size": 2},
                               distributed={"cpu_processes": 2}, output=output), tmp_path / "pair")
    assert pair.finish() == protocol.EXIT_OK

    assert any("DDP over 2 processes" in (p.detail or "") for p in pair.of(protocol.Phase))
    assert len(pair.of(protocol.Hello)) == 1  # the launcher's; rank 0's own hello is not relayed
    one, two = [e.loss for e in single.of(protocol.Step)], [e.loss for e in pair.of(protocol.Step)]
    assert len(one) == len(two) == 6 and two[-1] < two[0]
    assert two == pytest.approx(one, abs=1e-4)
    a = load_file(tmp_path / "single" / "adapter" / "adapter_model.safetensors")
    b = load_file(tmp_path / "pair" / "adapter" / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-3
    done = pair.of(protocol.Done)[0]
    assert done.outputs["metrics"]["processes"] == 2 and done.outputs["metrics"]["strategy"] == "ddp"
    # The same rows, counted by the Trainer across ranks here and on the CPU in one process.
    alone = single.of(protocol.Done)[0].outputs["metrics"]
    assert done.outputs["metrics"]["tokens_trained"] == alone["tokens_trained"] > 0
    assert done.outputs["metrics"]["tokens_per_s"] > 0 and all(e.tokens_per_s for e in pair.of(protocol.Step))
    # The launcher alone writes the events file: one of each final event, lines intact.
    lines = (tmp_path / "pair" / runs.EVENTS_NAME).read_text(encoding="utf-8").splitlines()
    assert [protocol.decode(line).type for line in lines].count("done") == 1


def test_stop_reaches_every_rank_and_the_run_resumes_on_both(tiny_model_dir, tmp_path):
    job = tiny_job(tiny_model_dir, training={"batch_size": 2}, distributed={"cpu_processes": 2},
                   output={"add_to_library": False})
    worker = LiveWorker(job, tmp_path / "run")
    worker.wait_for(lambda e: is_step(e) and e.step >= 2)
    pids = [p.pid for p in ranks_of(worker).values()]
    assert len(pids) == 2
    worker.send("stop")
    done = worker.wait_for(lambda e: isinstance(e, protocol.Done))
    assert worker.finish() == protocol.EXIT_OK and done.outputs["stopped"] is True
    last = max(e.step for e in worker.of(protocol.Step))
    assert last < 400
    assert runs.latest_checkpoint(tmp_path / "run").name == f"checkpoint-{last}"
    assert runs.summarize(tmp_path / "run").status == "stopped"
    assert_nothing_left(pids)

    job["training"].update(resume_from="latest", max_steps=last + 3)
    resumed = LiveWorker(job, tmp_path / "run")
    assert resumed.finish() == protocol.EXIT_OK
    assert [e.step for e in resumed.of(protocol.Step)] == [last + 1, last + 2, last + 3]
    assert (tmp_path / "run" / "adapter" / "adapter_model.safetensors").exists()


def test_a_rank_that_dies_ends_the_run_with_an_error_naming_it(tiny_model_dir, tmp_path):
    worker = LiveWorker(tiny_job(tiny_model_dir, training={"batch_size": 2}, distributed={"cpu_processes": 2},
                                 output={"add_to_library": False}), tmp_path / "run")
    worker.wait_for(lambda e: is_step(e) and e.step >= 2)
    ranks = ranks_of(worker)
    ranks[1].send_signal(signal.SIGKILL)
    error = worker.wait_for(lambda e: isinstance(e, protocol.Error), timeout=60)
    assert worker.finish(timeout=60) == protocol.EXIT_INTERNAL
    assert "rank 1" in error.message and "-9" in error.message, error.message
    assert runs.summarize(tmp_path / "run").status == "failed"
    assert_nothing_left([p.pid for p in ranks.values()])


def test_pause_holds_every_rank_then_cancel_ends_them_at_once(tiny_model_dir, tmp_path):
    worker = LiveWorker(tiny_job(tiny_model_dir, training={"batch_size": 2}, distributed={"cpu_processes": 2},
                                 output={"add_to_library": False}), tmp_path / "run")
    worker.wait_for(is_step)
    worker.send("pause")
    worker.wait_for(lambda e: isinstance(e, protocol.Phase) and e.name == "paused")
    time.sleep(0.5)  # a step already under way may still report
    held = len(worker.of(protocol.Step))
    time.sleep(1.5)
    assert len(worker.of(protocol.Step)) == held  # no rank ran ahead
    worker.send("resume")
    worker.wait_for(lambda e: is_step(e) and e.step > held + 1)
    pids = [p.pid for p in ranks_of(worker).values()]
    worker.send("cancel")
    error = worker.wait_for(lambda e: isinstance(e, protocol.Error))
    assert error.kind == "cancelled" and worker.finish() == protocol.EXIT_CANCELLED
    assert not (tmp_path / "run" / "adapter").exists()
    assert_nothing_left(pids)
