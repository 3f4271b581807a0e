"""The rules engine on the SGD restaurant-reservation extraction cases (../shared/data/sgd, see its
README): real, human-written requests with restaurant names and cities mixed in.

Graded by the eval suite's own extraction runner (`evals.extraction`, as `python -m evals run
../shared/data/sgd` does; the CI gate there is 0.90). The bar here is higher: more than 95% of the
cases fully right, in each split.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.engines import RULES
from evals.cases import ExtractionCase, load_cases
from evals.extraction import run_extraction

SGD = Path(__file__).resolve().parents[2] / "shared" / "data" / "sgd"
TARGET = 0.95
TIMEZONE = "America/Los_Angeles"


def _cases() -> list[tuple[Path, ExtractionCase]]:
    if not SGD.is_dir():
        return []
    return [(path, case) for path, case in load_cases([SGD]) if isinstance(case, ExtractionCase)]


def _failures(cases: list[tuple[Path, ExtractionCase]]) -> dict[str, list[str]]:
    results = [run_extraction(RULES, case, path, 1, timezone=TIMEZONE) for path, case in cases]
    return {r.case_id: r.failures or [r.error or ""] for r in results if not r.passed}


@pytest.mark.skipif(not SGD.is_dir(), reason=f"SGD extraction cases not found at {SGD}")
def test_sgd_extraction_share_fully_right() -> None:
    cases = _cases()
    assert cases, f"no extraction cases in {SGD}"
    failures = _failures(cases)
    share = 1 - len(failures) / len(cases)
    report = "\n".join(f"{cid}: {wrong}" for cid, wrong in sorted(failures.items()))
    print(f"sgd: {len(cases)} cases, fully right {share:.3f}\nfailing:\n{report}")
    assert share >= TARGET, f"fully right {share:.3f} < {TARGET} on {len(cases)} cases; failing:\n{report}"


@pytest.mark.skipif(not SGD.is_dir(), reason=f"SGD extraction cases not found at {SGD}")
@pytest.mark.parametrize("split", ["train", "dev"])
def test_sgd_each_split_meets_the_target(split: str) -> None:
    cases = [(path, case) for path, case in _cases() if f"-{split}-" in case.id]
    if not cases:
        pytest.skip(f"no {split} cases")
    failing = sorted(_failures(cases))
    share = 1 - len(failing) / len(cases)
    assert share >= TARGET, f"{split}: fully right {share:.3f} < {TARGET}; failing: {failing}"
