"""Contact and place details: email, phone (E.164 via `phonenumbers`), booking reference, street
address, ZIP and the customer's name."""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

from .text import MASK, Work, followed_by_people, followed_by_unit

# --- email ---------------------------------------------------------------------------------------

_EMAIL = re.compile(r"(?<![\w.+-])[a-z0-9][a-z0-9._%+-]*@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b")


_DOMAIN_FIX = re.compile(
    r"\b(?:i\s+)?(?:meant|should\s+(?:be|say)|it'?s)\s+@?(?P<d>(?:gmail|yahoo|hotmail|outlook|icloud|aol)(?:\.[a-z]{2,3})?)\b"
)


def fix_email_domain(work: Work, known: str | None) -> str | None:
    """ "yes I meant gmail": the known email with that provider's domain."""
    if not known or "@" not in known:
        return None
    match = _DOMAIN_FIX.search(work.low)
    if match is None:
        return None
    domain = match.group("d") if "." in match.group("d") else match.group("d") + ".com"
    work.mask(match.start(), match.end())
    fixed = known.rsplit("@", 1)[0] + "@" + domain
    return fixed if fixed != known else None


def find_email(work: Work) -> str | None:
    found: str | None = None
    for match in _EMAIL.finditer(work.low):
        found = match.group(0)
        work.mask(match.start(), match.end())
    return found


# --- phone ---------------------------------------------------------------------------------------

_DIGIT = re.compile(r"\d")


def find_phone(work: Work, region: str = "US") -> str | None:
    if len(_DIGIT.findall(work.low)) < 7:
        return None
    found: str | None = None
    text = work.low.replace(MASK, " ")
    for match in phonenumbers.PhoneNumberMatcher(text, region):
        if re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}", match.raw_string.strip()):
            continue
        found = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
        work.mask(match.start, match.end)
    return found


# --- booking reference ---------------------------------------------------------------------------

_REFERENCE = re.compile(r"(?<![\w-])(?P<prefix>[a-z]{2})-(?P<code>[a-z0-9]{5})(?![\w-])")
_REFERENCE_WORDS = re.compile(
    r"(?:ref|reference|booking|confirmation|conf|code|number|no\.?|#)(?:\s+(?:is|was|number|code|no\.?))?\W*$"
)


def find_reference(work: Work, *, expected: bool = False) -> str | None:
    """`MH-7Q3K9` in any case. All-letter codes ("re-enter") count only when written in capitals,
    announced ("reference ...") or asked for."""
    found: str | None = None
    for match in _REFERENCE.finditer(work.low):
        raw = work.orig[match.start() : match.end()]
        if not (
            any(c.isdigit() for c in match.group("code"))
            or raw.isupper()
            or expected
            or _REFERENCE_WORDS.search(work.before(match.start(), 20))
        ):
            continue
        found = raw.upper()
        work.mask(match.start(), match.end())
    return found


# --- street address and ZIP ----------------------------------------------------------------------

