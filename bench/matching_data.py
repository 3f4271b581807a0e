"""A seeded generator of labelled bank credits against generated bookings (the format is in
bench/matching.py's docstring). Prices follow the demo business: $60 an adult, $30 a kid, a $600
minimum, a $0/$50/$100 travel fee and a fixed $100 deposit, so many bookings owe the same amounts
and the amount alone rarely decides.

Kinds of credit (share of the bookings paid for): the reference in the memo (several spellings), a
reference with one typo, no reference (a name and a free memo), a nickname, a family member paying,
someone else paying (a friend, a company), balances near the event, split deposits (two halves),
combined payments (one credit for two bookings: labelled none, staff must split it), duplicates (the
same credit again: the second labelled none, it must not pay twice), unrelated credits (payroll,
refunds, transfers: none).
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
FIRST = {  # formal name -> nicknames people pay under
    "Robert": ["Bob", "Rob", "Bobby"],
    "Elizabeth": ["Liz", "Beth", "Lizzie"],
    "William": ["Bill", "Will"],
    "James": ["Jim", "Jimmy"],
    "Michael": ["Mike"],
    "Richard": ["Rick", "Rich"],
    "Thomas": ["Tom"],
    "Christopher": ["Chris"],
    "Katherine": ["Kate", "Katie", "Kathy"],
    "Jennifer": ["Jen", "Jenny"],
    "Margaret": ["Maggie", "Peggy"],
    "Patricia": ["Pat", "Trish"],
    "Joseph": ["Joe"],
    "Daniel": ["Dan", "Danny"],
    "Matthew": ["Matt"],
    "Anthony": ["Tony"],
    "Andrew": ["Andy", "Drew"],
    "Steven": ["Steve"],
    "Edward": ["Ed", "Eddie"],
    "Samantha": ["Sam"],
    "Benjamin": ["Ben"],
    "Nicholas": ["Nick"],
    "Rebecca": ["Becky"],
    "Jessica": ["Jess"],
    "Timothy": ["Tim"],
    "Dana": [],
    "Maria": [],
    "Priya": [],
    "Wei": [],
    "Carlos": [],
    "Aisha": [],
    "Olga": [],
    "Hiroshi": [],
    "Fatima": [],
    "Luis": [],
    "Grace": [],
    "Emily": [],
    "Noah": [],
    "Sofia": [],
    "Mei": [],
    "Tyler": [],
    "Brianna": [],
    "Kevin": [],
    "Linh": [],
    "Omar": [],
}
LAST = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Patel",
    "Kim",
    "Chen",
    "Tanaka",
    "Okafor",
    "Kowalski",
    "Schneider",
    "Ivanova",
    "Haddad",
    "Fitzgerald",
    "Oyelaran",
    "Castellanos",
    "Vanderberg",
]
COMPANIES = ["ACME CORP", "GUSTO", "ADP PAYROLL", "INTUIT", "STATE OF CA", "IRS TREAS 310", "AMAZON", "SQUARE INC"]
UNRELATED_MEMOS = [
    "PAYROLL DIRECT DEP",
    "REFUND",
    "Online Transfer from SAV ...4411",
    "Interest payment",
    "Mobile check deposit",
    "CASHBACK REWARD",
    "Venmo cashout",
    "Zelle payment from {payer} for rent",
    "reimbursement groceries",
    "TAX REF",
]
MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]


def _reference(rng: random.Random, taken: set[str]) -> str:
    while True:
        ref = "MH-" + "".join(rng.choice(ALPHABET) for _ in range(5))
        if ref not in taken:
            taken.add(ref)
            return ref


def _typo(rng: random.Random, ref: str) -> str:
    code = list(ref[3:])
    i = rng.randrange(5)
    kind = rng.choice(["swap", "sub", "drop", "confuse"])
    if kind == "swap" and i < 4:
        code[i], code[i + 1] = code[i + 1], code[i]
    elif kind == "drop":
        del code[i]
    elif kind == "confuse":
        confusable = {"Q": "O", "0": "O", "2": "Z", "5": "S", "8": "B", "B": "8", "S": "5", "Z": "2", "G": "6"}
        j = next((k for k, c in enumerate(code) if c in confusable), i)
        code[j] = confusable.get(code[j], "0")
    else:
        code[i] = rng.choice([c for c in ALPHABET if c != code[i]])
    return "MH-" + "".join(code)


def _ref_text(rng: random.Random, ref: str) -> str:
    code = ref[3:]
    return rng.choice([ref, ref.lower(), "MH" + code, "MH " + code, "mh-" + code.lower(), "#" + ref, "Conf# " + code])


def _payer_form(rng: random.Random, first: str, last: str) -> str:
    forms = [
        f"{first} {last}".upper(),
        f"{first} {last}",
        f"{last}, {first}".upper(),
        f"{first} {rng.choice('ABCDEJKMRS')} {last}".upper(),
        f"{first[0]} {last}".upper(),
    ]
    return rng.choices(forms, weights=[5, 4, 1, 1, 1])[0]


def _date_text(rng: random.Random, day: dt.date) -> str:
    return rng.choice([f"{MONTHS[day.month - 1]} {day.day}", f"{day.month}/{day.day}", f"{day:%B} {day.day}th"])


def _memo(rng: random.Random, payer: str, *, ref: str | None, event: dt.date, balance: bool) -> str:
    what = "balance" if balance else rng.choice(["deposit", "hibachi deposit", "dep", "hibachi", "chef deposit"])
    if ref is not None:
        body = rng.choice([f"{ref} {what}", f"{what} {ref}", f"{ref}", f"hibachi {ref}", f"{what} for {ref}"])
    else:
        body = rng.choice(
            [
                what,
                f"for {_date_text(rng, event)} party",
                f"hibachi {_date_text(rng, event)}",
                "",
                "bday dinner",
                f"{what} - thanks!",
                "party",
            ]
        )
    style = rng.random()
    if style < 0.4:
        return f"Zelle payment from {payer} {body}".strip()
    if style < 0.6:
        return f"VENMO {body}".strip()
    return body


def generate(seed: int, n_bookings: int = 650) -> dict[str, Any]:
    rng = random.Random(seed)
    start = dt.date(2026, 3, 1)
    taken: set[str] = set()
    bookings: list[dict[str, Any]] = []
    customers: list[tuple[str, str]] = []
    for _ in range(n_bookings):
        if customers and rng.random() < 0.08:  # a repeat customer
            first, last = rng.choice(customers)
        else:
            first = rng.choice(list(FIRST))
            last = rng.choice(LAST[:20]) if rng.random() < 0.4 else rng.choice(LAST)
            customers.append((first, last))
        adults, kids = rng.randint(6, 25), rng.choice([0, 0, 1, 2, 3, 4, 6])
        upgrades = rng.choice([0, 0, 0, 1500, 3000, 4500]) * rng.randint(0, adults) // 3
        total = max(adults * 6000 + kids * 3000 + upgrades, 60000) + rng.choice([0, 0, 5000, 10000])
        created = start + dt.timedelta(days=rng.randrange(120))
        event = created + dt.timedelta(days=rng.randint(5, 90))
        bookings.append(
            {
                "reference": _reference(rng, taken),
                "customer": {"first_name": first, "last_name": last},
                "total_due_cents": total,
                "deposit_due_cents": 10000,
                "deposit_paid_cents": 10000 if rng.random() < 0.25 else 0,
                "event_date": event.isoformat(),
                "created_on": created.isoformat(),
            }
        )

    credits: list[dict[str, Any]] = []
    labels: dict[str, str | None] = {}

    def add(amount: int, day: dt.date, payer: str, memo: str, label: str | None) -> dict[str, Any]:
        credit = {
            "id": f"c{len(credits) + 1:05d}",
            "amount_cents": amount,
            "posted_on": day.isoformat(),
            "payer": payer,
            "memo": memo,
        }
        credits.append(credit)
        labels[str(credit["id"])] = label
        return credit

    kinds = ["ref", "typo", "plain", "nickname", "family", "other_payer", "split", "duplicate"]
    weights = [26, 9, 30, 9, 9, 4, 5, 4]
    for b in bookings:
        first, last = b["customer"]["first_name"], b["customer"]["last_name"]
        ref, created = b["reference"], dt.date.fromisoformat(b["created_on"])
        event = dt.date.fromisoformat(b["event_date"])
        dep_day = created + dt.timedelta(days=min(rng.choice([0, 0, 1, 1, 2, 3, 5, 8, 12]), (event - created).days))
        if b["deposit_paid_cents"] == 0:
            kind = rng.choices(kinds, weights)[0]
            payer = _payer_form(rng, first, last)
            memo_ref: str | None = None
            if kind == "ref":
                memo_ref = _ref_text(rng, ref)
            elif kind == "typo":
                memo_ref = _typo(rng, ref)
            elif kind == "nickname" and FIRST[first]:
                payer = _payer_form(rng, rng.choice(FIRST[first]), last)
            elif kind == "family":
                # another first name, not one of a customer with that last name (that would be them)
                same_last = {f for f, la in customers if la == last}
                other = rng.choice([f for f in FIRST if f not in same_last and first not in FIRST[f]])
                payer = _payer_form(rng, other, last)
            elif kind == "other_payer":
                payer = rng.choice(
                    [f"{rng.choice(list(FIRST))} {rng.choice(LAST)}".upper(), f"{last} LLC".upper(), "CHASE ACH"]
                )
            if kind in ("nickname", "family", "other_payer") and rng.random() < 0.35:
                memo_ref = _ref_text(rng, ref)
            memo = _memo(rng, payer, ref=memo_ref, event=event, balance=False)
            if kind == "other_payer" and memo_ref is None and rng.random() < 0.5:
                memo = rng.choice(
                    [f"for {first} {last} party", f"hibachi for {first} {last}", f"{first} {last}'s dinner"]
                )
            if kind == "split":
                add(5000, dep_day, payer, memo, ref)
                add(5000, dep_day + dt.timedelta(days=rng.randint(0, 4)), payer, memo, ref)
            else:
                add(10000, dep_day, payer, memo, ref)
                if kind == "duplicate":
                    add(10000, dep_day + dt.timedelta(days=rng.randint(0, 2)), payer, memo, None)
        if rng.random() < 0.5:  # the balance, near the event
            day = event + dt.timedelta(days=rng.randint(-6, 1))
            payer = _payer_form(rng, first, last)
            memo_ref = _ref_text(rng, ref) if rng.random() < 0.4 else None
            add(
                b["total_due_cents"] - 10000,
                day,
                payer,
                _memo(rng, payer, ref=memo_ref, event=event, balance=True),
                ref,
            )

    # Combined: one credit for two bookings' deposits (labelled none: staff split it by hand).
    unpaid = [b for b in bookings if b["deposit_paid_cents"] == 0]
    for _ in range(max(1, len(bookings) // 40)):
        a, b2 = rng.sample(unpaid, 2)
        first, last = a["customer"]["first_name"], a["customer"]["last_name"]
        payer = _payer_form(rng, first, last)
        memo = rng.choice([f"{a['reference']} {b2['reference']} deposits", "2 parties deposit", "deposits x2"])
        add(20000, dt.date.fromisoformat(a["created_on"]) + dt.timedelta(days=2), payer, memo, None)
    # Unrelated credits.
    for _ in range(len(bookings) // 4):
        day = start + dt.timedelta(days=rng.randrange(200))
        if rng.random() < 0.5:
            payer = rng.choice(COMPANIES)
        else:  # a person who is not a customer (one who is would be paying us)
            names = {f"{f} {la}" for f, la in customers}
            payer = next(
                p for p in iter(lambda: f"{rng.choice(list(FIRST))} {rng.choice(LAST)}", None) if p not in names
            )
            payer = payer.upper()
        amount = rng.choice([rng.randint(500, 400000), rng.choice([5000, 10000, 20000, 50000])])
        add(amount, day, payer, rng.choice(UNRELATED_MEMOS).format(payer=payer), None)

    order = sorted(range(len(credits)), key=lambda i: (credits[i]["posted_on"], i))
    return {"bookings": bookings, "aliases": [], "credits": [credits[i] for i in order], "labels": labels}
