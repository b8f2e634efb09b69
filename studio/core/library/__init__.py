"""The versioned adapter library (DESIGN.md: folders are the truth, SQLite indexes them)."""

from studio.core.cards import read_card
from studio.core.library.diff import diff_cards
from studio.core.library.importing import ImportResult, import_adapter, safe_members
from studio.core.library.index import Entry, LibraryIndex
from studio.core.library.store import (
    Library,
    LibraryError,
    base_model_of,
    clean_name,
    locate_adapter,
    parse_ref,
    read_adapter_config,
)

__all__ = ["Entry", "ImportResult", "Library", "LibraryError", "LibraryIndex", "base_model_of", "clean_name",
           "diff_cards", "import_adapter", "locate_adapter", "parse_ref", "read_adapter_config", "read_card", "safe_members"]
