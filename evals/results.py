"""What a run produces: per-case results, the summary line of EVALS.md, the per-case table.

Pure data and arithmetic: the runner fills these, the report and the CLI print them.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Message:
    author: str  # customer | ai | system | staff
    body: str


@dataclass
class TurnRecord:
    user: str
    replies: list[Message]  # what the business sent during this turn, in order
    ms: float  # wall time of the turn: understanding, graph, database
    problems: list[str] = field(default_factory=list)  # this turn's expectations that failed

    @property
    def reply(self) -> str:
        return "\n".join(m.body for m in self.replies)


@dataclass
class CaseResult:
    case_id: str
    kind: str  # conversation | extraction
    path: str
    categories: list[str]
    run: int  # 1..k
    passed: bool
    turns: list[TurnRecord] = field(default_factory=list)
    expected: dict[str, Any] = field(default_factory=dict)  # graded fields (and the outcome)
    actual: dict[str, Any] = field(default_factory=dict)
    graded: int = 0  # booking fields / expect_slots keys graded
    matched: int = 0
    failures: list[str] = field(default_factory=list)  # why the case failed (outcome, fields, turns)
    violations: list[str] = field(default_factory=list)  # policy breaches (each fails the case)
    error: str | None = None  # the case could not run (a fixture failed, an exception)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (share in 0..1); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Summary:
    cases: int
    success: float  # share of cases that passed every one of their k runs (pass^k; pass^1 when k = 1)
    pass_1: float  # share of single runs that passed
    slot_accuracy: float
    violations: int
    p95_turn_ms: float
    k: int

    def line(self) -> str:
        """The last line of the run, exactly as EVALS.md states it."""
        return (
            f"evals: {self.cases} cases, success {self.success:.3f}, slot_accuracy {self.slot_accuracy:.3f},"
            f" violations {self.violations}, p95_turn_ms {round(self.p95_turn_ms)}"
        )


def summarize(results: Sequence[CaseResult], k: int = 1) -> Summary:
    by_case: dict[str, list[bool]] = defaultdict(list)
    for result in results:
        by_case[result.case_id].append(result.passed)
    cases = len(by_case)
    graded = sum(r.graded for r in results)
    matched = sum(r.matched for r in results)
    # A turn is a customer message through the whole agent; a run of extraction cases alone times
    # the understanding step.
    turn_ms = [t.ms for r in results for t in r.turns if r.kind == "conversation"] or [
        t.ms for r in results for t in r.turns
    ]
    return Summary(
        cases=cases,
        success=(sum(all(runs) for runs in by_case.values()) / cases) if cases else 0.0,
        pass_1=(sum(r.passed for r in results) / len(results)) if results else 0.0,
        slot_accuracy=(matched / graded) if graded else 1.0,
        violations=sum(len(r.violations) for r in results),
        p95_turn_ms=percentile(turn_ms, 0.95),
        k=k,
    )


def by_category(results: Sequence[CaseResult]) -> dict[str, tuple[int, int]]:
    """category -> (runs passed, runs) over every run of every case in it."""
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for result in results:
        for category in result.categories:
            tally[category][0] += result.passed
            tally[category][1] += 1
    return {name: (passed, total) for name, (passed, total) in sorted(tally.items())}


def table(results: Sequence[CaseResult]) -> str:
    """The per-case table printed at the end of a run: one row per case run, failures explained."""
    width = max([len(r.case_id) for r in results] + [4])
    rows = [f"{'case':<{width}}  run  result  turns  p95_ms  why"]
    for r in results:
        turn_ms = [t.ms for t in r.turns]
        turn_problems = [f"turn {n}: {p}" for n, t in enumerate(r.turns, start=1) for p in t.problems]
        why = "; ".join(([r.error] if r.error else []) + r.violations + r.failures + turn_problems)
        result = "pass" if r.passed else ("ERROR" if r.error else "FAIL")
        rows.append(
            f"{r.case_id:<{width}}  {r.run:>3}  {result:<6}  {len(r.turns):>5}  {percentile(turn_ms, 0.95):>6.0f}  "
            f"{why[:160]}"
        )
    return "\n".join(rows)
