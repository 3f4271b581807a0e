"""The rules engine on the SGD restaurant-reservation extraction cases (../shared/data/sgd, see its
README): real, human-written requests with restaurant names and cities mixed in.

Each case is graded as EVALS.md grades an `extraction` case: the turns are understood in order, each
with what was understood before (merge, pending None), and every key of `expect_slots` must match
exactly. The engine must get more than 95% of the cases fully right.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from agent.schema import Context, Slots
from agent.understanding import merge, understand

SGD = Path(__file__).resolve().parents[2] / "shared" / "data" / "sgd"
TARGET = 0.95


def _cases() -> list[dict[str, Any]]:
    if not SGD.is_dir():
        return []
    cases = [json.loads(path.read_text()) for path in sorted(SGD.glob("*.json"))]
    return [case for case in cases if case.get("kind") == "extraction"]


def run_case(case: dict[str, Any]) -> Slots:
    now = datetime.fromisoformat(case["now"])
    known = Slots()
    for turn in case["turns"]:
        known = merge(known, understand(turn, Context(now=now, known=known, pending=None)).slots)
    return known


def wrong_keys(case: dict[str, Any], got: Slots) -> dict[str, tuple[Any, Any]]:
    actual = got.model_dump()
    return {k: (v, actual.get(k)) for k, v in case["expect_slots"].items() if actual.get(k) != v}


@pytest.mark.skipif(not SGD.is_dir(), reason=f"SGD extraction cases not found at {SGD}")
def test_sgd_extraction_share_fully_right() -> None:
    cases = _cases()
    assert cases, f"no extraction cases in {SGD}"
    failures = {case["id"]: wrong for case in cases if (wrong := wrong_keys(case, run_case(case)))}
    share = 1 - len(failures) / len(cases)
    report = "\n".join(f"{cid}: {wrong}" for cid, wrong in sorted(failures.items()))
    print(f"sgd: {len(cases)} cases, fully right {share:.3f}\nfailing:\n{report}")
    assert share >= TARGET, f"fully right {share:.3f} < {TARGET} on {len(cases)} cases; failing:\n{report}"


@pytest.mark.skipif(not SGD.is_dir(), reason=f"SGD extraction cases not found at {SGD}")
@pytest.mark.parametrize("split", ["train", "dev"])
def test_sgd_each_split_meets_the_target(split: str) -> None:
    cases = [case for case in _cases() if f"-{split}-" in case["id"]]
    if not cases:
        pytest.skip(f"no {split} cases")
    failing = sorted(case["id"] for case in cases if wrong_keys(case, run_case(case)))
    share = 1 - len(failing) / len(cases)
    assert share >= TARGET, f"{split}: fully right {share:.3f} < {TARGET}; failing: {failing}"
