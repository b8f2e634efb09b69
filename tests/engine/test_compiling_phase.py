"""A compiled run says so while its first step compiles, then says it is training."""

from __future__ import annotations

from transformers import TrainerControl, TrainerState

from studio.core import protocol
from studio.engine.callbacks import ProtocolCallback
from studio.engine.control import JobControl


def phases(compiling: bool) -> list[str]:
    events: list[protocol.Event] = []
    callback = ProtocolCallback(events.append, JobControl(), compiling=compiling)
    state, control = TrainerState(max_steps=3), TrainerControl()
    callback.on_train_begin(None, state, control)
    for step in (1, 2):
        state.global_step = step
        callback.on_step_end(None, state, control)
    return [e.name for e in events if isinstance(e, protocol.Phase)]


def test_the_first_step_of_a_compiled_run_is_called_compiling():
    assert phases(compiling=True) == ["training", "compiling", "training"]
    assert phases(compiling=False) == ["training"]
