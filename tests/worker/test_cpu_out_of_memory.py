"""This machine's RAM running out is out of memory, not ``internal`` (issue 22, finding 12).

``-r 100000`` on a CPU run died in torch's CPU allocator ("DefaultCPUAllocator: can't allocate
memory") and was reported as an internal error with "see worker.log". Both that and Python's
own MemoryError are kind ``oom`` now (exit 4), with a hint for RAM rather than a GPU's memory.
The failures are real: allocations larger than any process here can have.
"""

from __future__ import annotations

import pytest
import torch

from studio.core import protocol
from studio.engine.hardware import is_out_of_memory, is_out_of_ram
from studio.worker.errors import OOM_HINT, RAM_HINT, classify


def raised(allocate) -> BaseException:
    with pytest.raises(BaseException) as caught:
        allocate()
    return caught.value


def test_torchs_cpu_allocator_failing_is_out_of_memory():
    exc = raised(lambda: torch.empty(2**50, dtype=torch.uint8))  # 1 PiB
    assert isinstance(exc, RuntimeError) and "DefaultCPUAllocator" in str(exc)
    error = classify(exc)
    assert error.kind == "oom" and protocol.EXIT_FOR_ERROR[error.kind] == protocol.EXIT_OOM
    assert error.message.startswith("out of memory: [enforce fail at alloc_cpu.cpp")
    assert error.hint == RAM_HINT and "lora.r" in RAM_HINT and "QLoRA" not in RAM_HINT


def test_pythons_memory_error_is_out_of_memory():
    exc = raised(lambda: bytearray(2**50))
    assert type(exc) is MemoryError
    error = classify(exc)
    assert (error.kind, error.message, error.hint) == ("oom", "out of memory: MemoryError", RAM_HINT)


def test_a_cuda_out_of_memory_keeps_the_gpu_hint():
    exc = torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    assert is_out_of_memory(exc) and not is_out_of_ram(exc)
    assert classify(exc).hint == OOM_HINT


def test_other_runtime_errors_stay_internal():
    error = classify(RuntimeError("mat1 and mat2 shapes cannot be multiplied (4x64 and 32x64)"))
    assert error.kind == "internal"
