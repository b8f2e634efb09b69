"""Typed records for the JSON files and events that outlive one version of the app.

``card.json``, a ``done`` event's outputs and ``settings.json`` are written by one
version of LoRA Studio and read by another, so reading one never fails on its shape
(peft's ``PeftConfig.from_pretrained`` is the model): a missing key takes its
default, a value of the wrong type is dropped with a warning, and a key this version
does not know is kept as it was (``extra``) and written back, so rewriting a newer
file (a tag added to a card) loses nothing. ``None`` means absent: such fields are
left out of the JSON.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
import warnings
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

R = TypeVar("R", bound="Record")


class RecordWarning(UserWarning):
    """A file from another version of LoRA Studio: read as well as it can be, with this said."""


@dataclasses.dataclass
class Record:
    VERSION_KEY: ClassVar[str | None] = None  # the file's format version, when it has one
    VERSION: ClassVar[int] = 1  # the newest format this code reads and writes

    # Keys this version does not know, kept so that rewriting the file keeps them.
    extra: dict[str, Any] = dataclasses.field(default_factory=dict, kw_only=True, repr=False, compare=False)
    # The format version the data was read from, when newer than ours (kept when written back).
    read_version: int | None = dataclasses.field(default=None, kw_only=True, repr=False, compare=False)

    @classmethod
    def from_dict(cls: type[R], data: Mapping[str, Any], source: str = "") -> R:
        """The record in ``data``; never raises on its shape (see the module docstring)."""
        where = source or cls.__name__
        if not isinstance(data, Mapping):
            _warn(f"{where}: expected a JSON object, found {type(data).__name__}; using the defaults")
            return cls()
        read_version = None
        if cls.VERSION_KEY is not None:
            version = data.get(cls.VERSION_KEY, 1)
            if not isinstance(version, int) or isinstance(version, bool):
                _warn(f"{where}: {cls.VERSION_KEY} {version!r} is not a number; read as version 1")
            elif version > cls.VERSION:
                _warn(f"{where}: {cls.VERSION_KEY} {version} is newer than this LoRA Studio knows "
                      f"({cls.VERSION}); reading what it knows of it")
                read_version = version
            elif version < cls.VERSION:
                data = cls.upgrade(dict(data), version)
        hints = field_types(cls)
        values: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in data.items():
            if key == cls.VERSION_KEY:
                continue
            if key not in hints:
                extra[key] = value
                continue
            fits, converted = _convert(hints[key], value, f"{where}: {key}")
            if fits:
                values[key] = converted
            else:
                _warn(f"{where}: {key} = {value!r} is not of type {_type_name(hints[key])}; using the default")
        if extra:
            _warn(f"{where}: unknown key(s) {', '.join(sorted(extra))} (kept as they are; written by a newer "
                  "LoRA Studio?)")
        return cls(**values, extra=extra, read_version=read_version)

    @classmethod
    def upgrade(cls, data: dict[str, Any], version: int) -> dict[str, Any]:
        """``data`` of an older format ``version`` as the current one has it: where a record
        whose key changed meaning (and VERSION with it) converts the old key."""
        return data

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data: the version key first, ``None`` fields left out, unknown keys kept."""
        out: dict[str, Any] = {}
        if self.VERSION_KEY is not None:
            out[self.VERSION_KEY] = max(self.VERSION, self.read_version or 0)
        for name in field_types(type(self)):
            value = getattr(self, name)
            if value is not None:
                out[name] = value.to_dict() if isinstance(value, Record) else copy.deepcopy(value)
        for key, value in self.extra.items():
            out.setdefault(key, copy.deepcopy(value))
        return out


_FIELD_TYPES: dict[type, dict[str, Any]] = {}


def field_types(cls: type) -> dict[str, Any]:
    """A record's keys: field name -> resolved type, in declaration order (bookkeeping left out)."""
    if cls not in _FIELD_TYPES:
        hints = typing.get_type_hints(cls)
        own = {"extra", "read_version"}
        _FIELD_TYPES[cls] = {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.name not in own}
    return _FIELD_TYPES[cls]


def _convert(hint: Any, value: Any, where: str) -> tuple[bool, Any]:
    """(fits, value as the field holds it) for a JSON value and a field's type."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return True, None
        for option in (a for a in args if a is not type(None)):
            fits, converted = _convert(option, value, where)
            if fits:
                return True, converted
        return False, None
    if isinstance(hint, type) and issubclass(hint, Record):
        return (True, hint.from_dict(value, where)) if isinstance(value, Mapping) else (False, None)
    if origin is typing.Literal:
        return (value in args), value
    if hint is Any:
        return True, value
    if hint is bool:
        return isinstance(value, bool), value
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool), value
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if hint is str:
        return isinstance(value, str), value
    if origin is list:
        if not isinstance(value, list):
            return False, None
        item = args[0] if args else Any
        kept = [converted for fits, converted in (_convert(item, v, where) for v in value) if fits]
        return len(kept) == len(value), kept
    if origin is dict:
        return isinstance(value, Mapping), dict(value) if isinstance(value, Mapping) else None
    return True, value


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _warn(message: str) -> None:
    warnings.warn(message, RecordWarning, stacklevel=3)
