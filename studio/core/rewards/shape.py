"""Rewards on the completion's form: a pattern, a length window, words it must or must not use."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from studio.core.rewards.base import Preset

REGEX_MODES = ("fullmatch", "search")
LENGTH_UNITS = ("chars", "words")
# The reasoning format DeepSeek-R1-style GRPO rewards: thinking, then the answer, nothing around.
THINK_ANSWER_PATTERN = r"\s*<think>.*?</think>\s*<answer>.*?</answer>\s*"


@dataclass
class Regex(Preset):
    """1 when the completion matches the pattern, else 0."""

    kind: ClassVar[str] = "regex"
    description: ClassVar[str] = "1 when the completion matches the regular expression (whole or anywhere), else 0"

    pattern: str = THINK_ANSWER_PATTERN  # Python regular expression
    mode: str = "fullmatch"  # "fullmatch": the whole completion; "search": anywhere in it
    dot_all: bool = True  # "." also matches newlines, so <think> can span lines
    ignore_case: bool = False

    def problems(self) -> list[str]:
        problems = []
        if self.mode not in REGEX_MODES:
            problems.append(f"`mode` must be one of {', '.join(REGEX_MODES)}, not {self.mode!r}")
        try:
            re.compile(self.pattern)
        except re.error as error:
            problems.append(f"`pattern` is not a regular expression ({error})")
        return problems

    def score(self, text: str, row: Mapping[str, Any]) -> float:
        flags = (re.DOTALL if self.dot_all else 0) | (re.IGNORECASE if self.ignore_case else 0)
        match = re.fullmatch if self.mode == "fullmatch" else re.search
        return float(match(self.pattern, text, flags) is not None)


@dataclass
class LengthWindow(Preset):
    """1 inside [min_length, max_length], falling linearly to 0 over ``falloff`` outside."""

    kind: ClassVar[str] = "length_window"
    description: ClassVar[str] = ("1 when the completion's length is inside the window, falling "
                                  "linearly to 0 outside it")

    min_length: int = 0
    max_length: int = 200
    unit: str = "words"  # "chars" or "words" (split on whitespace)
    falloff: int = 0  # how far outside the window the reward reaches 0; 0 = half of max_length

    def problems(self) -> list[str]:
        problems = []
        if self.unit not in LENGTH_UNITS:
            problems.append(f"`unit` must be one of {', '.join(LENGTH_UNITS)}, not {self.unit!r}")
        if self.min_length < 0:
            problems.append(f"`min_length` must be >= 0, not {self.min_length}")
        if self.max_length < max(self.min_length, 1):
            problems.append(f"`max_length` ({self.max_length}) must be >= 1 and >= `min_length` "
                            f"({self.min_length})")
        if self.falloff < 0:
            problems.append(f"`falloff` must be >= 0 (0 = half of max_length), not {self.falloff}")
        return problems

    def score(self, text: str, row: Mapping[str, Any]) -> float:
        length = len(text) if self.unit == "chars" else len(text.split())
        outside = max(self.min_length - length, length - self.max_length, 0)
        scale = self.falloff or max(1, self.max_length // 2)
        return max(0.0, 1.0 - outside / scale)


def _word_problems(words: tuple[str, ...]) -> list[str]:
    if not words or not all(isinstance(word, str) and word.strip() for word in words):
        return ["`words` must be a non-empty list of non-empty words"]
    return []


def _share_found(text: str, words: tuple[str, ...], ignore_case: bool, whole_word: bool) -> float:
    flags = re.IGNORECASE if ignore_case else 0
    found = 0
    for word in words:
        pattern = rf"(?<!\w){re.escape(word)}(?!\w)" if whole_word else re.escape(word)
        found += re.search(pattern, text, flags) is not None
    return found / len(words)


@dataclass
class Contains(Preset):
    """The share of the words the completion uses (1 when it uses them all)."""

    kind: ClassVar[str] = "contains"
    description: ClassVar[str] = "the share of the listed words the completion uses: 1 when all appear"

    words: tuple[str, ...] = field(default_factory=tuple)
    ignore_case: bool = True
    whole_word: bool = True  # "cat" does not count inside "category"

    def __post_init__(self) -> None:
        self.words = tuple(self.words)
        super().__post_init__()

    def problems(self) -> list[str]:
        return _word_problems(self.words)

    def score(self, text: str, row: Mapping[str, Any]) -> float:
        return _share_found(text, self.words, self.ignore_case, self.whole_word)


@dataclass
class Excludes(Contains):
    """1 minus the share of the words the completion uses (1 when it uses none)."""

    kind: ClassVar[str] = "excludes"
    description: ClassVar[str] = "1 when none of the listed words appear, less for each that does"

    def score(self, text: str, row: Mapping[str, Any]) -> float:
        return 1.0 - super().score(text, row)
