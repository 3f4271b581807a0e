"""Matching a bank credit to the booking it pays: pure scoring, no I/O.

Each candidate booking gets a score from 0 to 1000, the sum of the points of its evidence (clamped):

| evidence   | points (see WEIGHTS)                                                                  |
|------------|---------------------------------------------------------------------------------------|
| reference  | the booking reference in the memo: exact (case, spaces, dashes ignored) or one typo;   |
|            | a memo naming another booking's reference counts against this one                     |
| amount     | the credit equals what is due: the deposit still owed, the balance, the total, the     |
|            | balance after the deposit, half the deposit (split payments); near misses get a little;|
|            | more than the booking still owes rules it out                                          |
| name       | the payer's name against the customer's: full, nickname or initial with the last name, |
|            | the last name only (a family member paying), the first name only                      |
| alias      | staff confirmed earlier that this payer name pays for this customer                   |
| memo_name  | the memo names the customer ("for Dana Lee's party")                                   |
| date       | posted after the booking was made and not long after the event; close to creation     |
|            | (deposits) or to the event (balances) a little more; a memo naming the event's date   |
| duplicate  | the same payer, memo and amount as a credit already recorded a few days before        |

The decision: the best candidate is matched automatically when its score is at least THRESHOLD, it is
at least MARGIN ahead of the second, its evidence includes the reference or an amount it owes (who
paid is not what for), the memo names no other booking, and the credit does not repeat one already
recorded (except a split deposit's second half); otherwise the top SUGGESTIONS candidates are offered
to staff, ranked, each with its evidence in words. Equal scores rank by date: for a deposit the
booking made most recently before the credit, otherwise the nearer of creation and event. Evidence never
carries the payer's or customer's name (it is stored unencrypted for the staff page).

The weights were tuned on generated sets (bench/matching.py, dev seed) and checked on another seed.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from rapidfuzz import fuzz
from rapidfuzz.distance import OSA

# All points in one place. A reference alone is not enough; a reference with the amount or the
# name is; the full name with the exact amount at a plausible date is.
WEIGHTS: dict[str, int] = {
    "reference_exact": 450,
    "reference_typo": 330,
    "reference_other": -150,  # the memo names another booking's reference, not this one
    "amount_deposit": 250,  # the deposit still owed
    "amount_balance": 230,  # everything still owed (total minus paid)
    "amount_total": 200,
    "amount_after_deposit": 200,  # total minus the deposit (the balance once the deposit is in)
    "amount_half_deposit": 140,  # half the deposit: a split payment's first half
    "amount_near": 60,  # within NEAR_CENTS or NEAR_RATIO of one of those
    "amount_over": -500,  # more than the booking still owes: it cannot be this booking
    "name_full": 300,
    "name_nickname": 270,  # Bob for Robert, or an initial, with the last name
    "name_family": 150,  # the last name with another first name (or none)
    "name_first": 60,  # the first name only
    "alias": 350,
    "alias_shared": 100,  # the payer was confirmed for more than one customer
    "date_plausible": 40,  # after the booking was made, not long after the event
    "date_close": 30,  # within a week of creation or of the event
    "date_before_booking": -250,
    "date_long_after_event": -150,
    "memo_date": 120,  # the memo names the event's date ("for dec 12 party")
    "memo_name": 250,  # the memo names the customer (first and last name)
    "duplicate": -300,
}
THRESHOLD = 600
MARGIN = 150
SUGGESTIONS = 5
NEAR_CENTS = 1000
NEAR_RATIO = 0.03
DUPLICATE_DAYS = 5
NAME_RATIO = 88  # rapidfuzz ratio for one name token against another (absorbs one typo)

_CODE = re.compile(r"\bM\s?H\s*[-#:_.]?\s*([A-Z0-9]{4,6})\b")
# A code after a word that introduces one ("Conf# 7Q3K9", "ref: 7Q3K9", "#7Q3K9") counts as prefixed.
_MARKED = re.compile(r"(?:\bCONF(?:IRMATION)?|\bREF(?:ERENCE)?|\bBOOKING|\bRES(?:ERVATION)?|#)\W{0,3}([A-Z0-9]{4,6})\b")
_TOKEN = re.compile(r"\b[A-Z0-9]{4,6}\b")
_WORD = re.compile(r"[a-z]+")
_NOISE = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "jr",
        "sr",
        "ii",
        "iii",
        "iv",
        "zelle",
        "venmo",
        "payment",
        "from",
        "to",
        "transfer",
        "mobile",
        "deposit",
        "ach",
        "credit",
        "online",
        "the",
        "and",
        "llc",
        "inc",
        "co",
    ]
)
_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ]
    )
    for m in names
}
_MONTH_DAY = re.compile(
    r"\b(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?\s+(\d{1,2})(?:st|nd|rd|th)?\b"
)
_NUMERIC_DATE = re.compile(r"\b(\d{1,2})[/-](\d{1,2})(?:[/-](\d{2,4}))?\b")

# Common English nicknames: each group is one name. A small table, not a census.
_NICKNAME_GROUPS = [
    "robert bob bobby rob robbie bert",
    "elizabeth liz lizzie beth betty eliza liza libby",
    "william bill billy will willy liam",
    "james jim jimmy jamie",
    "michael mike mikey mick",
    "richard rick ricky rich dick",
    "thomas tom tommy",
    "christopher chris topher",
    "katherine catherine kathryn kate katie kathy cathy kat",
    "jennifer jen jenny",
    "margaret maggie meg peggy marge",
    "patricia pat patty trish",
    "joseph joe joey",
    "daniel dan danny",
    "matthew matt",
    "anthony tony",
    "andrew andy drew",
    "steven stephen steve",
    "edward ed eddie ted",
    "charles charlie chuck",
    "alexander alex xander",
    "alexandra alex lexi sandra",
    "samuel sam sammy",
    "samantha sam sammie",
    "benjamin ben benny",
    "nicholas nick nicky",
    "jonathan jon jonny",
    "david dave davey",
    "susan sue suzy",
    "deborah debra deb debbie",
    "rebecca becky becca",
    "victoria vicky tori",
    "jessica jess jessie",
    "kimberly kim",
    "gregory greg",
    "timothy tim timmy",
    "kenneth ken kenny",
    "ronald ron ronnie",
    "donald don donnie",
    "nathaniel nathan nate",
    "zachary zach zack",
    "jacob jake",
    "abigail abby",
    "amanda mandy",
    "christina christine tina chris",
    "theodore ted teddy theo",
    "frederick fred freddie",
    "lawrence larry",
    "raymond ray",
    "gerald jerry",
    "douglas doug",
    "jeffrey jeff",
    "peter pete",
    "phillip philip phil",
    "jacqueline jackie",
    "pamela pam",
    "cynthia cindy",
    "barbara barb barbie",
    "dorothy dot dottie",
    "judith judy",
    "anthony ant",
    "vincent vince vinny",
    "leonard leo len lenny",
    "gabriel gabe",
    "gabriella gabby",
    "joshua josh",
    "olivia liv livvy",
    "madeline madison maddie",
    "allison alison ally allie",
    "evelyn evie",
]
NICKNAMES: dict[str, frozenset[str]] = {}
for _group in _NICKNAME_GROUPS:
    _names = frozenset(_group.split())
    for _name in _names:
        NICKNAMES[_name] = NICKNAMES.get(_name, frozenset()) | _names


@dataclass(frozen=True)
class Credit:
    amount_cents: int
    posted_on: dt.date
    payer: str
    memo: str


@dataclass(frozen=True)
class Candidate:
    """A booking with money due, as the matcher sees it."""

    reference: str
    customer_id: str
    first_name: str
    last_name: str
    total_due_cents: int
    deposit_due_cents: int
    deposit_paid_cents: int
    event_date: dt.date
    created_on: dt.date

    @property
    def deposit_owed_cents(self) -> int:
        return max(self.deposit_due_cents - self.deposit_paid_cents, 0)

    @property
    def balance_cents(self) -> int:
        return max(self.total_due_cents - self.deposit_paid_cents, 0)


@dataclass(frozen=True)
class Recorded:
    """A credit already recorded against a booking (to catch the same credit arriving twice)."""

    reference: str
    credit: Credit


@dataclass(frozen=True)
class Evidence:
    kind: str
    points: int
    detail: str

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "points": self.points, "detail": self.detail}


@dataclass(frozen=True)
class Scored:
    reference: str
    customer_id: str
    score: int
    evidence: tuple[Evidence, ...]

    def explain(self) -> list[dict[str, object]]:
        return [e.as_dict() for e in self.evidence]


@dataclass(frozen=True)
class Decision:
    matched: str | None  # the reference matched automatically, if any
    ranked: tuple[Scored, ...]  # best first, at most SUGGESTIONS, positive scores only
    reason: str  # why it was or was not matched automatically, in words
    duplicate_of: str | None = None
    scores: tuple[Scored, ...] = field(default=(), repr=False)  # every candidate, best first


# ---------------------------------------------------------------- normalising


def name_tokens(name: str) -> list[str]:
    return [t for t in _WORD.findall(name.lower()) if t not in _NOISE]


def normalize_payer(name: str) -> str:
    """The payer's name as aliases are keyed: lower case letters, noise words dropped, one space."""
    return " ".join(name_tokens(name))


