"""On the GPU machine: where the CPU time of a bench step goes (Python functions, cProfile).

python scripts/profile_bench_step.py [CONFIG] [MODE] [STEPS]: trains the bench's rows the
way ``lora-studio bench`` does, profiles steps 5 to STEPS, and prints each profiled
step's time and the functions that took the most time, by own time and with callees."""

import cProfile
import io
import pstats
import sys
import time

import torch
import transformers

from studio.core.reference_shapes import MODEL_SHAPES
from studio.engine import bench
from studio.engine.random_model import random_llama

name, mode = (sys.argv[1:3] + ["1b-variable", "ours"][len(sys.argv[1:3]):])[:2]
steps = int(sys.argv[3]) if len(sys.argv) > 3 else 14
cfg = bench.CONFIGS[name]
shape = MODEL_SHAPES[cfg["shape"]]
rows = bench.examples(cfg, shape["vocab_size"], steps)
job = bench.bench_job(cfg, steps)
model, trainer_class, trainer_kwargs, described, _ = bench.setup(mode, random_llama(shape, device="cuda"), job, cfg,
                                                                 rows)
print(described)
profiler, ends = cProfile.Profile(), []


class Profiled(transformers.TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        torch.cuda.synchronize()
        ends.append(time.perf_counter())
        if state.global_step == 4:
            profiler.enable()
        if state.global_step == steps:
            profiler.disable()


trainer = trainer_class(model=model, train_dataset=rows, callbacks=[Profiled()], **trainer_kwargs)
trainer.train()
print("step ms:", [round((b - a) * 1000) for a, b in zip(ends, ends[1:], strict=False)][3:])
for order in ("tottime", "cumulative"):
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats(order).print_stats(28)
    print("\n".join(line[:160] for line in text.getvalue().splitlines()[6:]))
