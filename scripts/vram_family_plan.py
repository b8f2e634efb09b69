"""Which family configurations scripts/gpu_vram_families.sh measures, in which lane, in which call.

The device tool gives a command 600 s and a session 30 minutes. The first call ran five lanes side by
side and finished 11 rows: writing each shape's model folder dominates, and its lanes together could
ask more than an 80 GiB card holds. This plan deals the configurations into calls of
lanes: a lane runs a few configurations of one shape in turn, a call's lanes run side by side with
their largest estimates together within ``--share`` of the card.

Prints one line a configuration: ``call lane shape quant batch seq ckpt|- estimate_gib``.

Usage: python3 scripts/vram_family_plan.py [--call N] [--capacity-gib 79.2] [--share 0.85] [--per-lane 3]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from studio.core import vram
from studio.core.reference_shapes import FAMILY_SHAPES, method_measured_job, shape_config

MEASURED = Path(__file__).resolve().parents[1] / "docs" / "vram_family_measurements.jsonl"
CONFIGURATIONS = (("none", 4, 1024, False), ("4bit", 4, 1024, False), ("none", 2, 2048, True), ("4bit", 2, 2048, True))


@dataclass(frozen=True)
class Planned:
    shape: str
    quant: str
    batch: int
    seq: int
    ckpt: bool
    gib: float

    def line(self, lane: str) -> str:
        return f"{lane} {self.shape} {self.quant} {self.batch} {self.seq} {'ckpt' if self.ckpt else '-'} {self.gib:.1f}"


def estimate_gib(shape: str, quant: str, batch: int, seq: int, ckpt: bool) -> float:
    """The estimate of the job scripts/measure_vram.py runs for this configuration."""
    found = method_measured_job("qlora" if quant == "4bit" else "lora", quant, batch, seq, ckpt)
    return vram.estimate(found, shape_config(shape)).total / vram.GIB


def configurations() -> list[Planned]:
    """Four configurations of each family's first shape, two of each further one (QLoRA without and
    LoRA with checkpointing): at least three a family, LoRA and QLoRA (issue 26); those measured already
    left out."""
    planned, families, done = [], set(), measured()
    for shape, config in FAMILY_SHAPES.items():
        family = config["model_type"]
        chosen = CONFIGURATIONS if family not in families else (CONFIGURATIONS[1], CONFIGURATIONS[2])
        families.add(family)
        planned += [Planned(shape, quant, batch, seq, ckpt, estimate_gib(shape, quant, batch, seq, ckpt))
                    for quant, batch, seq, ckpt in chosen if (shape, quant, batch, seq, ckpt) not in done]
    return planned


def measured() -> set[tuple[str, str, int, int, bool]]:
    """Configurations docs/vram_family_measurements.jsonl already holds."""
    rows = [json.loads(line) for line in MEASURED.read_text().splitlines() if line.strip()]
    return {(r["shape"], r["quant"], r["batch"], r["seq"], r["ckpt"]) for r in rows}


def calls(planned: list[Planned], budget_gib: float, per_lane: int, most_lanes: int) -> list[list[list[Planned]]]:
    """Calls of lanes: a lane runs at most ``per_lane`` configurations of one shape one after another
    (the shape's folder is written once); a call's lanes run side by side, at most ``most_lanes`` of
    them, their largest estimates together within ``budget_gib``. Largest first, first fit."""
    chunks: list[list[Planned]] = []
    for shape in dict.fromkeys(item.shape for item in planned):
        mine = [item for item in planned if item.shape == shape and item.gib <= budget_gib]
        chunks += [mine[i:i + per_lane] for i in range(0, len(mine), per_lane)]
    chunks.sort(key=lambda chunk: -max(item.gib for item in chunk))
    found: list[list[list[Planned]]] = []
    for chunk in chunks:
        peak = max(item.gib for item in chunk)
        call = next((c for c in found if len(c) < most_lanes  # one lane a shape: lanes would write one folder
                     and chunk[0].shape not in {lane[0].shape for lane in c}
                     and sum(max(item.gib for item in lane) for lane in c) + peak <= budget_gib), None)
        if call is None:
            found.append([chunk])
        else:
            call.append(chunk)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--call", type=int, default=0, help="print this call's lanes only (1, 2, ...)")
    parser.add_argument("--capacity-gib", type=float, default=79.2, help="the card (an H100 80GB: 79.2 GiB)")
    parser.add_argument("--share", type=float, default=0.85, help="of the card the lanes' estimates may fill")
    parser.add_argument("--per-lane", type=int, default=4, help="configurations one lane runs in a call")
    parser.add_argument("--lanes", type=int, default=4, help="lanes side by side at most")
    args = parser.parse_args()
    planned = calls(configurations(), args.capacity_gib * args.share, args.per_lane, args.lanes)
    for number, call in enumerate(planned, start=1):
        if args.call and number != args.call:
            continue
        for index, lane in enumerate(call):
            for item in lane:
                print(f"{number} " + item.line(chr(ord("a") + index)))


if __name__ == "__main__":
    main()