_STATES = (
    "al|ak|az|ar|ca|co|ct|de|fl|ga|hi|id|il|in|ia|ks|ky|la|me|md|ma|mi|mn|ms|mo|mt|ne|nv|nh|nj|nm|ny|nc|nd|oh|ok|or|pa|"
    "ri|sc|sd|tn|tx|ut|vt|va|wa|wv|wi|wy|dc|alabama|alaska|arizona|arkansas|california|colorado|connecticut|delaware|"
    "florida|georgia|hawaii|idaho|illinois|indiana|iowa|kansas|kentucky|louisiana|maine|maryland|massachusetts|"
    "michigan|minnesota|mississippi|missouri|montana|nebraska|nevada|new\\s+hampshire|new\\s+jersey|new\\s+mexico|"
    "new\\s+york|north\\s+carolina|north\\s+dakota|ohio|oklahoma|oregon|pennsylvania|rhode\\s+island|"
    "south\\s+carolina|south\\s+dakota|tennessee|texas|utah|vermont|virginia|washington|west\\s+virginia|"
    "wisconsin|wyoming"
)
_SUFFIX = (
    r"(?:st|street|ave|avenue|av|blvd|boulevard|rd|road|dr|drive|ln|lane|way|ct|court|pl|place|cir|circle|pkwy|"
    r"parkway|hwy|highway|ter|terrace|trl|trail|loop|sq|square|plaza|pike|row|path|alley|crescent|cres|real|"
    r"expressway|expy|fwy|freeway|mall|walk|crossing|heights|hts|ridge|landing|cove|vista|commons|bend|glen|hollow)"
)
_NOT_STREET_WORD = (
    r"(?!(?:people|persons?|guests?|adults?|kids?|children|at|for|on|the|and|or|of|to|in|pm|am|any|no|that|this|"
    r"which|my|our|your|their|a|an|by|one|other|same|all|some|each|every|is|are|be|will|would|with|from)\b)"
)
_STREET = rf"(?P<num>\d{{1,6}}[a-z]?)\s+(?:{_NOT_STREET_WORD}[a-z0-9][a-z0-9'.-]*\s+){{0,3}}?{_SUFFIX}\b\.?"
_UNIT = r"(?:\s*,?\s*(?:apt|apartment|unit|suite|ste|#)\.?\s*#?[a-z0-9-]+)?"
_CLAUSE_END = rf"(?=\s*(?:,|$|[.;!?)]|\s+(?:{_STATES})\b|\s+\d{{5}}\b))"
_CITY = rf"(?:\s*,?\s*(?P<city>[a-z][a-z.'-]*(?:\s+[a-z][a-z.'-]*){{0,2}}){_CLAUSE_END})?"
_STATE = rf"(?:\s*,?\s*(?P<state>{_STATES})(?=\s*(?:,|$|[.;!?)]|\s+\d{{5}}\b)))?"
_ZIP_TAIL = r"(?:\s*,?\s*(?P<zip>\d{5})(?:-\d{4})?(?!\d))?"
_ADDRESS = re.compile(rf"(?<![\w#$.-]){_STREET}{_UNIT}{_CITY}{_STATE}{_ZIP_TAIL}")
_STREET_AFTER = re.compile(rf"\s+(?:[a-z0-9][a-z0-9'.-]*\s+){{0,3}}{_SUFFIX}\b")
# A bare answer without a street suffix is read as an address only when its words are not the menu's:
# "2 lobster tails" answers the upgrade offer, whatever was asked last.
_NOT_MENU_WORD = (
    r"(?!(?:lobsters?|tails?|filets?|fillets?|mignon|steaks?|noodles?|yakisoba|proteins?|shrimps?|chicken|"
    r"salmon|scallops?|tofu|servings?|orders?|plates?|portions?|upgrades?|extra|more|of)\b)"
)
_HOUSE_AND_STREET = re.compile(
    rf"(?<![\w$#.:/-])\d{{1,6}}[a-z]?(?:\s*-\s*\d{{1,6}})?\s+(?:[nsew]\.?\s+)?{_NOT_STREET_WORD}{_NOT_MENU_WORD}"
    r"[a-z][a-z'.-]+"
)
_NOT_ZIP = re.compile(r"(?:\bnot|n't|\binstead\s+of|\brather\s+than|\bno\s+longer)\s+(?:the\s+)?$")
_ZIP = re.compile(r"(?<![\w$#.:/-])(?P<zip>\d{5})(?:-\d{4})?(?![\w-]|[.,:/]\d)")


@dataclass
class Place:
    address: str | None = None
    zip: str | None = None


