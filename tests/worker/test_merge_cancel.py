"""Cancelling a merge or an export: the worker ends at once and keeps nothing half-made,
and a cancel that comes once a merge is going into the library is turned down (the
worker must not say "nothing was saved" of a saved merge)."""

from __future__ import annotations

import pytest
from library_support import make_adapter
from worker_harness import LiveWorker

from studio.core import protocol
from studio.core.cards import Card
from studio.core.library import Library

pytestmark = pytest.mark.integration  # starts workers (tests/conftest.py's quick-tier guard)


@pytest.fixture
def refs(studio_home, tiny_model_dir, tmp_path) -> list[str]:
    card = Card.from_dict({"name": "pirate", "method": "lora", "base_model": {"path": str(tiny_model_dir)},
                           "peft_config": {"r": 4, "target_modules": ["q_proj", "v_proj"]}})
    with Library() as library:
        return [library.add(make_adapter(tmp_path / f"adapter-{n}"), card).ref for n in (1, 2)]


def merge_job(model_dir, refs: list[str]) -> dict:
    return {"kind": "merge", "model": {"path": str(model_dir)}, "adapters": refs, "weights": [0.5, 0.5],
            "combination": "linear"}


def library_refs() -> list[str]:
    with Library() as library:
        return [e.ref for e in library.entries()]


def test_a_cancelled_merge_exits_5_and_adds_nothing(refs, tiny_model_dir, tmp_path, studio_home):
    worker = LiveWorker(merge_job(tiny_model_dir, refs), tmp_path / "run")
    worker.wait_for(lambda e: isinstance(e, protocol.Hello))  # its commands are read from here on
    worker.send("cancel")
    assert worker.finish() == protocol.EXIT_CANCELLED
    final = worker.events[-1]
    assert isinstance(final, protocol.Error) and final.kind == "cancelled"
    assert library_refs() == refs
    assert not [p.name for p in (studio_home / "library").iterdir() if p.name.startswith(".merge-")]


def test_a_cancel_while_the_merge_goes_into_the_library_is_too_late(refs, tiny_model_dir, tmp_path):
    library = Library()
    with library.locked():  # the merge waits at the library's door, past its point of no return
        worker = LiveWorker(merge_job(tiny_model_dir, refs), tmp_path / "run")
        worker.wait_for(lambda e: isinstance(e, protocol.Phase) and e.detail == "adding it to the library")
        worker.send("cancel")
        worker.wait_for(lambda e: isinstance(e, protocol.Warning) and "too late to cancel" in e.message)
    assert worker.finish() == protocol.EXIT_OK
    done = worker.events[-1]
    assert isinstance(done, protocol.Done) and done.outputs["library_ref"] == "merged-pirate/v1"
    assert not worker.of(protocol.Error)
    assert "merged-pirate/v1" in library_refs()
    library.close()


def test_a_cancelled_export_removes_its_half_checked_output(refs, tiny_model_dir, tmp_path):
    out = tmp_path / "full-model"
    job = {"kind": "export", "model": {"path": str(tiny_model_dir)}, "adapter": refs[0], "output_dir": str(out),
           "gguf": ["f16"]}
    worker = LiveWorker(job, tmp_path / "run")
    # Saved and being checked (then a GGUF written and checked): a cancel now must take it all back.
    worker.wait_for(lambda e: isinstance(e, protocol.Phase) and e.name == "evaluating")
    assert (out / "config.json").exists()
    worker.send("cancel")
    assert worker.finish() == protocol.EXIT_CANCELLED
    assert not out.exists()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".full-model")]  # nor its staging folder

