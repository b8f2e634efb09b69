"""``python -m studio.engine.gguf_tokenizer FILE.gguf``: a GGUF file's tokenizer as a tokenizer.json.

The Datasets page counts tokens with the ``tokenizers`` library on a tokenizer.json, and a
.gguf model (the bundled one) has none until training converts the whole model. Only
transformers can rebuild the tokenizer from the GGUF metadata, and the GUI process must not
import it, so the page runs this in a child process: seconds, and the tokenizer alone (an
8B file is not dequantized for a histogram).
"""

from __future__ import annotations

import sys
from pathlib import Path

from studio.core import atomic
from studio.core.models import gguf_tokenizer_dir


def extract(path: Path) -> Path:
    """The folder holding ``path``'s tokenizer.json (made once, reused after)."""
    target = gguf_tokenizer_dir(path)
    if (target / "tokenizer.json").is_file():
        return target
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    with atomic.staged_dir(target) as stage:
        tokenizer.save_pretrained(stage)
    return target


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m studio.engine.gguf_tokenizer FILE.gguf", file=sys.stderr)
        return 2
    try:
        print(extract(Path(args[0])))
    except Exception as exc:  # noqa: BLE001 - one line for the page to show, never a traceback
        print(f"cannot read the tokenizer of {args[0]}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
