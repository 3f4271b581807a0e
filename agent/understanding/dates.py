"""Event dates: "Saturday December 12th", "12/19", "jan 9", "the 20th", "this Saturday", "next friday",
"tomorrow night", "the 5th of this month", "2026-12-12" ...

Every date is resolved against `today` (the business's local date). A date without a year is the next
such date on or after today. "next <weekday>" and "<weekday> next week" are that day in the calendar
week (Monday to Sunday) after this one; "this <weekday>" and a bare weekday are the next one on or
after today.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from .text import Work

MONTHS: dict[str, int] = {
    "jan": 1, "january": 1, "feb": 2, "february": 2, "mar": 3, "march": 3, "apr": 4, "april": 4, "may": 5,
    "jun": 6, "june": 6, "jul": 7, "july": 7, "aug": 8, "august": 8, "sep": 9, "sept": 9, "september": 9,
    "oct": 10, "october": 10, "nov": 11, "november": 11, "dec": 12, "december": 12,
}  # fmt: skip
WEEKDAYS: dict[str, int] = {
    "mon": 0, "monday": 0, "tue": 1, "tues": 1, "tuesday": 1, "wed": 2, "weds": 2, "wednesday": 2,
    "thu": 3, "thur": 3, "thurs": 3, "thursday": 3, "fri": 4, "friday": 4, "sat": 5, "saturday": 5,
    "sun": 6, "sunday": 6,
}  # fmt: skip
ORDINAL_WORDS: dict[str, int] = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
    "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14,
    "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18, "nineteenth": 19, "twentieth": 20,
    "thirtieth": 30,
}  # fmt: skip
for _unit, _n in list(ORDINAL_WORDS.items())[:9]:
    ORDINAL_WORDS[f"twenty {_unit}"] = 20 + _n
    ORDINAL_WORDS[f"twenty-{_unit}"] = 20 + _n
ORDINAL_WORDS["thirty first"] = ORDINAL_WORDS["thirty-first"] = 31


def _alt(words: list[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


_MONTH = rf"(?P<mon>{_alt(list(MONTHS))})\.?"
_MONTH2 = rf"(?P<mon2>{_alt(list(MONTHS))})\.?"
_WEEKDAY_FULL = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)(?![a-z])"
_WEEKDAY_ANY = rf"(?:{_alt(list(WEEKDAYS))})(?![a-z])\.?"
_ORD_WORD = rf"(?:{_alt(list(ORDINAL_WORDS))})"
# A day of the month: "12", "12th", "twelfth".
_DAY = rf"(?:(?P<d>\d{{1,2}})(?:st|nd|rd|th)?|(?P<dw>{_ORD_WORD}))"
_DAY2 = rf"(?:(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?|(?P<dw2>{_ORD_WORD}))"
# An ordinal day only: "12th", "twelfth" (a bare "12" is not a date on its own).
_ORD_DAY = rf"(?:(?P<od>\d{{1,2}})(?:st|nd|rd|th)|(?P<odw>{_ORD_WORD}))"
_YEAR = r"(?:,?\s*(?P<y>(?:19|20)\d{2}))?"
_WD_PREFIX = rf"(?:(?:on\s+)?{_WEEKDAY_ANY},?\s+(?:the\s+)?)?"
_NOT_DIGIT_AFTER = r"(?![\d:/])"
# An ordinal followed by these is not a date ("the 2nd floor", "our 10th anniversary").
_NOT_A_DATE_NOUN = (
    r"(?!\s*(?:floor|street|st\b|ave|avenue|grade|time|place|year|birthday|bday|anniversary|annual|round|"
    r"person|guest|kid|child|one|option|choice|course|protein|upgrade))"
)

_HOLIDAY = re.compile(
    r"\b(?P<h>christmas\s+eve|christmas(?:\s+day)?|xmas\s+eve|xmas|new\s+year'?s\s+eve|nye|new\s+year'?s(?:\s+day)?|"
    r"valentine'?s(?:\s+day)?|halloween|(?:the\s+)?(?:fourth|4th)\s+of\s+july|independence\s+day|"
    r"thanksgiving(?:\s+day)?|mother'?s\s+day|father'?s\s+day|memorial\s+day|labor\s+day|easter(?:\s+sunday)?)\b"
)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The n-th `weekday` of the month (n = -1: the last one)."""
    if n > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _easter(year: int) -> date:
    """Gregorian Easter Sunday (anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    r = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 19 * r) // 433
    month = (h + r - 7 * m + 90) // 25
    return date(year, month, (h + r - 7 * m + 33 * month + 19) % 32)


def holiday(name: str, year: int) -> date:
    key = re.sub(r"\s+", " ", name).replace("'", "")
    if key.startswith(("christmas eve", "xmas eve")):
        return date(year, 12, 24)
    if key.startswith(("christmas", "xmas")):
        return date(year, 12, 25)
    if key.startswith("new years eve") or key == "nye":
        return date(year, 12, 31)
    if key.startswith("new years"):
        return date(year, 1, 1)
    if key.startswith("valentine"):
        return date(year, 2, 14)
    if key == "halloween":
        return date(year, 10, 31)
    if "july" in key or key.startswith("independence"):
        return date(year, 7, 4)
    if key.startswith("thanksgiving"):
        return _nth_weekday(year, 11, 3, 4)
    if key.startswith("mothers"):
        return _nth_weekday(year, 5, 6, 2)
    if key.startswith("fathers"):
        return _nth_weekday(year, 6, 6, 3)
    if key.startswith("memorial"):
        return _nth_weekday(year, 5, 0, -1)
    if key.startswith("labor"):
        return _nth_weekday(year, 9, 0, 1)
    return _easter(year)


_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "weeks_from",
        re.compile(
            r"\b(?P<n>\d{1,2}|a|one|two|three|four|five|six|seven)\s+(?P<unit>weeks?|wks?)\s+(?:from|after)\s+"
            rf"(?:(?P<rel>this|next|the\s+coming)\s+)?(?:(?P<wd>{_WEEKDAY_ANY})|(?P<now>today|now|tomorrow|tmrw))"
        ),
    ),
    ("iso", re.compile(r"(?<![\d/-])(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})(?![\d-])")),
    ("slash", re.compile(r"(?<![\d/.$:])(?P<m>\d{1,2})/(?P<d>\d{1,2})(?:/(?P<y>\d{4}|\d{2}))?(?![\d/])")),
    (
        "month_day",
        re.compile(rf"\b{_WD_PREFIX}{_MONTH}\s+(?:the\s+)?{_DAY}{_NOT_DIGIT_AFTER}(?![a-z]){_YEAR}"),
    ),
    (
        "day_month",
        re.compile(
            rf"\b{_WD_PREFIX}(?:the\s+)?(?:{_ORD_DAY}\s+(?:day\s+)?(?:of\s+)?|(?P<bd>\d{{1,2}})\s+){_MONTH}\b{_YEAR}"
        ),
    ),
    (
        "day_of_rel_month",
        re.compile(rf"\b(?:the\s+)?{_ORD_DAY}\s+(?:day\s+)?of\s+(?:the|this|(?P<next>next|the\s+next))\s+month\b"),
    ),
    ("ordinal", re.compile(rf"\b(?P<pre>the|on|for|by)\s+(?:the\s+)?{_ORD_DAY}(?![a-z]){_NOT_A_DATE_NOUN}")),
    ("holiday", _HOLIDAY),
    ("after_tomorrow", re.compile(r"\b(?:the\s+)?day\s+after\s+(?:tomorrow|tmrw|tmr)\b")),
    ("tomorrow", re.compile(r"\b(?:tomorrow|tmrw|tmr|tomorow|tommorow|tommorrow)\b")),
    ("today", re.compile(r"\b(?:today|tonight|tonite|this\s+(?:morning|afternoon|evening))\b")),
    (
        "in_days",
        re.compile(r"\bin\s+(?P<n>\d{1,2}|a|one|two|three|four|five|six|seven)\s+(?P<unit>days?|weeks?|wks?)\b"),
    ),
    # "12-19", "1-16-27": a dash date needs a day past 12 or a year, so "6-9pm" and "10-12 people" stay ranges
    (
        "dash",
        re.compile(
            r"(?<![\d/.$:-])(?P<m>1[0-2]|0?[1-9])-(?P<d>1[3-9]|2\d|3[01])(?:-(?P<y>\d{4}|\d{2}))?(?![\d/:-])"
            r"(?!\s*(?:[ap]\.?m\b|o'?clock|people|persons|guests|ppl|pax|adults|kids|children|hours|hrs|mins|minutes|"
            r"days|weeks|years|yrs|%|dollars|bucks|x\b))"
        ),
    ),
    (
        "weekday",
        re.compile(
            rf"\b(?:(?P<rel>this|next|coming|this\s+coming|upcoming|the\s+coming|the\s+next)\s+(?P<wd1>{_WEEKDAY_ANY})|"
            rf"(?P<wd2>{_WEEKDAY_FULL}))(?:\s+(?P<week>this|next)\s+week\b)?"
        ),
    ),
]

_SMALL_WORDS = {"a": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7}
_NEGATED = re.compile(r"(?:\bnot|n't|\binstead\s+of|\brather\s+than|\bother\s+than|\bexcept)\s+(?:\S+\s+){0,2}$")


@dataclass(frozen=True)
class Found:
    start: int
    end: int
    value: date


def _safe(y: int, m: int, d: int) -> date | None:
    try:
        return date(y, m, d)
    except ValueError:
        return None


def _next_month_day(today: date, m: int, d: int) -> date | None:
    """The next `m`/`d` on or after today (years ahead for 29 February)."""
    for y in range(today.year, today.year + 9):
        candidate = _safe(y, m, d)
        if candidate is not None and candidate >= today:
            return candidate
    return None


def _next_day_of_month(today: date, d: int) -> date | None:
    """The next `d`th on or after today (skipping months without one)."""
    y, m = today.year, today.month
    for _ in range(13):
        candidate = _safe(y, m, d)
        if candidate is not None and candidate >= today:
            return candidate
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return None


def _day(match: re.Match[str], digits: str, words: str) -> int | None:
    if match.group(digits):
        return int(match.group(digits))
    if match.group(words):
        return ORDINAL_WORDS.get(re.sub(r"\s+", " ", match.group(words)))
    return None


def _year(match: re.Match[str]) -> int | None:
    y = match.group("y")
    if not y:
        return None
    return int(y) + 2000 if len(y) == 2 else int(y)


def _resolve(kind: str, match: re.Match[str], today: date) -> date | None:
    if kind == "iso":
        return _safe(int(match.group("y")), int(match.group("m")), int(match.group("d")))
    if kind == "slash":
        month_n, day_n, year_n = int(match.group("m")), int(match.group("d")), _year(match)
        if not (1 <= month_n <= 12 and 1 <= day_n <= 31):
            return None
        return _safe(year_n, month_n, day_n) if year_n else _next_month_day(today, month_n, day_n)
    if kind in ("month_day", "day_month"):
        month = MONTHS[match.group("mon")]
        if kind == "month_day":
            d = _day(match, "d", "dw")
        else:
            d = _day(match, "od", "odw") or (int(match.group("bd")) if match.group("bd") else None)
        if d is None:
            return None
        y = _year(match)
        return _safe(y, month, d) if y else _next_month_day(today, month, d)
    if kind == "day_of_rel_month":
        d = _day(match, "od", "odw")
        if d is None:
            return None
        if match.group("next"):
            y, m = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
            return _safe(y, m, d)
        return _safe(today.year, today.month, d)
    if kind == "ordinal":
        d = _day(match, "od", "odw")
        return _next_day_of_month(today, d) if d else None
    if kind == "holiday":
        this_year = holiday(match.group("h"), today.year)
        return this_year if this_year >= today else holiday(match.group("h"), today.year + 1)
    if kind == "after_tomorrow":
        return today + timedelta(days=2)
    if kind == "tomorrow":
        return today + timedelta(days=1)
    if kind == "today":
        return today
    if kind == "weeks_from":
        n_text = match.group("n")
        n = int(n_text) if n_text.isdigit() else _SMALL_WORDS[n_text]
        if match.group("wd"):
            wd = WEEKDAYS[match.group("wd").rstrip(".")]
            base = today + timedelta(days=(wd - today.weekday()) % 7)
            if match.group("rel") == "next":  # "next saturday" is in next week, as for a lone weekday
                base = today - timedelta(days=today.weekday()) + timedelta(days=7 + wd)
        else:
            base = today + timedelta(days=1 if match.group("now") in ("tomorrow", "tmrw") else 0)
        return base + timedelta(days=7 * n)
    if kind == "dash":
        month_n, day_n, year_n = int(match.group("m")), int(match.group("d")), _year(match)
        return _safe(year_n, month_n, day_n) if year_n else _next_month_day(today, month_n, day_n)
    if kind == "in_days":
        n_text = match.group("n")
        n = int(n_text) if n_text.isdigit() else _SMALL_WORDS[n_text]
        return today + timedelta(days=n * (7 if match.group("unit").startswith("w") else 1))
    if kind == "weekday":
        name = (match.group("wd1") or match.group("wd2")).rstrip(".")
        wd = WEEKDAYS[name]
        rel = (match.group("rel") or "").split()[-1:] or [""]
        week = match.group("week")
        monday = today - timedelta(days=today.weekday())
        if week == "next" or (rel[0] == "next" and not (match.group("rel") or "").startswith("the")):
            return monday + timedelta(days=7 + wd)
        return today + timedelta(days=(wd - today.weekday()) % 7)
    return None


def find_dates(work: Work, today: date) -> list[Found]:
    """Every date mention, masked in `work`, in text order."""
    found: list[Found] = []
    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(work.low):
            value = _resolve(kind, match, today)
            if value is None:
                continue
            if kind == "ordinal" and match.group("pre") == "for" and "the" not in match.group(0):
                continue
            if kind == "slash" and _looks_like_fraction(work, match):
                continue
            if not _plausible(kind, work, match):
                continue
            found.append(Found(match.start(), match.end(), value))
            work.mask(match.start(), match.end())
    found.sort(key=lambda f: f.start)
    return found


_WORD_ORDINAL_END = re.compile(
    r"\s*(?:$|[.,!?;)]|(?:at|for|please|works|would|is|and|or|in|then|instead|if|around|from|through|thru)\b)"
)


def _plausible(kind: str, work: Work, match: re.Match[str]) -> bool:
    groups = match.groupdict()
    # "may" is also a verb: "6 may", "you may 2 ..." are dates only when written "May" or with an ordinal.
    if (
        groups.get("mon") == "may"
        and work.orig[match.start("mon")] != "M"
        and (kind != "month_day" or not re.search(r"\d(?:st|nd|rd|th)\b", match.group(0)))
    ):
        return False
    # "the first time", "the second option": an ordinal word is a day only where a day can end.
    if groups.get("odw") and kind == "ordinal":
        return _WORD_ORDINAL_END.match(work.low, match.end()) is not None
    return True


def _looks_like_fraction(work: Work, match: re.Match[str]) -> bool:
    # "24/7", "1/2 price": not valid dates or clearly not about a day.
    return bool(re.match(r"\s*(?:price|off|of|cup|mile|hour)", work.low[match.end() :]))


def pick_date(work: Work, found: list[Found]) -> date | None:
    """The date the message settles on: the last one not negated ("not the 12th, the 19th")."""
    chosen: date | None = None
    previous_end = 0
    for f in found:
        if not _NEGATED.search(work.low[max(previous_end, f.start - 30) : f.start]):
            chosen = f.value
        previous_end = f.end
    return chosen


_BARE_ORDINAL = re.compile(r"(?<![\w./:$])(?P<d>\d{1,2})(?:st|nd|rd|th)\b")
_BARE_NUMBER = re.compile(r"(?<![\w./:$])(?P<d>\d{1,2})(?![\w:/])")


def bare_day(work: Work, today: date) -> date | None:
    """When the agent asked for the date: "12", "12th please" is the next 12th."""
    match = _BARE_ORDINAL.search(work.low)
    if match is None and len(work.low.split()) <= 4:
        numbers = list(_BARE_NUMBER.finditer(work.low))
        match = numbers[0] if len(numbers) == 1 else None
    if match is None or not 1 <= int(match.group("d")) <= 31:
        return None
    return _next_day_of_month(today, int(match.group("d")))
