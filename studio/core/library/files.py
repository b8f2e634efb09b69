"""Which files make an adapter: what a library version keeps, and what an import leaves out."""

from __future__ import annotations

from pathlib import Path

from studio.core.cards import CARD_NAME
from studio.core.library.failures import LibraryError

WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin")
# What a version keeps: the config and weights PEFT loads, our card and README, and the
# tokenizer files an adapter that added tokens comes with. Anything else (a script, a
# hidden file, an optimizer state) stays where it was, and an import says so.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
                   "vocab.json", "vocab.txt", "merges.txt", "added_tokens.json", "chat_template.jinja",
                   "chat_template.json")
KEPT_FILES = frozenset(("adapter_config.json", *WEIGHT_FILES, CARD_NAME, "README.md", *TOKENIZER_FILES))


def adapter_files(folder: Path, allow_pickle: bool = False) -> list[Path]:
    """The files of a PEFT adapter folder to copy (see KEPT_FILES), after checking it is one."""
    folder = Path(folder)
    if not (folder / "adapter_config.json").is_file():
        raise LibraryError(f"{folder} is not a PEFT adapter: it has no adapter_config.json")
    if not (folder / "adapter_model.safetensors").is_file():
        if (folder / "adapter_model.bin").is_file():
            if not allow_pickle:
                raise LibraryError(
                    f"{folder} holds its weights as adapter_model.bin, a pickle file that can run code when "
                    "loaded; it is not imported unless you allow pickle files (--allow-pickle) and trust the source")
        else:
            raise LibraryError(f"{folder} has no adapter_model.safetensors")
    files = []
    for path in sorted(folder.iterdir()):
        if path.name not in KEPT_FILES or path.name == CARD_NAME or (path.suffix == ".bin" and not allow_pickle):
            continue
        if path.is_symlink():
            raise LibraryError(f"{path} is a symbolic link: adapters are copied as plain files only")
        if path.is_file():
            files.append(path)
    return files


def left_out_files(folder: Path) -> list[str]:
    """Names in an adapter folder that are not adapter files (never copied into the library)."""
    return sorted(path.name for path in Path(folder).iterdir() if path.name not in KEPT_FILES)