def _norm_memo(memo: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", memo.lower()))


def _code(reference: str) -> str:
    compact = re.sub(r"[^A-Z0-9]", "", reference.upper())
    return compact[2:] if compact.startswith("MH") else compact


def reference_tokens(memo: str) -> tuple[list[str], list[str]]:
    """(codes written after MH, or with a digit after a word like "Conf#"; other 4-6 character tokens
    with a digit, or letters only after such a word: "Conf# DMNWT" is a code, "booking party" is not)."""
    upper = memo.upper()
    marked = [m for m in _MARKED.finditer(upper) if not m.group(1).isdigit()]
    prefixed = list(
        dict.fromkeys(
            [m.group(1) for m in _CODE.finditer(upper)]
            + [m.group(1) for m in marked if any(c.isdigit() for c in m.group(1))]
        )
    )
    spans = [m.span(1) for pattern in (_CODE, _MARKED) for m in pattern.finditer(upper)]
    others = [
        m.group(0)
        for m in _TOKEN.finditer(upper)
        if any(c.isdigit() for c in m.group(0))
        and not any(s <= m.start() < e for s, e in spans)
        and not m.group(0).isdigit()
    ] + [m.group(1) for m in marked if m.group(1).isalpha()]
    return prefixed, others


def _same_name(a: str, b: str) -> bool:
    return a == b or (min(len(a), len(b)) >= 4 and fuzz.ratio(a, b) >= NAME_RATIO)


def _nickname(a: str, b: str) -> bool:
    return b in NICKNAMES.get(a, frozenset())


# ---------------------------------------------------------------- evidence


def _reference_evidence(memo: str, candidate: Candidate) -> Evidence | None:
    code = _code(candidate.reference)
    prefixed, others = reference_tokens(memo)
    compact = re.sub(r"[^A-Z0-9]", "", memo.upper())
    if "MH" + code in compact or code in prefixed or code in others:
        return Evidence("reference", WEIGHTS["reference_exact"], f"memo has the reference {candidate.reference}")
    for token in prefixed + [t for t in others if len(t) == len(code)]:
        if OSA.distance(token, code) <= 1:
            return Evidence(
                "reference", WEIGHTS["reference_typo"], f"memo has {token}, one typo from {candidate.reference}"
            )
    if prefixed:
        return Evidence("reference", WEIGHTS["reference_other"], "memo names another booking reference")
    return None


def _amount_evidence(amount: int, candidate: Candidate) -> Evidence | None:
    if amount > candidate.balance_cents:
        return Evidence("amount", WEIGHTS["amount_over"], "more than the booking still owes")
    owed = candidate.deposit_owed_cents
    due = [
        ("amount_deposit", owed, "the deposit still owed"),
        ("amount_balance", candidate.balance_cents, "the balance still owed"),
        ("amount_total", candidate.total_due_cents, "the booking's total"),
        (
            "amount_after_deposit",
            candidate.total_due_cents - candidate.deposit_due_cents,
            "the balance after the deposit",
        ),
    ]
    if candidate.deposit_paid_cents == 0 and candidate.deposit_due_cents % 2 == 0:
        due.append(("amount_half_deposit", candidate.deposit_due_cents // 2, "half the deposit (a split payment)"))
    for kind, cents, words in due:
        if cents > 0 and amount == cents:
            return Evidence("amount", WEIGHTS[kind], f"exactly {words}")
    for _kind, cents, words in due[:4]:
        if cents > 0 and abs(amount - cents) <= max(NEAR_CENTS, int(cents * NEAR_RATIO)):
            return Evidence("amount", WEIGHTS["amount_near"], f"close to {words}")
    return None


def _name_evidence(payer: str, candidate: Candidate) -> Evidence | None:
    tokens = name_tokens(payer)
    first = name_tokens(candidate.first_name)
    last = name_tokens(candidate.last_name)
    if not tokens or not first or not last:
        return None
    last_hits = [t for t in tokens if any(_same_name(t, part) for part in last)]
    rest = [t for t in tokens if t not in last_hits]
    first_name = first[0]
    if last_hits:
        if any(_same_name(t, first_name) for t in rest):
            return Evidence("name", WEIGHTS["name_full"], "payer's name is the customer's name")
        if any(_nickname(t, first_name) for t in rest):
            return Evidence("name", WEIGHTS["name_nickname"], "payer's first name is a nickname of the customer's")
        if any(len(t) == 1 and t == first_name[0] for t in rest):
            return Evidence("name", WEIGHTS["name_nickname"], "payer's initial and last name are the customer's")
        return Evidence("name", WEIGHTS["name_family"], "payer shares the customer's last name (family?)")
    full = f"{candidate.first_name} {candidate.last_name}"
    # Both names, reordered or with a typo or two ("LEE DANA", "DANNA LEE").
    if len(tokens) >= 2 and fuzz.token_sort_ratio(" ".join(tokens), " ".join(name_tokens(full))) >= 90:
        return Evidence("name", WEIGHTS["name_full"], "payer's name is the customer's name")
    if any(_same_name(t, first_name) or _nickname(t, first_name) for t in tokens):
        return Evidence("name", WEIGHTS["name_first"], "payer's first name is the customer's")
    return None


def _memo_name_evidence(memo: str, payer: str, candidate: Candidate) -> Evidence | None:
    """A friend paying often names who it is for: "hibachi for Dana Lee" (the payer's own name, as in
    "Zelle payment from DANA LEE", is not counted twice)."""
    payer_words = set(name_tokens(payer))
    words = [w for w in name_tokens(memo) if w not in payer_words]
    first, last = name_tokens(candidate.first_name), name_tokens(candidate.last_name)
    if not first or not last or len(words) < 2:
        return None
    for a, b in itertools.pairwise(words):
        if (_same_name(a, first[0]) or _nickname(a, first[0])) and _same_name(b, last[0]):
            return Evidence("memo_name", WEIGHTS["memo_name"], "memo names the customer")
    return None


def _memo_dates(memo: str, year: int) -> set[tuple[int, int]]:
    lower = memo.lower()
    found = {(_MONTHS[m], int(d)) for m, d in _MONTH_DAY.findall(lower)}
    for m, d, _y in _NUMERIC_DATE.findall(lower):
        found.add((int(m), int(d)))
    return found


def _date_evidence(credit: Credit, candidate: Candidate) -> list[Evidence]:
    out: list[Evidence] = []
    after_created = (credit.posted_on - candidate.created_on).days
    after_event = (credit.posted_on - candidate.event_date).days
    if after_created < -1:
        out.append(Evidence("date", WEIGHTS["date_before_booking"], "posted before the booking was made"))
    elif after_created < 0:
        # A day early is a bank's posting date against ours across midnight: possible, not close.
        out.append(Evidence("date", WEIGHTS["date_plausible"], "posted the day before the booking was made"))
    elif after_event > 30:
        out.append(Evidence("date", WEIGHTS["date_long_after_event"], "posted over a month after the event"))
    else:
        close = after_created <= 7 or -7 <= after_event <= 3
        closer = after_created <= 2 or -3 <= after_event <= 1
        points = (
            WEIGHTS["date_plausible"]
            + (WEIGHTS["date_close"] if close else 0)
            + (WEIGHTS["date_close"] if closer else 0)
        )
        words = "close to the booking or the event" if close else "between the booking and the event"
        out.append(Evidence("date", points, f"posted {words}"))
    if (candidate.event_date.month, candidate.event_date.day) in _memo_dates(credit.memo, candidate.event_date.year):
        out.append(Evidence("memo_date", WEIGHTS["memo_date"], "memo names the event's date"))
    return out


def _duplicate_of(credit: Credit, recorded: Iterable[Recorded]) -> Recorded | None:
    payer, memo = normalize_payer(credit.payer), _norm_memo(credit.memo)
    for prior in recorded:
        c = prior.credit
        if (
            c.amount_cents == credit.amount_cents
            and abs((c.posted_on - credit.posted_on).days) <= DUPLICATE_DAYS
            and normalize_payer(c.payer) == payer
            and _norm_memo(c.memo) == memo
        ):
            return prior
    return None


def score(
    credit: Credit, candidate: Candidate, *, alias_customers: Collection[str] = (), duplicate: Recorded | None = None
) -> Scored:
    evidence: list[Evidence] = []
    for item in (
        _reference_evidence(credit.memo, candidate),
        _amount_evidence(credit.amount_cents, candidate),
        _name_evidence(credit.payer, candidate),
        _memo_name_evidence(credit.memo, credit.payer, candidate),
    ):
        if item is not None:
            evidence.append(item)
    if candidate.customer_id in alias_customers:
        # A payer confirmed for several customers (a shared account, a bank's generic name) says less.
        points = WEIGHTS["alias"] if len(alias_customers) == 1 else WEIGHTS["alias_shared"]
        evidence.append(Evidence("alias", points, "staff confirmed this payer for this customer before"))
    evidence.extend(_date_evidence(credit, candidate))
    # A split payment's second half looks like its first: it is not a duplicate if it is exactly
    # what the deposit still needs.
    if (
        duplicate is not None
        and duplicate.reference == candidate.reference
        and credit.amount_cents != candidate.deposit_owed_cents
    ):
        evidence.append(
            Evidence("duplicate", WEIGHTS["duplicate"], "same payer, memo and amount as a credit already recorded")
        )
    total = max(0, min(1000, sum(e.points for e in evidence)))
    return Scored(candidate.reference, candidate.customer_id, total, tuple(evidence))


def _proximity(credit: Credit, candidate: Candidate) -> int:
    """Breaks ties between equals: days since the booking was made for a deposit (paid soon after
    booking, never before it), otherwise days from the nearer of its creation and its event."""
    after_created = (credit.posted_on - candidate.created_on).days
    since_created = after_created if after_created >= 0 else 30 - after_created
    if credit.amount_cents in (candidate.deposit_owed_cents, candidate.deposit_due_cents // 2):
        return since_created
    return min(since_created, abs((credit.posted_on - candidate.event_date).days))


def _says_what_for(evidence: Evidence) -> bool:
    """The reference, or an amount the booking owes exactly (not just near it)."""
    if evidence.kind == "reference":
        return evidence.points > 0
    return evidence.kind == "amount" and evidence.points >= WEIGHTS["amount_half_deposit"]


def _completes_split(credit: Credit, best: Scored, duplicate: Recorded) -> bool:
    """The second half of a split payment repeats the first: the same booking, and no duplicate evidence."""
    return best.reference == duplicate.reference and not any(e.kind == "duplicate" for e in best.evidence)


def decide(
    credit: Credit,
    candidates: Sequence[Candidate],
    *,
    alias_customers: Collection[str] = (),
    recorded: Iterable[Recorded] = (),
) -> Decision:
    """Score every candidate and decide: one automatic match, or ranked suggestions for staff."""
    if credit.amount_cents <= 0:
        return Decision(None, (), "not a credit")
    duplicate = _duplicate_of(credit, recorded)
    proximity = {c.reference: _proximity(credit, c) for c in candidates}
    scores = sorted(
        (score(credit, c, alias_customers=alias_customers, duplicate=duplicate) for c in candidates),
        key=lambda s: (-s.score, proximity[s.reference], s.reference),
    )
    ranked = tuple(s for s in scores if s.score > 0)[:SUGGESTIONS]
    dup_ref = duplicate.reference if duplicate else None
    if not ranked:
        return Decision(None, (), "no candidate has any evidence", dup_ref, tuple(scores))
    best = ranked[0]
    second = ranked[1].score if len(ranked) > 1 else 0
    if best.score < THRESHOLD:
        return Decision(None, ranked, f"best score {best.score} is under {THRESHOLD}", dup_ref, tuple(scores))
    if best.score - second < MARGIN:
        return Decision(
            None, ranked, f"best score {best.score} is not {MARGIN} ahead of {second}", dup_ref, tuple(scores)
        )
    if duplicate is not None and not _completes_split(credit, best, duplicate):
        # A repeat may be a bank's double posting or a second booking of the same customer: staff know.
        return Decision(
            None, ranked, f"looks like a repeat of a credit recorded for {duplicate.reference}", dup_ref, tuple(scores)
        )
    named = [s for s in scores if any(e.kind == "reference" and e.points > 0 for e in s.evidence)]
    if len(named) > 1 or len(set(reference_tokens(credit.memo)[0])) > 1:
        return Decision(None, ranked, "memo names several bookings", dup_ref, tuple(scores))
    if any(e.kind == "amount" and e.points < 0 for e in best.evidence):
        return Decision(None, ranked, "more than the booking still owes", dup_ref, tuple(scores))
    if not any(_says_what_for(e) for e in best.evidence):
        # Who paid is not what was paid for: without the reference or an amount the booking owes,
        # a customer with two bookings (or a credit for two) would be guessed.
        return Decision(None, ranked, "neither the reference nor an amount owed", dup_ref, tuple(scores))
    return Decision(best.reference, ranked, f"score {best.score}, {best.score - second} ahead", dup_ref, tuple(scores))