def find_place(work: Work, *, address_expected: bool = False) -> Place:
    place = Place()
    for match in _ADDRESS.finditer(work.low):
        if match.group("city") and not (match.group("state") or match.group("zip")):
            # "2400 J St, Sacramento" is fine; "2400 J St, and then" is not a city
            city_words = match.group("city").split()
            if any(w in ("and", "or", "then", "but", "please", "thanks", "my", "the", "at", "for") for w in city_words):
                end = match.start("city") - 1
                text = work.orig[match.start() : end].strip(" ,.;")
                place.address = text
                work.mask(match.start(), end)
                continue
        place.address = work.orig[match.start() : match.end()].strip(" ,;")
        if match.group("zip"):
            place.zip = match.group("zip")
        work.mask(match.start(), match.end())
    zips: list[tuple[str, bool]] = []
    for match in _ZIP.finditer(work.low):
        if _STREET_AFTER.match(work.low, match.end()):
            continue  # a 5-digit street number: "12345 Main St"
        if followed_by_unit(work, match.end()) or followed_by_people(work, match.end()):
            continue
        negated = bool(_NOT_ZIP.search(work.before(match.start(), 20)))
        zips.append((match.group("zip"), negated))
        work.mask(match.start(), match.end())
    if zips:  # "the zip is 95819 not 95816": a negated ZIP is the old one, the last other one counts
        kept = [code for code, negated in zips if not negated] or [zips[-1][0]]
        place.zip = kept[-1]
    if address_expected and place.address is None:
        text = work.orig.strip().strip(".!")
        # A bare answer is an address only with a street number and a street name: "what about 95816"
        # is a ZIP. `low` has the ZIP and any contact details masked, so their digits do not count.
        if _HOUSE_AND_STREET.search(work.low) and len(text) <= 200:
            place.address = re.sub(r"^(?:it's|its|it is|the address is|address is|address:)\s*", "", text, flags=re.I)
            if place.zip is None:
                tail = re.search(r"(?<!\d)(\d{5})(?:-\d{4})?\s*$", text)
                if tail:
                    place.zip = tail.group(1)
            work.mask(0, len(work.low))
    return place


# --- name ----------------------------------------------------------------------------------------

_NAME_WORD = r"[A-Za-zÀ-ÖØ-öø-ÿ][A-Za-zÀ-ÖØ-öø-ÿ'-]*"
_STRONG_TRIGGER = re.compile(
    r"\b(?:my\s+name\s+is|my\s+name's|my\s+names\s+is|the\s+name\s+is|the\s+name's|name\s+is|name's|names\s+is|"
    r"name\s*[:=-]|(?:first\s+and\s+last\s+)?name\s*(?:is)?\s*:)\s*",
    re.I,
)
_MEDIUM_TRIGGER = re.compile(r"\b(?:i'm|i\s+am|this\s+is|call\s+me|it's\s+me,?)\s+", re.I)
# "hey it's maria": a greeting then "it's" introduces the sender, capitalised or not.
_GREETING_ITS = re.compile(r"^\W*(?:hi|hey|hello|hiya)(?:\s+there)?[,!.]?\s+(?:it's|its|it\s+is)\s+", re.I)
# "my last name is actually spelled Leigh", "first name: Dana": one part of the name.
_PART_TRIGGER = re.compile(
    r"\b(?P<part>last|first|sur|family|given)\s*name(?:\s+is|'s|\s+should\s+be|\s*[:=-])?"
    r"(?:\s+(?:actually|really|just|correctly|now|spelled|spelt|is))*\s*[:,-]?\s+",
    re.I,
)
_PENDING_TRIGGER = re.compile(r"^\s*(?:(?:it's|its|it\s+is)|(?:sure|ok|okay|yes|yeah|yep)[,.!]?)\s+", re.I)
_HERE = re.compile(r"^\s*(?:(?:hi|hey|hello)[,!]?\s+)?(?P<name>[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)\s+here\b")
_NAME_STOP_WORDS = """
i'm im i'd i'll i've it's that's what's there's here's let's
a an the and or but nor so yet for from here there at with to in on of off by as is am are was were be been i
me my mine we us our you your it its this that these those he she they them his her their who what when where
why how which not no yes yeah yep yup nope nah ok okay sure hi hello hey thanks thank please sorry just only
also still very really too quite pretty kinda kind literally actually totally definitely looking good fine
great well alright interested hungry starving planning going trying calling texting wondering happy ready
available free glad excited booking thinking gonna wanna meeting taking feeling hoping afraid done all both
back new now today tomorrow tonight hosting having celebrating throwing curious wanting after about down up
out over currently originally already always never confused busy flexible open cool perfect thrilled
vegetarian vegan allergic married located based staying visiting one two three four five six seven eight nine
terrible awful horrible urgent ridiculous unacceptable important amazing wonderful bad worse worst
disappointing disappointed frustrating frustrated annoying annoyed crazy insane serious weird strange upset angry
ten twenty stop help start cancel info end quit book reserve party reaching writing contacting following
inquiring asking checking need want would like could can will shall may might must should do does did have has
had get got make made email phone number zip address name call text reach contact monday tuesday wednesday
thursday friday saturday sunday january february march april june july august september october november
december again y n k kk yea ya
"""
# Words that end a name: "I'm looking ...", "I'm good", "this is Dana and ...".
NAME_STOP = frozenset(_NAME_STOP_WORDS.split())


