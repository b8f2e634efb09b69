"""What compiling the decoder layers costs, cold and warm, and what changes it (GPU only).

Each case runs in a fresh process against a compile cache folder it shares with the
cases after it: a Llama of the 1B shape's layer width with few layers (compile time is
per graph, not per layer), LoRA on all linear layers through the engine's own
apply_adapter and layer_setup, three training steps of short padded rows. Prints the
first step's seconds (the compile) and the steady step's.

    python scripts/compile_cost_check.py [--layers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

CASES = [  # (name, cache folder, extra environment): the engine compiles one graph for every layer
    ("cold", "a", {}),
    ("warm", "a", {}),
    ("warm, compile threads 1", "a", {"TORCHINDUCTOR_COMPILE_THREADS": "1"}),
    ("cold, compile threads 1", "b", {"TORCHINDUCTOR_COMPILE_THREADS": "1"}),
]


def one(layers: int) -> dict:
    import torch

    from studio.core.jobs import LoraSettings
    from studio.core.reference_shapes import MODEL_SHAPES
    from studio.engine import adapter_setup, fast_path, layer_setup
    from studio.engine.random_model import random_llama

    shape = {k: v for k, v in MODEL_SHAPES["llama-3.2-1b"].items() if k not in ("model_type", "architectures")}
    shape["num_hidden_layers"] = layers
    device = "cuda" if torch.cuda.is_available() else "cpu"  # the CPU: a dry run of this script, no compile
    if device == "cpu":
        shape.update(hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=2, head_dim=16)
    model = random_llama(shape, device=device)
    model = adapter_setup.apply_adapter(model, LoraSettings(target_modules=["all-linear"]), False, quantized=False)
    path = fast_path.FastPath(packing=False, liger=False, fused_adamw=device == "cuda", tf32=True,
                              compile=device == "cuda", varying_lengths=True)
    layer_setup.apply(model, path)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, fused=device == "cuda")
    times = []
    for length in [200, 248, 176, 304]:
        ids = torch.randint(10, 30000, (4, length), device=device)
        started = time.perf_counter()
        with torch.autocast(device, dtype=torch.bfloat16):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return {"first_step_s": round(times[0], 2), "second_step_s": round(times[1], 2),
            "steady_ms": round(1000 * min(times[2:]), 1), "summary": layer_setup.compile_summary()[:600]}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--one", action="store_true")
    args = parser.parse_args()
    if args.one:
        print("RESULT " + json.dumps(one(args.layers)), flush=True)
        return 0
    root = tempfile.mkdtemp(prefix="compile-cost-")
    for name, folder, extra in CASES:
        env = {**os.environ, **extra, "TORCHINDUCTOR_CACHE_DIR": f"{root}/{folder}/inductor",
               "TRITON_CACHE_DIR": f"{root}/{folder}/triton"}
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, __file__, "--layers", str(args.layers), "--one"],
                              capture_output=True, text=True, env=env)
        found = [line[7:] for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
        if not found:
            print(f"{name}: FAILED\n{proc.stderr[-2000:]}", flush=True)
            continue
        result = json.loads(found[0])
        print(f"{name:40s} process {time.perf_counter() - started:6.1f} s  first step {result['first_step_s']:6.1f} s  "
              f"second {result['second_step_s']:5.2f} s  steady {result['steady_ms']} ms", flush=True)
        print("   " + result["summary"].replace("\n", "\n   ")[:600], flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
