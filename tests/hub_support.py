"""A stand-in for huggingface_hub's snapshot_download that never touches the network.

It drives the ``tqdm_class`` it is given the way huggingface_hub 2.x does (a bar counting
files, one of network bytes with a guessed total, one of bytes written of the files'
sizes) and writes a small model folder, one chunk per update; ``gate`` holds it before a
chunk so a test can look at the progress mid-way and cancel there.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from library_support import write_safetensors


class FakeSnapshot:
    def __init__(self, chunks: int = 4, chunk_bytes: int = 25_000_000, hold_before: int | None = None):
        self.chunks, self.chunk_bytes = chunks, chunk_bytes
        self.hold_before = hold_before  # the chunk it waits at until ``gate`` is set
        self.gate = threading.Event()
        self.written = 0  # chunks reported

    def __call__(self, repo_id, revision=None, cache_dir=None, allow_patterns=None, tqdm_class=None) -> str:
        folder = Path(cache_dir) / f"models--{repo_id.replace('/', '--')}" / "snapshots" / "0123abc"
        folder.mkdir(parents=True, exist_ok=True)
        files = tqdm_class(total=2, desc="Fetching 2 files")
        transfer = tqdm_class(total=0, unit="B", desc="Downloading bytes")
        written = tqdm_class(total=0, unit="B", desc="Reconstructing (incomplete total...)")
        written.total = self.chunks * self.chunk_bytes
        (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
        files.update(1)
        for index in range(self.chunks):
            if index == self.hold_before:
                assert self.gate.wait(60), "the test never let the download go on"
            transfer.update(self.chunk_bytes // 2)  # the network's count: not what the bar shows
            written.update(self.chunk_bytes)
            self.written += 1
        write_safetensors(folder / "model.safetensors", {"w": [2, 2]})
        files.update(1)
        return str(folder)