def _clean_name_word(word: str) -> str:
    word = word.strip("'-")
    if word.islower() or word.isupper():
        return "-".join(part[:1].upper() + part[1:].lower() for part in word.split("-"))
    return word


def _take_name(text: str, *, need_capital: bool) -> tuple[str, str | None] | None:
    words: list[str] = []
    for match in re.finditer(rf"{_NAME_WORD}|[^\sA-Za-zÀ-ÖØ-öø-ÿ]", text):
        word = match.group(0)
        if not re.fullmatch(_NAME_WORD, word):
            break  # punctuation or a digit ends the name
        lower = word.lower().strip("'")
        if lower in NAME_STOP or (len(lower) > 4 and lower.endswith("ing")):
            break
        if not need_capital and word.islower() and len(lower) > 4 and lower.endswith(("ed", "ly", "ful", "ous")):
            break  # "i'm excited", "i'm finally ..."
        if need_capital and not word[0].isupper():
            break
        words.append(word)
        if len(words) == 3:
            break
        # names are separated by single spaces only
        gap = text[match.end() : match.end() + 2]
        if not gap.startswith(" ") or gap == "  ":
            break
    if not words:
        return None
    first = _clean_name_word(words[0])
    last = " ".join(_clean_name_word(w) for w in words[1:]) or None
    return first, last


def find_name_parts(work: Work) -> dict[str, str]:
    """{"first_name" / "last_name": the name} for each part of the name the message names; masks them."""
    text = "".join(" " if m == "\x00" else o for o, m in zip(work.orig, work.low, strict=True))
    found: dict[str, str] = {}
    for match in _PART_TRIGGER.finditer(text):
        taken = _take_name(text[match.end() :], need_capital=False)
        if taken is None:
            continue
        value = " ".join(part for part in taken if part)
        found["first_name" if match.group("part").lower() in ("first", "given") else "last_name"] = value
        rest = re.match(rf"\s*{_NAME_WORD}(?:\s+{_NAME_WORD}){{0,2}}", text[match.end() :])
        work.mask(match.start(), match.end() + (rest.end() if rest else 0))
    return found


def find_name(work: Work, *, expected: bool = False) -> tuple[str, str | None] | None:
    text = "".join(" " if m == "\x00" else o for o, m in zip(work.orig, work.low, strict=True))
    result: tuple[str, str | None] | None = None
    greeting = _GREETING_ITS.match(text)
    if greeting:
        result = _take_name(text[greeting.end() :], need_capital=False)
        if result:
            return result
    for match in _STRONG_TRIGGER.finditer(text):
        result = _take_name(text[match.end() :], need_capital=False) or result
    if result:
        return result
    all_lower = not any(c.isupper() for c in text)  # "hi i'm dana": texting in lower case
    for match in _MEDIUM_TRIGGER.finditer(text):
        result = _take_name(text[match.end() :], need_capital=not all_lower) or result
    if result:
        return result
    here = _HERE.match(text)
    if here:
        return _take_name(here.group("name"), need_capital=True)
    if expected:
        body = _PENDING_TRIGGER.sub("", text).strip()
        body = re.split(r"[,;\n]|\s-\s", body)[0].strip().rstrip(".!")
        if 1 <= len(body.split()) <= 3 and re.fullmatch(rf"{_NAME_WORD}(?:\s+{_NAME_WORD}){{0,2}}", body):
            return _take_name(body, need_capital=False)
    return None
