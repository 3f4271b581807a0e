"""Start times: "6pm", "6:45 pm", "at noon", "around 6", "afternoon 12", "7 in the evening",
"half past 7", "quarter to 8", "18:00" ...

The event is a dinner party, so an hour without am/pm is read that way: 1-9 are afternoon or evening,
10 and 11 are morning unless the message says night/evening, 12 is noon. "evening" alone is not a time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .numbers import HOUR_WORD, HOUR_WORDS
from .text import Work, followed_by_name, followed_by_people, followed_by_unit

_MINUTE_WORDS = {"fifteen": 15, "thirty": 30, "forty five": 45, "forty-five": 45, "fortyfive": 45}
_REL = r"(?P<rel>half|(?:a\s+)?quarter|(?:\d{1,2}|five|ten|twenty|twenty[\s-]five)\s+(?:minutes?|mins?))"
_TIME = re.compile(
    rf"(?<![\w:/.$])(?:{_REL}\s+(?P<dir>past|after|to|till|til|before|of)\s+)?"
    rf"(?P<h>\d{{1,2}}|{HOUR_WORD}|noon|midday|midnight)"
    rf"(?:(?::|\.(?=\d\d\s*[ap]\.?m)|(?=\d\d\s*[ap]\.?m?(?![a-z])))(?P<m>\d\d)|\s+(?P<mw>fifteen|thirty|forty[\s-]?five))?(?![\d/]|:\d)"
    r"(?P<oc>\s*o['\"]?\s?clock)?"
    r"(?:(?:\s*(?=[ap]\.?m)|(?=[ap](?![a-z\d'])))(?P<ap>[ap])(?:\.?m\.?)?(?![a-z]))?"
    r"(?P<hrs>\s*(?:hours|hrs)\b)?"
    r"(?P<ish>-?ish\b)?"
    r"(?![a-z\d])"
)
_QUAL_AFTER = re.compile(
    r"\s*,?\s*(?:(?:in\s+the|this|tomorrow|tonight\s+in\s+the)\s*(?:early\s+|late\s+)?"
    r"(?P<q>morning|afternoon|evening|night)|at\s+(?P<q2>night)|(?P<q3>tonight|tonite))\b"
    rf"(?!\s*(?:\d|{HOUR_WORD}\b))"
)
_QUAL_BEFORE = re.compile(
    r"\b(?P<q>morning|afternoon|evening|night|tonight|tonite|dinner|supper|lunch|brunch|breakfast)\s*,?\s*"
    r"(?:at\s+|around\s+|at\s+about\s+|by\s+|say\s+)?$"
)
_WEAK_BEFORE = re.compile(
    r"(?:\bat|\baround|\bat\s+about|\bby|\bsay|@|\bafter|\bfrom|\bbetween|\bapprox\.?|\bapproximately|\broughly|"
    r"\bstart(?:ing|s)?(?:\s+at)?|\bbegin(?:ning|s)?(?:\s+at)?|\barrive\s+at|\bmake\s+it|\bhow\s+about|"
    r"\bwhat\s+about|\bmaybe|\bthinking|\bprefer(?:ably)?|\bideally|\bperhaps|\b(?:we|you|i)\s+do|"
    r"\bcan\s+(?:we|you|i)\s+do|\bmove\s+(?:it\s+)?to|\bchange\s+(?:it|the\s+time)\s+to|\bpush\s+(?:it\s+)?to)\s*$"
)
# "is 6 available?", "6 works": a bare hour offered as a time
_WEAK_AFTER = re.compile(
    r"\s*(?:instead|(?:is|would\s+be|will\s+be)?\s*(?:available|open|free|possible|ok|okay|fine|good|better)|"
    r"works?|would\s+work|is\s+better)\b"
)
_RANGE_GAP = re.compile(r"^\s*(?:-|to|until|till|til|through|thru|or)\s*$")
_RANGE_NEXT = re.compile(rf"\s*(?:-|to|until|till|til|through|thru)\s*(?:\d|{HOUR_WORD}\b)")
_FOR_BEFORE = re.compile(r"\b(?:for|of)\s+$")
# "party of 12 works", "we're 6": a count, whatever follows
_COUNT_BEFORE = re.compile(
    r"(?:\b(?:party|group|table|reservation|booking|headcount|size|count|total)\s*(?:of|for|is|:|=)?|\bfor|\bof|"
    r"\bwe\s+are|\bwe're|\bwill\s+be|\bthere\s+are)\s*$"
)
_NEGATED = re.compile(
    r"(?:\bnot|n't|\binstead\s+of|\brather\s+than|\bother\s+than|\bexcept|\bno\s+longer)\s+(?:\S+\s+){0,2}$"
)


@dataclass
class Found:
    start: int
    end: int
    hour: int  # as written, 0-23
    minute: int
    ampm: str | None
    qualifier: str | None
    literal_24h: bool  # "18:00", "06:30": not subject to the dinner default
    offset: int  # minutes added by "half past" (+30), "quarter to" (-15) ...
    strong: bool
    range_start: bool = False


def _qualifier(work: Work, match: re.Match[str]) -> str | None:
    after = _QUAL_AFTER.match(work.plain, match.end())
    if after:
        return after.group("q") or after.group("q2") or after.group("q3")
    before = _QUAL_BEFORE.search(work.plain[max(0, match.start() - 30) : match.start()])
    if before:
        return before.group("q")
    return None


def _offset(match: re.Match[str]) -> int:
    rel = match.group("rel")
    if not rel:
        return 0
    if rel == "half":
        amount = 30
    elif rel.endswith("quarter"):
        amount = 15
    else:
        first = rel.split()[0]
        amount = int(first) if first.isdigit() else {"five": 5, "ten": 10, "twenty": 20}.get(first, 25)
    return -amount if match.group("dir") in ("to", "till", "til", "before", "of") else amount


def find_times(work: Work, *, bare_ok: bool = False, weak_ok: bool = True) -> list[Found]:
    """Every time mention, masked in `work`, in text order. `bare_ok`: the agent asked for a time, so
    a bare "6" is one; `weak_ok`: "at 6" / "around 6" count (not when the agent asked for a count)."""
    found: list[Found] = []
    for match in _TIME.finditer(work.low):
        h_text = match.group("h")
        if h_text in ("noon", "midday"):
            hour, literal = 12, True
        elif h_text == "midnight":
            hour, literal = 0, True
        elif h_text.isdigit():
            hour = int(h_text)
            literal = (len(h_text) == 2 and h_text.startswith("0")) or hour >= 13
        else:
            hour, literal = HOUR_WORDS[h_text], False
        if hour > 23:
            continue
        minute = int(match.group("m")) if match.group("m") else _MINUTE_WORDS.get(match.group("mw") or "", 0)
        if minute > 59:
            continue
        ampm = match.group("ap")
        if ampm and not 1 <= hour <= 12:
            ampm = None
        if match.group("hrs") and not (match.group("m") or literal):
            continue  # "for 2 hours" is a duration
        qualifier = _qualifier(work, match)
        if qualifier in ("tonight", "tonite") and _FOR_BEFORE.search(work.before(match.start(), 6)):
            qualifier = None  # "a table for 2 tonight": a party size
        strong = bool(
            match.group("m") or match.group("mw") or match.group("oc") or ampm or match.group("hrs")
            or match.group("rel") or (match.group("ish") and weak_ok) or h_text in ("noon", "midday", "midnight")
            or (qualifier and qualifier not in ("dinner", "supper", "lunch", "brunch", "breakfast"))
        )  # fmt: skip
        range_start = False
        if not strong and _RANGE_NEXT.match(work.low, match.end()) and 1 <= hour <= 12:
            range_start = True  # "6-9pm": kept only if the other end is a time too
        elif not strong:
            if not (weak_ok or bare_ok) or not 1 <= hour <= 12 or h_text == "one":
                continue
            if followed_by_people(work, match.end()) or followed_by_unit(work, match.end()):
                continue
            if followed_by_name(work, match.end()) or _COUNT_BEFORE.search(work.before(match.start(), 30)):
                continue
            weak = _WEAK_BEFORE.search(work.before(match.start(), 30)) or _WEAK_AFTER.match(work.low, match.end())
            if not (weak or qualifier or bare_ok):
                continue
        elif followed_by_people(work, match.end()) and not (match.group("m") or ampm):
            continue
        found.append(
            Found(
                match.start(), match.end(), hour, minute, ampm, qualifier, literal, _offset(match), strong, range_start
            )
        )
    found = [
        f
        for i, f in enumerate(found)
        if not f.range_start or (i + 1 < len(found) and _RANGE_GAP.match(work.low[f.end : found[i + 1].start]))
    ]
    for f in found:
        work.mask(f.start, f.end)
    return found


def resolve(f: Found, ampm: str | None = None) -> str:
    """HH:MM, 24h."""
    h, ap, q = f.hour, f.ampm or ampm, f.qualifier
    if ap == "a":
        hour = 0 if h == 12 else h
    elif ap == "p":
        hour = h if h == 12 else h + 12
    elif f.literal_24h or h == 0 or q == "morning" or q in ("brunch", "breakfast"):
        hour = h
    elif q in ("evening", "night", "tonight", "tonite", "dinner", "supper"):
        hour = h + 12 if h < 12 else (0 if q == "night" else 12)
    else:  # "afternoon", "lunch", or nothing said: 1-9 are pm, 10-11 am, 12 noon
        hour = h + 12 if h <= 9 else h
    total = (hour * 60 + f.minute + f.offset) % (24 * 60)
    return f"{total // 60:02d}:{total % 60:02d}"


def pick_time(work: Work, found: list[Found]) -> str | None:
    """The time the message settles on: the last mention not negated; a range gives its start."""
    chosen: str | None = None
    skip_next = False
    previous_end = 0
    for i, f in enumerate(found):
        if skip_next:
            skip_next = False
            continue
        nxt = found[i + 1] if i + 1 < len(found) else None
        if (
            nxt is not None
            and _RANGE_GAP.match(work.low[f.end : nxt.start])
            and "or" not in work.low[f.end : nxt.start]
        ):
            chosen = resolve(f, nxt.ampm if nxt.ampm and not f.ampm and f.hour <= nxt.hour else None)
            skip_next = True
            previous_end = nxt.end
            continue
        if not _NEGATED.search(work.low[max(previous_end, f.start - 30) : f.start]):
            chosen = resolve(f)
        previous_end = f.end
    return chosen
