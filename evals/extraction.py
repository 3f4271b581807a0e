"""Running one extraction case: the understanding step alone (no graph, no database). Turns are
understood in order, each with what was understood before; the accumulated slots are graded key by
key against `expect_slots`."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from agent.engines import Understander
from agent.schema import Context, Slots
from agent.understanding import merge

from .cases import ExtractionCase
from .results import CaseResult, TurnRecord


def understand_turns(understander: Understander, case: ExtractionCase, timezone: str) -> tuple[Slots, list[float]]:
    """The accumulated slots and each message's understanding time (ms)."""
    now: datetime = case.now if case.now.tzinfo else case.now.replace(tzinfo=ZoneInfo(timezone))
    known = Slots()
    times: list[float] = []
    for turn in case.turns:
        started = time.perf_counter()
        heard = understander.understand(turn, Context(now=now, timezone=timezone, known=known, pending=None))
        known = merge(known, heard.slots)
        times.append((time.perf_counter() - started) * 1000)
    return known, times


def run_extraction(
    understander: Understander, case: ExtractionCase, path: Path, run: int, *, timezone: str
) -> CaseResult:
    result = CaseResult(case.id, "extraction", str(path), case.categories, run, passed=False)
    try:
        slots, times = understand_turns(understander, case, timezone)
    except Exception as error:
        result.error = f"{type(error).__name__}: {error}"
        return result
    got = slots.model_dump()
    result.turns = [TurnRecord(text, [], ms) for text, ms in zip(case.turns, times, strict=True)]
    expected = case.slots_expected
    result.expected = expected
    result.actual = {key: got.get(key) for key in expected}
    for key, wanted in expected.items():
        result.graded += 1
        if got.get(key) == wanted:
            result.matched += 1
        else:
            result.failures.append(f"{key}: expected {wanted!r}, got {got.get(key)!r}")
    result.passed = not result.failures
    return result
