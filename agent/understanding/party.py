"""Party size: "12 people", "party of 6", "table for four", "two of us", "me and my wife", "just me",
"15 adults and 3 kids", "20 people, 4 of them kids", "all adults" ...

Runs after dates, times, prices, contact details and upgrade counts are masked, so the numbers left
are the ones that can be about people.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .numbers import NUM, to_int
from .text import PEOPLE_WORDS, Work, followed_by_name, followed_by_unit

_N = rf"(?P<n>{NUM})"
_APPROX = (
    r"(?:about\s+|around\s+|roughly\s+|approximately\s+|approx\.?\s+|maybe\s+|like\s+|~\s*|only\s+|just\s+|exactly\s+)?"
)
_TOTAL_NOUN = (
    r"(?:people|persons?|peeps|guests?|pax|ppl|folks|diners|heads|attendees|individuals|humans|seats|covers|"
    r"(?:total\s+)?(?:people|guests)|total|in\s+(?:total|all|our\s+party|my\s+party|the\s+party|our\s+group|the\s+group))"
)
_ADULT_NOUN = r"(?:adults?|grown[- ]?ups?|grownups)"
_KID_NOUN = r"(?:kids?|children|child|little\s+ones|toddlers|kiddos)"
# A verb after "N of us" makes it a subset, not the party ("3 of us are vegetarian").
_SUBSET_VERB = (
    r"(?!\s+(?:is|are|am|was|were|will\s+(?!be\s*(?:$|[.,!]))|won't|can|can't|cannot|could|would|need|needs|want|wants|"
    r"like|likes|prefer|prefers|have|has|don't|doesn't|do|eat|eats|get|gets|take|takes|'re|'ll)\b)"
)

_TOTAL_PATTERNS = [
    # 12 people / 12 guests / 12 in total
    re.compile(rf"(?<![\w.$]){_APPROX}{_N}\s*{_TOTAL_NOUN}\b"),
    # the four of us / two of us / both of us
    re.compile(rf"(?<![\w.$])(?:the\s+)?{_N}\s+of\s+us\b{_SUBSET_VERB}"),
    # party of 6 / table for four / group of 12 / reservation for 2 / headcount is 20
    re.compile(
        rf"\b(?:party|group|table|reservation|booking|headcount|head\s+count|guest\s+count|count|total|"
        rf"(?:party|group)\s+size|"
        rf"(?:number|no\.?|#)\s+of\s+(?:people|guests|persons|diners|attendees))\s*"
        rf"(?:of|for|is|=|:|will\s+be|would\s+be|(?=\s*\d))\s*{_APPROX}{_N}(?![\w:/])"
    ),
    # we are 12 / there will be 15 / we'll be 8
    re.compile(
        rf"\b(?:we\s+are|we're|we\s+will\s+be|we'll\s+be|there\s+(?:will\s+be|are|'ll\s+be)|there'll\s+be|"
        rf"it's|it\s+is|it\s+will\s+be)\s+{_APPROX}{_N}(?![\w:/])"
    ),
    # for 6 / for just one
    re.compile(rf"\bfor\s+(?:a\s+total\s+of\s+)?{_APPROX}{_N}(?![\w:/])"),
]
_ADULT_PATTERNS = [
    re.compile(rf"(?<![\w.$]){_APPROX}{_N}\s*{_ADULT_NOUN}\b"),
    re.compile(rf"(?<![\w.$]){_N}\s+(?:of\s+(?:them|us|whom|those)\s+)?(?:are|will\s+be|being)\s+{_ADULT_NOUN}\b"),
    re.compile(rf"\b{_ADULT_NOUN}\s*(?::|=|-)\s*{_N}(?![\w:/])"),
]
_KID_PATTERNS = [
    re.compile(rf"(?<![\w.$]){_APPROX}{_N}\s*(?:(?:young|little|small)\s+)?{_KID_NOUN}\b"),
    re.compile(
        rf"(?<![\w.$]){_N}\s+(?:of\s+(?:them|us|whom|those)\s+)?(?:are|will\s+be|being|is)\s+(?:a\s+)?{_KID_NOUN}\b"
    ),
    re.compile(rf"(?<![\w.$]){_N}\s+of\s+(?:them|whom|those)\s+(?:are\s+)?{_KID_NOUN}\b"),
    re.compile(
        rf"(?<![\w.$]){_N}\s+(?:are\s+|will\s+be\s+)?(?:under|below|younger\s+than)\s+(?:the\s+age\s+of\s+)?1[0-3]\b"
    ),
    re.compile(rf"\b{_KID_NOUN}\s*(?::|=|-)\s*{_N}(?![\w:/])"),
]
_NO_KIDS = re.compile(
    r"\b(?:all\s+(?:of\s+(?:us|them)\s+(?:are\s+)?)?adults|(?:just|only)\s+adults|adults\s+only|no\s+(?:kids|children)|"
    r"(?:zero|0)\s+(?:kids|children)|none\s+(?:are|of\s+them\s+are)\s+(?:kids|children)|"
    r"(?:there\s+are\s+|there\s+will\s+be\s+|we\s+have\s+)?no\s+one\s+under\s+1[0-3]|everyone\s+is\s+an\s+adult|"
    r"(?:it's|it\s+is)\s+(?:all|only|just)\s+adults)\b"
)
_ONE = re.compile(
    r"\b(?:just\s+(?:me|myself|for\s+me)|only\s+(?:me|myself)|me\s+alone|by\s+myself|(?:just|only)\s+one\s+(?:person|guest)|"
    r"party\s+of\s+one|table\s+for\s+one|for\s+one\s+person|solo)\b"
)
_COMPANION = (
    r"(?:wife|husband|partner|spouse|girlfriend|boyfriend|gf|bf|fianc[eé]e?|friend|buddy|mom|mother|dad|father|"
    r"son|daughter|brother|sister|boss|colleague|co-?worker|date|roommate|roomie|mum|other\s+half|better\s+half)"
)
# "me and my wife": two, but weaker than any number stated ("my wife and I want a party of 6").
_COUPLE = re.compile(
    rf"\b(?:(?:me|myself)\s+and\s+my\s+{_COMPANION}|my\s+{_COMPANION}\s+and\s+(?:i|me|myself)|"
    rf"(?:just\s+)?the\s+pair\s+of\s+us)\b(?!\s+(?:and|plus|with)\b)"
)
_OTHERS = r"(?:others?|friends?|more|guests?|people|family\s+members|co-?workers|colleagues)"
_ME_PLUS = [
    re.compile(rf"\b(?:me|myself|i)\s+(?:and|plus|\+|with)\s+{_N}\s+{_OTHERS}\b"),
    re.compile(rf"(?<![\w.$]){_N}\s+{_OTHERS}\s+(?:and|plus|\+)\s+(?:me|myself)\b"),
]
_BARE_COUNT = re.compile(rf"(?<![\w.$]){_N}(?:-?ish)?(?![\w:/])")
_SHORT_ANSWER_WORDS = 8


_OTHER_COUNT_AFTER = re.compile(rf"\s*{PEOPLE_WORDS}\b|\s*(?:of\b|one\b|ones\b|or\s+more|more\b)")
_OF_US = re.compile(r"\s*of\s+us\b")


@dataclass
class Party:
    total: int | None = None
    adults: int | None = None
    kids: int | None = None


def _last(work: Work, patterns: list[re.Pattern[str]], *, check_after: bool = False) -> tuple[int, int, int] | None:
    """(value, start, end) of the last count matched by any of `patterns`."""
    best: tuple[int, int, int] | None = None
    for pattern in patterns:
        for match in pattern.finditer(work.low):
            value = to_int(match.group("n"))
            if value is None or value > 500:
                continue
            if check_after and (followed_by_unit(work, match.end("n")) or followed_by_name(work, match.end("n"))):
                continue
            rest = work.low[match.end("n") :]
            if check_after and _OTHER_COUNT_AFTER.match(rest) and not _OF_US.match(rest):
                continue  # "for 2 adults" / "for one of my friends" / "for 2 or more" are read elsewhere
            if best is None or match.start() > best[1]:
                best = (value, match.start(), match.end())
    return best


# "10 adults plus 3 kids" is read by the adult pattern; "10 people plus 3 kids" adds the kids too.
_PEOPLE_PLUS_KIDS = re.compile(
    rf"(?<![\w.$]){_APPROX}{_N}\s*(?:people|persons|guests|folks)\s*,?\s*(?:plus|\+|and\s+also|as\s+well\s+as)\s+"
    rf"(?P<k>{NUM})\s*(?:(?:young|little|small)\s+)?{_KID_NOUN}\b"
)


def find_party(work: Work, *, bare_ok: bool = False) -> Party:
    """The party the message states (within-message consistency only; see merge for the rest)."""
    party = Party()
    plus = _PEOPLE_PLUS_KIDS.search(work.low)
    if plus:
        plus_adults, plus_kids = to_int(plus.group("n")), to_int(plus.group("k"))
        if plus_adults is not None and plus_kids is not None:
            work.mask(plus.start(), plus.end())
            return Party(plus_adults + plus_kids, plus_adults, plus_kids)
    kids = _last(work, _KID_PATTERNS)
    adults = _last(work, _ADULT_PATTERNS)
    for found in (kids, adults):
        if found:
            work.mask(found[1], found[2])
    if kids:
        party.kids = kids[0]
    if adults:
        party.adults = adults[0]
    no_kids = _NO_KIDS.search(work.low)
    if no_kids and party.kids is None:
        party.kids = 0
        work.mask(no_kids.start(), no_kids.end())

    total: int | None = None
    candidates: list[tuple[int, int]] = []  # (position, value)
    for pattern_index, pattern in enumerate(_TOTAL_PATTERNS):
        found = _last(work, [pattern], check_after=pattern_index >= 2)
        if found:
            candidates.append((found[1], found[0]))
    for pattern in _ME_PLUS:
        for match in pattern.finditer(work.low):
            n = to_int(match.group("n"))
            if n is not None:
                candidates.append((match.start(), n + 1))
    for match in _ONE.finditer(work.low):
        candidates.append((match.start(), 1))
    if candidates:
        total = max(candidates)[1]
    elif _COUPLE.search(work.low):
        total = 2
    elif bare_ok and len(work.low.split()) <= _SHORT_ANSWER_WORDS:
        # the agent asked how many: "20", "20ish", "about 20, maybe 25" (the first count given)
        for bare in _BARE_COUNT.finditer(work.low):
            if not followed_by_unit(work, bare.end()):
                total = to_int(bare.group("n"))
                break

    if party.adults is not None and party.kids is not None:
        party.total = party.adults + party.kids
    elif total is not None:
        party.total = total
        if party.kids is not None and party.kids <= total:
            party.adults = total - party.kids
        elif party.adults is not None and party.adults <= total:
            party.kids = total - party.adults
    return party
