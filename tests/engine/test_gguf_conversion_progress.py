"""A first run on a .gguf converts it (minutes for a large model): the worker says how far,
as tensors dequantized of all, in the loading_model phase the Monitor's bar already draws."""

from __future__ import annotations

from helpers import Recorder

from studio.core import protocol
from studio.core.jobs import ModelSettings


def tiny_gguf(tiny_model_dir, folder):
    import torch
    from transformers import AutoModelForCausalLM

    from studio.engine import gguf_export
    from studio.engine.model_loading import load_tokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    return gguf_export.write_gguf(model, load_tokenizer(tiny_model_dir), folder / "tiny.gguf", "f16")


def test_loading_a_gguf_reports_its_tensors_converted_then_reuses_the_conversion(tiny_model_dir, tmp_path,
                                                                                   studio_home):
    import gguf
    from transformers import modeling_gguf_pytorch_utils

    from studio.engine.training import load_base

    path = tiny_gguf(tiny_model_dir, tmp_path)
    tensors = len(gguf.GGUFReader(path).tensors)
    real_tqdm = modeling_gguf_pytorch_utils.tqdm
    events = Recorder()
    load_base(ModelSettings(path=str(path)), events, device="cpu")
    counted = [e for e in events.of(protocol.Phase) if e.name == "loading_model" and e.total]
    assert counted, [e for e in events.of(protocol.Phase)]
    assert {e.total for e in counted} == {tensors}
    assert counted[0].done == 0 and counted[-1].done == tensors
    assert [e.done for e in counted] == sorted(e.done for e in counted)  # only forward
    assert all("converting tiny.gguf once" in (e.detail or "") for e in counted)
    assert modeling_gguf_pytorch_utils.tqdm is real_tqdm  # put back after the conversion

    again = Recorder()  # the second load reads the converted folder: nothing to count
    load_base(ModelSettings(path=str(path)), again, device="cpu")
    assert not [e for e in again.of(protocol.Phase) if e.total]
