"""Check each tuner's record against peft on the GPU (device machine, not CI): it trains the
tiny Llama on a full-precision, 8-bit and 4-bit base where its record allows that loading, and
where the record refuses one, shows what peft does when asked anyway. Prints one JSON line per
case and writes them to $OUT/tuners_gpu.jsonl.

    python3 scripts/check_tuners_gpu.py [TUNER...] # on the GPU machine (bitsandbytes carried)
    python3 scripts/check_tuners_gpu.py --cpu      # the dry run: full precision on the CPU only
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "engine")]


def main() -> None:
    import torch
    from helpers import Recorder, tiny_job
    from tiny_model import build_tiny_model

    from studio.core import methods
    from studio.core.jobs import LoraSettings
    from studio.engine import adapter_setup, hardware, model_loading
    from studio.engine.control import JobControl
    from studio.engine.training import train

    cpu = "--cpu" in sys.argv
    home = Path(tempfile.mkdtemp())
    os.environ["LORA_STUDIO_HOME"] = str(home)
    model_dir = build_tiny_model(home / "tiny")
    out = Path(os.environ.get("OUT", home))
    rows = []
    asked = [a for a in sys.argv[1:] if not a.startswith("--")]
    for name in asked or methods.tuner_names():
        record = methods.tuner(name)
        for quantization in ("none",) if cpu else ("none", "8bit", "4bit"):
            row: dict = {"tuner": name, "quantization": quantization, "record_allows": quantization in
                         record.quantization}
            start = time.time()
            try:
                if row["record_allows"]:
                    rec = Recorder()
                    job = tiny_job(model_dir, lora={"tuner": name, "r": 64 if name == "vera" else 8},
                                   model={"quantization": quantization},
                                   training={"max_steps": 8, "device": "cpu" if cpu else "cuda", "precision": "auto"},
                                   dataset={"eval_fraction": 0.0})
                    train(job, home / f"{name}-{quantization}", rec, JobControl())
                    losses = rec.losses()
                    row.update(ok=True, first_loss=losses[0], last_loss=losses[-1],
                               path=[p.detail for p in rec.events if getattr(p, "detail", "")
                                     and str(p.detail).startswith("fast path")])
                else:  # what peft does when asked anyway
                    hw = hardware.choose("cuda", "auto")
                    model = model_loading.load_model(model_dir, hw, quantization, False)
                    wrapped = adapter_setup.apply_adapter(model, LoraSettings(tuner=name, r=8), False, quantized=True,
                                                          total_steps=8)
                    ids = torch.tensor([[3, 9, 27, 81]], device="cuda")
                    loss = wrapped(input_ids=ids, labels=ids).loss
                    loss.backward()
                    row.update(ok=True, note="peft accepted it: the record may be too strict", loss=float(loss))
            except Exception as exc:  # noqa: BLE001 - the point is to record what happened
                row.update(ok=False, error=f"{type(exc).__name__}: {str(exc)[:300]}",
                           where=traceback.format_exc().splitlines()[-3][:200])
            row["seconds"] = round(time.time() - start, 1)
            print(json.dumps(row), flush=True)
            rows.append(row)
    (out / "tuners_gpu.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


if __name__ == "__main__":
    main()
