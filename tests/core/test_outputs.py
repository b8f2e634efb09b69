"""The done event's outputs as typed records: what an older worker wrote still reads."""

from __future__ import annotations

import warnings

import pytest

from studio.core import protocol
from studio.core.outputs import ExportOutputs, MergeOutputs, TrainMetrics, TrainOutputs, outputs_for
from studio.core.records import RecordWarning

# A train job's outputs as the worker wrote them before they were typed.
OLD_TRAIN = {"adapter_path": "/h/runs/r/adapter", "base_model_path": "/h/models/smollm2", "name": "captain",
             "metrics": {"train_loss": 1.2, "mean_train_loss": 1.4, "steps": 40, "train_tokens": 9000,
                         "trainable_parameters": 4884480, "total_parameters": 139399488, "tokens_per_s": 1712.4,
                         "train_seconds": 12.5, "tokens_trained": 8000, "eval_loss": 1.3, "perplexity": 3.67,
                         "peak_memory_bytes": 2 * 2**30, "estimated_peak_bytes": 2 * 2**30 + 5,
                         "estimate_error": 0.0, "processes": 2, "strategy": "ddp"},
             "stopped": False, "library_ref": "captain/v1", "merged_path": "/h/runs/r/merged"}


def test_old_train_outputs_read_as_attributes_and_write_back_unchanged():
    with warnings.catch_warnings():
        warnings.simplefilter("error", RecordWarning)
        outputs = TrainOutputs.from_dict(OLD_TRAIN)
    assert outputs.adapter_path == "/h/runs/r/adapter" and outputs.library_ref == "captain/v1"
    assert outputs.metrics.tokens_per_s == 1712.4 and outputs.metrics.strategy == "ddp" and not outputs.stopped
    assert outputs.to_dict() == OLD_TRAIN
    event = protocol.decode(protocol.encode(protocol.done(outputs)))
    assert isinstance(event, protocol.Done) and event.outputs == OLD_TRAIN


def test_a_stopped_rank_s_outputs_and_absent_fields():
    outputs = TrainOutputs.from_dict({"metrics": {"steps": 3}, "stopped": True})
    assert outputs.stopped and outputs.adapter_path is None and outputs.metrics == TrainMetrics(steps=3)
    assert outputs.to_dict() == {"metrics": {"steps": 3}, "stopped": True}  # nothing made up


def test_outputs_are_read_by_the_job_kind_and_unknown_keys_warn():
    assert isinstance(outputs_for("merge", {"adapter_path": "p", "library_ref": "m/v1", "rank": 8}), MergeOutputs)
    export = outputs_for("export", {"output_dir": "o", "shards": ["a.safetensors"], "max_logit_difference": 1e-5})
    assert isinstance(export, ExportOutputs) and export.shards == ["a.safetensors"]
    assert outputs_for("generate", {"answers": []}) is None
    with pytest.warns(RecordWarning, match="unknown key.*rewards"):
        outputs = TrainOutputs.from_dict({**OLD_TRAIN, "rewards": [1.0]}, "done")
    assert outputs.extra == {"rewards": [1.0]} and outputs.to_dict()["rewards"] == [1.0]
