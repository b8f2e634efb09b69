"""Fault drills come from the worker's environment, never from a job (core.faults)."""

from __future__ import annotations

import dataclasses

import pytest

from studio.core.faults import FAULT_VARIABLE, Fault, FaultError, fault_from_environment
from studio.core.job_schema import JobError, job_from_dict
from studio.core.jobs import TrainJob


def test_the_drill_is_read_from_the_environment():
    assert fault_from_environment({}) is None
    assert fault_from_environment({FAULT_VARIABLE: " "}) is None
    assert fault_from_environment({FAULT_VARIABLE: "nan@3"}) == Fault("nan", 3)
    assert fault_from_environment({FAULT_VARIABLE: "disk_full@0"}) == Fault("disk_full", 0)
    with pytest.raises(FaultError, match="KIND@STEP"):
        fault_from_environment({FAULT_VARIABLE: "meteor@3"})


def test_no_job_field_can_turn_a_drill_on():
    assert "faults" not in {f.name for f in dataclasses.fields(TrainJob)}
    # Job files written before carry an empty section: they still load.
    assert isinstance(job_from_dict({"kind": "train", "faults": {"inject": ""}}), TrainJob)
    with pytest.raises(JobError) as raised:
        job_from_dict({"kind": "train", "faults": {"inject": "oom@2"}})
    assert FAULT_VARIABLE in str(raised.value)
