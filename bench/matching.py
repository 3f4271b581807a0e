"""Measure the bank-credit matcher (domain/matching.py) on a labelled set, without a database.

    python -m bench.matching                      # generate a set (seed 2) and score it
    python -m bench.matching --seed 7             # another generated set
    python -m bench.matching --data set.json      # score a set made elsewhere
    python -m bench.matching --write set.json     # also save the generated set

The set (JSON):

    {"bookings": [{"reference": "MH-7Q3K9",
                   "customer": {"first_name": "Dana", "last_name": "Lee", "id": "optional"},
                   "total_due_cents": 84000, "deposit_due_cents": 10000, "deposit_paid_cents": 0,
                   "event_date": "2026-12-12", "created_on": "2026-11-02"}, ...],
     "aliases": [{"payer": "LEE FAMILY TRUST", "reference": "MH-7Q3K9"}, ...],      (optional)
     "credits": [{"id": "c1", "amount_cents": 10000, "posted_on": "2026-11-03",
                  "payer": "DANA LEE", "memo": "Zelle payment from DANA LEE hibachi deposit"}, ...],
     "labels": {"c1": "MH-7Q3K9", "c2": null, ...}}

A booking's state is as of before the first credit; a customer is identified by `customer.id`, or by
first and last name when there is no id. An alias says the payer pays for that booking's customer.
A label is the booking the credit pays, or null: unrelated, a repeat of a credit already paid (it must
not pay twice), or one credit for several bookings (staff split those by hand).

The run replays the credits in posting order (ties in file order) as production would: each is scored
against the bookings as they stand. An automatic match records the payment on the booking it chose
(right or wrong); a credit not matched automatically goes to staff, who confirm its labelled booking
(recording the payment and teaching the payer alias) or ignore it when the label is null.

Metrics, over the n credits:
- precision: automatic matches to the labelled booking / all automatic matches (an automatic match
  of a credit labelled null is wrong); 1.0 when there is none;
- recall: automatic matches to the labelled booking / credits with a labelled booking;
- top3_recall: of the credits with a labelled booking that were not matched automatically, those whose
  labelled booking is among the first three suggestions; 1.0 when there is none.

The last line is exactly `matching: <n> credits, precision <p>, recall <r>, top3_recall <t>`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

from bench.matching_data import generate
from domain.matching import Candidate, Credit, Recorded, decide, normalize_payer

DEFAULT_SEED = 2  # report seed; weights were tuned on seed 1


@dataclass
class Result:
    n: int
    precision: float
    recall: float
    top3_recall: float
    reasons: Counter[str]
    misses: list[dict[str, Any]]

    def line(self) -> str:
        return (
            f"matching: {self.n} credits, precision {self.precision:.3f}, recall {self.recall:.3f},"
            f" top3_recall {self.top3_recall:.3f}"
        )


def _customer_id(booking: dict[str, Any]) -> str:
    customer = booking["customer"]
    return str(customer.get("id") or f"{customer['first_name']} {customer['last_name']}".strip().lower())


def evaluate(data: dict[str, Any]) -> Result:
    state: dict[str, Candidate] = {}
    for b in data["bookings"]:
        state[b["reference"]] = Candidate(
            reference=b["reference"],
            customer_id=_customer_id(b),
            first_name=b["customer"].get("first_name") or "",
            last_name=b["customer"].get("last_name") or "",
            total_due_cents=int(b["total_due_cents"]),
            deposit_due_cents=int(b["deposit_due_cents"]),
            deposit_paid_cents=int(b.get("deposit_paid_cents") or 0),
            event_date=dt.date.fromisoformat(b["event_date"]),
            created_on=dt.date.fromisoformat(b["created_on"]),
        )
    aliases: dict[str, set[str]] = {}
    for alias in data.get("aliases") or []:
        if alias.get("reference") in state:
            aliases.setdefault(normalize_payer(alias["payer"]), set()).add(state[alias["reference"]].customer_id)
    labels: dict[str, str | None] = data["labels"]
    indexed = sorted(enumerate(data["credits"]), key=lambda pair: (pair[1]["posted_on"], pair[0]))
    recorded: list[Recorded] = []
    auto = auto_right = labelled = staff = staff_top3 = 0
    reasons: Counter[str] = Counter()
    misses: list[dict[str, Any]] = []

    def pay(reference: str, credit: Credit) -> None:
        booking = state[reference]
        amount = min(credit.amount_cents, booking.balance_cents)
        state[reference] = replace(booking, deposit_paid_cents=booking.deposit_paid_cents + amount)
        recorded.append(Recorded(reference, credit))

    for _, raw in indexed:
        credit = Credit(
            int(raw["amount_cents"]),
            dt.date.fromisoformat(raw["posted_on"]),
            raw.get("payer") or "",
            raw.get("memo") or "",
        )
        truth = labels.get(str(raw["id"]))
        if truth is not None and truth not in state:
            truth = None  # a label naming no booking of the set cannot be found
        labelled += truth is not None
        candidates = [c for c in state.values() if c.balance_cents > 0]
        decision = decide(
            credit,
            candidates,
            alias_customers=aliases.get(normalize_payer(credit.payer), set()),
            recorded=recorded[-500:],
        )
        if decision.matched is not None:
            auto += 1
            auto_right += decision.matched == truth
            if decision.matched != truth:
                chosen = decision.ranked[0].explain()
                misses.append({"credit": raw, "truth": truth, "matched": decision.matched, "evidence": chosen})
            pay(decision.matched, credit)
            continue
        reasons[decision.reason.split(" ")[0]] += 1
        if truth is None:
            continue
        staff += 1
        top3 = [s.reference for s in decision.ranked[:3]]
        staff_top3 += truth in top3
        if truth not in top3:
            why: Any = next((x.explain() for x in decision.scores if x.reference == truth), "not a candidate")
            misses.append(
                {
                    "credit": raw,
                    "truth": truth,
                    "top3": [(s.reference, s.score) for s in decision.ranked[:3]],
                    "reason": decision.reason,
                    "truth_evidence": why,
                }
            )
        pay(truth, credit)  # staff confirm the right booking, which teaches the alias
        aliases.setdefault(normalize_payer(credit.payer), set()).add(state[truth].customer_id)
    return Result(
        n=len(indexed),
        precision=auto_right / auto if auto else 1.0,
        recall=auto_right / labelled if labelled else 1.0,
        top3_recall=staff_top3 / staff if staff else 1.0,
        reasons=reasons,
        misses=misses,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", help="a labelled set (JSON) to score instead of a generated one")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--bookings", type=int, default=650, help="bookings in a generated set")
    parser.add_argument("--write", help="save the generated set here")
    parser.add_argument("--show-misses", type=int, default=0, help="print this many misses")
    args = parser.parse_args(argv)
    if args.data:
        with open(args.data, encoding="utf-8") as fh:
            data = json.load(fh)
        source = args.data
    else:
        data = generate(args.seed, args.bookings)
        source = f"generated, seed {args.seed}"
        if args.write:
            with open(args.write, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=1)
    result = evaluate(data)
    print(f"set: {source}; {len(data['bookings'])} bookings")
    print("not automatic, by reason: " + ", ".join(f"{k} {v}" for k, v in result.reasons.most_common()))
    for miss in result.misses[: args.show_misses]:
        print(json.dumps(miss, default=str))
    print(result.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
