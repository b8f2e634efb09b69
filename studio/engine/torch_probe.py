"""What torch sees, as one JSON line (run in a child process by core.doctor)."""

from __future__ import annotations

import json

import torch


def probe() -> dict:
    out = {"version": torch.__version__, "cuda_build": torch.version.cuda, "cuda": torch.cuda.is_available(),
           "devices": [], "bf16": False}
    if out["cuda"]:
        out["bf16"] = torch.cuda.is_bf16_supported()
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            out["devices"].append({"name": props.name, "capability": f"{props.major}.{props.minor}",
                                   "memory": props.total_memory})
    return out


if __name__ == "__main__":
    print(json.dumps(probe()))
