"""The working copy of a message: normalised, lower-cased, and progressively masked.

Each extractor reads `low`, and masks what it consumed, so a date's "12" cannot also be read as a
party size or a time. Masking keeps offsets, so `orig[i]` is always the character behind `low[i]`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MASK = "\x00"

_TRANSLATE = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201b": "'", "\u2032": "'", "`": "'",
    "\u201c": '"', "\u201d": '"', "\u2033": '"',
    "\u2013": "-", "\u2014": "-", "\u2212": "-",
    "\u00a0": " ", "\u2009": " ", "\u202f": " ",
})  # fmt: skip


def normalize(text: str) -> str:
    """Same length as `text`: typographic quotes, dashes and spaces to ASCII."""
    return text.translate(_TRANSLATE)


def lower_same_length(text: str) -> str:
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


@dataclass
class Work:
    orig: str
    low: str = field(init=False)  # lower-cased, masked as extractors consume it
    plain: str = field(init=False)  # lower-cased, never masked (for context words such as "evening")

    def __post_init__(self) -> None:
        self.orig = normalize(self.orig)
        self.low = self.plain = lower_same_length(self.orig)

    def mask(self, start: int, end: int) -> None:
        if end > start:
            self.low = self.low[:start] + MASK * (end - start) + self.low[end:]

    def before(self, pos: int, width: int = 40) -> str:
        return self.low[max(0, pos - width) : pos]

    def after(self, pos: int, width: int = 40) -> str:
        return self.low[pos : pos + width]


# A number followed by one of these is a quantity of something else, never a time or a party size.
UNIT_WORDS = (
    r"(?:%|percent|dollars?|bucks|usd|cents?|minutes?|mins?|hours?|hrs?|days?|weeks?|wks?|months?|years?|yrs?|"
    r"y/?o\b|year[- ]olds?|miles?|mi\b|feet|ft\b|foot|inches|lbs?|pounds?|oz|ounces?|stars?|th\b|st\b|nd\b|rd\b|"
    r"degrees?|times|x\b)"
)
PEOPLE_WORDS = (
    r"(?:people|persons?|peeps|guests?|pax|ppl|folks|diners|heads|attendees|individuals|humans|adults?|grown[- ]?ups?|"
    r"kids?|child|children|little\s+ones|toddlers|of\s+us|of\s+them)"
)
_UNIT_AFTER = re.compile(rf"\s*-?\s*{UNIT_WORDS}(?![a-z])")
_PEOPLE_AFTER = re.compile(rf"\s*{PEOPLE_WORDS}(?![a-z])")
_CAPITALIZED_AFTER = re.compile(r"\s+[A-Z][a-z]")
_NAME_LIKE_OK = re.compile(
    r"\s+(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun|Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec|Is|Are|And|At|On|For|Or|"
    r"Please|Thanks|Thank|Tonight|Today|Tomorrow|People|Persons?|Guests?|Adults?|Kids?|Children|In|I)\b"
)


def followed_by_unit(work: Work, pos: int) -> bool:
    return _UNIT_AFTER.match(work.low, pos) is not None


def followed_by_people(work: Work, pos: int) -> bool:
    return _PEOPLE_AFTER.match(work.low, pos) is not None


def followed_by_name(work: Work, pos: int) -> bool:
    """`4 Star Cafe`, `Hisui 2 ...`: a number that runs into a capitalised word is part of a name."""
    return _CAPITALIZED_AFTER.match(work.orig, pos) is not None and _NAME_LIKE_OK.match(work.orig, pos) is None
