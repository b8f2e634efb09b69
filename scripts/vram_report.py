"""Compare studio.core.vram with the GPU measurements and write docs/vram_validation.md.

Also refits the estimator's measured coefficients (least squares over every row, and
leaving each row out in turn) so a new set of measurements shows at once whether the
constants in studio/core/vram.py should change.
Usage: python scripts/vram_report.py [--write]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from studio.core import vram  # noqa: E402
from studio.core.reference_shapes import MODEL_SHAPES, measured_job  # noqa: E402

MEASUREMENTS = ROOT / "docs" / "vram_measurements.jsonl"
DOC = ROOT / "docs" / "vram_validation.md"
GIB = 2**30  # every figure in GiB, as the app shows them


def rows() -> list[dict]:
    return [json.loads(line) for line in MEASUREMENTS.read_text().splitlines() if line.strip()]


def estimate(row: dict, **overrides) -> vram.Estimate:
    job = measured_job(row)
    for dotted, value in overrides.items():
        section, name = dotted.split("__")
        setattr(getattr(job, section), name, value)
    return vram.estimate(job, MODEL_SHAPES[row["model"]], fused_loss=bool(row.get("liger")))


def refit(data: list[dict]) -> tuple[np.ndarray, float]:
    """Refit (logits, recompute share, other) on peak reserved; worst leave-one-out error."""
    features, targets, fixed, totals = [], [], [], []
    for row in data:
        est = estimate(row)
        config = MODEL_SHAPES[row["model"]]
        tokens, hidden = row["batch"] * row["seq"], config["hidden_size"]
        job = measured_job(row)
        shapes = vram.linear_shapes(config)
        layers, vocab = vram.num_layers(config), config["vocab_size"]
        modules = vram.resolve_target_modules(config, job.lora.target_modules)
        modules = list(shapes) if modules == ["all-linear"] else modules
        per_layer = vram.layer_bytes(config, shapes, modules, job.lora.dropout, job.lora.use_dora)
        static = sum(est.part(k).bytes for k in ("weights", "adapter", "gradients", "optimizer"))
        kept = tokens * layers * (2 * hidden if row["ckpt"] else per_layer)
        features.append([0 if row.get("liger") else tokens * vocab, tokens * per_layer if row["ckpt"] else 0,
                         tokens * hidden])
        targets.append(row["peak_reserved_bytes"] - static - kept)
        fixed.append(static + kept + vram.CUDA_CONTEXT_BYTES)
        totals.append(row["measured_peak_bytes"])
    x, y = np.array(features, float), np.array(targets, float)
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    worst = 0.0
    for k in range(len(data)):
        keep = np.arange(len(data)) != k
        ck, *_ = np.linalg.lstsq(x[keep], y[keep], rcond=None)
        worst = max(worst, abs(fixed[k] + x[k] @ ck - totals[k]) / totals[k])
    return coef, worst


def table(data: list[dict]) -> tuple[list[str], float]:
    lines = ["| configuration | model | method | r | batch x seq | checkpointing | measured (GiB) | "
             "estimate (GiB) | error |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    worst = 0.0
    for row in data:
        est = estimate(row).total
        measured = row["measured_peak_bytes"]
        error = (est - measured) / measured
        worst = max(worst, abs(error))
        method = ("QLoRA 4-bit" if row.get("quant") == "4bit" else "LoRA bf16") + (" + DoRA" if row.get("dora") else "")
        if row.get("liger"):
            method += " + Liger"
        if row.get("optimizer"):
            method += f" + {row['optimizer']}"
        lines.append(f"| {row['name']} | {row['model']} | {method} | {row['r']} | {row['batch']} x {row['seq']} | "
                     f"{'yes' if row['ckpt'] else 'no'} | {measured / GIB:.2f} | {est / GIB:.2f} | {error:+.1%} |")
    return lines, worst


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--write", action="store_true", help=f"write {DOC.relative_to(ROOT)}")
    args = parser.parse_args()
    data = rows()
    lines, worst = table(data)
    coef, loo = refit(data)
    print("\n".join(lines))
    print(f"\nworst error {worst:.1%} over {len(data)} configurations")
    print(f"refit: logits {coef[0]:.2f} B/token/vocab (vram.py {vram.LOGITS_BYTES_RESERVED}), recompute share "
          f"{coef[1]:.3f} ({vram.RECOMPUTE_SHARE_RESERVED}), other {coef[2]:.1f} B/token/hidden "
          f"({vram.OTHER_BYTES_RESERVED}); worst leave-one-out error {loo:.1%}")
    if args.write:
        template = DOC.read_text() if DOC.exists() else ""
        start, end = "<!-- table -->", "<!-- /table -->"
        body = "\n".join([start, *lines, "", f"Worst error: **{worst:.1%}** over {len(data)} configurations; "
                          f"refitting with each row left out in turn: worst **{loo:.1%}**.", end])
        if start in template:
            template = template[: template.index(start)] + body + template[template.index(end) + len(end):]
        else:
            template += "\n" + body + "\n"
        DOC.write_text(template)
        print(f"wrote {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
