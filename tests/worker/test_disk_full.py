"""A full disk, in each library's words, is a disk_full error with a resume hint (issue 22).

The writes go to a small tmpfs filled to the last byte: a real full disk, not an
exception made up by the test (skipped, with the reason, where none can be mounted).
"""

from __future__ import annotations

import errno
import io
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from fault_disks import fill, small_disk
from safetensors.torch import save_file

from studio.core import protocol
from studio.core.disk_full import full_path, is_disk_full, no_room
from studio.worker.emitter import Emitter
from studio.worker.errors import classify


@pytest.fixture
def full_disk(tmp_path) -> Iterator[Path]:
    with small_disk(tmp_path / "disk", "1m") as folder:
        fill(folder)
        yield folder


def _raised(write) -> BaseException:
    with pytest.raises(BaseException) as caught:
        write()
    return caught.value


@pytest.mark.parametrize("writer", ["python", "safetensors", "torch.save"])
def test_each_writer_s_full_disk_is_a_disk_full_error_naming_the_run(writer, full_disk, tmp_path):
    target = full_disk / "adapter_model.safetensors"
    tensors = {"w": torch.ones(4096)}

    def write():
        if writer == "python":
            with open(target, "wb") as f:
                f.write(b"x" * 65536)
                f.flush()
        elif writer == "safetensors":
            save_file(tensors, str(target))
        else:
            torch.save(tensors, target)

    exc = _raised(write)
    assert is_disk_full(exc), (type(exc), str(exc))  # by its words alone
    error = classify(exc, tmp_path / "run-7")
    assert error.kind == "disk_full", (type(exc), str(exc))
    assert protocol.EXIT_FOR_ERROR[error.kind] == protocol.EXIT_DISK_FULL
    assert "the disk is full" in error.message
    assert f"--resume '{tmp_path / 'run-7'}'" in error.hint


def test_a_write_error_in_unknown_words_on_a_disk_with_no_room_is_a_full_disk(full_disk, tmp_path):
    assert no_room(full_disk) and not no_room(tmp_path)
    assert classify(RuntimeError("PytorchStreamWriter failed writing file data/3"), full_disk).kind == "disk_full"
    assert classify(RuntimeError("PytorchStreamWriter failed writing file data/3"), tmp_path).kind == "internal"
    assert classify(ValueError("not a write"), full_disk).kind != "disk_full"


def test_sqlite_s_words_and_a_wrapped_oserror_are_a_full_disk():
    assert is_disk_full(sqlite3.OperationalError("database or disk is full"))
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device", "/runs/a/adapter.safetensors")
        except OSError as inner:
            raise RuntimeError("saving the adapter failed") from inner
    except RuntimeError as outer:
        assert is_disk_full(outer)
        assert full_path(outer) == "/runs/a/adapter.safetensors"
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not is_disk_full(ValueError("the loss became nan"))


def test_an_events_file_on_a_full_disk_stops_the_run_but_the_watcher_hears_every_event(full_disk):
    stdout = io.StringIO()
    emit = Emitter(stdout, full_disk / "events.jsonl")
    with pytest.raises(OSError) as caught:
        emit(protocol.Warning("first"))
    assert caught.value.errno == errno.ENOSPC
    emit(protocol.Warning("after"))  # raised once; the file is given up
    lines = [json.loads(line) for line in stdout.getvalue().splitlines()]
    assert [line["message"] for line in lines] == ["first", "after"]
    emit.close()


def test_another_thread_s_failed_write_is_raised_by_the_training_thread_s_next_event(full_disk):
    stdout = io.StringIO()
    emit = Emitter(stdout, full_disk / "events.jsonl")
    from_thread: list[BaseException] = []

    def monitor():
        try:
            emit(protocol.Warning("from the monitor"))
        except BaseException as exc:  # noqa: BLE001 - the test asserts none comes here
            from_thread.append(exc)

    worker = threading.Thread(target=monitor)
    worker.start()
    worker.join()
    assert from_thread == []
    with pytest.raises(OSError):
        emit(protocol.Warning("from training"))
    emit(protocol.Error(kind="disk_full", message="the disk is full", hint="free some space"))
    kinds = [json.loads(line)["type"] for line in stdout.getvalue().splitlines()]
    assert kinds == ["warning", "warning", "error"]
    emit.close()
