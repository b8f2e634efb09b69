""""a" or "an" before a phrase, by how it is spoken: "an 80 GiB card", "an H200", "a 24 GiB card".

Sentences built from numbers and model names ("a {size} GiB card") read wrong for every size
spoken with a vowel first (8, 11, 18, 80-89, 800...); one helper, so every message agrees.
"""

from __future__ import annotations

import re

# Letters whose spoken name starts with a vowel sound: "an H100", "an NVIDIA card", "an RTX 4090".
_VOWEL_LETTER_NAMES = frozenset("AEFHILMNORSX")
# Words whose spelling misleads: "a user", "a one-off", "an hour".
_SPOKEN_AS_CONSONANT = ("uni", "use", "usu", "uti", "eu", "one", "once")
_SPOKEN_AS_VOWEL = ("hour", "honest", "honou", "heir")


def a_or_an(phrase: str) -> str:
    """``phrase`` with "a" or "an" before it."""
    return f"{'an' if _spoken_with_a_vowel(phrase) else 'a'} {phrase}"


def _spoken_with_a_vowel(phrase: str) -> bool:
    text = phrase.strip()
    if not text:
        return False
    number = re.match(r"\d[\d,]*", text)
    if number:
        digits = number.group().replace(",", "")
        # eight, eighty, eight hundred...; eleven and eighteen (and their thousands: "an 11,000")
        leading = int(digits[:2]) if len(digits) % 3 == 2 else None
        return digits.startswith("8") or leading in (11, 18)
    word = re.match(r"[A-Za-z]+", text)
    if word is None:
        return False
    head = word.group()
    if head.isupper():  # an acronym or a model number is spoken letter by letter: "an H200"
        return head[0] in _VOWEL_LETTER_NAMES
    lower = head.lower()
    if lower.startswith(_SPOKEN_AS_CONSONANT):
        return False
    return lower.startswith(_SPOKEN_AS_VOWEL) or lower[0] in "aeiou"
