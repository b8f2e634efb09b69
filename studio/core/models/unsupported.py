"""Models LoRA Studio cannot train, named for what they are, and what it trains instead.

"not a causal language model" told a Mamba user nothing (Mamba does generate text) and a BERT
user little more. Every place a model is read (a folder's config.json, a .gguf header) asks
``refusal`` first, so ``lora-studio models``/``train``/``estimate`` and the Models and Train
pages refuse alike, in one sentence that says what the model is and what is supported.
"""

from __future__ import annotations

from typing import Any

SUPPORTED = ("LoRA Studio trains causal decoder language models: "
             "Llama, Qwen, Gemma, Mistral, Phi, GPT-2/NeoX and their kin")

_STATE_SPACE = ("a state-space model", "it has no attention layers, which the app's adapters and memory "
                                       "estimate are built for")
_RECURRENT = ("a recurrent model", "it has no attention layers, which the app's adapters and memory estimate "
                                   "are built for")
_HYBRID = ("a hybrid of attention and state-space (Mamba) layers", "its state-space layers are not supported")
_ENCODER = ("an encoder-only model", "it does not generate text")
_ENCODER_DECODER = ("an encoder-decoder model", "the app trains decoder-only models")

# model_type (config.json) or general.architecture (GGUF) -> (what it is, why not, its name).
_KINDS: dict[str, tuple[tuple[str, str], str]] = {
    "mamba": (_STATE_SPACE, "Mamba"), "mamba2": (_STATE_SPACE, "Mamba-2"),
    "falcon_mamba": (_STATE_SPACE, "Falcon Mamba"), "falcon-mamba": (_STATE_SPACE, "Falcon Mamba"),
    "rwkv": (_RECURRENT, "RWKV"), "rwkv5": (_RECURRENT, "RWKV-5"), "rwkv6": (_RECURRENT, "RWKV-6"),
    "rwkv7": (_RECURRENT, "RWKV-7"), "rwkv6qwen2": (_RECURRENT, "RWKV-6"), "xlstm": (_RECURRENT, "xLSTM"),
    "recurrent_gemma": (("a hybrid of attention and recurrent layers", "its recurrent layers are not supported"),
                        "RecurrentGemma"),
    "jamba": (_HYBRID, "Jamba"), "zamba": (_HYBRID, "Zamba"), "zamba2": (_HYBRID, "Zamba2"),
    "bamba": (_HYBRID, "Bamba"), "falcon_h1": (_HYBRID, "Falcon-H1"), "falcon-h1": (_HYBRID, "Falcon-H1"),
    "nemotron_h": (_HYBRID, "Nemotron-H"), "granitemoehybrid": (_HYBRID, "Granite 4.0 hybrid"),
    "granitehybrid": (_HYBRID, "Granite 4.0 hybrid"),
    "bert": (_ENCODER, "BERT"), "roberta": (_ENCODER, "RoBERTa"), "xlm-roberta": (_ENCODER, "XLM-RoBERTa"),
    "deberta": (_ENCODER, "DeBERTa"), "deberta-v2": (_ENCODER, "DeBERTa-v2"), "modernbert": (_ENCODER, "ModernBERT"),
    "distilbert": (_ENCODER, "DistilBERT"), "electra": (_ENCODER, "ELECTRA"), "albert": (_ENCODER, "ALBERT"),
    "camembert": (_ENCODER, "CamemBERT"), "mpnet": (_ENCODER, "MPNet"), "nomic_bert": (_ENCODER, "Nomic BERT"),
    "nomic-bert": (_ENCODER, "Nomic BERT"), "jina-bert-v2": (_ENCODER, "Jina BERT"),
    "t5encoder": (_ENCODER, "T5 encoder"),
    "t5": (_ENCODER_DECODER, "T5"), "mt5": (_ENCODER_DECODER, "mT5"), "umt5": (_ENCODER_DECODER, "UMT5"),
    "bart": (_ENCODER_DECODER, "BART"), "mbart": (_ENCODER_DECODER, "mBART"), "pegasus": (_ENCODER_DECODER, "Pegasus"),
    "marian": (_ENCODER_DECODER, "Marian"), "longt5": (_ENCODER_DECODER, "LongT5"),
}


def refusal(config: dict[str, Any]) -> str | None:
    """Why a model of this config.json (or a GGUF's ``{"model_type": general.architecture}``) can't
    be trained, in one sentence: "a state-space model (Mamba): it has no attention layers, ...
    LoRA Studio trains ..."; None where nothing here rules it out."""
    model_type = str(config.get("model_type") or "").lower()
    archs = [a for a in config.get("architectures") or [] if isinstance(a, str)]
    if model_type == "t5" and archs and all(a == "T5EncoderModel" for a in archs):
        model_type = "t5encoder"
    found = _KINDS.get(model_type)
    if found is None and "ssm_cfg" in config:  # state-spaces/mamba checkpoints name no model_type
        layer = (config.get("ssm_cfg") or {}).get("layer", "") if isinstance(config.get("ssm_cfg"), dict) else ""
        found = _KINDS["mamba2" if layer == "Mamba2" else "mamba"]
    if found is None:
        return None
    (what, why), name = found
    return f"{what} ({name}): {why}. {SUPPORTED}."


def not_causal(config: dict[str, Any]) -> str:
    """What to say of any other config that names no causal language model."""
    what = config.get("architectures") or config.get("model_type") or "unknown"
    return f"not a causal language model (architectures: {what}). {SUPPORTED}."
