"""The estimate's error band (core.vram_band) against the measurements it was taken from."""

from __future__ import annotations

import re
from pathlib import Path

from studio.core import vram_band
from studio.core.reference_shapes import MODEL_SHAPES

DOC = Path(__file__).resolve().parents[2] / "docs" / "vram_validation.md"


def _measured_rows() -> list[tuple[float, float]]:
    """(measured, estimate) of every Llama-shaped SFT row in docs/vram_validation.md: its main table
    and the three runs through the worker."""
    rows = []
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 9 and re.fullmatch(r"[\d.]+", cells[6]):  # configuration ... measured | estimate | error
            rows.append((float(cells[6]), float(cells[7])))
        elif len(cells) == 4 and cells[0].startswith(("LoRA", "QLoRA")) and cells[1].endswith("GiB"):
            rows.append((float(cells[1].split()[0]), float(cells[2].split()[0])))
    return rows


def test_the_llama_band_spans_every_measured_llama_run():
    rows = _measured_rows()
    assert len(rows) == vram_band.BANDS["llama"].runs == 29
    errors = [(measured - estimate) / estimate for measured, estimate in rows]
    band = vram_band.band_for(MODEL_SHAPES["llama-3.1-8b"])
    assert band is not None and band.family == "Llama"
    assert band.low <= min(errors) < band.low + 0.001 and band.high - 0.001 < max(errors) <= band.high


def test_the_band_in_words_rounds_outwards_and_an_unmeasured_family_says_so():
    assert vram_band.accuracy(MODEL_SHAPES["llama-3.2-1b"]) == "measured within −3%/+4% on Llama-family runs"
    qwen = {**MODEL_SHAPES["llama-3.2-1b"], "model_type": "qwen2"}
    assert vram_band.band_for(qwen) is None
    assert vram_band.accuracy(qwen) == "not yet measured for Qwen2 models"
    assert vram_band.accuracy({"model_type": "someday_net"}) == "not yet measured for someday_net models"
