"""A reward the user writes: a Python file defining ``reward(prompts, completions, **columns)``.

This runs the user's own code, with the worker's rights, in the training process: the Train
page and the job warn before a run that uses one. Its errors are reported with the file, the
line inside that file and the message, so a mistake reads as the user's, not as a crash of
the studio. KeyboardInterrupt and SystemExit pass through untouched.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import numbers
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any


class UserRewardError(RuntimeError):
    """The user's reward file failed to load, raised, or returned something that is not scores."""


def _line_in(path: Path, tb: TracebackType | None) -> int | None:
    """The innermost line of ``tb`` inside the user's file (where their code failed)."""
    line = None
    for frame in traceback.extract_tb(tb):
        if Path(frame.filename).resolve() == path:
            line = frame.lineno
    return line


def _where(path: Path, line: int | None) -> str:
    return f"{path}, line {line}" if line is not None else str(path)


class UserReward:
    """The ``reward`` function of a user's file, loaded by path and checked on every call.

    ``columns`` is the file's optional module-level ``COLUMNS`` (names of the dataset columns it
    reads), so a preview can show them and a missing one is caught before training.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser().resolve()
        self.function = self._load()
        self.__name__ = f"file:{self.path.name}"

    def _load(self) -> Callable[..., Any]:
        if not self.path.is_file():
            raise UserRewardError(f"reward file {self.path} does not exist")
        # A name of its own per path, so two files called reward.py do not replace each other.
        digest = hashlib.sha1(str(self.path).encode()).hexdigest()[:12]
        spec = importlib.util.spec_from_file_location(f"studio_user_reward_{digest}", self.path)
        if spec is None or spec.loader is None:
            raise UserRewardError(f"reward file {self.path} can't be loaded as Python")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except SyntaxError as error:
            raise UserRewardError(f"{_where(self.path, error.lineno)}: syntax error: {error.msg}") from error
        except Exception as error:  # the user's module may raise anything while loading
            where = _where(self.path, _line_in(self.path, error.__traceback__))
            raise UserRewardError(f"{where}: loading failed: {type(error).__name__}: {error}") from error
        function = getattr(module, "reward", None)
        if not callable(function):
            raise UserRewardError(f"reward file {self.path} must define a function "
                                  "`reward(prompts, completions, **columns) -> list[float]`")
        declared = getattr(module, "COLUMNS", ())
        if isinstance(declared, str) or not all(isinstance(name, str) for name in declared):
            raise UserRewardError(f"reward file {self.path}: COLUMNS must be a list of column names")
        self._columns = tuple(declared)
        return function

    def columns(self) -> tuple[str, ...]:
        """The dataset columns the file says it reads (its ``COLUMNS``; none when it has none)."""
        return self._columns

    def __call__(self, prompts: Sequence[Any] | None, completions: Sequence[Any],
                 **columns: Any) -> list[float]:
        try:
            result = self.function(prompts, completions, **columns)
        except Exception as error:  # any error in the user's code is reported as theirs
            where = _where(self.path, _line_in(self.path, error.__traceback__))
            raise UserRewardError(f"{where}: {type(error).__name__}: {error}") from error
        return self._checked(result, len(completions))

    def _checked(self, result: Any, expected: int) -> list[float]:
        if hasattr(result, "tolist"):  # a numpy array or a tensor
            result = result.tolist()
        if isinstance(result, (str, bytes, dict)) or not isinstance(result, (list, tuple)):
            raise UserRewardError(f"{self.path}: reward() must return a list of numbers, "
                                  f"not {type(result).__name__}")
        if len(result) != expected:
            raise UserRewardError(f"{self.path}: reward() returned {len(result)} scores for "
                                  f"{expected} completions; return one number per completion")
        scores = []
        for index, value in enumerate(result):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise UserRewardError(f"{self.path}: reward() returned {value!r} at position {index}; "
                                      "each score must be a finite number")
            scores.append(float(value))
        return scores
