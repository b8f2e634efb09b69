"""The Trainer's per-step module walks are gone, and nothing else changed (engine.step_overhead)."""

from __future__ import annotations

import collections
import dataclasses

import pytest
import torch
from helpers import Recorder, tiny_job
from peft import get_peft_model_state_dict

from studio.core import protocol
from studio.core.faults import FAULT_VARIABLE
from studio.engine.control import JobControl
from studio.engine.step_overhead import StepWalks
from studio.engine.training import train

WALKS = ("train", "named_parameters", "named_modules")


def test_train_skips_the_walk_only_when_every_module_is_training():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Sequential(torch.nn.Dropout(0.5), torch.nn.Linear(2, 1)))
    expected = list(model.parameters())
    walks = StepWalks()
    walks.attach(model)
    assert model.train() is model and all(m.training for m in model.modules())
    model[1][0].eval()  # one module switched alone (a sample, an evaluation of a part)
    model.train()
    assert all(m.training for m in model.modules())
    model.eval()
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    with pytest.raises(ValueError):
        model.train("yes")  # Module.train's own check still runs
    assert list(model.parameters()) == expected and list(model.parameters(recurse=False)) == []
    walks.detach()
    assert "train" not in vars(model) and "parameters" not in vars(model)


def _counting(patch: pytest.MonkeyPatch) -> collections.Counter:
    counts: collections.Counter = collections.Counter()
    for name in WALKS:
        real = getattr(torch.nn.Module, name)

        def counted(self, *args, _real=real, _name=name, **kwargs):
            counts[_name] += 1
            return _real(self, *args, **kwargs)

        patch.setattr(torch.nn.Module, name, counted)
    return counts


def _run(tiny_model_dir, run_dir):
    """Eight steps, with an eval and a sample after step 4 and a NaN batch skipped at step 3;
    dropout on, so a model left in eval mode would change the losses. Returns the events, the
    walks counted at each step event and the trained adapter."""
    at_step: dict[int, collections.Counter] = {}
    rec = Recorder()

    def emit(event):
        rec(event)
        if isinstance(event, protocol.Step):
            at_step[event.step] = collections.Counter(counts)

    job = tiny_job(tiny_model_dir, lora={"dropout": 0.1},
                   training={"max_steps": 8, "eval_steps": 4, "sample_steps": 4, "on_nan": "skip"})
    with pytest.MonkeyPatch.context() as patch:  # its own: undoing it leaves the test's home alone
        patch.setenv(FAULT_VARIABLE, "nan@3")
        counts = _counting(patch)
        result = train(job, run_dir, emit, JobControl())
    assert "train" not in vars(result.model) and "parameters" not in vars(result.model)
    adapter = {k: v.clone() for k, v in get_peft_model_state_dict(result.model).items()}
    modules = len(list(result.model.modules()))
    # Steps 2-3 and 6-7 run no eval or sample (step 5 comes back from the eval after step 4).
    per_step = {name: max(at_step[3][name] - at_step[1][name], at_step[7][name] - at_step[5][name]) / 2
                for name in WALKS}
    return rec, per_step, adapter, modules


def test_steps_walk_no_module_and_train_exactly_as_before(tiny_model_dir, tmp_path, monkeypatch):
    rec, per_step, adapter, modules = _run(tiny_model_dir, tmp_path / "new")
    assert per_step == {name: 0 for name in WALKS}

    monkeypatch.setattr(StepWalks, "attach", lambda self, model: None)  # the Trainer's own walks
    monkeypatch.setattr(StepWalks, "parameter_count",
                        lambda self, model: model.num_parameters(exclude_embeddings=True))
    old, old_per_step, old_adapter, _ = _run(tiny_model_dir, tmp_path / "old")
    assert old_per_step["train"] >= modules and old_per_step["named_parameters"] >= 3  # what it saves

    assert [(s.step, s.loss, s.grad_norm, s.lr) for s in rec.of(protocol.Step)] == [
        (s.step, s.loss, s.grad_norm, s.lr) for s in old.of(protocol.Step)]
    assert len(rec.losses()) == 8
    assert any("step 3" in w.message and "skipped" in w.message for w in rec.of(protocol.Warning))
    for kind, count in ((protocol.Eval, 2), (protocol.Sample, 2), (protocol.Warning, 1)):
        assert len(rec.of(kind)) >= count and _untimed(rec.of(kind)) == _untimed(old.of(kind))
    assert adapter.keys() == old_adapter.keys()
    assert all(torch.equal(adapter[k], old_adapter[k]) for k in adapter)


def _untimed(events: list) -> list[dict]:
    return [{k: v for k, v in dataclasses.asdict(e).items() if k != "t"} for e in events]
