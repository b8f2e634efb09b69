"""Where a packed 1B step spends its time (issue 8's variable-length case), on the GPU machine.

python scripts/profile_packed_step.py: the bench's 1b-variable rows, our packed collator,
eager LoRA; times forward and backward separately, then prints torch.profiler's top ops."""

import time

import torch
from torch.profiler import ProfilerActivity, profile

from studio.core.jobs import LoraSettings
from studio.core.reference_shapes import MODEL_SHAPES
from studio.engine import adapter_setup, bench, data_prep
from studio.engine.random_model import random_llama

cfg = bench.CONFIGS["1b-variable"]
shape = MODEL_SHAPES[cfg["shape"]]
model = adapter_setup.apply_adapter(random_llama(shape), LoraSettings(r=16, alpha=32, dropout=0.05,
                                                                      target_modules=["all-linear"]), False, False)
model.train()
rows = bench.examples(cfg, shape["vocab_size"], 12)
collate = data_prep.collator(bench.pad_tokenizer(), packing=True)
batches = [{k: v.cuda() for k, v in collate(rows[i:i + 8]).items()} for i in range(0, len(rows), 8)]


def step(batch, parts):
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss = model(**batch).loss
    torch.cuda.synchronize()
    t1 = time.perf_counter()
    loss.backward()
    torch.cuda.synchronize()
    parts.append((t1 - t0, time.perf_counter() - t1, batch["input_ids"].shape[1]))


warm = []
for b in batches[:4]:
    step(b, warm)
parts = []
with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
    for b in batches[4:8]:
        step(b, parts)
for f, bwd, n in parts:
    print(f"tokens {n}: forward {f * 1000:.1f} ms, backward {bwd * 1000:.1f} ms")
table = prof.key_averages()
print(table.table(sort_by="self_cpu_time_total", row_limit=14, max_name_column_width=48))
print(table.table(sort_by="self_cuda_time_total", row_limit=10, max_name_column_width=48))
