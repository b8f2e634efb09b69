"""Fake but well-formed PEFT adapter folders for the library tests (no torch needed)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

LLAMA_TINY = {"model_type": "llama", "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
              "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 100}


def write_safetensors(path: Path, shapes: dict[str, list[int]]) -> Path:
    header, offset = {}, 0
    for name, shape in shapes.items():
        size = 4
        for dim in shape:
            size *= dim
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * offset)
    return path


def make_adapter(folder: Path, r: int = 4, modules: dict[str, tuple[int, int]] | None = None,
                 card: dict | None = None) -> Path:
    """A PEFT-shaped adapter for a 2-layer llama (hidden 64) with q/v by default."""
    folder.mkdir(parents=True, exist_ok=True)
    modules = modules or {"q_proj": (64, 64), "v_proj": (64, 32)}
    shapes = {}
    for layer in range(2):
        for module, (fan_in, fan_out) in modules.items():
            prefix = f"base_model.model.model.layers.{layer}.self_attn.{module}"
            shapes[f"{prefix}.lora_A.weight"] = [r, fan_in]
            shapes[f"{prefix}.lora_B.weight"] = [fan_out, r]
    write_safetensors(folder / "adapter_model.safetensors", shapes)
    (folder / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "r": r, "lora_alpha": 2 * r, "target_modules": sorted(modules),
        "base_model_name_or_path": "tiny-llama"}))
    if card is not None:
        (folder / "card.json").write_text(json.dumps(card))
    return folder


def cli_train(model_dir: Path, seed: int, steps: int = 3, name: str = "pirate", rows: int = 24) -> None:
    """A real `lora-studio train` on the tiny model; the finished run lands in the library."""
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    args = [sys.executable, "-m", "studio.cli.main", "train", "--model", str(model_dir), "--max-steps", str(steps),
            "--max-rows", str(rows), "--rank", "8", "--lr", "1e-2", "--max-length", "96", "--device", "cpu",
            "--name", name, "--seed", str(seed), "--quiet"]
    result = subprocess.run(args, cwd=repo, env=os.environ.copy(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
