"""GGUF export on the bundled model: a merged adapter written as f16 and q8_0 GGUF files,
each reloaded with plain transformers and answering like the merged model."""

from __future__ import annotations

import gguf
import peft
import pytest
import torch
from helpers import Recorder
from transformers import AutoModelForCausalLM, AutoTokenizer

from studio.core import protocol
from studio.core.job_schema import job_from_dict
from studio.engine import gguf_export
from studio.engine.merging import GGUF_CHECK_PROMPTS, run_export


@pytest.fixture
def bundled_adapter(bundled_model, tmp_path):
    """A LoRA on the bundled model whose B matrices are not zero, so merging changes it."""
    torch.manual_seed(0)  # the same adapter every run: q8_0 rounding meets the same weights
    base = AutoModelForCausalLM.from_pretrained(bundled_model, dtype=torch.float32)
    model = peft.get_peft_model(base, peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    torch.manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.02)
    model.save_pretrained(tmp_path / "adapter")
    return tmp_path / "adapter"


@pytest.mark.slow
def test_gguf_f16_and_q8_0_reload_with_the_merged_models_answers(bundled_model, bundled_adapter, tmp_path):
    job = job_from_dict({"kind": "export", "model": {"path": "bundled"}, "adapter": str(bundled_adapter),
                         "output_dir": str(tmp_path / "merged"), "gguf": ["f16", "q8_0"]})
    recorder = Recorder()
    out = run_export(job, recorder)
    folder = tmp_path / "merged"
    written = {w["type"]: w for w in out.gguf or []}
    assert set(written) == {"f16", "q8_0"}
    assert written["f16"]["same_greedy_answers"] and written["f16"]["greedy_agreement"] == 1.0
    # q8_0 rounds every weight: the same next-token pick nearly everywhere (here: measured, not assumed).
    assert written["q8_0"]["greedy_agreement"] >= 0.9, written["q8_0"]
    assert written["q8_0"]["bytes"] < 0.6 * written["f16"]["bytes"]
    modelfile = (folder / "Modelfile").read_text()
    assert modelfile.startswith("FROM ./adapter-q8_0.gguf") and '<|im_start|>' in modelfile
    reader = gguf.GGUFReader(str(folder / "adapter-q8_0.gguf"))
    kinds = {t.tensor_type.name for t in reader.tensors}
    assert {"Q8_0", "F32"} <= kinds  # weights blocked, norms kept in fp32
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]

    # Independently of the export's own check: the f16 file answers as the merged model does.
    tokenizer = AutoTokenizer.from_pretrained(folder)
    merged = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    back = AutoModelForCausalLM.from_pretrained(folder, gguf_file="adapter-f16.gguf", dtype=torch.float32).eval()
    want = gguf_export.greedy_tokens(merged, tokenizer, GGUF_CHECK_PROMPTS)
    assert gguf_export.greedy_tokens(back, tokenizer, GGUF_CHECK_PROMPTS) == want
    assert any(p.name == "saving" and "GGUF q8_0" in (p.detail or "") for p in recorder.of(protocol.Phase))


def test_a_non_llama_model_is_refused_with_a_clear_error(tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel

    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=64))
    with pytest.raises(gguf_export.GGUFExportError, match="Llama-family"):
        gguf_export.write_gguf(model, None, tmp_path / "x.gguf")


def test_bad_gguf_types_are_a_job_error():
    from studio.core.job_schema import JobError

    with pytest.raises(JobError, match=r"gguf\[0\]"):
        job_from_dict({"kind": "export", "adapter": "a/v1", "output_dir": "/tmp/x", "gguf": ["q4_k"]})
