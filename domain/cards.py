"""Card numbers typed into a chat: found and removed before anything stores, logs or shows them.

A card number is 13 to 19 digits, typed whole or in groups separated by spaces, dashes, dots or
line breaks ("4111 1111 1111 1111", "4111-1111-1111-1111", "4111.1111.1111.1111"), whose Luhn
checksum holds. Phone numbers (10 or 11
digits), ZIPs, dates, booking references and guest counts never qualify, so they are left alone.
A run of groups longer than a card ("4111 1111 1111 1111 12 27": the expiry typed after it) is
searched for a Luhn-valid stretch of whole groups, so the card inside is still found.
"""

from __future__ import annotations

import re

CARD_MARKER = "[card number removed]"
MIN_DIGITS, MAX_DIGITS = 13, 19

# Digit groups joined by what people type between them (spaces of any kind, a line break, a dash,
# a dot, or a few of those: "4111  1111", "4111 - 1111", "4111.1111"), never starting or ending
# inside a digit run.
_SEPARATOR = r"[\s\u00a0\u2007\u202f.\-\u2010-\u2015]{1,3}"
_DIGIT_RUN = re.compile(rf"(?<!\d)\d+(?:{_SEPARATOR}\d+)*(?!\d)")
_GROUP = re.compile(r"\d+")


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum of a string of digits."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _is_card(digits: str) -> bool:
    return MIN_DIGITS <= len(digits) <= MAX_DIGITS and luhn_valid(digits)


def _redact_run(run: str) -> tuple[str, int]:
    """One run of digit groups with each card in it (a stretch of whole groups) replaced."""
    groups = list(_GROUP.finditer(run))
    pieces: list[str] = []
    cursor, count, first = 0, 0, 0
    while first < len(groups):
        for last in range(len(groups) - 1, first - 1, -1):  # the longest stretch first
            if _is_card("".join(g.group(0) for g in groups[first : last + 1])):
                pieces += [run[cursor : groups[first].start()], CARD_MARKER]
                cursor, count, first = groups[last].end(), count + 1, last + 1
                break
        else:
            first += 1
    pieces.append(run[cursor:])
    return "".join(pieces), count


def redact_card_numbers(text: str) -> tuple[str, int]:
    """`text` with each Luhn-valid 13-19 digit number replaced by CARD_MARKER, and how many were."""
    count = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal count
        redacted, found = _redact_run(match.group(0))
        count += found
        return redacted

    return _DIGIT_RUN.sub(replace, text), count
