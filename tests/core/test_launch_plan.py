"""The multi-process plan: how many processes, which strategy, the torchrun command."""

from __future__ import annotations

import pytest

from studio.core import launch_plan
from studio.core.job_schema import JobError, job_from_dict


def job(**distributed):
    return job_from_dict({"kind": "train", "distributed": distributed})


def test_one_gpu_or_none_is_a_single_process():
    plan = launch_plan.plan(job())
    assert not plan.distributed and plan.strategy == "single" and plan.describe() == "one process"
    assert not launch_plan.plan(job(gpus=[3])).distributed


def test_two_gpus_run_ddp_unless_the_estimate_does_not_fit_one():
    assert launch_plan.plan(job(gpus=[0, 1])).strategy == "ddp"
    assert launch_plan.plan(job(gpus=[0, 1]), fits_one_gpu=True).strategy == "ddp"
    plan = launch_plan.plan(job(gpus=[0, 1]), fits_one_gpu=False)
    assert (plan.strategy, plan.world_size, plan.backend) == ("fsdp", 2, "nccl")
    assert launch_plan.plan(job(gpus=[0, 1], strategy="fsdp")).strategy == "fsdp"
    assert launch_plan.plan(job(gpus=[0, 1], strategy="ddp"), fits_one_gpu=False).strategy == "ddp"


def test_cpu_processes_use_gloo_and_share_the_threads():
    plan = launch_plan.plan(job(cpu_processes=2))
    assert (plan.nproc_per_node, plan.backend, plan.strategy) == (2, "gloo", "ddp")
    env = launch_plan.rank_environment(plan, {"PATH": "/bin"})
    assert env["CUDA_VISIBLE_DEVICES"] == "" and int(env["OMP_NUM_THREADS"]) >= 1


def test_the_chosen_gpus_are_the_only_ones_the_ranks_see():
    plan = launch_plan.plan(job(gpus=[2, 5]))
    env = launch_plan.rank_environment(plan, {"CUDA_VISIBLE_DEVICES": "1,2,3"})
    assert env["CUDA_VISIBLE_DEVICES"] == "2,5" and env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"  # nvidia-smi's numbers
    argv = launch_plan.torchrun_command(plan, "py", "/r/job.json", "/r")
    assert argv[:3] == ["py", "-m", "torch.distributed.run"]
    assert argv[argv.index("--nproc-per-node") + 1] == "2" and "--standalone" in argv
    assert argv[-8:] == ["-m", "studio.worker.rank", "/r/job.json", "--run-dir", "/r", "--strategy", "ddp",
                         "--backend", "nccl"][-8:]


def test_several_machines_meet_at_node_0_with_a_static_rendezvous():
    plan = launch_plan.plan(job(gpus=[0, 1], nnodes=2, node_rank=1, rdzv_endpoint="node0.lan:29500"))
    assert plan.world_size == 4 and plan.master == ("node0.lan", 29500)
    argv = launch_plan.torchrun_command(plan, "py", "j", "r")
    assert "--standalone" not in argv
    for flag, value in [("--nnodes", "2"), ("--node-rank", "1"), ("--master-addr", "node0.lan"),
                        ("--master-port", "29500")]:
        assert argv[argv.index(flag) + 1] == value
    assert "x 2 machines" in plan.describe()


@pytest.mark.parametrize("distributed, training, field", [
    ({"gpus": [0, 0]}, {}, "distributed.gpus"),
    ({"gpus": [-1]}, {}, "distributed.gpus"),
    ({"gpus": [0, 1]}, {"device": "cpu"}, "distributed.gpus"),
    ({"cpu_processes": 2}, {"device": "cuda"}, "distributed.cpu_processes"),
    ({"nnodes": 2}, {}, "distributed.rdzv_endpoint"),
    ({"nnodes": 2, "node_rank": 2, "rdzv_endpoint": "h:1"}, {}, "distributed.node_rank"),
    ({"nnodes": 0}, {}, "distributed.nnodes"),
])
def test_impossible_settings_name_their_field(distributed, training, field):
    with pytest.raises(JobError) as caught:
        job_from_dict({"kind": "train", "distributed": distributed, "training": training})
    assert field in str(caught.value)


def test_fsdp_refuses_pissa_which_rewrites_the_whole_base():
    with pytest.raises(JobError, match="distributed.strategy"):
        job_from_dict({"kind": "train", "lora": {"init": "pissa"}, "distributed": {"strategy": "fsdp"}})


def test_auto_keeps_pissa_on_ddp_even_when_the_model_does_not_fit_one_gpu():
    job = job_from_dict({"kind": "train", "lora": {"init": "pissa"}, "distributed": {"gpus": [0, 1]}})
    assert launch_plan.plan(job, fits_one_gpu=False).strategy == "ddp"

