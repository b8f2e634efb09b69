"""Cut raw text (.txt) into documents: one per line, per paragraph, or the whole file.

`text_split` says how:
  "line"       every non-blank line is a document.
  "paragraph"  documents are separated by one or more blank (or whitespace-only)
               lines; a paragraph's own line breaks are kept.
  "file"       the whole file is one document (its leading and trailing blank
               lines left out, the ones inside kept).
  "auto"       chosen from the shape of the file's first MiB (the same choice
               for a preview and a full load):
                 - "paragraph" when blank lines separate it into two or more
                   blocks (where each block is one line, that is the same as
                   "line");
                 - else "line" when it has more than 20 lines or more than
                   64 KiB of text: a long text without blank lines (a list of
                   sentences, a log) must not become one document that is
                   cut at max_length or leaves nothing to evaluate on;
                 - else "file": a short note or poem stays whole.

A document is labelled with its first line ("line 7"). Lines come in already
decoded (see readers._lines), so a byte that is not UTF-8 is reported by the
reader with its line; this module only groups them, and stops once `limit`
documents are complete, so a preview of a large file reads only its start.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Literal

TextSplit = Literal["auto", "line", "paragraph", "file"]

AUTO_SAMPLE_BYTES = 1 << 20  # how much of the file "auto" looks at
_MANY_LINES = 20  # more lines than this, with no blank line between them: one document per line
_LARGE_TEXT = 64 << 10  # or more bytes than this


def choose_split(sample: bytes, *, whole: bool) -> TextSplit:
    """The split "auto" means for a file that starts with `sample` (`whole`: the sample is the file)."""
    if not whole:
        sample = sample[: sample.rfind(b"\n") + 1] or sample  # a cut last line is not counted
    lines = sample.decode("utf-8", errors="replace").split("\n")  # as the reader splits them
    blocks = 0
    in_block = False
    for line in lines:
        if line.strip():
            blocks += not in_block
            in_block = True
        else:
            in_block = False
    if blocks >= 2:
        return "paragraph"
    filled = sum(1 for line in lines if line.strip())
    if filled > _MANY_LINES or len(sample) > _LARGE_TEXT:
        return "line"
    return "file"


def documents(
    lines: Iterable[tuple[int, str]], split: TextSplit, limit: int | None = None
) -> Iterator[tuple[int, str]]:
    """(first line number, text) of each document in numbered lines (with their line endings)."""
    if split == "auto":
        raise ValueError("choose the split first (choose_split)")
    if split not in ("line", "paragraph", "file"):
        raise ValueError(f"text_split must be 'auto', 'line', 'paragraph' or 'file', not {split!r}")
    if limit is not None and limit <= 0:
        return
    count = 0
    block: list[str] = []
    start = 0
    pending_blank: list[str] = []  # "file" keeps blank lines that turn out to be inside the text
    for number, line in lines:
        text = line.rstrip("\r\n")
        if not text.strip():
            if split == "paragraph" and block:
                yield start, "\n".join(block)
                block = []
                count += 1
                if limit is not None and count >= limit:
                    return
            elif split == "file" and block:
                pending_blank.append(text)
            continue
        if split == "line":
            yield number, text
            count += 1
            if limit is not None and count >= limit:
                return
            continue
        if not block:
            start = number
        block.extend(pending_blank)
        pending_blank = []
        block.append(text)
    if block:
        yield start, "\n".join(block)
