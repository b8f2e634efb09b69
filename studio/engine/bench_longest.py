"""The longest sequence one GPU trains at batch 1: plain transformers + peft vs ours.

``python -m studio.engine.bench_longest --config 8b-qlora --mode ours`` builds the
random-weight model once, then searches (doubling, then bisecting to ``--step``
tokens) for the longest row that trains two optimizer steps without running out of
memory. Each side runs in its own process; the baseline and ours are set up exactly
as in :mod:`studio.engine.bench`.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from typing import Any


def trains(model_parts, seq: int, vocab: int) -> bool:
    import torch
    import transformers

    model, args, collator = model_parts
    rows = [{"input_ids": ids, "labels": list(ids)} for ids in
            (torch.randint(10, vocab, (seq,)).tolist() for _ in range(2))]
    args.max_steps = 2
    trainer = transformers.Trainer(model=model, args=args, train_dataset=rows, data_collator=collator)
    try:
        trainer.train()
        return True
    except torch.cuda.OutOfMemoryError:
        return False
    finally:
        del trainer
        gc.collect()
        torch.cuda.empty_cache()


def search(config: str, mode: str, start: int, step: int, limit: int) -> dict[str, Any]:
    import torch

    from studio.core.reference_shapes import MODEL_SHAPES
    from studio.engine import bench
    from studio.engine.random_model import random_llama

    cfg = {**bench.CONFIGS[config], "batch": 1}
    shape = MODEL_SHAPES[cfg["shape"]]
    model = random_llama(shape, cfg.get("quant", "none"))
    job = bench.bench_job({**cfg, "seq": limit}, 2)
    fixed_rows = [{"input_ids": [1] * start, "labels": [1] * start}] * 2  # fixed length: the padded-batch path
    model, args, collator, text, _ = bench.setup(mode, model, job, cfg, fixed_rows)
    parts = (model, args, collator)
    tried: dict[int, bool] = {}
    good, bad = 0, None
    seq = start
    started = time.perf_counter()
    while seq <= limit and bad is None:  # doubling until it fails
        tried[seq] = trains(parts, seq, shape["vocab_size"])
        if tried[seq]:
            good, seq = seq, seq * 2
        else:
            bad = seq
    if bad is None:
        bad = limit + step
    while bad - good > step:  # bisect to the step size
        mid = (good + bad) // 2 // step * step
        if mid in (good, bad):
            break
        tried[mid] = trains(parts, mid, shape["vocab_size"])
        good, bad = (mid, bad) if tried[mid] else (good, mid)
    return {"config": config, "mode": mode, "path": text, "longest_seq": good, "first_failure": bad,
            "tried": tried, "gpu": torch.cuda.get_device_name(0),
            "gpu_gib": round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1),
            "wall_s": round(time.perf_counter() - started, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studio.engine.bench_longest", description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="8b-qlora")
    parser.add_argument("--mode", default="ours", choices=["baseline", "ours", "ours-offload"])
    parser.add_argument("--start", type=int, default=4096)
    parser.add_argument("--step", type=int, default=2048)
    parser.add_argument("--limit", type=int, default=262144)
    args = parser.parse_args(argv)
    print("RESULT " + json.dumps(search(args.config, args.mode, args.start, args.step, args.limit)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
