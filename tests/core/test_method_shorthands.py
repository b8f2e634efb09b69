"""Methods: one table for the CLI and GUI, switching cleanly, and read back from a job."""

from __future__ import annotations

import pytest

from studio.core.job_schema import job_from_dict, to_dict
from studio.core.jobs import TrainJob
from studio.core.methods import METHOD_HELP, METHOD_LABELS, METHODS, apply_method, detect_method


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_builds_a_valid_job_and_is_detected(method):
    data = apply_method(to_dict(TrainJob()), method)
    job = job_from_dict(data)
    assert detect_method(to_dict(job)) == method
    assert METHOD_LABELS[method] and METHOD_HELP[method]


def test_switching_method_resets_what_the_last_one_set():
    data = apply_method(apply_method(to_dict(TrainJob()), "qlora"), "dora")
    assert data["model"]["quantization"] == "none"
    assert data["lora"]["use_dora"] is True
    assert apply_method(data, "lora") == to_dict(TrainJob())


def test_a_combination_is_no_single_method():
    data = to_dict(TrainJob())
    data["lora"].update(use_dora=True, use_rslora=True)
    assert detect_method(data) is None
    data = to_dict(TrainJob())
    data["model"]["quantization"] = "8bit"
    assert detect_method(data) is None


def test_an_unknown_method_is_refused():
    with pytest.raises(KeyError, match="unknown method"):
        apply_method({}, "lorax")
