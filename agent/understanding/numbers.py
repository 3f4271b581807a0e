"""Counts written in digits or words: "12", "twelve", "twenty-five", "a dozen", "a couple of"."""

from __future__ import annotations

import re

UNITS: dict[str, int] = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
TENS: dict[str, int] = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
HOUR_WORDS: dict[str, int] = {w: n for w, n in UNITS.items() if 1 <= n <= 12}


def _alt(words: list[str]) -> str:
    """A regex alternation, longest first so "seventeen" is not read as "seven"."""
    return "|".join(sorted(words, key=len, reverse=True))


_UNIT_ALT = _alt(list(UNITS))
_DIGIT_WORD_ALT = _alt([w for w, n in UNITS.items() if 1 <= n <= 9])
_TENS_ALT = _alt(list(TENS))

# A count in words. Multiples of a dozen and "a couple (of)" are counts people use for parties.
WORD_NUM = (
    rf"(?:half\s+a\s+dozen|an?\s+dozen|(?:{_DIGIT_WORD_ALT})\s+dozens?|an?\s+couple(?:\s+of)?|"
    rf"(?:a|one)\s+hundred|(?:{_TENS_ALT})(?:[\s-]+(?:{_DIGIT_WORD_ALT}))?|(?:{_UNIT_ALT}))(?![\w-])"
)
# A count in digits or words (used inside larger patterns; no capture groups).
NUM = rf"(?:\d{{1,3}}(?![\d:/.,]\d)|{WORD_NUM})"
HOUR_WORD = rf"(?:{_alt(list(HOUR_WORDS))})"

_SPACES = re.compile(r"[\s-]+")


def to_int(text: str) -> int | None:
    """The value of a count matched by NUM, or None when it is not one."""
    t = _SPACES.sub(" ", text.strip().lower())
    if t.isdigit():
        return int(t)
    if t in UNITS:
        return UNITS[t]
    if t in TENS:
        return TENS[t]
    words = t.split(" ")
    if t == "half a dozen":
        return 6
    if words[-1] in ("dozen", "dozens") and len(words) == 2:
        return 12 if words[0] in ("a", "an") else UNITS.get(words[0], 0) * 12 or None
    if words[:2] in (["a", "couple"], ["an", "couple"]):
        return 2
    if words[-1] == "hundred" and len(words) == 2:
        return 100
    if len(words) == 2 and words[0] in TENS and words[1] in UNITS and 1 <= UNITS[words[1]] <= 9:
        return TENS[words[0]] + UNITS[words[1]]
    return None
